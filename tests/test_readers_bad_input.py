"""Malformed input: small broken copies (in tmp_path) of the real files raise DataError naming the
file, the 1-based line and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from raymtl.data.registry import default_registry
from raymtl.errors import DataError

REGISTRY = default_registry()


def read(name: str, folder: Path, **options):
    entry = REGISTRY.get(name)
    return entry.reader(folder, {**entry.options, **options})


def copy_corpus(src: Path, dst: Path, names) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(src / n, dst / n)
    return dst


def replace_line(path: Path, line: int, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` on 1-based ``line`` of ``path`` (asserting it was there)."""
    lines = path.read_bytes().split(b"\n")
    assert old in lines[line - 1], (path, line, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


def assert_located(err: DataError, path: Path, line: int | None, field: str) -> None:
    assert err.file == str(path)
    assert err.line == line
    assert err.field == field
    msg = str(err)
    assert str(path) in msg and f"[{field}]" in msg
    if line is not None:
        assert f"{path}:{line}" in msg


SEMEVAL14 = ("Restaurants_Train_v2.xml", "Restaurants_Test_Gold.xml")


def test_truncated_xml(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval14-restaurants"), tmp_path / "s14", SEMEVAL14)
    train = folder / SEMEVAL14[0]
    lines = train.read_bytes().split(b"\n")
    train.write_bytes(b"\n".join(lines[:40]) + b"\n        <aspectTerms")  # cut inside an element
    with pytest.raises(DataError) as info:
        read("semeval14-restaurants", folder)
    assert_located(info.value, train, 41, "xml")
    assert "malformed XML" in str(info.value)


def test_span_offsets_do_not_match_the_term(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval14-restaurants"), tmp_path / "s14", SEMEVAL14)
    train = folder / SEMEVAL14[0]
    # line 6: <aspectTerm term="staff" polarity="negative" from="8" to="13"/> in sentence 3121
    replace_line(train, 6, b'from="8"', b'from="9"')
    with pytest.raises(DataError) as info:
        read("semeval14-restaurants", folder)
    assert_located(info.value, train, 6, "from")
    assert "3121" in str(info.value) and "'staff'" in str(info.value)


def test_span_end_offset_wrong(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval14-restaurants"), tmp_path / "s14", SEMEVAL14)
    train = folder / SEMEVAL14[0]
    replace_line(train, 6, b'to="13"', b'to="14"')
    with pytest.raises(DataError) as info:
        read("semeval14-restaurants", folder)
    assert_located(info.value, train, 6, "to")


def test_unknown_polarity_in_xml(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval14-restaurants"), tmp_path / "s14", SEMEVAL14)
    test = folder / SEMEVAL14[1]
    lines = test.read_bytes().split(b"\n")
    n = next(i for i, l in enumerate(lines, 1) if b"<aspectCategory " in l)
    replace_line(test, n, b'polarity="', b'polarity="so-so')
    with pytest.raises(DataError) as info:
        read("semeval14-restaurants", folder)
    assert_located(info.value, test, n, "polarity")


def test_semeval16_target_offsets(dataset_dir, tmp_path):
    names = ("ABSA16_Restaurants_Train_SB1_v2.xml", "EN_REST_SB1_TEST.xml.gold")
    folder = copy_corpus(dataset_dir("semeval16-absa"), tmp_path / "s16", names)
    gold = folder / names[1]
    lines = gold.read_bytes().split(b"\n")
    n = next(i for i, l in enumerate(lines, 1) if b'target="sushi"' in l)
    replace_line(gold, n, b'from="19"', b'from="18"')
    with pytest.raises(DataError) as info:
        read("semeval16-absa-rest", folder)
    assert_located(info.value, gold, n, "from")


def test_missing_folder_and_missing_file(dataset_dir, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as info:
        read("conll04", missing)
    assert_located(info.value, missing, None, "source")
    assert "train.txt" in str(info.value) and "test.txt" in str(info.value)
    folder = copy_corpus(dataset_dir("semeval16-absa"), tmp_path / "s16", ["ABSA16_Laptops_Train_SB1_v2.xml"])
    with pytest.raises(DataError) as info:
        read("semeval16-absa-lapt", folder)
    assert "EN_LAPT_SB1_TEST_.xml.gold" in str(info.value) and str(folder) in str(info.value)
    assert info.value.field == "source"


CONLL04 = ("train.txt", "dev.txt", "test.txt")


def test_conll04_head_out_of_range(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("conll04"), tmp_path / "c04", CONLL04)
    train = folder / "train.txt"
    # line 19: "17\tIsle\tI-Loc\t['Located_In']\t[22]" in #doc 1024 (sentence of 24+ tokens)
    replace_line(train, 19, b"[22]", b"[99]")
    with pytest.raises(DataError) as info:
        read("conll04", folder)
    assert_located(info.value, train, 19, "heads")
    assert "99" in str(info.value)


def test_conll04_unknown_relation_and_columns(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("conll04"), tmp_path / "c04", CONLL04)
    dev = folder / "dev.txt"
    lines = dev.read_bytes().split(b"\n")
    n = next(i for i, l in enumerate(lines, 1) if b"'Kill'" in l)
    replace_line(dev, n, b"'Kill'", b"'Kills'")
    with pytest.raises(DataError) as info:
        read("conll04", folder)
    assert_located(info.value, dev, n, "relations")
    replace_line(dev, n, b"'Kills'", b"'Kill'")
    replace_line(dev, 3, b"\t['N']\t", b"\t")
    with pytest.raises(DataError) as info:
        read("conll04", folder)
    assert_located(info.value, dev, 3, "columns")


STANCE = ("semeval2016-task6-trainingdata.txt", "SemEval2016-Task6-subtaskA-testdata-gold.txt",
          "SemEval2016-Task6-subtaskB-testdata-gold.txt")


def test_stance_tsv_line_missing_a_column(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval16-stance"), tmp_path / "st", STANCE)
    test_a = folder / STANCE[1]
    lines = test_a.read_bytes().split(b"\r\n")
    lines[10] = lines[10].rsplit(b"\t", 1)[0]  # line 11 loses its Stance column
    test_a.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DataError) as info:
        read("semeval16-stance", folder)
    assert_located(info.value, test_a, 11, "Stance")


def test_stance_unknown_label(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("semeval16-stance"), tmp_path / "st", STANCE)
    test_b = folder / STANCE[2]
    lines = test_b.read_bytes().split(b"\r\n")
    lines[4] = lines[4].rsplit(b"\t", 1)[0] + b"\tMAYBE"  # line 5
    test_b.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DataError) as info:
        read("semeval16-stance", folder)
    assert_located(info.value, test_b, 5, "Stance")


def test_twitter_bad_polarity_truncated_and_undecodable(dataset_dir, tmp_path):
    folder = copy_corpus(dataset_dir("twitter-target-dong14"), tmp_path / "tw", ("train.raw", "test.raw"))
    test = folder / "test.raw"
    original = test.read_bytes()
    lines = original.split(b"\n")
    lines[5] = b"2"  # polarity of instance 2
    test.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        read("twitter-target-dong14", folder)
    assert_located(info.value, test, 6, "polarity")
    test.write_bytes(b"\n".join(original.split(b"\n")[:-1]))  # drop the last polarity line
    with pytest.raises(DataError) as info:
        read("twitter-target-dong14", folder)
    assert info.value.field == "instance" and info.value.file == str(test)
    lines = original.split(b"\n")
    lines[3] = lines[3] + b" \xff"
    test.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        read("twitter-target-dong14", folder)
    assert_located(info.value, test, 4, "encoding")


def test_fudan_unknown_label_and_missing_tab(dataset_dir, tmp_path):
    names = ["MR.task.train", "MR.task.test"]
    folder = copy_corpus(dataset_dir("fudan-mtl-16"), tmp_path / "fd", names)
    test = folder / "MR.task.test"
    lines = test.read_bytes().split(b"\n")
    lines[6] = b"5" + lines[6][1:]
    test.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        read("fudan-mtl-16", folder, domains=["MR"], unlabeled=False)
    assert_located(info.value, test, 7, "label")
    lines[6] = lines[6].replace(b"\t", b" ")
    test.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        read("fudan-mtl-16", folder, domains=["MR"], unlabeled=False)
    assert_located(info.value, test, 7, "text")
    with pytest.raises(DataError) as info:
        read("fudan-mtl-16", folder, domains=["MR"])  # MR.task.unlabel is not there
    assert "MR.task.unlabel" in str(info.value)
    with pytest.raises(DataError) as info:
        read("fudan-mtl-16", folder, domains=["nope"])
    assert info.value.field == "domains"


def test_fnc1_unknown_body_and_missing_column(dataset_dir, tmp_path):
    names = ("competition_test_bodies.csv", "competition_test_stances.csv")
    folder = copy_corpus(dataset_dir("fnc1"), tmp_path / "fnc", names)
    stances = folder / names[1]
    replace_line(stances, 3, b",1550,", b",999999,")
    with pytest.raises(DataError) as info:
        read("fnc1", folder)
    assert_located(info.value, stances, 3, "Body ID")
    replace_line(stances, 3, b",999999,unrelated", b"")
    with pytest.raises(DataError) as info:
        read("fnc1", folder)
    assert_located(info.value, stances, 3, "Body ID")  # only the Headline column is left
    assert "expected 3 columns" in str(info.value)


def test_conll_columns_too_few_columns_and_bad_tag(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text("EU NNP I-ORG\nrejects VBZ O\n\nGerman JJ\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("conll-columns", tmp_path, columns={0: "tokens", 2: "ner"})
    assert_located(info.value, f, 4, "columns")
    f.write_text("EU NNP I-ORG\nrejects VBZ X-ORG\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("conll-columns", tmp_path, columns={0: "tokens", 2: "ner"}, scheme_in="IOB1")
    assert_located(info.value, f, 2, "ner")
    with pytest.raises(DataError) as info:
        read("conll-columns", tmp_path / "missing")
    assert info.value.field == "source"


def test_jsonl_bad_lines(tmp_path):
    (tmp_path / "tasks.json").write_text(json.dumps(
        [{"name": "pol", "kind": "classify", "labels": ["neg", "pos"]},
         {"name": "re", "kind": "relation", "labels": ["R"]}]), encoding="utf-8")
    f = tmp_path / "train.jsonl"
    f.write_text('{"tokens": ["a"], "labels": {"pol": "pos"}}\n{"tokens": ["b"], "labels": {"pol": "meh"}}\n',
                 encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("jsonl", tmp_path)
    assert_located(info.value, f, 2, "labels.pol")
    f.write_text('{"tokens": ["a", "b"], "labels": {"re": [[0, 2, "R"]]}}\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("jsonl", tmp_path)
    assert_located(info.value, f, 1, "labels.re")
    f.write_text('{"tokens": ["a"]}\n{"tokens": ["a"\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("jsonl", tmp_path)
    assert_located(info.value, f, 2, "json")
    (tmp_path / "tasks.json").unlink()
    with pytest.raises(DataError) as info:
        read("jsonl", tmp_path)
    assert info.value.field == "tasks" and "tasks.json" in str(info.value)


def test_bad_options(dataset_dir):
    with pytest.raises(DataError) as info:
        read("semeval14-restaurants", dataset_dir("semeval14-restaurants"), dev_fraction=1.5)
    assert info.value.field == "dev_fraction"
    with pytest.raises(DataError) as info:
        read("semeval16-absa-rest", dataset_dir("semeval16-absa"), polarity_text_b="both")
    assert info.value.field == "polarity_text_b"


def test_fnc1_bodies_cut_inside_the_last_quoted_field(dataset_dir, tmp_path):
    names = ("competition_test_bodies.csv", "competition_test_stances.csv")
    folder = copy_corpus(dataset_dir("fnc1"), tmp_path / "fnc", names)
    bodies = folder / names[0]
    data = bodies.read_bytes().rstrip()
    assert data.endswith(b'"')  # the last body is a quoted (multi-line) field
    bodies.write_bytes(data[:-40])  # cut inside it: the quote never closes
    with pytest.raises(DataError, match="malformed CSV") as info:
        read("fnc1", folder)
    assert info.value.file == str(bodies) and info.value.field == "csv" and info.value.line is not None
    # cut right after the last row's Body ID: an empty body is refused too
    lines = bodies.read_bytes().split(b"\n")
    k = max(i for i, ln in enumerate(lines) if ln[:1].isdigit() and b',"' in ln)
    bid = lines[k].split(b",")[0]
    bodies.write_bytes(b"\n".join(lines[:k] + [bid + b","]) + b"\n")
    with pytest.raises(DataError) as info:
        read("fnc1", folder)
    assert_located(info.value, bodies, k + 1, "articleBody")


def test_conll_columns_default_layout_refuses_a_line_cut_to_one_field(tmp_path):
    """{0: tokens, -1: tags}: a file cut mid-line used to make its one-field last line `10` a token
    *and* its own tag (and `10` a label)."""
    f = tmp_path / "train.txt"
    f.write_text("EU B-ORG\nrejects O\n\nIt O\nrose O\n10", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read("conll-columns", tmp_path)
    assert_located(info.value, f, 6, "columns")
    f.write_text("10\n", encoding="utf-8")  # a one-column file: token and tag would be one column
    with pytest.raises(DataError) as info:
        read("conll-columns", tmp_path)
    assert_located(info.value, f, 1, "columns")
