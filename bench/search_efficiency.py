#!/usr/bin/env python
"""Search efficiency on reviews16 (issue 9): graph-mtl's 27-point grid vs TPE + ASHA vs random + ASHA.

**What is trained (for real).** A subset of fudan-mtl-16 that fits a 2-core CPU machine: by default
3 domains (books, electronics, kitchen_housewares), the first 700 of the 1400 training reviews of each
(``data.max_train_examples``, per task), the protocol's 200-review dev split of each, reviews cut at
``data.max_len`` 60 tokens, architecture **fs_mtl** (graph-mtl's fully-shared baseline; SG-MTL costs
~3.8 s/step on this machine), GloVe 6B 50d, AdaDelta, batch 8, uniform task sampling, 4 epochs,
no early stopping, training seed 1. (With 200 reviews per domain no configuration rose above
chance in 6 epochs, so the grid compared noise; with 700 the models learn.) The grid is graph-mtl's: hidden [100, 200, 300] × l2
(``optim.weight_decay``) [0, 5e-5, 1e-5] × λ (one for every task) [1, 0.8, 0.5] = 27 points. It runs
once through ``raymtl.tune.run_search`` (Optuna GridSampler, FIFO, 1-worker Ray Train trials, several
at once) and every trial's per-epoch dev score (``dev_score`` = mean dev accuracy over the domains,
from the trial's ``results.json`` history) and per-epoch training seconds go into a table.

**How TPE + ASHA and random + ASHA are evaluated: replays.** Running both searches × 3 search
seeds through Ray Tune does not fit this machine's budget, so each is *replayed* over the table
measured above: an event simulation with the same ``max_concurrent`` as the real search (2),
trial durations = the measured per-epoch training seconds of that configuration, the real Optuna
samplers as raymtl builds them (``TPESampler(multivariate=True, seed=S)`` / ``RandomSampler(seed=S)``)
asked for a configuration whenever a slot frees and told the trial's last reported ``dev_score``
when it ends (what Ray Tune's ``OptunaSearch`` does), and ASHA's asynchronous rule as Ray Tune's
``ASHAScheduler`` applies it (grace 1, reduction factor 2, max_t = epochs: at rung r a trial stops if
its dev score is below the (1 - 1/rf) percentile of the scores recorded at that rung so far), as in
search_spaces/fudan16_graph_tpe.yaml. Because the table holds only grid points, the replayed
searchers sample the grid's categorical values (the TPE space file uses continuous ranges; a real
TPE run could also find points between grid values). Since the training seed is fixed, a replayed
trial of configuration c reports exactly what training c did, so replay = rerun up to the
scheduling of concurrent trials.

Compute is counted in trial-epochs (one epoch of one trial); the grid's compute is 27 × epochs.
``epochs_to_grid_best`` is the compute spent when a method first reports a dev score >= the grid's
best (null if it never does within ``--replay-samples`` trials).

    flock /tmp/raymtl-ray.lock python bench/search_efficiency.py            # ~20-30 min on 2 CPUs
    flock /tmp/raymtl-ray.lock python bench/search_efficiency.py --quick    # 9-point grid, small data
    python bench/search_efficiency.py --table bench/results/search_efficiency_table.json  # replays only

Writes bench/results/search_efficiency.json (list of {method, search_seed, best_dev,
epochs_to_grid_best, grid_epochs, ...}) and the measured table to
bench/results/search_efficiency_table.json.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, print_table, write_json_atomic  # noqa: E402

HIDDEN = [100, 200, 300]
L2 = [0.0, 5.0e-5, 1.0e-5]
LAMBDA = [1.0, 0.8, 0.5]
P_HIDDEN, P_L2, P_LAMBDA = "model.hidden", "optim.weight_decay", "tasks.*.weight"
NEAR = 0.01
DEFAULT_DOMAINS = ["books", "electronics", "kitchen_housewares"]
METHOD_NOTE = ("grid: trained for real through raymtl.tune.run_search (GridSampler, FIFO). tpe_asha / random_asha: "
               "replayed over the grid's measured per-(config, epoch) dev scores and per-epoch training seconds "
               "with the real Optuna samplers (grid's categorical values), Ray Tune's ASHA stopping rule (grace 1, "
               "rf 2, max_t = epochs) and max_concurrent trials in an event simulation; compute = trial-epochs.")


def key_of(params: dict[str, Any]) -> str:
    return f"h={int(params[P_HIDDEN])},l2={float(params[P_L2]):g},lam={float(params[P_LAMBDA]):g}"


# ---- the real grid --------------------------------------------------------------------------------
def run_grid(args, work: Path) -> dict[str, Any]:
    import yaml

    from raymtl.configs import load_yaml
    from raymtl.tune import SearchOptions, run_search

    base = load_yaml(REPO / "configs" / "fudan16_graph.yaml")
    base["name"] = "bench-search-efficiency"
    base["tasks"] = [{"name": d, "weight": 1.0} for d in args.domains]
    base["data"].update({"max_len": args.max_len, "max_train_examples": args.train_examples,
                         "max_eval_examples": args.eval_examples})
    base["model"] = {"arch": args.arch, "embedding": "vectors", "hidden": 200, "dropout": 0.2}
    base["train"].update({"epochs": args.epochs, "patience": 0, "eval_test": False})
    space = {"name": "bench-grid", "config": base, "metric": "dev_score", "mode": "max",
             "search": {"algorithm": "grid", "max_concurrent": args.concurrent, "seed": 0},
             "scheduler": {"kind": "fifo"},
             "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, "gpus_per_worker": 0},
             "params": {P_HIDDEN: {"type": "categorical", "choices": args.hidden},
                        P_L2: {"type": "categorical", "choices": L2},
                        P_LAMBDA: {"type": "categorical", "choices": LAMBDA}}}
    space_file = work / "space.yaml"
    space_file.write_text(yaml.safe_dump(space, sort_keys=False))
    t0 = time.time()
    summary = run_search(SearchOptions(space=space_file, storage=str(work), max_concurrent=args.concurrent,
                                       num_cpus=args.num_cpus))
    wall = time.time() - t0
    table: dict[str, Any] = {}
    for params_file in sorted((work / "bench-grid").glob("*/params.json")):
        trial_dir = params_file.parent
        params = json.loads(params_file.read_text())
        res = trial_dir / "results.json"
        if not res.exists():
            print(f"warning: {trial_dir.name} has no results.json (failed?)", file=sys.stderr)
            continue
        hist = json.loads(res.read_text())["history"]
        table[key_of(params)] = {"params": {P_HIDDEN: int(params[P_HIDDEN]), P_L2: float(params[P_L2]),
                                            P_LAMBDA: float(params[P_LAMBDA])},
                                 "dev_score": [h["dev_score"] for h in hist],
                                 "train_seconds": [h["train/seconds"] for h in hist],
                                 "steps": [h["train/steps"] for h in hist], "trial": trial_dir.name}
    return {"table": table, "grid_wall_s": wall, "search_summary": {k: v for k, v in summary.items()
                                                                    if k in ("trials", "errors", "best_score",
                                                                             "best_params", "wall_time_s")},
            "setup": {"dataset": "fudan-mtl-16", "domains": args.domains, "train_examples_per_domain":
                      args.train_examples, "dev_examples_per_domain": args.eval_examples, "max_len": args.max_len,
                      "arch": args.arch, "epochs": args.epochs, "hidden": args.hidden, "l2": L2, "lambda": LAMBDA,
                      "optimizer": "adadelta lr 1.0", "batch_size": 8, "vectors": "glove-6b-50d",
                      "train_seed": 1, "concurrent_trials": args.concurrent, "ray_num_cpus": args.num_cpus,
                      "metric": "dev_score = mean dev accuracy over the domains"}}


# ---- replays ------------------------------------------------------------------------------------
class ASHA:
    """Ray Tune ASHAScheduler's asynchronous stopping rule, one bracket."""

    def __init__(self, max_t: int, grace: int = 1, rf: float = 2.0):
        import numpy as np

        self.np = np
        self.rf = rf
        n = int(math.log(max_t / grace) / math.log(rf) + 1)
        self.rungs = [(grace * rf ** k, {}) for k in reversed(range(n))]

    def on_result(self, trial: int, it: int, value: float) -> bool:
        """True: continue."""
        for milestone, recorded in self.rungs:
            if it < milestone or trial in recorded:
                continue
            cont = True
            if recorded:
                cutoff = self.np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100)
                cont = not value < cutoff
            recorded[trial] = value
            return cont
        return True


