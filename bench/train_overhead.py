#!/usr/bin/env python
"""Ray Train / Ray Tune overhead against a plain PyTorch loop (issues 5 and 9), graph-mtl step times (20).

One model and one set of batches, four ways:

1. ``plain``: a minimal hand-written PyTorch loop: the same ``TrainData`` streams, ``BatchEncoder``
   batches from the same ``BucketBatchSampler`` order, the same model (same seed) and optimiser,
   gradient clipping; nothing else (no metrics, no checkpoints, no evaluation);
2. ``runner``: raymtl's own loop (``raymtl.train.loop.Runner``) in this process with a
   ``LocalReporter``: no Ray, but evaluation, checkpoints and TensorBoard;
3. ``ray1``: ``raymtl train`` (``run_train``: Ray Train ``TorchTrainer``) with 1 worker;
4. ``ray2``: the same with 2 DDP workers (gloo); throughput in examples/s.

Steady-state steps/s come from the loop's own per-epoch timing (``train/seconds`` and
``train/steps``), the first epoch excluded (warm-up); the plain loop is timed the same way. Every
training process uses 1 torch thread (a Ray worker sets ``threads_per_worker`` = 1), so the
overhead ratio compares like with like. Start-up per run = wall time of ``run_train`` minus the
seconds spent in training epochs, compared with the same difference for the in-process runner
(evaluation and checkpoints) so that what remains is what Ray adds.

5. ``tune``: a small Ray Tune search (random, FIFO, N trials, 2 at once, 1 worker each) over the
   same config: per-trial start-up seconds (Tune's ``time_total_s`` minus training epochs),
   per-step overhead against the plain loop, and trials/hour on this machine.

6. ``graph`` (issue 20): SG-MTL, CG-MTL and FS-MTL training-step times at the fudan-mtl-16 settings,
   SG/CG before (the old recurrence, ``bench/graph_reference.py``) and after, in the same run
   (``bench/graph_steps.py``).

Each measurement is a function returning rows ``{"measure", "path", "value", "unit"}`` (and its
details); ``--only graph`` runs some of them and keeps the others' sections of the result file.

Run it alone on the machine (other Ray users and test suites distort every figure)::

    flock /tmp/raymtl-ray.lock python bench/train_overhead.py            # ~12 min on 2 CPUs
    flock /tmp/raymtl-ray.lock python bench/train_overhead.py --quick    # ~4 min
    python bench/train_overhead.py --only graph                          # no Ray; ~3 min

Writes bench/results/train_overhead.json (or --out): ``rows`` (every section's), and per section
the machine (load average at start) and details.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, print_table, write_json_atomic  # noqa: E402

CONFIG = REPO / "configs" / "absa_cmtl.yaml"


def bench_config(args) -> "TrainConfig":  # noqa: F821
    from raymtl.train.config import TrainConfig

    overrides = [f"model.hidden={args.hidden}", f"model.label_dim={args.hidden}",
                 f"data.max_train_examples={args.examples}", f"data.max_eval_examples={args.eval_examples}",
                 f"train.epochs={args.epochs}", "train.patience=0", "train.eval_test=false",
                 f"train.batch_size={args.batch_size}", "name=bench-overhead"]
    return TrainConfig.load(args.config, overrides)


def steady(history: list[dict[str, Any]], skip: int = 1) -> dict[str, float]:
    """Steady-state figures from per-epoch metrics (first ``skip`` epochs excluded when possible)."""
    hs = [h for h in history if "train/seconds" in h]
    use = hs[skip:] if len(hs) > skip else hs
    secs = sum(h["train/seconds"] for h in use)
    steps = sum(h["train/steps"] for h in use)
    # train/examples_per_s is global (examples on all ranks / elapsed); per-epoch examples from it
    examples = sum(h["train/examples_per_s"] * h["train/seconds"] for h in use)
    best = max(h["train/steps"] / h["train/seconds"] for h in use)  # least-disturbed epoch (shared machine)
    # Steps per CPU second of the training thread: immune to other processes taking the cores.
    cpu = sum(h.get("train/cpu_seconds", float("nan")) for h in use)
    return {"epochs_used": len(use), "steps": steps, "seconds": secs, "steps_per_s": steps / secs,
            "steps_per_cpu_s": steps / cpu if cpu == cpu and cpu > 0 else float("nan"),
            "best_epoch_steps_per_s": best,
            "examples_per_s": examples / secs, "train_seconds_all_epochs": sum(h["train/seconds"] for h in hs),
            "per_epoch_seconds": [h["train/seconds"] for h in hs]}


# ---- 1. the plain loop ------------------------------------------------------------------------
def plain_loop(cfg, locations: dict[str, str]) -> dict[str, Any]:
    import torch

    load = os.getloadavg()[0]
    from raymtl.data.batching import BucketBatchSampler
    from raymtl.train.data import TrainData
    from raymtl.train.build import build_model, build_optimizer
    from raymtl.train.schedules import Schedule

    torch.set_num_threads(1)
    t_wall = time.perf_counter()
    data = TrainData(cfg, locations)
    (stream,) = data.streams(cfg.data.train_split, limit=cfg.data.max_train_examples)  # joint: one stream
    model = build_model(cfg, data, log=lambda _m: None)
    opt = build_optimizer(cfg, model.parameters())
    sampler = BucketBatchSampler(stream.lengths.tolist(), cfg.train.batch_size, seed=cfg.train.seed,
                                 bucket=cfg.train.bucket)
    schedule = Schedule(cfg.schedule, epochs=cfg.train.epochs, steps_per_epoch=len(sampler))
    weights = data.weights
    history = []
    step = 0
    for epoch in range(cfg.train.epochs):
        torch.manual_seed(cfg.train.seed * 100003 + epoch * 1009)
        model.train()
        sampler.set_epoch(epoch)
        n = examples = 0
        t0, c0 = time.perf_counter(), time.thread_time()
        for positions in sampler:
            batch = stream.batch(positions)
            out = model(batch, schedule.context(epoch, step))
            loss = sum(weights.get(k, 1.0) * v for k, v in out.losses.items()) + sum(out.extra_losses.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.optim.clip)
            opt.step()
            n += 1
            step += 1
            examples += batch.size
        dt = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train/seconds": dt, "train/cpu_seconds": time.thread_time() - c0,
                        "train/steps": n,
                        "train/examples_per_s": examples / dt, "train/loss": float(loss.detach())})
    return {"history": history, "wall_s": time.perf_counter() - t_wall, "loadavg_at_start": load, **steady(history)}


# ---- 2. raymtl's Runner without Ray -------------------------------------------------------------
def local_runner(cfg, locations: dict[str, str], run_dir: Path) -> dict[str, Any]:
    import torch

    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    runner = Runner(cfg, locations, reporter=LocalReporter(run_dir), run_dir=run_dir, log=lambda _m: None)
    summary = runner.fit()
    wall = time.perf_counter() - t0
    st = steady(summary["history"])
    return {"history": summary["history"], "wall_s": wall, **st, "loadavg_at_start": load,
            "non_training_s": wall - st["train_seconds_all_epochs"]}


# ---- 3/4. raymtl train (Ray Train) ---------------------------------------------------------------
def ray_train(cfg, workers: int, storage: Path, name: str) -> dict[str, Any]:
    from raymtl.train.run import run_train

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    summary = run_train(cfg, workers=workers, storage=str(storage), name=name, quiet=True)
    wall = time.perf_counter() - t0
    st = steady(summary["history"])
    return {"workers": workers, "history": summary["history"], "wall_s": wall, **st, "loadavg_at_start": load,
            "non_training_s": wall - st["train_seconds_all_epochs"]}


# ---- 5. Ray Tune trials ------------------------------------------------------------------------
def tune_trials(cfg, storage: Path, trials: int, concurrent: int, backend: str = "torchtrainer") -> dict[str, Any]:
    import yaml

    from raymtl.tune import SearchOptions, run_search

    space = {"name": "bench-tune-overhead", "config": cfg.to_dict(), "metric": "dev_score", "mode": "max",
             "search": {"algorithm": "random", "num_samples": trials, "max_concurrent": concurrent, "seed": 0},
             "scheduler": {"kind": "fifo"},
             "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, "gpus_per_worker": 0},
             "params": {"optim.lr": {"type": "categorical", "choices": [5.0e-4, 1.0e-3]}}}
    storage.mkdir(parents=True, exist_ok=True)
    space_file = storage / "space.yaml"
    space_file.write_text(yaml.safe_dump(space, sort_keys=False))
    t0 = time.perf_counter()
    summary = run_search(SearchOptions(space=space_file, storage=str(storage), trial_backend=backend))
    wall = time.perf_counter() - t0
    per_trial = []
    for results in sorted((storage / "bench-tune-overhead").glob("*/results.json")):
        trial_dir = results.parent
        hist = json.loads(results.read_text())["history"]
        tune_results = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line]
        total = max(r.get("time_total_s", 0.0) for r in tune_results)
        st = steady(hist)
        per_trial.append({"trial": trial_dir.name, "time_total_s": total, **st, "history": hist,
                          "non_training_s": total - st["train_seconds_all_epochs"]})
    return {"trials": len(per_trial), "concurrent": summary.get("concurrency", concurrent), "wall_s": wall,
            "trials_per_hour": len(per_trial) / wall * 3600 if per_trial else None, "per_trial": per_trial}


def measure_overhead(args) -> tuple[list[dict], dict]:
    """Sections 1-5 (plain loop, Runner, Ray Train 1/2 workers, Tune trials) -> rows and the details."""
    os.environ.setdefault("RAYMTL_TRAIN_LOG_LEVEL", "ERROR")
    from raymtl.train.trainer import validate

    rows = [row("loadavg_at_start", "overhead", os.getloadavg()[0], "load (1 min)")]
    cfg = bench_config(args)
    locations = validate(cfg, log=lambda _m: None)
    work = Path(tempfile.mkdtemp(prefix="raymtl-bench-overhead-"))
    out: dict[str, Any] = {"benchmark": "train_overhead", "machine": machine_info(), "quick": args.quick,
                           "config": {"file": str(args.config.relative_to(REPO) if args.config.is_absolute()
                                                  and REPO in args.config.parents else args.config),
                                      "arch": cfg.arch, "hidden": args.hidden, "train_examples": args.examples,
                                      "eval_examples": args.eval_examples, "epochs": args.epochs,
                                      "batch_size": args.batch_size, "torch_threads_per_process": 1},
                           "method": "steady-state steps/s = sum(train/steps) / sum(train/seconds) over epochs 2..N "
                                     "(loop's own per-epoch timing); start-up = wall - sum(train/seconds)"}
    try:
        if "plain" not in args.skip:
            print("... plain PyTorch loop", flush=True)
            out["plain"] = plain_loop(cfg, locations)
        if "runner" not in args.skip:
            print("... raymtl Runner in-process (no Ray)", flush=True)
            out["runner"] = local_runner(cfg, locations, work / "runner")
        if {"ray1", "ray2", "tune"} - set(args.skip):
            import ray

            from raymtl.train.run import init_ray

            t0 = time.perf_counter()
            init_ray(num_cpus=max(4, 2 * args.tune_concurrent))  # logical CPUs: 2 trials of 1.5 CPU at once
            out["ray_init_s"] = time.perf_counter() - t0
            try:
                if "ray1" not in args.skip:
                    print("... raymtl train, 1 worker", flush=True)
                    out["ray1"] = ray_train(cfg, 1, work / "ray", "w1")
                if "ray2" not in args.skip:
                    print("... raymtl train, 2 workers", flush=True)
                    out["ray2"] = ray_train(cfg, 2, work / "ray", "w2")
                if args.tune_trials and "tune" not in args.skip:
                    print(f"... Ray Tune: {args.tune_trials} trials, {args.tune_concurrent} at once", flush=True)
                    out["tune"] = tune_trials(cfg, work / "tune", args.tune_trials, args.tune_concurrent)
            finally:
                ray.shutdown()
        if "plain" not in args.skip:
            # Again at the end: the load of a shared machine drifts, so the baseline is the faster of
            # the two plain runs (the least disturbed), and both are recorded.
            print("... plain PyTorch loop again", flush=True)
            out["plain_again"] = plain_loop(cfg, locations)
            out["plain_first"] = out["plain"]
            out["plain"] = max(out["plain_first"], out["plain_again"], key=lambda r: r["best_epoch_steps_per_s"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(out)
    return rows + overhead_rows(out), out


def overhead_rows(out: dict[str, Any]) -> list[dict]:
    """The issue-20 rows that sections 1-5 measure (the TorchTrainer path)."""
    rows = []
    if "ray_init_s" in out:
        rows.append(row("ray_init_s", "driver", out["ray_init_s"], "s"))
    for key, path in (("ray1", "ddp_1"), ("ray2", "ddp_2")):
        if out.get(key):
            rows.append(row("examples_per_s", path, out[key]["examples_per_s"], "examples/s"))
    # The trial rows of both paths come from the `tune` section, measured side by side.
    return rows


def measure_graph_steps(args) -> tuple[list[dict], dict]:
    """graph-mtl step times before/after issue 20 (see bench/graph_steps.py)."""
    from graph_steps import measure_graph

    return measure_graph(steps=args.graph_steps, repeats=args.graph_repeats, worst_case=not args.quick)


def tune_path(cfg, backend: str, trials: int, concurrent: int) -> dict[str, Any]:
    """A ``trials``-trial search on a fresh private local Ray (2 real CPUs) with one trial backend."""
    import ray

    from raymtl.train.cluster import connect

    work = Path(tempfile.mkdtemp(prefix=f"raymtl-bench-tune-{backend}-"))
    t0 = time.perf_counter()
    connect(None, num_cpus=os.cpu_count() or 2, dashboard=backend == "torchtrainer", log=lambda _m: None)
    init_s = time.perf_counter() - t0
    try:
        out = tune_trials(cfg, work, trials, concurrent, backend=backend)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    over = [t["non_training_s"] for t in out["per_trial"]]
    out.update(backend=backend, ray_init_s=init_s, trial_overhead_s=(sum(over) / len(over)) if over else None)
    return out


def measure_tune_paths(args) -> tuple[list[dict], dict]:
    """Issue 20: per-trial overhead and trials/hour of the in-process path against the TorchTrainer
    path, each a 4-trial search on the same config in this run; ``ray.init`` time of each."""
    os.environ.setdefault("RAYMTL_TRAIN_LOG_LEVEL", "ERROR")
    from raymtl.train.trainer import validate

    cfg = bench_config(args)
    validate(cfg, log=lambda _m: None)
    rows = [row("loadavg_at_start", "tune", os.getloadavg()[0], "load (1 min)")]
    details: dict[str, Any] = {"machine": machine_info(), "trials": args.tune_trials,
                               "method": "trial_overhead_s = mean over trials of (Tune time_total_s - the loop's "
                                         "training seconds) - the same difference for a Runner without Ray; "
                                         "trials_per_hour = trials / search wall time x 3600"}
    # What a trial costs beyond training epochs without any Ray (dev evaluation, checkpoints, test
    # evaluation, review figures) is the same on both paths: subtracted, the rest is start-up.
    print("... raymtl Runner in-process (no Ray): the non-training cost of one run", flush=True)
    work = Path(tempfile.mkdtemp(prefix="raymtl-bench-runner-"))
    try:
        base = local_runner(cfg, validate(cfg, log=lambda _m: None), work / "runner")["non_training_s"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    details["runner_non_training_s"] = base
    for backend in ("in_process", "torchtrainer"):
        print(f"... Ray Tune, {backend}: {args.tune_trials} trials, up to {args.tune_concurrent} at once", flush=True)
        r = tune_path(cfg, backend, args.tune_trials, args.tune_concurrent)
        r["trial_overhead_s"] = r["trial_overhead_s"] - base if r["trial_overhead_s"] is not None else None
        details[backend] = r
        rows += [row("trial_overhead_s", backend, r["trial_overhead_s"], "s"),
                 row("trials_per_hour", backend, r["trials_per_hour"], "trials/h"),
                 row("ray_init_s", backend, r["ray_init_s"], "s")]
    ratio = details["in_process"]["trials_per_hour"] / details["torchtrainer"]["trials_per_hour"]
    rows.append(row("trials_per_hour_ratio", "in_process/torchtrainer", ratio, "x"))
    return rows, details


# name -> function(args) returning (rows, details); --only picks some, each keeps its own section
MEASUREMENTS = {"overhead": measure_overhead, "graph": measure_graph_steps, "tune": measure_tune_paths}


def row(measure: str, path: str, value: float, unit: str) -> dict[str, Any]:
    return {"measure": measure, "path": path, "value": value, "unit": unit}


def merge_results(path: Path, sections: dict[str, dict]) -> dict[str, Any]:
    """The result file with ``sections`` replaced and the others kept; ``rows``: all sections' rows."""
    old: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    if "rows" in old:
        kept = old.get("sections", {})
    else:  # a result of the script before sections: it is the overhead section
        kept = {"overhead": {"machine": old.get("machine"), "rows": overhead_rows(old), "details": old}} if old else {}
    kept.update(sections)
    rows = [r for s in kept.values() for r in s["rows"]]
    return {"benchmark": "train_overhead", "rows": rows, "sections": kept}


