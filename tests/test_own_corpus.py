"""Bring your own corpus (issue 18): real corpora of ../shared/data renamed and cut into the shapes a
new user arrives with: a CoNLL-2000-style chunking corpus (``word POS chunk``, IOB2, train and test
files, no dev) and a SemEval-2014 Task 4 file of "another domain" (another file name pattern, no
category layer, a stray non-breaking space at a term's end). Written into tmp_path only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from raymtl.cli import main
from raymtl.data.manifest import Manifest
from raymtl.data.options import ReaderOption, ReaderOptions, declared, options_markdown
from raymtl.data.readers import common
from raymtl.data.registry import default_registry
from raymtl.data.schema import label_column
from raymtl.data.shards import iter_examples, open_split
from raymtl.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
COLUMNS = "columns={0: tokens, 1: pos, 2: chunk}"


def _conll2000(src: Path, dst: Path, n: int) -> int:
    """First ``n`` sentences of a CoNLL-2003 file as ``word POS chunk`` with IOB2 chunks."""
    sents, rows = [], []
    for line in src.read_text(encoding="utf-8").split("\n"):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if rows:
                sents.append(rows)
                rows = []
            continue
        rows.append(cols[:3])
    sents = sents[:n]
    with open(dst, "w", encoding="utf-8") as f:
        for s in sents:
            chunks = common.to_bio([r[2] for r in s], "IOB1")
            f.write("".join(f"{w} {p} {c}\n" for (w, p, _), c in zip(s, chunks)) + "\n")
    return len(sents)


@pytest.fixture
def chunking(dataset_dir, tmp_path) -> tuple[Path, int]:
    src = dataset_dir("conll2003")
    folder = tmp_path / "chunking"
    folder.mkdir()
    n = _conll2000(src / "eng.train", folder / "train.txt", 400)
    _conll2000(src / "eng.testb", folder / "test.txt", 100)
    return folder, n


def _laptops(src: Path, folder: Path) -> tuple[str, int]:
    """The restaurant files renamed, categories removed, and one term's ``to`` (and term) stretched
    over a non-breaking space put after it. Returns that sentence's id and the train sentence count."""
    folder.mkdir()
    stray = ""
    for orig, name in (("Restaurants_Train_v2.xml", "laptops-trial-train.xml"),
                       ("Restaurants_Test_Gold.xml", "laptops-test-gold.xml")):
        tree = ET.parse(src / orig)
        for sent in tree.getroot().iter("sentence"):
            for cats in sent.findall("aspectCategories"):
                sent.remove(cats)
            text = sent.find("text")
            for term in sent.iter("aspectTerm"):
                end = int(term.get("to"))
                if not stray and name.endswith("train.xml") and text.text[end:end + 1] == " ":
                    text.text = text.text[:end] + "\u00a0" + text.text[end + 1:]
                    term.set("to", str(end + 1))
                    term.set("term", term.get("term") + "\u00a0")
                    stray = sent.get("id")
        tree.write(folder / name, encoding="utf-8", xml_declaration=True)
    n = sum(1 for _ in ET.parse(folder / "laptops-trial-train.xml").getroot().iter("sentence"))
    return stray, n


def _prepare(*args: str) -> int:
    return main(["data", "prepare", *args])


def test_chunking_corpus_gets_a_seeded_dev_and_pos_scored_by_accuracy(chunking, tmp_path, capsys):
    folder, n = chunking
    out = tmp_path / "shards"
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS) == 0
    m = Manifest.load(out / "chunking")  # named after the source folder, not the reader
    assert m.name == "chunking" and m.reader == "conll-columns"
    assert list(m.splits) == ["train", "dev", "test"]
    assert m.splits["dev"].rows == round(0.1 * n) and m.splits["train"].rows == n - round(0.1 * n)
    dev_ids = set(open_split(out / "chunking", "dev").column("id").to_pylist())
    train_ids = set(open_split(out / "chunking", "train").column("id").to_pylist())
    assert dev_ids == common.holdout(sorted(train_ids | dev_ids), 0.1, 0)  # the seeded holdout by example id
    assert any("dev_fraction=0.1, seed=0" in note for note in m.notes)
    specs = {t.name: (t.scheme, t.default_metric) for t in m.tasks}
    assert specs == {"pos": (None, "acc"), "chunk": ("BIO", "f1")}
    # the same corpus under another name: the same dev split (deterministic), another folder
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS,
                    "--name", "chunking-copy") == 0
    assert set(open_split(out / "chunking-copy", "dev").column("id").to_pylist()) == dev_ids
    assert Manifest.load(out / "chunking").name == "chunking"
    # another fraction and seed move it; 0 keeps no dev
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS,
                    "--option", "dev_fraction=0.25", "--option", "seed=3", "--name", "c25") == 0
    m25 = Manifest.load(out / "c25")
    assert m25.splits["dev"].rows == round(0.25 * n) and "dev_fraction=0.25, seed=3" in " ".join(m25.notes)
    capsys.readouterr()


