"""Auxiliary-task selection as one experiment: which auxiliary tasks help a main task (and with what λ).

    raymtl aux-select --main semeval16-stance:stance \\
        --pool twitter-target-dong14:sentiment,semeval16-absa-rest:polarity --seeds 3

disparate-label-spaces (Table 4) reports the best auxiliary-task subset per main task. This module
turns that question into a Ray Tune experiment with an answer one can trust:

- ``exhaustive`` (small pools): every subset of the pool, the main task always in, *including the
  empty subset* (main task only = the single-task baseline, trained with the same budget: same
  config, epochs, early stopping, data slice) × ``--seeds`` seeds. Each (subset, λ, seed) is one
  Tune trial (a Ray Train run); the points are a ``grid_search`` over an explicit list.
- ``tpe`` / ``halving`` (larger pools): Optuna TPE over one on/off bit per pool task (+ λ per chosen
  task with ``--weights search``) for ``--budget`` trials on the first seed; ``halving`` adds ASHA
  (successive halving on the per-epoch dev score). Then a *confirm* round re-runs the ``--confirm``
  best subsets and the baseline on every seed, so that the final table has mean ± std.

Trust: every finished (subset, λ, seed) trial is appended to ``ledger.jsonl`` in the experiment dir
the moment it finishes (a Tune callback in the driver). A later run of the same experiment
(``--resume``) reads the ledger and never re-runs a finished trial (an interrupted trial restarts
from scratch); TPE is re-fed the ledger's search trials so it continues where it stopped.

Outputs in ``STORAGE/NAME``: ``aux_selection.md`` (ranked table with dev/test mean ± std, the
baseline, marginal effect and Optuna importance per auxiliary task, the noise rule), ``.csv``,
``.json``, ``.png`` (subset × score with ±1 std error bars) and the ledger.

Noise rule (stated in every report): two configurations differ only when their mean ± 1 std
(sample std over seeds) intervals do not overlap; with one seed nothing can be called. An
auxiliary task's marginal effect (mean over subsets S without it of score(S ∪ {t}) − score(S)) is
called only when a paired t-test over those subset pairs gives p < 0.05.

:func:`write_schedule_report` (raymtl.search.schedule_report) does the analogous report for a
``raymtl tune`` experiment over training schedules (``search_spaces/pretraining_schedule.yaml``).

This module is the command and the strategies (exhaustive, tpe, halving + confirm); the search
space is in aux_space, the ledger and resume in aux_ledger, the statistics in aux_stats and the
report in aux_report.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from raymtl import atomic
from raymtl.errors import ConfigError, RaymtlError
from raymtl.search import aux as auxenc
# The seams live in their own modules; their names stay importable from here (the public API).
from raymtl.search.aux_ledger import (LEDGER, append_ledger, config_key, decode_params, exhaustive_points,  # noqa: F401
                                      finished, ledger_callback_cls, pending_points, point_params, read_ledger,
                                      trial_key, weights_code, write_meta)
from raymtl.search.aux_report import markdown_table, write_figure, write_report  # noqa: F401
from raymtl.search.aux_space import (SINGLE_ARCH, base_config, build_space, check_ref, check_tasks,  # noqa: F401
                                     resolve_single_arch, split_refs, trial_config)
from raymtl.search.aux_stats import (MAIN_ONLY, MARGINAL_RULE, NOISE_RULE, aux_importances, differs,  # noqa: F401
                                     label, marginal_effects, mean_std, short_name, summarise)
from raymtl.search.lifecycle import quiet_ray
from raymtl.search.schedule_report import write_schedule_report  # noqa: F401

STRATEGIES = ("exhaustive", "tpe", "halving")
DEFAULT_BASE = Path(__file__).resolve().parents[2] / "configs" / "disparate_stance.yaml"


@dataclass
class AuxSelectOptions:
    main: str
    pool: list[str]
    strategy: str = "exhaustive"
    budget: int | None = None  # total trials of the experiment (finished ones count)
    seeds: int = 3
    weights: str = "fixed"  # fixed | search
    weight: float = 0.5  # λ of every chosen auxiliary task when fixed
    weight_low: float = 0.1
    weight_high: float = 1.0
    confirm: int = 3  # tpe/halving: best subsets re-run on every seed
    single_arch: str = "auto"  # architecture of the main-only baseline (auto: hps_lel for hps_lel_ltn)
    base: Path = DEFAULT_BASE
    overrides: list[str] = field(default_factory=list)
    storage: str = "runs"
    name: str | None = None
    resume: bool = False
    smoke_test: bool = False
    max_concurrent: int | None = None
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    num_cpus: int | None = None
    address: str | None = None
    max_failures: int = 1


# ---- the trainable ---------------------------------------------------------------------------------
def make_trainable(space, single_arch: str, locations: dict[str, str], resources, train_storage: str,
                   max_failures: int, experiment_dir: str = ""):
    """:func:`raymtl.tune.make_trainable` with the main-only architecture swap: (trainable, the
    resources one trial requests)."""
    from raymtl.train.tune_trial import TrialRunner

    runner = TrialRunner(locations, resources, train_storage, max_failures, experiment_dir=experiment_dir)

    def trial(params: dict[str, Any]) -> None:
        from raymtl.train.config import TrainConfig

        runner(TrainConfig.from_dict(trial_config(space, params, single_arch)))

    return trial, runner.request()


# ---- running -------------------------------------------------------------------------------------
@dataclass
class _Ctx:
    opts: AuxSelectOptions
    space: Any
    exp_dir: Path
    locations: dict[str, str]
    seeds: list[int]
    test_key: str
    single_arch: str = ""
    resources: Any = None
    concurrency: int = 1
    trials_run: int = 0


def main_metric(locations: Mapping[str, str], main: str) -> str:
    from raymtl.data.manifest import Manifest
    from raymtl.train.metrics import main_metric_name

    ds, task = main.split(":", 1)
    return main_metric_name(Manifest.load(locations[ds]).task(task))


def _round_name(exp_dir: Path, phase: str) -> str:
    k = 1 + sum(1 for p in exp_dir.glob("tune-*") if p.is_dir())
    return f"tune-{k:02d}-{phase}"


def _progress(ctx: _Ctx, trials: int):
    """raymtl's one line per trial event and epoch (Tune's own table is off)."""
    from raymtl.search.progress import Progress

    epochs = int(ctx.space.base_config.get("train", {}).get("epochs", ctx.space.scheduler.max_t))
    return Progress(trials, epochs, ctx.concurrency, "dev_score")


def _run_points(ctx: _Ctx, points: list[dict], phase: str) -> int:
    """Run explicit (subset, λ, seed) points as one Tune experiment; returns the trials run."""
    if not points:
        return 0
    from ray import tune

    from raymtl import tune as rt

    name = _round_name(ctx.exp_dir, phase)
    inner, request = make_trainable(ctx.space, ctx.single_arch, ctx.locations, ctx.resources,
                                    str(ctx.exp_dir / "train"), ctx.opts.max_failures, str(ctx.exp_dir / name))
    pts = list(points)

    def trainable(config: dict) -> None:
        inner(pts[int(config["point"])])

    cb = ledger_callback_cls()(str(ctx.exp_dir), list(ctx.opts.pool), pts, phase, name, ctx.test_key)
    atomic.write_json(ctx.exp_dir / f"{name}.points.json", pts)
    print(f"{name}: {len(pts)} trial(s), {ctx.concurrency} at once")
    quiet_ray()
    tuner = tune.Tuner(
        tune.with_resources(trainable, request),
        param_space={"point": tune.grid_search(list(range(len(pts))))},
        tune_config=tune.TuneConfig(max_concurrent_trials=ctx.concurrency, reuse_actors=ctx.resources.workers <= 1),
        run_config=tune.RunConfig(name=name, storage_path=str(ctx.exp_dir), verbose=0,
                                  callbacks=[cb, _progress(ctx, len(pts))],
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)))
    tuner.fit()
    ctx.trials_run += len(pts)
    return len(pts)


def _replayed_study(ctx: _Ctx, records: list[dict]):
    """An in-memory Optuna study holding the ledger's search trials (so TPE resumes informed)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="aux_select", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for r in records:
        if r.get("dev") is None:
            continue
        params = point_params(ctx.opts.pool, r["subset"], r["weights"], r["seed"])
        params.pop("train.seed")
        study.enqueue_trial(params, skip_if_exists=False)
        value = float(r["dev"])
        study.optimize(lambda t: (ctx.space.define_by_run(t), value)[1], n_trials=1)
    return storage


