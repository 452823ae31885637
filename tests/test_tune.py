"""Ray Tune + Optuna searches on real shards: concurrency, ASHA, failures, aux subsets, a 2-node
cluster, driver kill + resume, and spaces that fail before any trial starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymtl.errors import ConfigError
from raymtl.train.config import TrainConfig
from raymtl.train.faults import CHAOS_DELAY_ENV, CHAOS_DIR_ENV
from raymtl.train.cluster import start_local  # Ray Train's helpers find it beside other Rays

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


TINY_BASE = ["data.max_train_examples=120", "data.max_eval_examples=60", "data.vectors=", "model.embedding=random",
             "model.emb_dim=16", "train.batch_size=16", "train.patience=0"]


def absa_overrides(epochs: int) -> list[str]:
    # A 6-point grid: lr 1e-12 trials stay weak (ASHA stops them once a trained trial has set the
    # rung's bar; lr 0 is refused, lr must be > 0), lr 1e38 trials diverge at their first step
    # (non-finite loss: the trial fails, the search goes on). Grid seed 3 proposes lr 0.5, 1e38,
    # 1e38, 1e-12, 1e-12, 0.5: a trained trial comes first.
    return TINY_BASE + [f"train.epochs={epochs}", "model.label_dim=16", "params.model.hidden=16",
                        "optim.name=sgd", "optim.clip=0.0", "train.monitor=ate/acc",
                        "search.algorithm=grid", "search.seed=3", "scheduler.grace_period=1",
                        "scheduler.reduction_factor=2",
                        "params.optim.lr=[1.0e-12, 0.5, 1.0e+38]", "params.schedule.gold_epochs=[0, 1]",
                        "params.tasks.ate.weight=1.0", "params.tasks.acd.weight=1.0",
                        "params.schedule.tau.tau_start=0.5"]


def run(space: str, *args: str, overrides: list[str]) -> dict:
    from raymtl.tune import build_parser, run_search, SearchOptions

    a = build_parser().parse_args([str(REPO / "search_spaces" / space), *args])
    opts = SearchOptions(space=a.space, num_samples=a.num_samples, max_concurrent=a.max_concurrent,
                         workers_per_trial=a.workers_per_trial, storage=a.storage, name=a.name,
                         resume=a.resume, num_cpus=a.num_cpus, overrides=overrides, max_failures=a.max_failures)
    return run_search(opts)


@pytest.fixture
def shards(shards_root, monkeypatch):
    root = shards_root("semeval14-restaurants", "semeval16-stance", "twitter-target-dong14", "semeval16-absa-rest",
                       "semeval16-absa-lapt", "fnc1")
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(root))
    return root


@pytest.fixture
def fresh_ray():
    import ray

    yield
    ray.shutdown()


def test_search_more_trials_than_slots_with_asha_and_a_failing_trial(shards, fresh_ray, tmp_path):
    import ray

    start_local(5, dashboard=True, log_to_driver=False)  # 2 trials x (2 DDP workers + 0.5 CPU driver)
    summary = run("absa_cmtl.yaml", "--num-samples", "6", "--max-concurrent", "2", "--workers-per-trial", "2",
                  "--storage", str(tmp_path), "--name", "s", "--max-failures", "0", overrides=absa_overrides(4))
    exp = tmp_path / "s"
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 6 and summary["trials"] == 6
    failed = df[df["status"] == "failed"]
    assert sorted(failed["param/optim.lr"]) == [1e38, 1e38]
    assert failed["error"].str.contains("non-finite loss").all(), failed["error"].tolist()
    stopped = df[df["status"] == "stopped_early"]
    assert len(stopped) >= 1 and (stopped["param/optim.lr"] == 1e-12).all()  # ASHA stopped weak trials
    assert (stopped["epochs_run"] < 4).all()
    assert (df[df["param/optim.lr"] == 0.5]["status"] == "terminated").all()
    assert {"test/ate/f1", "dev/acd/f1", "best_dev_score", "wall_time_s"} <= set(df.columns)
    assert pd.read_parquet(exp / "results.parquet").shape[0] == 6
    best = TrainConfig.load(exp / "best_config.yaml")  # re-runnable as is
    assert best.optim.lr == 0.5 and best.model["hidden"] == 16
    assert json.loads((exp / "importances.json").read_text()) is not None  # HParams: tests/test_review.py


def test_more_concurrency_than_resources_fails_before_any_trial(shards, fresh_ray, tmp_path):
    import ray

    start_local(5, dashboard=True, log_to_driver=False)
    with pytest.raises(ConfigError, match=r"max-concurrent 3 needs 3 x 2.5 CPUs"):
        run("absa_cmtl.yaml", "--max-concurrent", "3", "--workers-per-trial", "2", "--storage", str(tmp_path),
            overrides=absa_overrides(2))
    assert not (tmp_path / "absa_cmtl" / "results.csv").exists()


def test_two_node_cluster_runs_aux_subset_trials_on_both_nodes(shards, fresh_ray, tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 3})
    cluster.add_node(num_cpus=3)
    try:
        ray.init(address=cluster.address)
        run("aux_selection.yaml", "--num-samples", "4", "--max-concurrent", "4", "--workers-per-trial", "1",
            "--storage", str(tmp_path), "--name", "aux", "--max-failures", "0",
            overrides=TINY_BASE + ["train.epochs=1", "model.hidden=16", "model.label_dim=16", "search.algorithm=random",
                                   "scheduler.kind=fifo", "scheduler.grace_period=1"])
        df = pd.read_csv(tmp_path / "aux" / "results.csv")
        assert len(df) == 4 and (df["status"] == "terminated").all()
        assert df["aux_tasks"].nunique() >= 2  # different task sets per trial
        nodes = set()
        for results in (tmp_path / "aux").glob("*/results.json"):
            nodes.add(json.loads(results.read_text())["node_id"])
        assert len(nodes) == 2, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def _terminated_trials(exp: Path) -> dict[str, int]:
    """Trials Tune's saved state records as finished -> lines in their result.json."""
    from raymtl.tune import finished_trials

    return {t: len((d / "result.json").read_text().splitlines()) for t, d in finished_trials(exp).items()}