def test_carve_dev_is_by_id_and_independent_of_file_order():
    exs = [type("E", (), {"id": f"s{i}"})() for i in range(40)]
    a, _ = common.carve_dev({"train": exs, "test": []}, 0.2, 7)
    b, note = common.carve_dev({"train": exs[::-1], "test": []}, 0.2, 7)
    assert len(a["dev"]) == 8 and {e.id for e in a["dev"]} == {e.id for e in b["dev"]}
    assert {e.id for e in a["dev"]} == common.holdout([e.id for e in exs], 0.2, 7)
    assert [e.id for e in a["train"]] == [e.id for e in exs if e not in a["dev"]]  # file order kept
    assert list(a) == ["train", "dev", "test"] and "dev_fraction=0.2, seed=7" in note


@pytest.mark.parametrize("option, named", [
    ("bogus=1", "unknown option 'bogus'"),
    ("metric={pos: acc}", "unknown option 'metric'"),
    ("dev_fraction=abc", "dev_fraction of reader conll-columns must be a number in [0, 1)"),
    ("dev_fraction=1.5", "dev_fraction of reader conll-columns must be a number in [0, 1)"),
    ("columns=[1, 2]", "columns of reader conll-columns must be a mapping"),
    ("seed=true", "seed of reader conll-columns must be an integer"),
])
def test_unknown_or_mistyped_option_exits_2_naming_it(chunking, tmp_path, capsys, option, named):
    folder, _ = chunking
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(tmp_path / "o"), "--option", option) == 2
    err = capsys.readouterr().err
    assert named in err and f"--option {option.split('=')[0]}" in err and "Traceback" not in err
    if "unknown" in named:
        assert "its options: columns, scheme_in, metrics, splits, kinds, dev_fraction, seed" in err
    assert not (tmp_path / "o" / "chunking").exists()


def test_prepare_help_and_list_verbose_show_the_declared_options():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "raymtl.cli", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=120)
    helped = run("data", "prepare", "conll-columns", "--help")
    assert helped.returncode == 0, helped.stderr
    listed = run("data", "list", "--verbose")
    assert listed.returncode == 0, listed.stderr
    for entry in default_registry():
        for spec in declared(entry.options).specs:
            assert re.search(rf"^\s+{spec.name}\s+{re.escape(spec.type)}, default", listed.stdout, re.M), spec.name
    for spec in default_registry().get("conll-columns").options.specs:
        assert re.search(rf"^  {spec.name}\s+{re.escape(spec.type)}, default", helped.stdout, re.M), spec.name
        assert " ".join(spec.help.split()[:4]) in " ".join(helped.stdout.split())
    assert "--name" in helped.stdout and "--option" in helped.stdout


def test_reader_options_check_types_and_fill_defaults():
    opts = ReaderOptions(ReaderOption("n", "int", 3, "a count"), ReaderOption("f", "str|mapping", {}, "x"))
    assert dict(opts) == {"n": 3, "f": {}, "dev_fraction": 0.1, "seed": 0}
    assert opts.resolve({"n": 5, "f": "BIO", "dev_fraction": 0, "_source_dir": "/x"}, reader="r") == {
        "n": 5, "f": "BIO", "dev_fraction": 0.0, "seed": 0, "_source_dir": "/x"}
    assert opts.resolve({"n": None}, reader="r")["n"] == 3  # null: the default
    with pytest.raises(ConfigError, match=r"option n of reader r must be an integer, got 2.5"):
        opts.resolve({"n": 2.5}, reader="r")
    with pytest.raises(ConfigError, match=r"unknown option 'm' for reader r; its options: n, f, dev_fraction, seed"):
        opts.resolve({"m": 1}, reader="r")
    with pytest.raises(ValueError, match="unknown type"):
        ReaderOption("x", "float32", 0, "")


