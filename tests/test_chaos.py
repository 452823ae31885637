"""Faults survived: a Ray Train worker killed mid-epoch, a node removed mid-search, interrupted
checkpoint writes, corrupted shard bytes, and two concurrent `raymtl data prepare` processes.

The scenarios live in bench/chaos.py (which counts them); here they are asserted on. Killing the
Tune driver and resuming is tested in tests/test_tune.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raymtl.errors import DataError

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("raymtl_bench_chaos", REPO / "bench" / "chaos.py")
chaos = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chaos)  # type: ignore[union-attr]


@pytest.fixture
def shards(shards_root, monkeypatch):
    root = shards_root("semeval14-restaurants")
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(root))  # inherited by the Ray processes the tests start
    monkeypatch.setenv("RAYMTL_TRAIN_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("RAYMTL_REVIEW", "0")  # no TensorBoard review figures: not what is tested here
    return root


_STRAIGHT: dict = {}


def straight_run(cfg, tmp_path: Path) -> dict:
    """The fault-free reference run (once per module)."""
    key = repr(cfg.to_dict())
    if key not in _STRAIGHT:
        _STRAIGHT[key] = chaos.local_run(cfg, tmp_path / "straight")
    return _STRAIGHT[key]


# ---- interrupted checkpoint writes (no Ray) ----------------------------------------------------
@pytest.mark.parametrize("how", ["save", "copy", "rename"])
def test_interrupted_checkpoint_write_keeps_the_previous_one(shards, tmp_path, how):
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter

    cfg = chaos.tiny_config(2, "data.max_train_examples=64", "data.max_eval_examples=32")
    out = chaos.interrupted_run(cfg, tmp_path / "run", how, at_report=2)
    assert out["error"] is not None, "the write did not fail"
    if how != "rename":
        assert isinstance(out["error"], OSError) and "No space left" in str(out["error"])
    reporter = LocalReporter(tmp_path / "run")
    ckpt = reporter.latest_checkpoint()
    assert ckpt is not None
    probe = Runner(cfg, chaos.loop_validate(cfg), reporter=reporter, run_dir=tmp_path / "run", log=lambda m: None)
    probe.restore(ckpt)
    assert probe.epoch == 1  # epoch 1's checkpoint, whole
    resumed = Runner(cfg, chaos.loop_validate(cfg), reporter=reporter, run_dir=tmp_path / "run",
                     log=lambda m: None).fit()
    assert chaos.same_results(resumed, straight_run(cfg, tmp_path)) == []
    left = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert left == ["latest"], left  # the moved-aside copy and temporaries are cleaned by the next write


# ---- corrupted shards ----------------------------------------------------------------------------
def test_corrupted_shard_bytes_are_detected_before_training(shards, tmp_path, monkeypatch):
    import shutil

    import ray

    from raymtl.train.run import run_train
    from raymtl.train.trainer import validate

    copy = tmp_path / "shards" / "semeval14-restaurants"
    shutil.copytree(Path(shards / "semeval14-restaurants").resolve(), copy)
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(tmp_path / "shards"))
    shard = sorted((copy / "train").glob("*.arrow"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the middle of a record batch
    shard.write_bytes(bytes(data))
    cfg = chaos.tiny_config(1)
    with pytest.raises(DataError) as e:
        validate(cfg, log=lambda m: None)
    assert e.value.file == str(shard) and e.value.field == "sha256" and "raymtl data prepare" in str(e.value)
    with pytest.raises(DataError, match="sha256"):
        run_train(cfg, storage=str(tmp_path / "runs"), name="x", quiet=True)
    assert not ray.is_initialized()


# ---- two `raymtl data prepare` at once ---------------------------------------------------------------
def test_two_concurrent_prepares_end_with_one_valid_shard_set(tmp_path):
    from raymtl.data.shards import load_manifest, verify_shards

    out = tmp_path / "shards"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # What `raymtl data prepare conll04 --out OUT --force --rows-per-shard 500 [--option seed=7]` runs
    # (raymtl.data.commands.prepare_cmd), without the CLI's other imports (torch), in two processes.
    code = ("import sys; from raymtl.data.commands import prepare_cmd; "
            "sys.exit(prepare_cmd('conll04', None, sys.argv[1], 500, sys.argv[2:], True))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(out)] + (["seed=7"] if i else []), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    target = out / "conll04"
    verify_shards(target)  # every shard the manifest lists is there with its checksum: no mix of the two
    m = load_manifest(target)
    listed = {s.path for split in m.splits.values() for s in split.shards}
    on_disk = {str(p.relative_to(target)) for p in target.rglob("*.arrow")}
    assert listed == on_disk
    assert m.options.get("seed") in (0, 7)  # the set of one of the two processes (default seed 0), whole
    assert sorted(p.name for p in out.iterdir()) == [".conll04.lock", "conll04"]


# ---- Ray: a worker killed mid-epoch, a node lost mid-search ----------------------------------------
@pytest.mark.slow
def test_killed_train_worker_resumes_from_checkpoint_with_the_same_results(shards, tmp_path):
    """`raymtl train` on a local Ray; its Ray Train worker is killed with -9 mid-epoch after the
    epoch-1 checkpoint was registered: a new worker resumes from it and the run ends with the
    per-epoch history and test metrics of a straight run of the same seed."""
    r = chaos.scenario_worker_kill(tmp_path, epochs=3)
    assert r["kill_error"] is None and r["faults_injected"] == 1, r
    assert r["killed_at"]["epoch"] >= 1  # mid-epoch, after the first checkpoint
    pids = r["worker_pids"]
    assert len(pids) == 2 and pids[0] == r["killed_pid"] and pids[1] != pids[0], r  # a new worker took over
    assert r["resumed_from_epoch"] >= 1, r  # from the checkpoint, not from scratch
    assert r["epochs_run"] == 3 and r["differences"] == [] and r["results_lost"] == 0, r


@pytest.mark.slow
def test_node_removed_mid_search_the_search_completes_on_the_rest(shards, tmp_path):
    """A 2-node local cluster; the non-head node is removed while a trial trains on it. Both trials
    finish; the lost one resumed on the head node from its checkpoint, with the results of a
    straight run of its config."""
    r = chaos.scenario_node_loss(tmp_path, trials=2, epochs=3)
    assert r["remove_error"] is None and r["faults_injected"] == 1, r
    assert r["statuses"] == ["terminated", "terminated"] and r["errors"] == 0, r
    lost = r["lost_trial_starts"]
    assert lost[0]["on_removed_node"] and len(lost) >= 2, r  # the lost trial ran again ...
    assert not lost[-1]["on_removed_node"] and lost[-1]["epoch"] >= 1, r  # ... elsewhere, from its checkpoint
    assert all(d == [] for d in r["differences"].values()) and len(r["differences"]) == 2, r
    assert r["results_lost"] == 0 and r["trials_completed"] == 2, r