def replay(table: dict[str, Any], method: str, seed: int, samples: int, concurrent: int, max_t: int,
           grid_best: float, grace: int = 1) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = (optuna.samplers.TPESampler(seed=seed, multivariate=True, group=False) if method == "tpe_asha"
                   else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    choices = {P_HIDDEN: sorted({v["params"][P_HIDDEN] for v in table.values()}), P_L2: L2, P_LAMBDA: LAMBDA}
    asha = ASHA(max_t, grace=grace)
    clock = 0.0
    events: list[tuple[float, int, int]] = []  # (time, trial number, epoch just finished)
    running: dict[int, tuple[Any, str]] = {}
    started = 0
    compute = 0
    best = -math.inf
    curve: list[tuple[int, float]] = []
    reached_at = None
    near_at = None  # within NEAR of the grid's best (the dev set's noise is about that size)
    trials_log = []

    def launch(now: float) -> None:
        nonlocal started
        t = study.ask()
        params = {P_HIDDEN: t.suggest_categorical(P_HIDDEN, choices[P_HIDDEN]),
                  P_L2: t.suggest_categorical(P_L2, choices[P_L2]),
                  P_LAMBDA: t.suggest_categorical(P_LAMBDA, choices[P_LAMBDA])}
        k = key_of(params)
        running[t.number] = (t, k)
        started += 1
        heapq.heappush(events, (now + table[k]["train_seconds"][0], t.number, 1))

    for _ in range(min(concurrent, samples)):
        launch(clock)
    while events:
        clock, num, epoch = heapq.heappop(events)
        trial, k = running[num]
        value = table[k]["dev_score"][epoch - 1]
        compute += 1
        if value > best:
            best = value
            curve.append((compute, best))
        if reached_at is None and best >= grid_best - 1e-12:
            reached_at = compute
        if near_at is None and best >= grid_best - NEAR - 1e-12:
            near_at = compute
        cont = asha.on_result(num, epoch, value) and epoch < max_t
        if cont:
            heapq.heappush(events, (clock + table[k]["train_seconds"][epoch], num, epoch + 1))
            continue
        study.tell(trial, value)  # OptunaSearch tells the last reported metric
        trials_log.append({"config": k, "epochs": epoch, "last_dev": value})
        del running[num]
        if started < samples:
            launch(clock)
    return {"method": method, "search_seed": seed, "best_dev": best, "epochs_to_grid_best": reached_at,
            f"epochs_to_within_{NEAR:g}_of_grid_best": near_at, "epochs_spent": compute, "trials": len(trials_log), "curve": curve, "trial_log": trials_log,
            "distinct_configs": len({t["config"] for t in trials_log})}


def best_at(curve: list[tuple[int, float]], budget: float) -> float | None:
    vals = [b for c, b in curve if c <= budget]
    return max(vals) if vals else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="9-point grid (hidden 100 only), 2 domains, 100 reviews each, 3 epochs")
    p.add_argument("--domains", nargs="+", default=DEFAULT_DOMAINS)
    p.add_argument("--train-examples", type=int, default=700, help="training reviews per domain (of 1400)")
    p.add_argument("--eval-examples", type=int, default=200, help="dev reviews per domain (protocol: 200)")
    p.add_argument("--max-len", type=int, default=60)
    p.add_argument("--arch", default="fs_mtl")
    p.add_argument("--epochs", type=int, default=4, help="epochs per trial (ASHA rungs at 1, 2, 4)")
    p.add_argument("--hidden", type=int, nargs="+", default=HIDDEN)
    p.add_argument("--concurrent", type=int, default=2, help="grid trials at once (1 worker each)")
    p.add_argument("--num-cpus", type=int, default=4, help="logical CPUs for the local Ray (may exceed cores)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="search seeds of the replays")
    p.add_argument("--replay-samples", type=int, default=27, help="trials per replayed search")
    p.add_argument("--replay-concurrent", type=int, default=2, help="max_concurrent of the replayed searches")
    p.add_argument("--grace", type=int, default=1,
                   help="ASHA grace period of the replays, in epochs (default 1, as search_spaces/fudan16_graph_tpe.yaml)")
    p.add_argument("--table", type=Path, help="replay over this saved table instead of training the grid")
    p.add_argument("--out", type=Path, default=RESULTS / "search_efficiency.json")
    p.add_argument("--table-out", type=Path, default=RESULTS / "search_efficiency_table.json")
    args = p.parse_args(argv)
    if args.quick:
        args.domains, args.train_examples, args.eval_examples = args.domains[:2], 100, 100
        args.epochs, args.hidden, args.replay_samples = 3, [100], 9
    os.environ.setdefault("RAYMTL_TRAIN_LOG_LEVEL", "ERROR")
    info = machine_info()

    if args.table:
        measured = json.loads(args.table.read_text())
        print(f"replaying over {args.table} (measured {measured.get('machine', {}).get('date')})")
    else:
        work = Path(tempfile.mkdtemp(prefix="raymtl-bench-search-"))
        try:
            import ray

            measured = run_grid(args, work)
            ray.shutdown()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        measured["machine"] = info
        write_json_atomic(args.table_out, measured)
        print(f"wrote the measured table to {args.table_out}")
    table = measured["table"]
    setup = measured["setup"]
    max_t = min(len(v["dev_score"]) for v in table.values())
    grid_epochs = sum(len(v["dev_score"]) for v in table.values())
    grid_best = max(max(v["dev_score"]) for v in table.values())
    best_cfg = max(table, key=lambda k: max(table[k]["dev_score"]))

    print(f"\nreviews16 subset: {', '.join(setup['domains'])}; {setup['train_examples_per_domain']} train / "
          f"{setup['dev_examples_per_domain']} dev reviews per domain; max_len {setup['max_len']}; {setup['arch']}; "
          f"{setup['epochs']} epochs")
    print(f"grid: {len(table)} points, {grid_epochs} trial-epochs"
          + (f", {measured['grid_wall_s']:.0f} s wall with {setup['concurrent_trials']} trials at once"
             if "grid_wall_s" in measured else "")
          + f"; best dev {grid_best:.4f} ({best_cfg}, epoch "
            f"{table[best_cfg]['dev_score'].index(max(table[best_cfg]['dev_score'])) + 1})")
    finals = sorted(((max(v["dev_score"]), k) for k, v in table.items()), reverse=True)
    print("grid points by best dev score: " + ", ".join(f"{k} {s:.4f}" for s, k in finals[:5]) + ", ...")

    runs = [{"method": "grid", "search_seed": 0, "best_dev": grid_best, "epochs_to_grid_best": grid_epochs,
             "grid_epochs": grid_epochs, "epochs_spent": grid_epochs, "trials": len(table), "evaluated": "trained",
             "note": "a grid knows its best only when every point has run"}]
    for method in ("tpe_asha", "random_asha"):
        for seed in args.seeds:
            r = replay(table, method, seed, args.replay_samples, args.replay_concurrent, max_t, grid_best,
                       grace=args.grace)
            r.update({"grid_epochs": grid_epochs, "evaluated": "replay over the measured table", "asha_grace": args.grace})
            runs.append(r)

    fracs = [1 / 9, 1 / 6, 1 / 3, 1 / 2, 1.0]
    print(f"\nbest dev score reached vs compute spent (fraction of the grid's {grid_epochs} trial-epochs); "
          f"searches of {args.replay_samples} trials, {args.replay_concurrent} at once, ASHA grace {args.grace} rf 2\n")
    rows = []
    for r in runs:
        curve = r.get("curve") or [(grid_epochs, grid_best)]
        cells = [best_at(curve, f * grid_epochs) for f in fracs]
        e = r["epochs_to_grid_best"]
        rows.append([r["method"], r["search_seed"], *[f"{c:.4f}" if c is not None else "-" for c in cells],
                     r["best_dev"], r["epochs_spent"], "never" if e is None else e,
                     "-" if e is None else f"{e / grid_epochs:.3f}",
                     r.get(f"epochs_to_within_{NEAR:g}_of_grid_best", "-") or "never"])
    print_table(["method", "seed", *[f"@{f:.2f}" for f in fracs], "best dev", "epochs", "to grid best",
                 "fraction", f"to best-{NEAR:g}"], rows)
    # Noise floor: a dev accuracy over n examples has a binomial standard error sqrt(p(1-p)/n).
    n_dev = setup["dev_examples_per_domain"] * len(setup["domains"])
    se = math.sqrt(grid_best * (1 - grid_best) / n_dev)
    spread = sorted(max(v["dev_score"]) for v in table.values())
    print(f"\nnoise: the grid's best dev score {grid_best:.4f} over {n_dev} dev reviews has a standard error of "
          f"~{se:.4f}; the 27 points' best scores span {spread[0]:.4f}..{spread[-1]:.4f} (median "
          f"{spread[len(spread) // 2]:.4f})")
    print()
    for method in ("tpe_asha", "random_asha"):
        fr = [r["epochs_to_grid_best"] / grid_epochs if r["epochs_to_grid_best"] else None
              for r in runs if r["method"] == method]
        reached = [f for f in fr if f is not None]
        mean = sum(reached) / len(reached) if reached else None
        print(f"{method}: reached the grid's best in {len(reached)}/{len(fr)} seeds"
              + (f"; mean fraction of grid compute {mean:.3f} (max {max(reached):.3f})" if reached else ""))
        if method == "tpe_asha":
            ok = len(reached) == len(fr) and max(reached) <= 1 / 3
            print(f"[{'PASS' if ok else 'FAIL'}] TPE + ASHA reaches the grid's best with <= 1/3 of its compute "
                  f"in every seed")
    meta = {"benchmark": "search_efficiency", "dev_standard_error": se, "quick": args.quick, "setup": setup, "grid_best": grid_best,
            "grid_best_config": best_cfg, "replay": {"samples": args.replay_samples,
                                                     "concurrent": args.replay_concurrent,
                                                     "asha": {"grace_period": 1, "reduction_factor": 2,
                                                              "max_t": max_t}},
            "table_file": str(args.table or args.table_out), "method_note": METHOD_NOTE,
            "table_measured_on": measured.get("machine"), "machine": info}
    # The issue asks for a list of {method, search_seed, best_dev, epochs_to_grid_best, grid_epochs}; every
    # entry also carries the set-up, the method note and the machine info.
    write_json_atomic(args.out, [{**r, **meta} for r in runs])
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