def test_docs_option_tables_are_the_declarations():
    doc = (REPO / "docs" / "adding_a_dataset.md").read_text(encoding="utf-8")
    for name in ("conll-columns", "semeval14", "jsonl"):
        assert options_markdown(default_registry().get(name).options) in doc, name


def test_name_never_overwrites_a_registered_dataset_or_another_readers_shards(chunking, tmp_path, capsys):
    folder, _ = chunking
    out = tmp_path / "shards"
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS,
                    "--name", "conll2003") == 2
    assert "'conll2003' is a registered dataset" in capsys.readouterr().err
    assert not (out / "conll2003").exists()
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS,
                    "--name", "mine") == 0
    jsonl_dir = tmp_path / "j"
    jsonl_dir.mkdir()
    (jsonl_dir / "tasks.json").write_text(json.dumps({"tasks": [{"name": "sent", "kind": "classify"}]}))
    (jsonl_dir / "train.jsonl").write_text('{"tokens": ["a"], "labels": {"sent": "pos"}}\n'
                                           '{"tokens": ["b"], "labels": {"sent": "neg"}}\n')
    before = Manifest.load(out / "mine").created
    assert _prepare("jsonl", "--source", str(jsonl_dir), "--out", str(out), "--name", "mine", "--force") == 2
    assert "prepared by reader 'conll-columns', not 'jsonl'" in capsys.readouterr().err
    assert Manifest.load(out / "mine").created == before


def test_semeval14_any_domain_keeps_its_layers_and_trims_span_ends(dataset_dir, tmp_path, capsys):
    folder = tmp_path / "laptops"
    stray, n = _laptops(dataset_dir("semeval14-restaurants"), folder)
    assert stray
    out = tmp_path / "shards"
    # the registered dataset's name is refused; the default name is the folder's
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out), "--name", "semeval14-restaurants") == 2
    assert "registered dataset" in capsys.readouterr().err
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out)) == 0
    log = capsys.readouterr().out
    m = Manifest.load(out / "laptops")
    assert m.name == "laptops" and m.reader == "semeval14" and not (out / "semeval14-restaurants").exists()
    assert m.task_names == ["ate", "atp"]  # no category layer in the files: acd/acp not kept
    assert "1 aspect term span(s) trimmed of whitespace at their ends" in log
    assert any(f"sentences {stray}" in note for note in m.notes)
    assert m.splits["dev"].rows == round(0.15 * n) and m.splits["train"].rows + m.splits["dev"].rows == n
    # the trimmed term is tagged without the space: its tokens do not include the NBSP
    found = [ex for split in ("train", "dev") for ex in iter_examples(open_split(out / "laptops", split), m.tasks)
             if ex.id == stray]
    assert len(found) == 1 and "\u00a0" not in "".join(found[0].tokens)
    assert any(t.startswith("B-") for t in found[0].labels["ate"])
    # a second train-like file makes the pattern ambiguous: named explicitly it works
    (folder / "old-train.xml").write_bytes((folder / "laptops-trial-train.xml").read_bytes())
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out), "--name", "lap2") == 2
    assert "2 files match the train pattern" in capsys.readouterr().err
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out), "--name", "lap2",
                    "--option", "train=laptops-trial-*.xml", "--option", "test=laptops-test-gold.xml") == 0


def test_a_config_asking_for_a_dropped_layer_is_refused(dataset_dir, tmp_path):
    from raymtl.train.config import TrainConfig
    from raymtl.train.data import resolve_shards

    folder = tmp_path / "laptops"
    _laptops(dataset_dir("semeval14-restaurants"), folder)
    out = tmp_path / "shards"
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out)) == 0
    cfg = TrainConfig.from_dict({"data": {"datasets": ["laptops"], "shards": str(out)},
                                 "tasks": [{"name": "ate"}, {"name": "acd"}], "model": {"arch": "cmtl"}})
    with pytest.raises(ConfigError, match=r"has no task 'acd'; its tasks: ate, atp \(no <aspectCategory>"):
        resolve_shards(cfg, log=lambda _m: None)


