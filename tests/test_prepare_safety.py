"""``raymtl data prepare`` never deletes or overwrites what it did not write, writes nothing outside
its root, rebuilds shards that no longer match their manifest, and leaves no temporaries
(issue 17, points 1, 2 and 6). Real corpora (a copy of SemEval-2014 restaurants) and the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raymtl.data.prepare import prepare
from raymtl.data.registry import default_registry
from raymtl.data.shards import verify_shards
from raymtl.errors import ConfigError, DataError, RaymtlError

REGISTRY = default_registry()
BAD_NAMES = ["..", "../x", "../../../ESCAPED", "/abs/ESCAPED", "a/b", "a\\b", "x\x00y", "~user", "n" * 300, "", "."]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes): to prove a refusal changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def corpus(data_dir, tmp_path) -> Path:
    """A data dir holding a copy of semeval14-restaurants (the XMLs and SOURCE.md)."""
    d = tmp_path / "data"
    shutil.copytree(data_dir / "semeval14-restaurants", d / "semeval14-restaurants")
    return d


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raymtl.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, cwd=cwd)


def test_shards_root_equal_to_the_data_dir_keeps_the_raw_corpus(corpus):
    before = tree(corpus)
    proc = cli("data", "prepare", "semeval14-restaurants",
               env={"RAYMTL_DATA_DIR": str(corpus), "RAYMTL_SHARDS_DIR": str(corpus)})
    assert proc.returncode == 2, proc.stderr
    assert "is equal to the source directory" in proc.stderr and "Traceback" not in proc.stderr
    assert tree(corpus) == before  # the XMLs and SOURCE.md are all still there, byte for byte


@pytest.mark.parametrize("how", ["equal", "inside", "containing", "symlink"])
def test_output_overlapping_the_source_is_refused(corpus, tmp_path, how):
    entry = REGISTRY.get("semeval14-restaurants")
    src = corpus / "semeval14-restaurants"
    if how == "equal":  # --source X/semeval14-restaurants --out X
        out = corpus
    elif how == "inside":
        out = src / "shards"
    elif how == "containing":  # the target directory holds the source
        src = corpus / "semeval14-restaurants" / "raw"
        src.mkdir()
        for f in (corpus / "semeval14-restaurants").glob("*.xml"):
            shutil.copy(f, src / f.name)
        out = corpus
    else:  # the target is a symlink to the source
        out = tmp_path / "out"
        out.mkdir()
        (out / "semeval14-restaurants").symlink_to(src)
    before = tree(corpus)
    with pytest.raises(DataError, match=r"the source directory|not a raymtl shard directory") as e:
        prepare(entry, src, out, log=lambda _m: None)
    assert e.value.field == "--out"
    assert tree(corpus) == before


def test_a_directory_without_a_manifest_is_never_replaced(corpus, tmp_path):
    out = tmp_path / "out"
    mine = out / "semeval14-restaurants"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own file")
    with pytest.raises(DataError, match="not a raymtl shard directory"):
        prepare(REGISTRY.get("semeval14-restaurants"), corpus / "semeval14-restaurants", out, log=lambda _m: None)
    assert (mine / "notes.txt").read_text() == "my own file" and sorted(p.name for p in out.iterdir()) == [
        "semeval14-restaurants"]  # refused before any work: not even a lock file


def jsonl_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks.json").write_text(json.dumps({"tasks": [{"name": "pol", "kind": "classify"}]}))
    for split in ("train", "test"):
        (root / f"{split}.txt").write_text("".join(json.dumps({"tokens": ["good", str(i)], "labels": {"pol": "p"}})
                                                   + "\n" for i in range(5)))
    return root


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_split_name_never_escapes_the_output(tmp_path, bad):
    src = jsonl_corpus(tmp_path / "deep" / "a" / "b" / "src")
    out = tmp_path / "deep" / "a" / "b" / "out"
    before = tree(tmp_path)
    entry = REGISTRY.get("jsonl")
    with pytest.raises(RaymtlError) as e:
        prepare(entry, src, out, options={"splits": {"train": "train.txt", bad: "test.txt"}}, log=lambda _m: None)
    assert "split" in str(e.value) or "name" in str(e.value)
    after = tree(tmp_path)
    assert set(after) - set(before) <= {"deep/a/b/out/.src.lock"}, sorted(set(after) - set(before))
    assert not [p for p in tmp_path.rglob("*.arrow")]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_task_name_never_becomes_a_path(tmp_path, bad):
    src = jsonl_corpus(tmp_path / "src")
    (src / "tasks.json").write_text(json.dumps({"tasks": [{"name": bad, "kind": "classify"}]}))
    with pytest.raises(RaymtlError):
        prepare(REGISTRY.get("jsonl"), src, tmp_path / "out", options={"splits": {"train": "train.txt"}},
                log=lambda _m: None)
    assert not [p for p in tmp_path.rglob("*.arrow")]


@pytest.mark.parametrize("bad", [n for n in BAD_NAMES if n])  # "" is no --name: the default name
def test_a_dataset_name_never_escapes_the_shards_root(tmp_path, bad):
    src = jsonl_corpus(tmp_path / "src")
    with pytest.raises(ConfigError, match=r"\[--name\]"):
        prepare(REGISTRY.get("jsonl"), src, tmp_path / "out" / "root", name=bad, log=lambda _m: None)
    assert not (tmp_path / "out").exists()


def test_split_escape_through_the_cli_exits_2(tmp_path):
    src = jsonl_corpus(tmp_path / "x" / "y" / "src")
    proc = cli("data", "prepare", "jsonl", "--source", str(src), "--out", str(tmp_path / "x" / "y" / "out"),
               "--option", "splits={train: train.txt, ../../../ESCAPED: test.txt}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "[split]" in proc.stderr and not list(tmp_path.rglob("part-*.arrow"))


def test_a_corrupted_shard_is_rebuilt_without_force(corpus, tmp_path):
    entry = REGISTRY.get("semeval14-restaurants")
    out = tmp_path / "out"
    logs: list[str] = []
    first = prepare(entry, corpus / "semeval14-restaurants", out, log=logs.append)
    shard = out / "semeval14-restaurants" / first.manifest.splits["train"].shards[0].path
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha256"):
        verify_shards(out / "semeval14-restaurants")
    n = len(logs)
    again = prepare(entry, corpus / "semeval14-restaurants", out, log=logs.append)  # the advised re-run
    assert again.rebuilt and any("reading" in m for m in logs[n:])
    verify_shards(out / "semeval14-restaurants")
    assert not prepare(entry, corpus / "semeval14-restaurants", out, log=logs.append).rebuilt  # now a no-op


def test_leftovers_of_a_killed_prepare_are_removed_on_the_next_run(corpus, tmp_path):
    entry = REGISTRY.get("semeval14-restaurants")
    out = tmp_path / "out"
    prepare(entry, corpus / "semeval14-restaurants", out, log=lambda _m: None)
    for leftover in (".semeval14-restaurants.tmp-abc123", ".semeval14-restaurants.old-4242"):
        (out / leftover / "train").mkdir(parents=True)
        (out / leftover / "train" / "part-00000.arrow").write_bytes(b"half")
    (out / ".other.tmp-x").mkdir()  # another dataset's: not this run's business
    assert not prepare(entry, corpus / "semeval14-restaurants", out, log=lambda _m: None).rebuilt
    assert sorted(p.name for p in out.iterdir()) == [".other.tmp-x", ".semeval14-restaurants.lock",
                                                      "semeval14-restaurants"]


def test_a_failed_prepare_leaves_no_temporary_and_keeps_the_old_shards(corpus, tmp_path):
    entry = REGISTRY.get("semeval14-restaurants")
    out = tmp_path / "out"
    good = prepare(entry, corpus / "semeval14-restaurants", out, log=lambda _m: None)
    xml = corpus / "semeval14-restaurants" / "Restaurants_Train_v2.xml"
    xml.write_bytes(xml.read_bytes()[: len(xml.read_bytes()) // 2])  # cut mid-file
    with pytest.raises(DataError):
        prepare(entry, corpus / "semeval14-restaurants", out, log=lambda _m: None)
    assert sorted(p.name for p in out.iterdir()) == [".semeval14-restaurants.lock", "semeval14-restaurants"]
    verify_shards(out / "semeval14-restaurants")
    assert json.loads((out / "semeval14-restaurants" / "manifest.json").read_text())["created"] == good.manifest.created


@pytest.mark.parametrize("change", ["splits: []", "unknown task kind", "shard path escapes", "split named ..",
                                    "vocab not pairs", "not an object"])
def test_a_malformed_manifest_is_one_data_error_line(corpus, tmp_path, change):
    out = tmp_path / "out"
    prepare(REGISTRY.get("semeval14-restaurants"), corpus / "semeval14-restaurants", out, log=lambda _m: None)
    path = out / "semeval14-restaurants" / "manifest.json"
    d = json.loads(path.read_text())
    if change == "splits: []":
        d["splits"] = []
    elif change == "unknown task kind":
        d["tasks"][0]["kind"] = "regression"
    elif change == "shard path escapes":
        d["splits"]["train"]["shards"][0]["path"] = "train/../../../../etc/passwd"
    elif change == "split named ..":
        d["splits"][".."] = d["splits"].pop("train")
    elif change == "vocab not pairs":
        d["vocab"] = [["a"]]
    else:
        d = [d]
    path.write_text(json.dumps(d))
    proc = cli("data", "inspect", str(out / "semeval14-restaurants"), "--verify")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # ... and the advised re-run of prepare replaces the broken set
    assert prepare(REGISTRY.get("semeval14-restaurants"), corpus / "semeval14-restaurants", out,
                   log=lambda _m: None).rebuilt