def test_kill_driver_then_resume_does_not_rerun_finished_trials(shards, tmp_path):
    cmd = [sys.executable, str(REPO / "raymtl" / "tune.py"), str(REPO / "search_spaces" / "absa_cmtl.yaml"),
           "--num-samples", "3", "--max-concurrent", "1", "--workers-per-trial", "1", "--num-cpus", "2",
           "--storage", str(tmp_path), "--name", "k", "--max-failures", "0"]
    sets = []
    for o in TINY_BASE + ["train.epochs=2", "model.label_dim=16", "params.model.hidden=16", "search.algorithm=random",
                          "scheduler.kind=fifo", "params.optim.lr=0.01"]:
        sets += ["--set", o]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Tiny in-process trials take ~1 s each: all 3 could end between two of Tune's state saves, and the
    # kill would come too late. A 0.25 s pause per step (the loop's fault-injection hook) leaves a
    # window of several seconds after the first trial ends.
    beats = tmp_path / "beats"
    beats.mkdir()
    slow = {**env, CHAOS_DIR_ENV: str(beats), CHAOS_DELAY_ENV: "0.25"}
    proc = subprocess.Popen(cmd + sets, env=slow, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    exp = tmp_path / "k"
    deadline = time.time() + 400
    while time.time() < deadline and not _terminated_trials(exp) and proc.poll() is None:
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()
    before = _terminated_trials(exp)
    assert before and len(before) < 3, f"kill came too late or too early: {before}"
    mtimes = {t: next(exp.glob(f"trial_{t}_*/results.json")).stat().st_mtime for t in before}
    time.sleep(3)
    done = subprocess.run(cmd + sets + ["--resume", "--refit", "2"], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    after = _terminated_trials(exp)
    assert len(after) == 3
    for trial, n_lines in before.items():  # finished trials were not run again
        assert after[trial] == n_lines
        assert next(exp.glob(f"trial_{trial}_*/results.json")).stat().st_mtime == mtimes[trial]
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 3 and (df["status"] == "terminated").all()
    # --refit 2: the best configuration retrained with seeds 1 and 2, test mean ± std per metric.
    refit = json.loads((exp / "refit.json").read_text())
    assert refit["ate/f1"]["seeds"] == 2 and 0.0 <= refit["ate/f1"]["mean"] <= 1.0 and refit["ate/f1"]["std"] >= 0
    assert "refit of the best configuration over 2 seeds" in done.stdout


@pytest.mark.parametrize("content,key", [
    ("name: x\nbase: ../configs/absa_cmtl.yaml\nparams: {optim.lr: {type: float, low: 1, high: 0.1}}\n", "optim.lr"),
    ("name: x\nbase: ../configs/absa_cmtl.yaml\nparams: {model.nope: {type: int, low: 1, high: 2}}\n", "model.nope"),
    ("name: x\nbase: ../configs/absa_cmtl.yaml\nparams: {tasks.xyz.weight: 1.0}\n", "tasks.xyz.weight"),
    ("name: x\nbase: ../configs/absa_cmtl.yaml\nconditional: [{when: {model.arch: hmtl}, params: {optim.lr: 0.1}}]\n",
     "model.arch"),
    ("name: x\nbase: ../configs/absa_cmtl.yaml\nparams: [\n", "malformed"),
])
def test_bad_space_fails_before_any_trial(content, key, tmp_path):
    import ray

    space = REPO / "search_spaces" / f".bad-{os.getpid()}.yaml"
    space.write_text(content)
    try:
        from raymtl.tune import main

        assert main([str(space), "--storage", str(tmp_path)]) == 2
        with pytest.raises(ConfigError) as e:
            from raymtl.search.space import load_space

            load_space(space)
        assert key in str(e.value)
        assert not ray.is_initialized() and not any(tmp_path.iterdir())
    finally:
        space.unlink()
