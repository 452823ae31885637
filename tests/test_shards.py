"""Arrow shards, manifest, prepare (atomic, idempotent, change detection) on real data."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from raymtl.data.manifest import Manifest
from raymtl.data.prepare import prepare
from raymtl.data.registry import default_registry
from raymtl.data.schema import Example, TaskSpec, from_row, to_row
from raymtl.data.shards import iter_examples, open_split, sha256_file, verify_shards
from raymtl.errors import DataError


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def _copy_source(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_roundtrip_records_to_shards_to_records(registry, dataset_dir, tmp_path):
    entry = registry.get("conll04")
    result = entry.reader(dataset_dir("conll04"), dict(entry.options))
    originals = {s: list(exs) for s, exs in result.splits.items()}
    out = prepare(entry, dataset_dir("conll04"), tmp_path, rows_per_shard=200, log=lambda m: None)
    m = out.manifest
    assert len(m.splits["train"].shards) == 5  # 910 rows / 200 per shard
    for split, exs in originals.items():
        back = list(iter_examples(open_split(out.path, split), m.tasks))
        assert back == exs
    assert m.splits["train"].label_counts["re"] and sum(m.splits["train"].label_counts["re"].values()) == 1273


def test_schema_roundtrip_of_every_kind():
    tasks = [TaskSpec("t", "tagging"), TaskSpec("r", "relation"), TaskSpec("m", "multilabel"),
             TaskSpec("c", "classify", pairwise=True)]
    ex = Example("x1", ["a", "b", "c"], text_b=["t"], offsets=[(0, 1), (2, 3), (4, 5)],
                 labels={"t": ["B-X", "I-X", "O"], "r": [(1, 0, "rel")], "m": ["u", "v"], "c": "pos"})
    assert from_row(to_row(ex, tasks), tasks) == ex
    unlabeled = Example("x2", ["a"])
    assert from_row(to_row(unlabeled, tasks), tasks) == unlabeled


def test_manifest_contents(registry, prepared):
    m = Manifest.load(prepared("semeval14-restaurants"))
    assert m.schema_version == 1 and m.name == "semeval14-restaurants"
    assert {"train", "test"} <= set(m.splits)
    assert sum(i.rows for s, i in m.splits.items() if s in ("train", "dev")) == 3041
    assert m.splits["test"].rows == 800
    ate = m.task("ate")
    assert ate.kind == "tagging" and ate.labels[0] == "O"
    assert set(m.task("acd").labels) == {"food", "anecdotes/miscellaneous", "service", "ambience", "price"}
    assert len(m.sources) == 2 and all(len(h) == 64 for h in m.sources.values())
    for split in m.splits.values():
        for sh in split.shards:
            assert sha256_file(prepared("semeval14-restaurants") / sh.path) == sh.sha256
    words = dict(m.vocab)
    assert words["food"] > 100 and m.vocab[0][1] >= m.vocab[-1][1]


def test_prepare_is_noop_when_unchanged_and_rebuilds_on_change(registry, dataset_dir, tmp_path):
    src = _copy_source(dataset_dir("conll04"), tmp_path / "src")
    entry = registry.get("conll04")
    logs: list[str] = []
    first = prepare(entry, src, tmp_path / "out", log=logs.append)
    assert first.rebuilt
    second = prepare(entry, src, tmp_path / "out", log=logs.append)
    assert not second.rebuilt and any("up to date" in m for m in logs)
    with open(src / "test.txt", "a") as f:  # a changed input is detected
        f.write("#doc 99999\n0\tHello\tO\t['N']\t[0]\n")
    third = prepare(entry, src, tmp_path / "out", log=logs.append)
    assert third.rebuilt and third.manifest.splits["test"].rows == 289


def test_interrupted_prepare_leaves_nothing(registry, dataset_dir, tmp_path, monkeypatch):
    import raymtl.data.prepare as prep

    entry = registry.get("conll04")
    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(prep, "_swap_into_place", boom)
    with pytest.raises(KeyboardInterrupt):
        prepare(entry, dataset_dir("conll04"), tmp_path, log=lambda m: None)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_prepares_end_with_one_valid_set(registry, dataset_dir, tmp_path):
    entry = registry.get("conll04")
    results, errors = [], []

    def run():
        try:
            results.append(prepare(entry, dataset_dir("conll04"), tmp_path, force=True, log=lambda m: None))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["conll04"]
    verify_shards(tmp_path / "conll04")


def test_corrupted_shard_is_detected(registry, dataset_dir, tmp_path):
    out = prepare(registry.get("conll04"), dataset_dir("conll04"), tmp_path, log=lambda m: None)
    shard = out.path / out.manifest.splits["dev"].shards[0].path
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha256"):
        verify_shards(out.path)


def test_missing_source_dir_and_unknown_dataset(registry, tmp_path):
    with pytest.raises(DataError, match="not found"):
        prepare(registry.get("conll04"), tmp_path / "nope", tmp_path / "out")
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        registry.get("nope")
    assert not (tmp_path / "out" / "conll04").exists()


def test_huggingface_datasets_memory_maps_the_shards(prepared):
    datasets = pytest.importorskip("datasets")
    path = prepared("conll04")
    m = Manifest.load(path)
    ds = datasets.Dataset.from_file(str(path / m.splits["dev"].shards[0].path))
    assert ds.num_rows == 243
    assert ds[0]["tokens"] == open_split(path, "dev").slice(0, 1).column("tokens").to_pylist()[0]


def test_shards_are_ipc_stream_format(prepared):
    path = prepared("conll04")
    m = Manifest.load(path)
    with pa.memory_map(str(path / m.splits["test"].shards[0].path)) as src:
        table = pa.ipc.open_stream(src).read_all()
    assert table.num_rows == 288 and "label:re" in table.column_names


def test_uri_shards_are_cached_once_per_node_and_verified(prepared, tmp_path, monkeypatch):
    """A pyarrow.fs URI (file:// here; s3:// and gs:// take the same path) is copied into the node cache."""
    monkeypatch.setenv("RAYMTL_CACHE_DIR", str(tmp_path / "cache"))
    src = prepared("conll04")
    uri = "file://" + str(src)
    table = open_split(uri, "dev")
    assert table.num_rows == 243
    cached = list((tmp_path / "cache" / "shard-cache").glob("*.arrow"))
    assert len(cached) == 1
    m = Manifest.load(src)
    assert cached[0].name == m.splits["dev"].shards[0].sha256 + ".arrow"
    # A cached file whose bytes were changed is not trusted: a fresh fetch checks the sha256.
    cached[0].unlink()
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    shard = bad / m.splits["dev"].shards[0].path
    shard.chmod(0o644)
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="checksum mismatch"):
        open_split("file://" + str(bad), "dev")


def test_repeated_second_texts_convert_exactly_like_to_pylist():
    """Second texts are converted once per distinct value: rows with the same bytes but other token
    boundaries, nulls, empty lists, non-ASCII and sliced arrays must still come out exactly."""
    import pyarrow as pa

    from raymtl.data.shards import _repeated_lists

    arr = pa.array([["ab", "c"], ["a", "bc"], None, [], ["é", "x"], ["ab", "c"], [""], ["", ""], ["a", "bc"]],
                   type=pa.list_(pa.string()))
    for part in (arr, arr[1:], arr[2:7], arr[8:], arr[3:3]):
        got = _repeated_lists(part)
        assert got == part.to_pylist()
    rows = _repeated_lists(arr)
    assert rows[0] == rows[5] and rows[0] is not rows[5]  # converted once, but separate lists