def test_tasks_whose_labels_are_all_empty_are_dropped_with_a_warning(tmp_path, capsys):
    src = tmp_path / "mine"
    src.mkdir()
    (src / "tasks.json").write_text(json.dumps({"tasks": [{"name": "ate", "kind": "tagging"},
                                                          {"name": "acd", "kind": "multilabel"}]}))
    rows = [{"tokens": ["good", "pizza"], "labels": {"ate": ["O", "B-ASP"], "acd": []}},
            {"tokens": ["bad"], "labels": {"ate": ["O"], "acd": []}}] * 10
    (src / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (src / "test.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert _prepare("jsonl", "--source", str(src), "--out", str(tmp_path / "s")) == 0
    assert "warning: task acd dropped: no example has a label for it" in capsys.readouterr().out
    m = Manifest.load(tmp_path / "s" / "mine")
    assert m.task_names == ["ate"]
    assert label_column("acd") not in open_split(tmp_path / "s" / "mine", "train").column_names
    assert m.splits["dev"].rows == 2  # 10% of 20, carved


def test_split_clitics_as_glove_tokenises(dataset_dir, tmp_path):
    tokens, offsets = common.tokenize("It's the chef's, don't go", split_clitics=True)
    assert tokens == ["It", "'s", "the", "chef", "'s", ",", "do", "n't", "go"]
    assert offsets[:2] == [(0, 2), (2, 4)] and offsets[6:8] == [(17, 19), (19, 22)]
    assert common.tokenize("It's", split_clitics=False)[0] == ["It's"]
    entry = default_registry().get("semeval14-restaurants")
    plain = entry.reader(dataset_dir("semeval14-restaurants"), dict(entry.options))
    split = entry.reader(dataset_dir("semeval14-restaurants"), {**entry.options, "split_clitics": True})
    count = lambda r, w: sum(ex.tokens.count(w) for exs in r.splits.values() for ex in exs)  # noqa: E731
    assert count(plain, "n't") == 0 and count(split, "n't") > 50 and count(split, "'s") > 100
    assert count(plain, "don't") > 0 and count(split, "don't") == 0
    # every term still covers whole tokens: the same number of aspect spans
    def spans(r):
        return sum(t.startswith("B-") for exs in r.splits.values() for ex in exs for t in ex.labels["ate"])

    assert spans(plain) == spans(split)


def test_vector_coverage_counts_types_and_tokens_per_split():
    from raymtl.data.coverage import coverage, coverage_line

    v = np.zeros(2, dtype=np.float32)
    table = {"the": v, "good": v}
    c = coverage(table, [("The", 5), ("good", 1), ("it's", 2)])  # The -> the (lower case), it's OOV
    assert (c.types, c.types_found, c.tokens, c.tokens_found) == (3, 2, 8, 6) and c.clitic_oov == ("it's",)
    line = coverage_line(table, {"d/train": [("The", 5), ("good", 1), ("it's", 2)], "d/test": [("bad", 1)]})
    assert line.startswith("vector coverage: d/train types 66.7% tokens 75.0%, d/test types 0.0% tokens 0.0%; "
                           "1 OOV types end in a clitic (it's): the reader option split_clitics=true")


def test_coverage_is_logged_at_start_and_split_clitics_raises_it(dataset_dir, tmp_path, capsys):
    from raymtl.train.config import TrainConfig
    from raymtl.train.data import TrainData

    folder = tmp_path / "laptops"
    _laptops(dataset_dir("semeval14-restaurants"), folder)
    out = tmp_path / "shards"
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out)) == 0
    assert _prepare("semeval14", "--source", str(folder), "--out", str(out), "--name", "lap-clitics",
                    "--option", "split_clitics=true") == 0
    rates = {}
    for ds in ("laptops", "lap-clitics"):
        cfg = TrainConfig.from_dict({"data": {"datasets": [ds], "shards": str(out), "vectors": "glove-6b-50d",
                                              "lowercase": True},
                                     "tasks": [{"name": "ate"}], "model": {"arch": "stl_bilstm"}})
        line = TrainData(cfg, {ds: str(out / ds)}).vector_coverage
        assert all(f"{ds}/{s} types" in line for s in ("train", "dev", "test")), line
        rates[ds] = float(re.search(rf"{ds}/train types [\d.]+% tokens ([\d.]+)%", line).group(1))
        assert ("end in a clitic" in line) == (ds == "laptops"), line
    assert rates["lap-clitics"] > rates["laptops"]


