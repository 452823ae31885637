"""Fuzz every registered reader with broken copies of the real files.

For each reader a small *base corpus* is cut from the real files in ../shared/data (whole records
only, so the base reads cleanly); each case copies it and breaks one file: truncation at a random
byte offset, latin-1 bytes in UTF-8 text, the whole file in UTF-16, garbage/NUL bytes, a deleted or
duplicated line, an oversized line or field, a missing column/attribute/key, shifted character
offsets in the XML, CR-only line ends, an empty or missing file. Every case must end either

- in a :class:`DataError` that names a file of the corpus and a field (and usually the line), or
- in a successful read whose examples are all valid (the mutation left the input well-formed, or
  the reader skips the record with a note in ``ReadResult.notes`` as it documents),

and never in another exception type. Every PREPARE_EVERY-th case also runs ``prepare`` into a
shared shards root: afterwards the root holds exactly one complete, checksum-valid shard set (the
new one, or the previous one when the read failed) and no temporary or half-written leftovers.

The number of cases per reader is CASES_PER_READER (env RAYMTL_FUZZ_CASES overrides it).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from raymtl.data.prepare import prepare
from raymtl.data.registry import DatasetEntry, default_registry
from raymtl.data.shards import load_manifest, verify_shards
from raymtl.errors import DataError

REGISTRY = default_registry()
CASES_PER_READER = int(os.environ.get("RAYMTL_FUZZ_CASES", "60"))
PREPARE_EVERY = 5


@dataclass
class Base:
    folder: Path
    options: dict
    files: list[str]  # the files a case may break
    fmt: str  # xml | tsv | csv | columns | lines | jsonl
    xml: bool = False


# ---------------------------------------------------------------------------------- base corpora
def _cut_xml(src: Path, dst: Path, close_tag: str, closing: str, n: int) -> None:
    data = src.read_bytes()
    pos = 0
    for _ in range(n):
        pos = data.index(close_tag, pos) + len(close_tag)
    dst.write_bytes(data[:pos] + b"\n" + closing + b"\n")


def _head_lines(src: Path, dst: Path, n: int) -> None:
    dst.write_bytes(b"".join(src.read_bytes().splitlines(keepends=True)[:n]))


def _cut_at_blank(src: Path, dst: Path, min_lines: int) -> None:
    lines = src.read_bytes().split(b"\n")
    k = min_lines
    while lines[k].strip():
        k += 1
    dst.write_bytes(b"\n".join(lines[:k + 1]) + b"\n")


def base_semeval14(data: Path, out: Path) -> Base:
    src = data / "semeval14-restaurants"
    names = ["Restaurants_Train_v2.xml", "Restaurants_Test_Gold.xml"]
    for name in names:
        _cut_xml(src / name, out / name, b"</sentence>", b"</sentences>", 25)
    return Base(out, {}, names, "xml", xml=True)


def base_semeval14_generic(data: Path, out: Path) -> Base:
    """The generic semeval14 reader on the restaurant files under another name pattern."""
    src = data / "semeval14-restaurants"
    names = ["rest-train.xml", "rest-test-gold.xml"]
    for orig, name in zip(["Restaurants_Train_v2.xml", "Restaurants_Test_Gold.xml"], names):
        _cut_xml(src / orig, out / name, b"</sentence>", b"</sentences>", 25)
    return Base(out, {}, names, "xml", xml=True)


def _base_semeval16(names: list[str]):
    def build(data: Path, out: Path) -> Base:
        for name in names:
            _cut_xml(data / "semeval16-absa" / name, out / name, b"</Review>", b"</Reviews>", 4)
        return Base(out, {}, names, "xml", xml=True)
    return build


def base_conll04(data: Path, out: Path) -> Base:
    for name in ("train.txt", "dev.txt", "test.txt"):
        lines = (data / "conll04" / name).read_bytes().split(b"\n")
        docs = [i for i, line in enumerate(lines) if line.startswith(b"#doc")]
        out.joinpath(name).write_bytes(b"\n".join(lines[:docs[12]]) + b"\n")
    return Base(out, {}, ["train.txt", "dev.txt", "test.txt"], "tsv")


def base_conll2003(data: Path, out: Path) -> Base:
    names = ["eng.train", "eng.testa", "eng.testb"]
    for name in names:
        _cut_at_blank(data / "conll2003" / name, out / name, 150)
    return Base(out, {}, names, "columns")


def base_conll_columns(data: Path, out: Path) -> Base:
    for src, name in (("eng.train", "train.txt"), ("eng.testa", "dev.txt"), ("eng.testb", "test.txt")):
        _cut_at_blank(data / "conll2003" / src, out / name, 120)
    return Base(out, {}, ["train.txt", "dev.txt", "test.txt"], "columns")


def base_twitter(data: Path, out: Path) -> Base:
    for name in ("train.raw", "test.raw"):
        _head_lines(data / "twitter-target-dong14" / name, out / name, 60)
    return Base(out, {}, ["train.raw", "test.raw"], "lines")


def base_stance(data: Path, out: Path) -> Base:
    names = ["semeval2016-task6-trainingdata.txt", "SemEval2016-Task6-subtaskA-testdata-gold.txt",
             "SemEval2016-Task6-subtaskB-testdata-gold.txt"]
    for name in names:
        _head_lines(data / "semeval16-stance" / name, out / name, 40)
    return Base(out, {}, names, "tsv")


def base_fnc1(data: Path, out: Path) -> Base:
    src = data / "fnc1"
    with open(src / "competition_test_bodies.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, bodies = rows[0], rows[1:13]
    ids = {r[0] for r in bodies}
    with open(src / "competition_test_stances.csv", encoding="utf-8", newline="") as f:
        srows = list(csv.reader(f))
    stances = [srows[0]] + [r for r in srows[1:] if r[1] in ids][:90]
    for name, rs in (("competition_test_bodies.csv", [header, *bodies]), ("competition_test_stances.csv", stances)):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rs)
        (out / name).write_text(buf.getvalue(), encoding="utf-8")
    return Base(out, {}, ["competition_test_bodies.csv", "competition_test_stances.csv"], "csv")


def base_fudan(data: Path, out: Path) -> Base:
    src = data / "fudan-mtl-16"
    for kind, n in (("train", 230), ("test", 30), ("unlabel", 30)):
        _head_lines(src / f"MR.task.{kind}", out / f"MR.task.{kind}", n)
    return Base(out, {"domains": ["MR"]}, ["MR.task.train", "MR.task.test", "MR.task.unlabel"], "tsv")


def base_jsonl(data: Path, out: Path) -> Base:
    """JSON lines made from the real SemEval-2014 sentences (ate tags + acd categories)."""
    s14 = out / "_s14"
    s14.mkdir()
    base_semeval14(data, s14)
    result = REGISTRY.get("semeval14-restaurants").reader(s14, REGISTRY.get("semeval14-restaurants").options)
    keep = {"ate", "acd"}
    specs = [t.to_dict() for t in result.tasks if t.name in keep]
    (out / "tasks.json").write_text(json.dumps({"tasks": specs}, indent=1))
    for split, exs in result.splits.items():
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for ex in exs:
                f.write(json.dumps({"id": ex.id, "tokens": ex.tokens, "offsets": ex.offsets,
                                    "labels": {k: v for k, v in ex.labels.items() if k in keep}},
                                   ensure_ascii=False) + "\n")
    shutil.rmtree(s14)
    return Base(out, {}, ["train.jsonl", "dev.jsonl", "test.jsonl", "tasks.json"], "jsonl")


BASES: dict[str, Callable[[Path, Path], Base]] = {
    "semeval14-restaurants": base_semeval14,
    "semeval14": base_semeval14_generic,
    "semeval16-absa-rest": _base_semeval16(["ABSA16_Restaurants_Train_SB1_v2.xml", "EN_REST_SB1_TEST.xml.gold"]),
    "semeval16-absa-lapt": _base_semeval16(["ABSA16_Laptops_Train_SB1_v2.xml", "EN_LAPT_SB1_TEST_.xml.gold"]),
    "conll04": base_conll04,
    "conll2003": base_conll2003,
    "conll-columns": base_conll_columns,
    "twitter-target-dong14": base_twitter,
    "semeval16-stance": base_stance,
    "fnc1": base_fnc1,
    "fudan-mtl-16": base_fudan,
    "jsonl": base_jsonl,
}


def test_every_registered_reader_is_fuzzed():
    assert set(BASES) == set(REGISTRY.names())


# ---------------------------------------------------------------------------------- mutations
Mutation = Callable[[bytes, random.Random], bytes]
SEPARATORS = {"tsv": b"\t", "csv": b",", "columns": b" ", "lines": b" ", "jsonl": b", ", "xml": b" "}


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick_line(lines: list[bytes], rng: random.Random) -> int:
    candidates = [i for i, line in enumerate(lines) if line.strip()] or [0]
    return rng.choice(candidates)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(0, max(len(data), 1))]


def latin1_bytes(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(0, max(len(data), 1))
    return data[:pos] + rng.choice([b"\xe9", b"caf\xe9", b"\xff", b"\xe4\xf6\xfc", b"\x85"]) + data[pos:]


def utf16(data: bytes, rng: random.Random) -> bytes:
    return data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"]))


def garbage(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(0, max(len(data), 1))
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    return data[:pos] + junk + data[pos:]


def nul_bytes(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, rng)
    cut = rng.randrange(0, len(lines[i]) + 1)
    lines[i] = lines[i][:cut] + b"\x00" * rng.randrange(1, 4) + lines[i][cut:]
    return b"\n".join(lines)


def delete_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    del lines[_pick_line(lines, rng)]
    return b"\n".join(lines)


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, rng)
    lines.insert(i, lines[i])
    return b"\n".join(lines)


def oversized_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, rng)
    lines.insert(i, lines[i] * (400_000 // max(len(lines[i]), 1) + 1))  # a ~400 kB line
    return b"\n".join(lines)


def oversized_field(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, rng)
    words = list(re.finditer(rb"[A-Za-z]+", lines[i]))
    if not words:
        return oversized_line(data, rng)
    m = rng.choice(words)
    lines[i] = lines[i][:m.start()] + m.group() * (300_000 // len(m.group()) + 1) + lines[i][m.end():]
    return b"\n".join(lines)


def _missing_column(fmt: str) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        lines = _lines(data)
        i = _pick_line(lines, rng)
        if fmt == "xml":  # drop one attribute
            attrs = list(re.finditer(rb'\s[A-Za-z]+="[^"]*"', lines[i]))
            if attrs:
                m = rng.choice(attrs)
                lines[i] = lines[i][:m.start()] + lines[i][m.end():]
            return b"\n".join(lines)
        if fmt == "jsonl":  # drop one key
            keys = list(re.finditer(rb'"(id|tokens|offsets|labels|ate|acd)": ', lines[i]))
            if keys:
                m = rng.choice(keys)
                lines[i] = lines[i][:m.start()] + b'"dropped_' + lines[i][m.start() + 1:]
            return b"\n".join(lines)
        sep = SEPARATORS[fmt]
        parts = lines[i].split(sep)
        if len(parts) > 1:
            del parts[rng.randrange(len(parts))]
        else:
            parts = [b""]
        lines[i] = sep.join(parts)
        return b"\n".join(lines)
    return mutate


def shift_offset(data: bytes, rng: random.Random) -> bytes:
    spans = list(re.finditer(rb'(from|to)="(-?\d+)"', data))
    if not spans:
        return garbage(data, rng)
    m = rng.choice(spans)
    delta = rng.choice([-7, -3, -2, -1, 1, 2, 3, 11, 10_000, -10_000])
    return data[:m.start(2)] + str(int(m.group(2)) + delta).encode() + data[m.end(2):]


def bad_offset(data: bytes, rng: random.Random) -> bytes:
    spans = list(re.finditer(rb'(from|to)="(-?\d+)"', data))
    if not spans:
        return latin1_bytes(data, rng)
    m = rng.choice(spans)
    return data[:m.start(2)] + rng.choice([b"", b"x1", b"1.5", b"99999999999999999999", b"-1"]) + data[m.end(2):]


def cr_only(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def empty(data: bytes, rng: random.Random) -> bytes:
    return b""


def bom(data: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + data


MISSING = object()


def mutations(base: Base) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [
        ("truncate", truncate), ("truncate", truncate), ("truncate", truncate), ("latin1", latin1_bytes),
        ("latin1", latin1_bytes), ("utf16", utf16), ("garbage", garbage), ("garbage", garbage), ("nul", nul_bytes),
        ("delete_line", delete_line), ("duplicate_line", duplicate_line), ("oversized_line", oversized_line),
        ("oversized_field", oversized_field), ("missing_column", _missing_column(base.fmt)),
        ("missing_column", _missing_column(base.fmt)), ("cr_only", cr_only), ("empty", empty), ("bom", bom),
        ("missing_file", MISSING),
    ]
    if base.xml:
        out += [("shift_offset", shift_offset), ("shift_offset", shift_offset), ("shift_offset", shift_offset),
                ("bad_offset", bad_offset)]
    return out


# ---------------------------------------------------------------------------------- the cases
@dataclass
class Outcome:
    errors: int = 0
    ok: int = 0
    prepared: int = 0
    ok_cases: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _check_error(err: DataError, folder: Path) -> str | None:
    if err.file is None:
        return f"DataError without a file: {err}"
    f = Path(err.file).resolve()
    if f != folder.resolve() and folder.resolve() not in f.parents:
        return f"DataError names {err.file}, outside the corpus: {err}"
    if not err.field:
        return f"DataError without a field: {err}"
    if err.file not in str(err):
        return f"message does not name the file: {err}"
    return None


def _check_read(entry: DatasetEntry, folder: Path, options: dict) -> tuple[str, str | None]:
    """('error'|'ok'|'crash', problem or None)."""
    try:
        result = entry.reader(folder, {**entry.options, **options})
        tasks = {t.name: t for t in result.tasks}
        for exs in result.splits.values():
            for ex in exs:
                ex.validate(tasks)
    except DataError as err:
        return "error", _check_error(err, folder)
    except UnicodeError as err:
        return "crash", f"{type(err).__name__}: {err}"[:400]
    except ValueError as err:
        return "crash", f"reader returned an invalid example: {err}"
    except Exception as err:  # noqa: BLE001 - the point of the test
        return "crash", f"{type(err).__name__}: {err}"[:400]
    return "ok", None


def _check_prepare(entry: DatasetEntry, folder: Path, options: dict, root: Path) -> str | None:
    target = root / entry.name
    before = load_manifest(target).created if (target / "manifest.json").exists() else None
    try:
        prepare(entry, folder, root, options={**entry.options, **options}, force=True, rows_per_shard=7,
                name=entry.name, log=lambda _m: None)
    except DataError as err:
        problem = _check_error(err, folder)
        if problem:
            return f"prepare: {problem}"
        if before is None or load_manifest(target).created != before:
            return "prepare failed but the previous shard set changed"
    except Exception as err:  # noqa: BLE001
        return f"prepare crashed: {type(err).__name__}: {err}"[:400]
    leftovers = sorted(p.name for p in root.iterdir() if p.name not in (entry.name, f".{entry.name}.lock"))
    if leftovers:
        return f"leftovers in the shards root: {leftovers}"
    try:
        verify_shards(target)
    except DataError as err:
        return f"shard set invalid after prepare: {err}"
    return None


def run_fuzz(name: str, data_dir: Path, work: Path, n_cases: int, seed: int = 0) -> Outcome:
    entry = REGISTRY.get(name)
    base_dir = work / "base"
    base_dir.mkdir(parents=True)
    base = BASES[name](data_dir, base_dir)
    kind, problem = _check_read(entry, base.folder, base.options)
    assert kind == "ok", f"{name}: the base corpus does not read cleanly: {problem}"
    root = work / "shards"
    prepare(entry, base.folder, root, options={**entry.options, **base.options}, rows_per_shard=7,
            name=entry.name, log=lambda _m: None)
    rng = random.Random(f"{name}:{seed}")
    muts = mutations(base)
    out = Outcome()
    for k in range(n_cases):
        label, mutate = muts[k % len(muts)]
        target = rng.choice(base.files)
        case = work / f"case{k:03d}"
        shutil.copytree(base.folder, case)
        if mutate is MISSING:
            (case / target).unlink()
        else:
            (case / target).write_bytes(mutate((case / target).read_bytes(), rng))  # type: ignore[operator]
        where = f"{name} case {k} ({label} of {target}, seed {seed})"
        kind, problem = _check_read(entry, case, base.options)
        if kind == "crash" or problem:
            out.failures.append(f"{where}: {problem}")
        elif kind == "error":
            out.errors += 1
        else:
            out.ok += 1
            out.ok_cases.append(f"{label}:{target}")
        if k % PREPARE_EVERY == 0:
            out.prepared += 1
            problem = _check_prepare(entry, case, base.options, root)
            if problem:
                out.failures.append(f"{where}: {problem}")
        shutil.rmtree(case)
    return out


def outside(tmp_path: Path, before: set[str]) -> list[str]:
    """Entries that appeared beside the test's directory or in it outside base/, shards/ (writes
    that escaped their roots)."""
    new = {p.name for p in tmp_path.parent.iterdir()} - before
    inner = {p.name for p in tmp_path.iterdir()} - {"base", "shards"}
    return sorted(new) + sorted(inner)


@pytest.mark.parametrize("name", sorted(BASES))
def test_fuzz_reader(name, data_dir, tmp_path, capsys):
    before = {p.name for p in tmp_path.parent.iterdir()}
    out = run_fuzz(name, data_dir, tmp_path, CASES_PER_READER)
    escaped = outside(tmp_path, before)
    with capsys.disabled():  # the case counts belong in every run's output, not only with -s
        print(f"\n[fuzz] reader {name}: {CASES_PER_READER} random cases: {out.errors} DataError, {out.ok} read fine, "
              f"{out.prepared} prepared, {len(out.failures)} failures, {len(escaped)} files outside their roots")
    assert not escaped, escaped
    assert not out.failures, "\n".join(out.failures)
    assert out.errors > 0  # the mutations do break things


# ---------------------------------------------------------------------------------- structural cases
# Issue 17: truncation at every record boundary and mid-record, flipped types and out-of-range
# values, generated for every reader. A cut at a record boundary may leave a well-formed corpus
# (then it must read cleanly); a cut inside a record, a flipped type or an out-of-range value
# must be a DataError naming the file and field. Cut points per file are sampled evenly, at most
# STRUCT_CUTS of each kind (env RAYMTL_FUZZ_CUTS).
STRUCT_CUTS = int(os.environ.get("RAYMTL_FUZZ_CUTS", "12"))
RECORD_END = {"xml": None, "jsonl": b"\n", "csv": b"\n", "tsv": b"\n", "columns": b"\n", "lines": b"\n"}
CLOSE_TAGS = (b"</sentence>", b"</Review>")


def _even(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else items[:1]


def record_boundaries(data: bytes, fmt: str) -> list[int]:
    """Byte offsets just after a record (a closing tag in XML, a line end elsewhere), last excluded."""
    if fmt == "xml":
        ends = [m.end() for tag in CLOSE_TAGS for m in re.finditer(re.escape(tag), data)]
    else:
        ends = [m.end() for m in re.finditer(b"\n", data)]
    return sorted(e for e in ends if 0 < e < len(data.rstrip()))


def mid_record_cuts(data: bytes, fmt: str) -> list[int]:
    """Byte offsets inside a record where the cut leaves that record without its later fields: right
    after a field separator (tsv/csv/columns/jsonl) or inside an element (XML)."""
    if fmt == "xml":
        return [m.start() + 1 for m in re.finditer(rb'(from|polarity|category)="', data)]
    if fmt == "lines":  # twitter: 3 lines per record (text, target, label): cut after the text line
        lines = data.split(b"\n")
        out, pos = [], 0
        for i, line in enumerate(lines):
            pos += len(line) + 1
            if i % 3 == 0 and i + 1 < len(lines) and line.strip():
                out.append(pos)
        return out
    sep = {"tsv": b"\t", "csv": b",", "columns": b" ", "jsonl": b'"labels": '}[fmt]
    out, pos = [], 0
    for line in data.split(b"\n"):
        k = line.find(sep)
        if k > 0 and not line.startswith((b"-DOCSTART-", b"#doc")):
            out.append(pos + k + len(sep))
        pos += len(line) + 1
    return out


def _flip(name: str, data: bytes, fmt: str, rng: random.Random) -> list[tuple[str, bytes]]:
    """Cases with a flipped type or an out-of-range value, each a DataError by the format's rules."""
    out: list[tuple[str, bytes]] = []
    if fmt == "xml":
        for pat, bad in ((rb'polarity="[^"]*"', b'polarity="42"'), (rb'to="\d+"', b'to="99999999999"'),
                         (rb'from="\d+"', b'from="-5"'), (rb'to="\d+"', b'to="x"'), (rb'from="\d+"', b'from="1.5"')):
            hits = [m for m in re.finditer(pat, data)  # NULL targets' offsets are unused (only integers >= 0)
                    if b'target="NULL"' not in data[data.rfind(b"<", 0, m.start()):data.find(b">", m.end())]
                    or b"-" in bad or b"." in bad or b"x" in bad]
            if hits:
                m = rng.choice(hits)
                out.append((f"flip {bad.decode()}", data[:m.start()] + bad + data[m.end():]))
    elif name == "conll04":  # relation heads are token indices of the sentence
        hits = list(re.finditer(rb"\t\[(\d+)(?:, \d+)*\]\r?$", data, re.M))
        for bad in (b"[999]", b"[x]", b"[-4]", b"[1.5]"):
            m = rng.choice(hits)
            out.append((f"flip heads={bad.decode()}", data[:m.start()] + b"\t" + bad + data[m.end():]))
    elif name == "semeval16-stance":
        lines = data.split(b"\n")
        i = rng.randrange(1, len(lines) - 1)
        head, _, _ = lines[i].rpartition(b"\t")
        for bad in (b"42", b"", b"against!"):
            out.append((f"flip Stance={bad.decode()!r}", b"\n".join(lines[:i] + [head + b"\t" + bad] + lines[i + 1:])))
    elif name == "twitter-target-dong14":
        lines = data.split(b"\n")
        i = rng.randrange(0, (len(lines) - 1) // 3) * 3 + 2
        for bad in (b"7", b"positive", b"1.0"):
            out.append((f"flip label={bad.decode()!r}", b"\n".join(lines[:i] + [bad] + lines[i + 1:])))
    elif name == "fudan-mtl-16":
        lines = data.split(b"\n")
        i = rng.randrange(0, len(lines) - 1)
        _, _, text = lines[i].partition(b"\t")
        for bad in (b"7", b"-1", b"pos"):
            out.append((f"flip label={bad.decode()!r}", b"\n".join(lines[:i] + [bad + b"\t" + text] + lines[i + 1:])))
    elif fmt == "csv" and data.startswith(b"Headline"):
        lines = data.split(b"\n")
        i = rng.randrange(1, len(lines) - 1)
        head, _, _ = lines[i].rpartition(b",")
        for bad in (b"42", b"", b"AGREE!"):
            out.append((f"flip Stance={bad.decode()!r}", b"\n".join(lines[:i] + [head + b"," + bad] + lines[i + 1:])))
    return out


def _jsonl_flips() -> list[tuple[str, dict, str]]:
    """(label, line object, field) on a 3-token example with tagging/multilabel/classify/relation tasks."""
    good = {"tokens": ["The", "pizza", "rocks"], "offsets": [[0, 3], [4, 9], [10, 15]],
            "labels": {"ate": ["O", "B", "O"], "acd": ["food"], "pol": "pos", "re": [[0, 1, "R"]]}}

    def with_(path: str, value) -> dict:
        obj = json.loads(json.dumps(good))
        node = obj
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        return obj

    cases = [("int tags", with_("labels.ate", [0, 1, 0]), "labels.ate"),
             ("int multilabel values", with_("labels.acd", [1, 2]), "labels.acd"),
             ("dict multilabel value", with_("labels.acd", [{"x": 1}]), "labels.acd"),
             ("int classify label", with_("labels.pol", 3), "labels.pol"),
             ("list classify label", with_("labels.pol", ["pos"]), "labels.pol"),
             ("dict relation type", with_("labels.re", [[0, 1, {"x": 1}]]), "labels.re"),
             ("float relation index", with_("labels.re", [[0.5, 1, "R"]]), "labels.re"),
             ("bool relation index", with_("labels.re", [[True, 1, "R"]]), "labels.re"),
             ("relation index beyond the tokens", with_("labels.re", [[0, 7, "R"]]), "labels.re"),
             ("relation pair, not triple", with_("labels.re", [[0, 1]]), "labels.re"),
             ("reversed offsets", with_("offsets", [[0, 3], [9, 4], [10, 15]]), "offsets"),
             ("negative offsets", with_("offsets", [[-3, -1], [4, 9], [10, 15]]), "offsets"),
             ("offsets beyond int32", with_("offsets", [[0, 3], [4, 2**40], [10, 15]]), "offsets"),
             ("float offsets", with_("offsets", [[0, 3.5], [4, 9], [10, 15]]), "offsets"),
             ("string offsets", with_("offsets", [["0", "3"], [4, 9], [10, 15]]), "offsets"),
             ("too few offsets", with_("offsets", [[0, 3]]), "offsets"),
             ("int tokens", with_("tokens", [1, 2, 3]), "tokens"),
             ("too few tags", with_("labels.ate", ["O"]), "labels.ate"),
             ("null token", with_("tokens", ["The", None, "rocks"]), "tokens")]
    return cases


JSONL_TASKS = {"tasks": [{"name": "ate", "kind": "tagging"}, {"name": "acd", "kind": "multilabel"},
                         {"name": "pol", "kind": "classify"}, {"name": "re", "kind": "relation"}]}


@dataclass
class StructOutcome:
    cases: dict[str, int] = field(default_factory=dict)  # kind -> cases tried
    errors: int = 0
    clean: int = 0
    failures: list[str] = field(default_factory=list)


def _noted_skip(entry: DatasetEntry, case: Path, options: dict, target: str) -> bool:
    """The reader skipped a record of ``target`` and says so in its notes (fudan-mtl-16's empty texts)."""
    notes = entry.reader(case, {**entry.options, **options}).notes
    return any(target in n and "skipped" in n for n in notes)


def _struct_case(entry: DatasetEntry, base: Base, work: Path, k: int, target: str, data: bytes, kind: str,
                 label: str, out: StructOutcome, must_fail: bool) -> None:
    case = work / f"struct{k:04d}"
    shutil.copytree(base.folder, case)
    (case / target).write_bytes(data)
    out.cases[kind] = out.cases.get(kind, 0) + 1
    result, problem = _check_read(entry, case, base.options)
    where = f"{entry.name} {kind} case {k} ({label} of {target})"
    if result == "crash" or problem:
        out.failures.append(f"{where}: {problem}")
    elif result == "error":
        out.errors += 1
    elif must_fail and not _noted_skip(entry, case, base.options, target):
        out.failures.append(f"{where}: accepted silently")
    else:
        out.clean += 1
    shutil.rmtree(case)


def run_structural(name: str, data_dir: Path, work: Path, seed: int = 0) -> StructOutcome:
    entry = REGISTRY.get(name)
    base_dir = work / "base"
    base_dir.mkdir(parents=True)
    base = BASES[name](data_dir, base_dir)
    rng = random.Random(f"struct:{name}:{seed}")
    out = StructOutcome()
    k = 0
    for target in base.files:
        if target == "tasks.json":
            continue
        data = (base.folder / target).read_bytes()
        for cut in _even(record_boundaries(data, base.fmt), STRUCT_CUTS):
            # a cut at a record boundary is a shorter corpus: clean, or a DataError (e.g. an unclosed XML root)
            _struct_case(entry, base, work, k, target, data[:cut], "boundary", f"cut at byte {cut}", out, False)
            k += 1
        for cut in _even(mid_record_cuts(data, base.fmt), STRUCT_CUTS):
            _struct_case(entry, base, work, k, target, data[:cut], "mid-record", f"cut at byte {cut}", out, True)
            k += 1
        if target.endswith(".unlabel"):  # fudan's unlabelled texts carry no label to flip
            continue
        for label, broken in _flip(name, data, base.fmt, rng):
            _struct_case(entry, base, work, k, target, broken, "type/range", label, out, True)
            k += 1
    return out


@pytest.mark.parametrize("name", sorted(BASES))
def test_structural_fuzz(name, data_dir, tmp_path, capsys):
    before = {p.name for p in tmp_path.parent.iterdir()}
    out = run_structural(name, data_dir, tmp_path)
    escaped = outside(tmp_path, before)
    with capsys.disabled():
        print(f"\n[fuzz] reader {name}: {sum(out.cases.values())} structural cases "
              f"({', '.join(f'{n} {k}' for k, n in sorted(out.cases.items()))}): {out.errors} DataError, "
              f"{out.clean} clean reads, {len(out.failures)} failures, {len(escaped)} files outside their roots")
    assert not escaped, escaped
    assert not out.failures, "\n".join(out.failures[:30])
    assert out.cases.get("mid-record", 0) > 0


def test_jsonl_type_flips_name_file_line_and_field(tmp_path, capsys):
    entry = REGISTRY.get("jsonl")
    (tmp_path / "tasks.json").write_text(json.dumps(JSONL_TASKS))
    good = {"tokens": ["A", "b", "c"], "labels": {"ate": ["O", "O", "O"], "acd": ["x"], "pol": "neg", "re": []}}
    cases = _jsonl_flips()
    for label, obj, fld in cases:
        (tmp_path / "train.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(obj) + "\n")
        with pytest.raises(DataError) as e:
            entry.reader(tmp_path, entry.options)
        assert (e.value.file, e.value.line, e.value.field) == (str(tmp_path / "train.jsonl"), 2, fld), (label, str(e.value))
    (tmp_path / "train.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(_jsonl_flips()[0][1] | {
        "labels": {"ate": ["O", "B", "O"], "acd": ["food"], "pol": "pos", "re": [[0, 1, "R"]]}}) + "\n")
    assert len(entry.reader(tmp_path, entry.options).splits["train"]) == 2  # the unflipped example reads
    with capsys.disabled():
        print(f"\n[fuzz] reader jsonl: {len(cases)} type/range flips, each a DataError naming file, line and field")
