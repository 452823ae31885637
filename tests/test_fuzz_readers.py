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


@pytest.mark.parametrize("name", sorted(BASES))
def test_fuzz_reader(name, data_dir, tmp_path):
    out = run_fuzz(name, data_dir, tmp_path, CASES_PER_READER)
    print(f"{name}: {CASES_PER_READER} cases: {out.errors} DataError, {out.ok} read fine, "
          f"{out.prepared} prepared")
    assert not out.failures, "\n".join(out.failures)
    assert out.errors > 0  # the mutations do break things
