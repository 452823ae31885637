#!/usr/bin/env python
"""Chaos bench: inject faults into real (tiny) runs and searches and count what survives.

    flock /tmp/raymtl-ray.lock python bench/chaos.py            # all scenarios, ~5-8 min on 2 CPUs
    python bench/chaos.py --only checkpoint                      # one scenario (no Ray)

Scenarios (each on a local Ray unless noted):

- ``worker_kill``: ``kill -9`` the Ray Train worker of a run mid-epoch (after its first epoch
  checkpoint). Ray Train restarts the worker group from the last checkpoint; the run must end with
  the per-epoch history and test metrics of a straight run of the same seed.
- ``node_loss``: a 2-node ``ray.cluster_utils.Cluster``; the non-head node is removed (its
  processes killed) while a trial trains on it, mid-epoch after a registered checkpoint. The
  search must complete on the head node, the lost trial continuing from its checkpoint (Tune /
  Ray Train retries), every trial with the results of a straight run of its config.
- ``driver_kill``: ``kill -9`` the Tune driver (``raymtl/tune.py``) once Tune recorded a finished trial, then
  ``--resume`` (the pattern of tests/test_tune.py): no finished trial re-run, all results kept.
- ``checkpoint``: (no Ray) a checkpoint write interrupted three ways: disk full while
  ``torch.save`` writes, while the checkpoint is copied into place, and a crash between the two
  renames. The previous checkpoint must stay loadable and the resumed run must equal a straight run.

Figures (printed, and written to bench/results/chaos.json):
``faults_injected``; ``trials_completed`` (runs/trials that finished after the faults);
``results_lost`` (expected final results missing or different from the fault-free reference;
target 0); ``trials_rerun`` (trials that had already finished and were run again; target 0).
``runs_resumed`` counts interrupted runs that continued from a checkpoint.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TINY = ["data.max_train_examples=120", "data.max_eval_examples=48", "data.vectors=", "model.embedding=random",
        "model.emb_dim=16", "model.hidden=16", "model.label_dim=16", "train.batch_size=16", "train.patience=0"]
# Keys of a history entry that depend on wall time, not on the computation.
TIMING = ("train/seconds", "train/cpu_seconds", "train/examples_per_s")


# ---- helpers -----------------------------------------------------------------------------------
def tiny_config(epochs: int, *extra: str):
    from raymtl.train.config import TrainConfig

    return TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", TINY + [f"train.epochs={epochs}", *extra])


def local_run(cfg, run_dir: Path, reporter=None) -> dict[str, Any]:
    """A straight run in this process (no Ray), the reference a faulty run must match."""
    import torch

    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    torch.set_num_threads(1)
    env = os.environ.pop("RAYMTL_CHAOS_DIR", None)  # no heartbeats/delays for the reference run
    try:
        reporter = reporter or LocalReporter(run_dir)
        return Runner(cfg, validate(cfg, log=lambda m: None), reporter=reporter, run_dir=run_dir,
                      log=lambda m: None).fit()
    finally:
        if env is not None:
            os.environ["RAYMTL_CHAOS_DIR"] = env


def comparable(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


def same_results(a: dict[str, Any], b: dict[str, Any], tol: float = 1e-5) -> list[str]:
    """Differences between two run summaries (history without timings, dev and test metrics)."""
    diffs = []
    ha, hb = comparable(a["history"]), comparable(b["history"])
    if len(ha) != len(hb):
        return [f"{len(ha)} vs {len(hb)} epochs"]
    pairs = [(f"epoch {i + 1} {k}", x.get(k), y.get(k)) for i, (x, y) in enumerate(zip(ha, hb)) for k in x | y]
    pairs += [(f"{s} {k}", a[s].get(k), b[s].get(k)) for s in ("dev", "test") for k in a[s] | b[s]]
    for what, x, y in pairs:
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if abs(x - y) > tol * max(1.0, abs(x), abs(y)):
                diffs.append(f"{what}: {x} vs {y}")
        elif x != y:
            diffs.append(f"{what}: {x!r} vs {y!r}")
    return diffs


def chaos_events(chaos_dir: Path, run: str | None = None) -> list[dict[str, Any]]:
    out = []
    for f in sorted(chaos_dir.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                ev = json.loads(line)
                if run is None or ev["run"] == run:
                    out.append(ev)
    return sorted(out, key=lambda e: e["time"])


def watch(chaos_dir: Path, predicate: Callable[[dict[str, Any]], bool], act: Callable[[dict[str, Any]], None],
          timeout: float = 600) -> tuple[threading.Thread, dict[str, Any]]:
    """In a thread: wait for the first heartbeat matching ``predicate``, then ``act`` on it."""
    box: dict[str, Any] = {}

    def loop() -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and "stop" not in box:
            for ev in chaos_events(chaos_dir):
                if predicate(ev):
                    box["event"] = ev
                    try:
                        act(ev)
                    except Exception as e:  # noqa: BLE001 - reported by the caller
                        box["error"] = repr(e)
                    return
            time.sleep(0.2)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t, box


class chaos_env:
    """Sets RAYMTL_CHAOS_DIR/RAYMTL_CHAOS_STEP_DELAY for the Ray processes started inside."""

    def __init__(self, chaos_dir: Path, delay: float):
        self.values = {"RAYMTL_CHAOS_DIR": str(chaos_dir), "RAYMTL_CHAOS_STEP_DELAY": str(delay)}

    def __enter__(self):
        Path(self.values["RAYMTL_CHAOS_DIR"]).mkdir(parents=True, exist_ok=True)
        self.old = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)
        return self

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def checkpoint_registered(train_run_dir: Path) -> bool:
    """Ray Train's controller has registered at least one reported checkpoint of this run.

    A worker's ``ray.train.report`` persists its checkpoint at once, but the controller collects it
    on its next poll (``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``, 2 s): a worker killed in between
    resumes from the checkpoint before. Faults are injected after the registration, so the
    resume point is known."""
    snap = train_run_dir / "checkpoint_manager_snapshot.json"
    try:
        return len(json.loads(snap.read_text()).get("checkpoint_results", [])) >= 1
    except (OSError, ValueError):
        return False


def figures(**kw: Any) -> dict[str, Any]:
    base = {"faults_injected": 0, "trials_completed": 0, "results_lost": 0, "trials_rerun": 0, "runs_resumed": 0}
    base.update(kw)
    return base


# ---- scenario: kill -9 a Ray Train worker mid-epoch ------------------------------------------------
def scenario_worker_kill(work: Path, *, epochs: int = 3, delay: float = 0.4) -> dict[str, Any]:
    import ray

    from raymtl.train.cluster import start_local
    from raymtl.train.run import run_train

    cfg = tiny_config(epochs)
    straight = local_run(cfg, work / "straight")
    chaos = work / "chaos"
    with chaos_env(chaos, delay):
        start_local(2, dashboard=True, log_to_driver=False)  # Train's helpers find it beside other Rays
        try:
            def kill(ev: dict[str, Any]) -> None:
                os.kill(ev["pid"], signal.SIGKILL)

            thread, box = watch(chaos, lambda e: e["event"] == "step" and e["epoch"] >= 1
                                and time.time() - e["time"] < 1.0 and checkpoint_registered(work / "ray" / "killed"),
                                kill)
            summary = run_train(cfg, storage=str(work / "ray"), name="killed", quiet=True)
            box["stop"] = 1
            thread.join(5)
        finally:
            ray.shutdown()
    events = chaos_events(chaos, "killed")
    starts = [e for e in events if e["event"] == "start"]
    victim = box.get("event")
    diffs = same_results(summary, straight)
    return figures(
        faults_injected=int(victim is not None and "error" not in box), trials_completed=1,
        results_lost=int(bool(diffs)), runs_resumed=int(len(starts) > 1),
        killed_pid=victim and victim["pid"], killed_at=victim and {"epoch": victim["epoch"], "step": victim["step"]},
        worker_pids=[e["pid"] for e in starts], resumed_from_epoch=starts[-1]["epoch"] if len(starts) > 1 else None,
        epochs_run=summary["epochs_run"], differences=diffs[:10], kill_error=box.get("error"))


# ---- scenario: a node of a 2-node cluster is removed mid-search ---------------------------------------
SEARCH_SETS = ["model.label_dim=16", "params.model.hidden=16", "search.algorithm=random", "scheduler.kind=fifo",
               "params.optim.lr=0.01", "train.patience=0"]


def search_overrides(epochs: int) -> list[str]:
    return [o for o in TINY if not o.startswith(("model.hidden", "model.label_dim"))] + \
        [f"train.epochs={epochs}", *SEARCH_SETS]


def scenario_node_loss(work: Path, *, trials: int = 2, epochs: int = 3, delay: float = 0.4) -> dict[str, Any]:
    import pandas as pd
    import ray
    from ray.cluster_utils import Cluster

    from raymtl.train.config import TrainConfig
    from raymtl.tune import SearchOptions, run_search

    chaos = work / "chaos"
    train_runs = work / "search" / "nodes" / "train"

    def registered(run: str) -> bool:  # this Tune trial has a checkpoint Tune knows of
        # In-process trials (1 worker): Tune's own trial checkpoints, checkpoint_NNNNNN in the trial
        # dir, recorded once the trial's result reaches the driver; DDP trials: Ray Train's registry.
        if any(checkpoint_registered(d) for d in train_runs.glob("*") if d.name in run):
            return True
        trial = work / "search" / "nodes" / run
        return any((c / "state.pt").exists() for c in trial.glob("checkpoint_*")) and \
            any(line.strip() for line in (trial / "result.json").read_text().splitlines()) \
            if (trial / "result.json").exists() else False

    def ready(e: dict[str, Any], node: str) -> bool:  # mid-epoch, after a registered checkpoint, on `node`
        return (e["event"] == "step" and e.get("node_id") == node and e["epoch"] >= 1
                and time.time() - e["time"] < 1.0 and registered(e["run"]))

    with chaos_env(chaos, delay):  # before the nodes start: their workers inherit it
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
        worker = cluster.add_node(num_cpus=2)
        try:
            ray.init(address=cluster.address)
            cluster.wait_for_nodes()
            node_id = worker.node_id
            removed: dict[str, Any] = {}

            def remove(ev: dict[str, Any]) -> None:
                removed["at"] = time.time()
                cluster.remove_node(worker, allow_graceful=False)

            thread, box = watch(chaos, lambda e: ready(e, node_id), remove)
            opts = SearchOptions(space=REPO / "search_spaces" / "absa_cmtl.yaml", num_samples=trials,
                                 max_concurrent=2, workers_per_trial=1, storage=str(work / "search"), name="nodes",
                                 max_failures=2, overrides=search_overrides(epochs))
            summary = run_search(opts)
            box["stop"] = 1
            thread.join(5)
        finally:
            ray.shutdown()
            cluster.shutdown()
    exp = work / "search" / "nodes"
    df = pd.read_csv(exp / "results.csv")
    done = df[df["status"] == "terminated"]

    def starts_of(run: str | None) -> list[dict[str, Any]]:
        return [{"pid": e["pid"], "epoch": e["epoch"], "on_removed_node": e.get("node_id") == node_id}
                for e in (chaos_events(chaos, run) if run else []) if e["event"] == "start"]

    lost_run = box.get("event", {}).get("run")
    # Each finished trial against a straight local run of its own config (same seed).
    differences: dict[str, list[str]] = {}
    for res in sorted(exp.glob("*/results.json")):
        cfg = TrainConfig.from_dict(json.loads((res.parent / "train_config.json").read_text()))
        got = json.loads(res.read_text())
        differences[res.parent.name] = same_results(got, local_run(cfg, work / "straight" / res.parent.name))
    intact = sum(1 for d in differences.values() if not d)
    return figures(
        faults_injected=int("at" in removed), trials_completed=len(done),
        results_lost=trials - min(len(done), intact), runs_resumed=int(len(starts_of(lost_run)) > 1),
        lost_trial=lost_run, lost_trial_starts=starts_of(lost_run),
        differences={k: v[:5] for k, v in differences.items()},
        statuses=df["status"].tolist(), errors=summary["errors"], remove_error=box.get("error"))


# ---- scenario: kill -9 the Tune driver, then --resume ------------------------------------------------
def _finished_trials(exp: Path) -> dict[str, int]:
    """Trials Tune's saved experiment state records as finished -> lines in their result.json
    (a trial whose final result was reported but which had not yet returned is still running)."""
    from raymtl.tune import finished_trials

    return {t: len((d / "result.json").read_text().splitlines()) for t, d in finished_trials(exp).items()}


def scenario_driver_kill(work: Path, *, trials: int = 3, epochs: int = 2) -> dict[str, Any]:
    import pandas as pd

    cmd = [sys.executable, str(REPO / "raymtl" / "tune.py"), str(REPO / "search_spaces" / "absa_cmtl.yaml"),
           "--num-samples", str(trials), "--max-concurrent", "1", "--workers-per-trial", "1", "--num-cpus", "2",
           "--storage", str(work), "--name", "k", "--max-failures", "0"]
    for o in search_overrides(epochs):
        cmd += ["--set", o]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAYMTL_CHAOS_DIR", None)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    exp = work / "k"
    deadline = time.time() + 600
    while time.time() < deadline and not _finished_trials(exp) and proc.poll() is None:
        time.sleep(1)
    killed = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()
    before = _finished_trials(exp)
    time.sleep(3)
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=900)
    after = _finished_trials(exp)
    rerun = [t for t, n in before.items() if after.get(t) != n]
    rows = pd.read_csv(exp / "results.csv") if (exp / "results.csv").exists() else pd.DataFrame()
    ok = int((rows["status"] == "terminated").sum()) if len(rows) else 0
    return figures(faults_injected=int(killed), trials_completed=ok, results_lost=trials - ok,
                   trials_rerun=len(rerun), finished_before_kill=len(before), resume_returncode=done.returncode,
                   resume_stderr=done.stderr[-1500:] if done.returncode else "")


# ---- scenario: interrupted checkpoint writes (no Ray) ------------------------------------------------
class DiskFull(OSError):
    def __init__(self) -> None:
        super().__init__(errno.ENOSPC, "No space left on device (simulated)")


def interrupted_run(cfg, run_dir: Path, how: str, at_report: int = 2) -> dict[str, Any]:
    """Run until the ``at_report``-th checkpoint write fails ``how``; return what was left."""
    import torch

    import raymtl.train.loop as loop
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter

    calls = {"report": 0}
    real_save, real_copytree, real_replace = torch.save, shutil.copytree, os.replace

    def failing_save(obj, f, *a, **kw):  # writes half the bytes, then the disk is full
        buf = io.BytesIO()
        real_save(obj, buf, *a, **kw)
        Path(f).write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
        raise DiskFull()

    def failing_copytree(src, dst, *a, **kw):  # copies one file, then the disk is full
        Path(dst).mkdir(parents=True, exist_ok=True)
        first = sorted(Path(src).iterdir())[0]
        shutil.copyfile(first, Path(dst) / first.name)
        raise DiskFull()

    replaced = {"n": 0}

    def crashing_replace(a, b, *args, **kw):  # the process dies between the two renames
        replaced["n"] += 1
        real_replace(a, b, *args, **kw)
        if replaced["n"] == 1 and Path(b).name.startswith(".latest.old-"):
            raise KeyboardInterrupt("killed between the renames (simulated)")

    class Reporter(LocalReporter):
        def report(self, metrics, checkpoint_dir):
            calls["report"] += 1
            armed = checkpoint_dir is not None and calls["report"] == at_report
            if armed and how == "copy":
                shutil.copytree = failing_copytree
            if armed and how == "rename":
                os.replace = crashing_replace
            try:
                super().report(metrics, checkpoint_dir)
            finally:
                shutil.copytree, os.replace = real_copytree, real_replace

    class FailingRunner(Runner):
        def save_checkpoint(self, directory):
            if how == "save" and calls["report"] == at_report - 1:
                torch.save = failing_save
            try:
                super().save_checkpoint(directory)
            finally:
                torch.save = real_save

    locations = loop_validate(cfg)
    runner = FailingRunner(cfg, locations, reporter=Reporter(run_dir), run_dir=run_dir, log=lambda m: None)
    error = None
    try:
        runner.fit()
    except (OSError, KeyboardInterrupt) as e:
        error = e
    return {"error": error, "runner": runner}


def loop_validate(cfg):
    from raymtl.train.trainer import validate

    return validate(cfg, log=lambda m: None)


def scenario_checkpoint(work: Path, *, epochs: int = 3) -> dict[str, Any]:
    import torch

    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter

    torch.set_num_threads(1)
    cfg = tiny_config(epochs)
    straight = local_run(cfg, work / "straight")
    details = {}
    lost = completed = resumed = faults = 0
    for how in ("save", "copy", "rename"):
        run_dir = work / how
        out = interrupted_run(cfg, run_dir, how)
        faults += int(out["error"] is not None)
        reporter = LocalReporter(run_dir)
        ckpt = reporter.latest_checkpoint()
        probe = Runner(cfg, loop_validate(cfg), reporter=reporter, run_dir=run_dir, log=lambda m: None)
        probe.restore(ckpt)  # loadable, and it is the last good epoch
        summary = Runner(cfg, loop_validate(cfg), reporter=reporter, run_dir=run_dir, log=lambda m: None).fit()
        diffs = same_results(summary, straight)
        completed += 1
        resumed += int(probe.epoch > 0)
        lost += int(bool(diffs))
        details[how] = {"error": repr(out["error"]), "checkpoint": ckpt.name if ckpt else None,
                        "checkpoint_epoch": probe.epoch, "differences": diffs[:5]}
    return figures(faults_injected=faults, trials_completed=completed, results_lost=lost, runs_resumed=resumed,
                   cases=details)


# ---- main --------------------------------------------------------------------------------------------
SCENARIOS = {"checkpoint": scenario_checkpoint, "worker_kill": scenario_worker_kill,
             "node_loss": scenario_node_loss, "driver_kill": scenario_driver_kill}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these scenarios")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "chaos.json"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("RAYMTL_TRAIN_LOG_LEVEL", "ERROR")
    os.environ.setdefault("RAYMTL_REVIEW", "0")  # TensorBoard review figures are not what is measured
    work = Path(tempfile.mkdtemp(prefix="raymtl-chaos-"))
    results: dict[str, Any] = {}
    try:
        for name in args.only or list(SCENARIOS):
            started = time.time()
            print(f"== {name} ...", flush=True)
            results[name] = SCENARIOS[name](work / name)
            results[name]["seconds"] = round(time.time() - started, 1)
            r = results[name]
            print(f"   faults {r['faults_injected']}, completed {r['trials_completed']}, lost {r['results_lost']}, "
                  f"re-run {r['trials_rerun']}, resumed {r['runs_resumed']} ({r['seconds']:.0f}s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.only and Path(args.out).exists():  # re-ran some scenarios: keep the others' figures
        results = {**json.loads(Path(args.out).read_text()).get("scenarios", {}), **results}
    total = {k: sum(r.get(k, 0) for r in results.values())
             for k in ("faults_injected", "trials_completed", "results_lost", "trials_rerun", "runs_resumed")}
    from _common import machine_info, write_json_atomic

    write_json_atomic(args.out, {**total, "machine": machine_info(), "scenarios": results})
    print(f"\nfaults injected   {total['faults_injected']}\ntrials completed  {total['trials_completed']}\n"
          f"results lost      {total['results_lost']}  (target 0)\ntrials re-run     {total['trials_rerun']}  "
          f"(finished trials run again; target 0)\nruns resumed      {total['runs_resumed']}  (from a checkpoint)\n"
          f"written to {args.out}")
    return 0 if total["results_lost"] == 0 and total["trials_rerun"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