def _run_search(ctx: _Ctx, n: int, replay: list[dict]) -> int:
    """TPE (+ ASHA for ``halving``) over subset bits (and λ) on the first seed."""
    if n <= 0:
        return 0
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from raymtl import tune as rt

    storage = _replayed_study(ctx, replay)
    searcher = OptunaSearch(space=ctx.space.define_by_run, metric="dev_score", mode="max",
                            sampler=ctx.space.sampler(), study_name="aux_select", storage=storage)
    searcher = ConcurrencyLimiter(searcher, max_concurrent=ctx.concurrency)
    name = _round_name(ctx.exp_dir, "search")
    cb = ledger_callback_cls()(str(ctx.exp_dir), list(ctx.opts.pool), None, "search", name, ctx.test_key)
    trainable, request = make_trainable(ctx.space, ctx.single_arch, ctx.locations, ctx.resources,
                                        str(ctx.exp_dir / "train"), ctx.opts.max_failures, str(ctx.exp_dir / name))
    print(f"{name}: {n} TPE trial(s){' with ASHA' if ctx.opts.strategy == 'halving' else ''}, "
          f"{ctx.concurrency} at once ({len(replay)} earlier trial(s) replayed into TPE)")
    quiet_ray()
    tuner = tune.Tuner(
        tune.with_resources(trainable, request),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=rt.build_scheduler(ctx.space, ctx.space.scheduler.max_t + 1),
                                    num_samples=n, max_concurrent_trials=ctx.concurrency, reuse_actors=ctx.resources.workers <= 1),
        run_config=tune.RunConfig(name=name, storage_path=str(ctx.exp_dir), verbose=0,
                                  callbacks=[cb, _progress(ctx, n)],
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)))
    tuner.fit()
    ctx.trials_run += n
    return n