def print_rows(rows: list[dict]) -> None:
    print_table(["measure", "path", "value", "unit"], [[r["measure"], r["path"], r["value"], r["unit"]] for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(MEASUREMENTS),
                   help=f"comma-separated measurements to run, of {', '.join(MEASUREMENTS)} (default: all); "
                        "the result file keeps the sections not re-run")
    p.add_argument("--quick", action="store_true", help="fewer examples and epochs, 2 Tune trials, no worst-case "
                                                        "graph batch")
    p.add_argument("--config", type=Path, default=CONFIG, help=f"train config (default {CONFIG.relative_to(REPO)})")
    p.add_argument("--hidden", type=int, default=64, help="model.hidden and model.label_dim")
    p.add_argument("--examples", type=int, default=800, help="training examples")
    p.add_argument("--eval-examples", type=int, default=200)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tune-trials", type=int, default=4, help="Tune trials for the per-trial overhead (0: skip)")
    p.add_argument("--tune-concurrent", type=int, default=2)
    p.add_argument("--skip", nargs="*", default=[], choices=["plain", "runner", "ray1", "ray2", "tune"],
                   help="parts of the overhead measurement to leave out")
    p.add_argument("--graph-steps", type=int, default=8, help="trainer batches per graph-mtl timing")
    p.add_argument("--graph-repeats", type=int, default=3, help="repeats of each graph-mtl timing (best kept)")
    p.add_argument("--out", type=Path, default=RESULTS / "train_overhead.json")
    p.add_argument("--from-json", type=Path, help="recompute the figures and table from a saved result (no runs)")
    args = p.parse_args(argv)
    if args.from_json:
        saved = merge_results(args.from_json, {})
        legacy = saved["sections"].get("overhead", {}).get("details")
        if legacy and "config" in legacy:
            for r in [legacy.get(k) for k in ("plain", "plain_first", "plain_again", "runner", "ray1", "ray2")] + \
                     (legacy.get("tune") or {}).get("per_trial", []):
                if r and "history" in r:
                    r.update(steady(r["history"]))
            report(legacy)
        print()
        print_rows(saved["rows"])
        if args.out.resolve() != args.from_json.resolve():
            write_json_atomic(args.out, saved)
            print(f"\nwrote {args.out}")
        return 0
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = sorted(set(only) - set(MEASUREMENTS))
    if unknown:
        p.error(f"--only: unknown measurement(s) {', '.join(unknown)} (choose from {', '.join(MEASUREMENTS)})")
    if args.quick:
        args.examples, args.eval_examples, args.epochs = min(args.examples, 320), min(args.eval_examples, 100), 2
        args.tune_trials = min(args.tune_trials, 2)
        args.graph_steps, args.graph_repeats = min(args.graph_steps, 4), min(args.graph_repeats, 2)
    sections = {}
    for name in only:
        info = machine_info()  # per section: its own load average at start
        rows, details = MEASUREMENTS[name](args)
        sections[name] = {"machine": info, "rows": rows, "details": details}
    result = merge_results(args.out, sections)
    print()
    print_rows([r for s in sections.values() for r in s["rows"]])
    write_json_atomic(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


def report(out: dict[str, Any]) -> None:
    c = out["config"]
    m = out["machine"]
    print(f"\n{c['arch']} hidden {c['hidden']} on {c['train_examples']} examples, batch {c['batch_size']}, "
          f"{c['epochs']} epochs; 1 torch thread per process; loadavg at start {m['loadavg_at_start'][0]:.2f} "
          f"on {m['cpu_count']} CPUs\n")
    rows = []
    plain = out.get("plain")
    derived: dict[str, Any] = {}
    for key, label in (("plain_first", "plain loop (first)"), ("plain_again", "plain loop (last)"),
                       ("plain", "plain loop: baseline"), ("runner", "raymtl Runner, no Ray"),
                       ("ray1", "raymtl train, 1 worker"), ("ray2", "raymtl train, 2 workers")):
        r = out.get(key)
        if not r:
            continue
        skip_over = key in ("ray2", "plain", "plain_first", "plain_again") or not plain
        over = None if skip_over else plain["steps_per_s"] / r["steps_per_s"] - 1
        over_best = None if skip_over else plain["best_epoch_steps_per_s"] / r["best_epoch_steps_per_s"] - 1
        over_cpu = None if skip_over else plain["steps_per_cpu_s"] / r["steps_per_cpu_s"] - 1
        if over_best is not None:
            derived[f"overhead_{key}_vs_plain_best_epoch"] = over_best
            derived[f"overhead_{key}_vs_plain_cpu"] = over_cpu
        rows.append([label + (f" [load {r['loadavg_at_start']:.1f}]" if "loadavg_at_start" in r else ""),
                     r["steps_per_s"], r["best_epoch_steps_per_s"], r["examples_per_s"], r["wall_s"],
                     r.get("non_training_s", float("nan")), "-" if over is None else f"{over:+.1%}",
                     "-" if over_best is None else f"{over_best:+.1%}", r["steps_per_cpu_s"],
                     "-" if over_cpu is None else f"{over_cpu:+.1%}"])
        if over is not None:
            derived[f"overhead_{key}_vs_plain"] = over
    print_table(["run", "steps/s", "best-epoch steps/s", "examples/s", "wall s", "non-train s", "overhead",
                 "overhead (best epochs)", "steps/cpu-s", "overhead (cpu)"], rows)
    print("steps/s: steady state (epochs 2..N); best-epoch: the fastest epoch 2..N (least disturbed by other load); "
          "steps/cpu-s: per CPU second of the training thread (what the loop itself costs, whatever else runs); "
          "overhead = plain / run - 1")
    if out.get("runner") and out.get("ray1"):
        derived["ray_train_startup_s_per_run"] = out["ray1"]["non_training_s"] - out["runner"]["non_training_s"]
    if out.get("ray1") and out.get("ray2"):
        derived["ddp2_vs_1_examples_per_s"] = out["ray2"]["examples_per_s"] / out["ray1"]["examples_per_s"]
        derived["ray_train_startup_s_per_run_2_workers"] = (out["ray2"]["non_training_s"]
                                                            - (out["runner"]["non_training_s"] if out.get("runner") else 0))
    print()
    if "ray_init_s" in out:
        print(f"ray.init (once per driver): {out['ray_init_s']:.1f} s")
    if "ray_train_startup_s_per_run" in derived:
        print(f"Ray Train start-up per run (1 worker): {derived['ray_train_startup_s_per_run']:.1f} s "
              f"(= wall - training epochs, minus the in-process runner's {out['runner']['non_training_s']:.1f} s of "
              f"evaluation/checkpoints)")
    if "ray_train_startup_s_per_run_2_workers" in derived:
        print(f"Ray Train start-up per run (2 workers): {derived['ray_train_startup_s_per_run_2_workers']:.1f} s")
    if "overhead_ray1_vs_plain" in derived:
        for k, what in (("overhead_ray1_vs_plain", "steady state, wall clock"),
                        ("overhead_ray1_vs_plain_best_epoch", "best epochs, wall clock"),
                        ("overhead_ray1_vs_plain_cpu", "steady state, CPU seconds of the training thread")):
            ok = derived[k] <= 0.10
            print(f"[{'PASS' if ok else 'FAIL'}] Ray Train (1 worker) per-step overhead vs plain loop <= 10% ({what}): "
                  f"{derived[k]:+.1%}")
    if "ddp2_vs_1_examples_per_s" in derived:
        print(f"2 DDP workers vs 1: {derived['ddp2_vs_1_examples_per_s']:.2f}x examples/s "
              f"({out['ray2']['examples_per_s']:.0f} vs {out['ray1']['examples_per_s']:.0f})")
    t = out.get("tune")
    if t and t["per_trial"]:
        import statistics

        startup = [x["non_training_s"] for x in t["per_trial"]]
        sps = statistics.fmean(x["steps_per_s"] for x in t["per_trial"])
        derived["tune_trial_non_training_s_mean"] = statistics.fmean(startup)
        if out.get("runner"):
            derived["tune_trial_startup_s_mean"] = statistics.fmean(startup) - out["runner"]["non_training_s"]
        derived["tune_trials_per_hour"] = t["trials_per_hour"]
        derived["tune_trial_steps_per_s_mean"] = sps
        if plain:
            derived["tune_step_overhead_vs_plain"] = plain["steps_per_s"] / sps - 1
        print(f"\nRay Tune: {t['trials']} trials, {t['concurrent']} at once, in {t['wall_s']:.0f} s "
              f"-> {t['trials_per_hour']:.0f} trials/hour for this model on this machine")
        print(f"  per trial: time_total_s - training epochs = {statistics.fmean(startup):.1f} s "
              f"(min {min(startup):.1f}, max {max(startup):.1f})"
              + (f"; start-up beyond the in-process runner's evaluation/checkpoints: "
                 f"{derived['tune_trial_startup_s_mean']:.1f} s" if "tune_trial_startup_s_mean" in derived else ""))
        if plain:
            print(f"  steady steps/s inside trials {sps:.2f} vs plain loop {plain['steps_per_s']:.2f} "
                  f"({derived['tune_step_overhead_vs_plain']:+.1%}; {t['concurrent']} trials share the CPUs)")
    out["derived"] = derived


if __name__ == "__main__":
    sys.exit(main())