def test_chunking_corpus_trains_an_mtl_model_with_pos_scored_by_accuracy(chunking, tmp_path, monkeypatch):
    """From files to a trained hierarchical MTL model (one tiny epoch, in this process): pos is
    reported as accuracy (no span F1 of POS tags), chunk as span F1, and mean/main averages those."""
    from raymtl.train.config import TrainConfig
    from raymtl.train.data import resolve_shards
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter

    monkeypatch.setenv("RAYMTL_REVIEW", "0")
    folder, _ = chunking
    out = tmp_path / "shards"
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS) == 0
    cfg = TrainConfig.from_dict({
        "data": {"datasets": ["chunking"], "shards": str(out), "max_train_examples": 96, "max_eval_examples": 40},
        "tasks": [{"name": "pos"}, {"name": "chunk", "main": True}],
        "model": {"arch": "hmtl", "chain": ["pos", "chunk"], "hidden": 16, "emb_dim": 16},
        "train": {"epochs": 1, "batch_size": 16, "patience": 0}})
    reporter = LocalReporter(tmp_path / "run")
    result = Runner(cfg, resolve_shards(cfg, log=lambda _m: None), reporter=reporter, run_dir=tmp_path / "run",
                    log=lambda _m: None).fit()
    assert result["epochs_run"] == 1
    metrics = reporter.history[-1]
    dev = {k.removeprefix("dev/"): v for k, v in metrics.items()}
    assert "pos/acc" in dev and "pos/f1" not in dev and dev["pos/main"] == dev["pos/acc"]
    assert dev["chunk/main"] == dev["chunk/f1"]
    assert dev["mean/main"] == pytest.approx((dev["pos/acc"] + dev["chunk/f1"]) / 2)


def test_semeval14_file_options_stay_inside_the_source(dataset_dir, tmp_path, capsys):
    folder = tmp_path / "laptops"
    _laptops(dataset_dir("semeval14-restaurants"), folder)
    for bad in ("../laptops/laptops-trial-train.xml", "/etc/passwd", ".."):
        assert _prepare("semeval14", "--source", str(folder), "--out", str(tmp_path / "o"),
                        "--option", f"train={bad}") == 2
        assert "must name a file inside --source" in capsys.readouterr().err


def test_dev_fraction_is_unused_when_the_corpus_has_a_dev_file(chunking, tmp_path, capsys):
    folder, n = chunking
    (folder / "dev.txt").write_text((folder / "test.txt").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "shards"
    assert _prepare("conll-columns", "--source", str(folder), "--out", str(out), "--option", COLUMNS,
                    "--option", "dev_fraction=0.3") == 0
    m = Manifest.load(out / "chunking")
    assert m.splits["train"].rows == n and m.splits["dev"].rows == m.splits["test"].rows
    assert "option dev_fraction unused: the corpus has its own dev split" in m.notes
    capsys.readouterr()


def test_jsonl_text_lines_take_split_clitics(tmp_path):
    src = tmp_path / "texts"
    src.mkdir()
    (src / "tasks.json").write_text(json.dumps({"tasks": [{"name": "s", "kind": "classify"}]}))
    (src / "train.jsonl").write_text(json.dumps({"text": "It's fine, don't worry", "labels": {"s": "pos"}}) + "\n")
    entry = default_registry().get("jsonl")
    plain = entry.reader(src, dict(entry.options)).splits["train"][0]
    split = entry.reader(src, {**entry.options, "split_clitics": True}).splits["train"][0]
    assert plain.tokens == ["It's", "fine", ",", "don't", "worry"]
    assert split.tokens == ["It", "'s", "fine", ",", "do", "n't", "worry"] and split.offsets[:2] == [(0, 2), (2, 4)]