def run_aux_select(opts: AuxSelectOptions) -> dict[str, Any]:
    from raymtl import tune as rt

    opts.main = check_ref(opts.main.strip(), "--main")
    opts.pool = [check_ref(t, "--pool") for t in split_refs(opts.pool)]
    if not opts.pool:
        raise ConfigError("the pool is empty; give --pool DATASET:TASK,...", key="--pool")
    if opts.strategy not in STRATEGIES:
        raise ConfigError(f"unknown --strategy {opts.strategy!r}; one of {', '.join(STRATEGIES)}", key="--strategy")
    if opts.seeds < 1:
        raise ConfigError("--seeds must be >= 1", key="--seeds")
    if opts.strategy == "exhaustive" and opts.weights == "search":
        raise ConfigError("exhaustive selection runs every subset with a fixed λ (--weight); searching λ needs "
                          "--strategy tpe or halving", key="--weights")
    if opts.smoke_test:
        opts.seeds = min(opts.seeds, 1)
        opts.budget = min(opts.budget or 4, 4)
    check_tasks(opts.main, opts.pool)
    seeds = list(range(1, opts.seeds + 1))
    opts.name = opts.name or f"aux_select-{opts.main.replace(':', '_')}"
    from raymtl.safety import check_name

    check_name(opts.name, key="--name")  # one directory under --storage
    space = build_space(opts, seeds)
    storage = opts.storage if "://" in opts.storage else str(Path(opts.storage).expanduser().resolve())
    if "://" in storage:
        raise ConfigError("aux-select keeps its ledger and report in a local directory; give a local --storage",
                          key="--storage")
    exp_dir = Path(storage) / opts.name
    ledger = read_ledger(exp_dir)
    if ledger and not opts.resume:
        raise RaymtlError(f"{exp_dir} already holds {len(finished(ledger))} finished trial(s); pass --resume to "
                          "continue it (finished trials are kept) or choose another --name")
    if opts.resume and not ledger:
        print(f"{exp_dir}: no ledger yet; starting a new selection")
    print(space.describe())
    locations = rt.validate_space(space)  # unknown dataset/task in the pool fails here, before any trial
    base_arch = str((space.base_config.get("model") or {}).get("arch", ""))
    single_arch = resolve_single_arch(opts.single_arch, base_arch)
    trial_config(space, point_params(opts.pool, [], {}, seeds[0]), single_arch)  # the baseline's config is valid
    if single_arch != base_arch:
        print(f"main-only baseline: architecture {single_arch} ({base_arch} needs auxiliary tasks)")
    test_key = f"test/{opts.main}/{main_metric(locations, opts.main)}"
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_meta(exp_dir, opts, seeds, test_key, single_arch)

    done = finished(ledger)
    n_subsets = 2 ** len(opts.pool)
    if opts.strategy == "exhaustive":
        points = exhaustive_points(opts.pool, seeds, opts.weight)
        budget = len(points) if opts.budget is None else min(opts.budget, len(points))
        todo = pending_points(points[:budget], opts.pool, done)
        print(f"exhaustive: {n_subsets} subsets × {len(seeds)} seed(s) = {len(points)} trials; budget {budget}; "
              f"{len(done)} finished in the ledger, {len(todo)} to run")
        plan = [("grid", todo)]
    else:
        budget = opts.budget or max(4, n_subsets // 2)
        searched = [r for r in ledger if r.get("phase") == "search" and r.get("dev") is not None]
        plan = [("search", budget - len(searched))]
    ctx = _Ctx(opts, space, exp_dir, locations, seeds, test_key, single_arch)
    if opts.strategy != "exhaustive" or plan[0][1]:
        joined = rt.connect(opts.address, opts.num_cpus, dashboard=opts.workers_per_trial > 1).joined
        ctx.concurrency = rt.fit_concurrency(opts.max_concurrent, opts.workers_per_trial, opts.cpus_per_worker, 0.0,
                                             joined_cluster=joined)
        ctx.resources = rt.trial_resources(opts.workers_per_trial, opts.cpus_per_worker, 0.0)
    if opts.strategy == "exhaustive":
        _run_points(ctx, plan[0][1], "grid")
    else:
        searched = [r for r in read_ledger(exp_dir) if r.get("phase") == "search" and r.get("dev") is not None]
        _run_search(ctx, plan[0][1], searched)
        # confirm: the best subsets (by first-seed dev score of full-budget trials) + the baseline on every seed
        ledger = read_ledger(exp_dir)
        full = [r for r in ledger if r.get("complete")]
        best: dict[str, dict] = {}
        for r in sorted(full, key=lambda r: -float(r["dev"] if r["dev"] is not None else -math.inf)):
            code = auxenc.encode_subset(r["subset"])
            if code not in best and r["subset"]:
                best[code] = r
        finalists = list(best.values())[: opts.confirm]
        points = [point_params(opts.pool, [], {}, s) for s in seeds]
        for r in finalists:
            points += [point_params(opts.pool, r["subset"], r["weights"], s) for s in seeds]
        todo = pending_points(points, opts.pool, finished(ledger))
        print(f"confirm: baseline + {len(finalists)} best subset(s) × {len(seeds)} seed(s); {len(todo)} to run")
        _run_points(ctx, todo, "confirm")

    ledger = read_ledger(exp_dir)
    expected = None
    if opts.strategy == "exhaustive":
        expected = [trial_key(*decode_params(p, opts.pool)) for p in exhaustive_points(opts.pool, seeds, opts.weight)]
    report = write_report(exp_dir, ledger, pool=opts.pool, main=opts.main, space=space, test_key=test_key,
                          seeds=seeds, strategy=opts.strategy, expected=expected, options=opts,
                          single_arch=single_arch if single_arch != base_arch else "")
    report["trials_run"] = ctx.trials_run
    print(report["markdown_table"])
    print(f"\n{ctx.trials_run} trial(s) run now; {len(finished(ledger))} finished in total. Report: "
          f"{exp_dir / 'aux_selection.md'}")
    return report


# ---- the command ----------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--main", required=True, metavar="DATASET:TASK", help="the main task (always trained)")
    p.add_argument("--pool", required=True, metavar="DATASET:TASK,...", help="candidate auxiliary tasks")
    p.add_argument("--strategy", choices=STRATEGIES, default="exhaustive",
                   help="exhaustive: every subset × seed (small pools); tpe: Optuna TPE over subset bits; "
                        "halving: TPE + ASHA successive halving (larger pools). tpe/halving then re-run the best "
                        "--confirm subsets and the baseline on every seed")
    p.add_argument("--budget", type=int, help="total trials of the experiment, finished ones included "
                                              "(exhaustive default: all; tpe/halving: search trials, default 2^n/2)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per evaluated subset (default 3)")
    p.add_argument("--weights", choices=("fixed", "search"), default="fixed",
                   help="λ of each chosen auxiliary task: fixed at --weight, or searched (tpe/halving)")
    p.add_argument("--weight", type=float, default=0.5, help="the fixed λ (default 0.5)")
    p.add_argument("--weight-range", default="0.1,1.0", metavar="LOW,HIGH", help="range of a searched λ")
    p.add_argument("--confirm", type=int, default=3, help="tpe/halving: best subsets re-run on every seed")
    p.add_argument("--single-arch", default="auto",
                   help="architecture of the main-only baseline (auto: hps_lel for hps_lel_ltn, else the base's)")
    p.add_argument("--base", type=Path, default=DEFAULT_BASE,
                   help="train config trials start from (its tasks are replaced; default configs/disparate_stance.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the base config, e.g. --set model.hidden=32 --set data.max_train_examples=500")
    p.add_argument("--storage", default="runs/aux", help="experiment root (local directory; default runs/aux)")
    p.add_argument("--name", help="experiment name (default aux_select-<main>)")
    p.add_argument("--resume", action="store_true", help="continue: finished (subset, seed) trials are never re-run")
    p.add_argument("--smoke-test", action="store_true",
                   help="120 training examples per dataset, 1 epoch, 1 seed, at most 4 trials")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: what Ray's CPUs fit)")
    p.add_argument("--workers-per-trial", type=int, default=1)
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--num-cpus", type=int, help="logical CPUs of a local Ray")
    p.add_argument("--address", help="Ray cluster to join: auto, HOST:PORT, or local (default: RAY_ADDRESS if set, "
                                     "else a private local Ray, whatever else runs on the host)")


def options_from_args(args: argparse.Namespace) -> AuxSelectOptions:
    try:
        low, high = (float(x) for x in args.weight_range.split(","))
    except ValueError:
        raise ConfigError(f"expected LOW,HIGH, got {args.weight_range!r}", key="--weight-range") from None
    from raymtl.paths import resolve_input

    base, note = resolve_input(args.base)  # under `ray submit` the repository is ~/src/raymtl, not the cwd
    if note:
        print(note, flush=True)
    return AuxSelectOptions(main=args.main, pool=split_refs(args.pool), strategy=args.strategy, budget=args.budget,
                            seeds=args.seeds, weights=args.weights, weight=args.weight, weight_low=low,
                            weight_high=high, confirm=args.confirm, single_arch=args.single_arch, base=base, overrides=args.overrides,
                            storage=args.storage, name=args.name, resume=args.resume, smoke_test=args.smoke_test,
                            max_concurrent=args.max_concurrent, workers_per_trial=args.workers_per_trial,
                            cpus_per_worker=args.cpus_per_worker, num_cpus=args.num_cpus, address=args.address)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raymtl aux-select", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        run_aux_select(options_from_args(args))
    except RaymtlError as e:
        print(f"raymtl aux-select: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
