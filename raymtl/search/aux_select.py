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

:func:`write_schedule_report` does the analogous report for a ``raymtl tune`` experiment over
training schedules (``search_spaces/pretraining_schedule.yaml``): the effect of each searched
parameter on the main task (binned means ± std, Spearman ρ, Optuna importances).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from raymtl.errors import ConfigError, RaymtlError
from raymtl.search import aux as auxenc

STRATEGIES = ("exhaustive", "tpe", "halving")
LEDGER = "ledger.jsonl"
MAIN_ONLY = "(main only)"
DEFAULT_BASE = Path(__file__).resolve().parents[2] / "configs" / "disparate_stance.yaml"
NOISE_RULE = ("two configurations differ only when their mean ± 1 std intervals over seeds do not overlap "
              "(|Δ| > std_a + std_b, sample std); with 1 seed no difference can be called")
MARGINAL_RULE = ("marginal effect of task t = mean over subsets S without t of score(S ∪ {t}) − score(S) "
                 "(subset scores = mean over seeds); called only when a paired t-test over these pairs gives p < 0.05")


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


# ---- the search space ---------------------------------------------------------------------------
def _split_refs(text: str | Sequence[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return [t.strip() for t in items if t and t.strip()]


def _check_ref(ref: str, key: str) -> str:
    if ref.count(":") != 1 or ref.startswith(":") or ref.endswith(":"):
        raise ConfigError(f"{ref!r}: write DATASET:TASK (e.g. semeval16-stance:stance)", key=key)
    return ref


def check_tasks(main: str, pool: Sequence[str]) -> None:
    """Every task must be a registered dataset's task (checked in the registry, before any data is
    read or any trial starts); the main task cannot be in the pool."""
    from raymtl.data.registry import default_registry

    registry = default_registry()
    for key, refs in (("--main", [main]), ("--pool", list(pool))):
        for ref in refs:
            ds, task = ref.split(":", 1)
            if ds not in registry:
                raise ConfigError(f"{ref}: unknown dataset {ds!r}; registered datasets: {', '.join(registry.names())}",
                                  key=key)
            kinds = registry.get(ds).task_kinds
            if kinds and task not in kinds:
                raise ConfigError(f"{ref}: dataset {ds!r} has no task {task!r}; its tasks: {', '.join(kinds)}",
                                  key=key)
    if main in pool:
        raise ConfigError(f"{main} is the main task (always trained), not an auxiliary one", key="--pool")
    if len(set(pool)) != len(pool):
        raise ConfigError("a task is listed twice", key="--pool")


def base_config(opts: AuxSelectOptions) -> dict:
    """The train config every trial starts from: ``--base`` with its tasks replaced by the main task
    (the pool's tasks are added per trial), ``--set`` overrides and the smoke-test budget applied."""
    from raymtl.configs import apply_overrides, load_yaml

    path = Path(opts.base)
    if not path.exists():
        raise ConfigError(f"base config {path} does not exist", key="--base")
    cfg = load_yaml(path)
    over = list(opts.overrides)
    if opts.smoke_test:
        over = ["data.max_train_examples=120", "data.max_eval_examples=100", "train.epochs=1",
                "train.patience=0"] + over
    cfg = apply_overrides(cfg, over)
    main_ds = opts.main.split(":", 1)[0]
    cfg["tasks"] = [{"name": opts.main, "weight": 1.0, "main": True}]
    cfg.setdefault("data", {})["datasets"] = [main_ds]
    model = cfg.setdefault("model", {})
    if "main_task" in model:
        model["main_task"] = opts.main
    cfg["name"] = opts.name or cfg.get("name", "aux_select")
    return cfg


def build_space(opts: AuxSelectOptions, seeds: Sequence[int]):
    """A :class:`~raymtl.search.space.SearchSpace` with one on/off bit per pool task (``each``), λ
    fixed or a float per chosen task, and ``train.seed`` as a fixed param (explicit points override it)."""
    from raymtl.search.space import parse_space

    if opts.weights not in ("fixed", "search"):
        raise ConfigError(f"unknown --weights {opts.weights!r}; fixed | search", key="--weights")
    weight = ({"type": "fixed", "value": float(opts.weight)} if opts.weights == "fixed"
              else {"type": "float", "low": float(opts.weight_low), "high": float(opts.weight_high)})
    halving = opts.strategy == "halving"
    doc = {
        "name": opts.name or "aux_select",
        "description": f"auxiliary-task selection for {opts.main}",
        "metric": "dev_score", "mode": "max",
        "search": {"algorithm": "tpe", "num_samples": max(1, opts.budget or 1), "seed": 0,
                   "max_concurrent": opts.max_concurrent or 2},
        "scheduler": {"kind": "asha", "grace_period": 1, "reduction_factor": 2} if halving else {"kind": "fifo"},
        "resources": {"workers_per_trial": opts.workers_per_trial, "cpus_per_worker": opts.cpus_per_worker,
                      "gpus_per_worker": 0},
        "params": {"train.seed": {"type": "fixed", "value": int(seeds[0])}},
        "aux_tasks": {"main": opts.main, "pool": list(opts.pool), "mode": "each", "weight": weight},
    }
    return parse_space(doc, file=None, base_config=base_config(opts))  # scheduler max_t = base train.epochs


SINGLE_ARCH = {"hps_lel_ltn": "hps_lel"}  # the LTN transfers auxiliary labels: with none it is hps_lel


def resolve_single_arch(requested: str, base_arch: str) -> str:
    return SINGLE_ARCH.get(base_arch, base_arch) if requested in ("", "auto") else requested


def trial_config(space, params: Mapping[str, Any], single_arch: str) -> dict:
    """The trial's train config; the main-only point uses ``single_arch`` (its model fields kept when
    that architecture has them), so the baseline is the same model without the auxiliary parts."""
    from raymtl.models.registry import build_config, default_registry
    from raymtl.train.config import TrainConfig

    cfg = space.trial_config(params)
    model = cfg.get("model") or {}
    if space.chosen_aux_tasks(params) or model.get("arch") == single_arch:
        return cfg
    arch = default_registry().get(single_arch)
    import dataclasses

    names = {f.name for f in dataclasses.fields(arch.config_cls)}
    cfg["model"] = {"arch": single_arch, **{k: v for k, v in model.items() if k in names}}
    tc = TrainConfig.from_dict(cfg, file="main-only baseline")
    build_config(arch, tc.arch_params)
    return tc.to_dict()


def make_trainable(space, single_arch: str, locations: dict[str, str], resources, train_storage: str,
                   max_failures: int):
    """:func:`raymtl.tune.make_trainable` with the main-only architecture swap."""

    def trial(params: dict[str, Any]) -> None:
        from ray import tune

        from raymtl.train.config import TrainConfig
        from raymtl.train.trainer import build_trainer

        cfg = TrainConfig.from_dict(trial_config(space, params, single_arch))
        ctx = tune.get_context()
        run_dir = Path(ctx.get_trial_dir())
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        trainer = build_trainer(cfg, {ds: locations[ds] for ds in cfg.data.datasets}, resources=resources,
                                run_dir=run_dir, storage=train_storage, name=ctx.get_trial_id(), in_tune=True,
                                max_failures=max_failures)
        trainer.fit()

    return trial


# ---- points, keys, ledger ---------------------------------------------------------------------------
def point_params(pool: Sequence[str], subset: Iterable[str], weights: Mapping[str, float], seed: int) -> dict:
    chosen = set(subset)
    p: dict[str, Any] = {auxenc.flag_name(t): t in chosen for t in pool}
    for t in pool:
        if t in chosen:
            p[auxenc.weight_name(t)] = float(weights[t])
    p["train.seed"] = int(seed)
    return p


def weights_code(weights: Mapping[str, float]) -> str:
    return ",".join(f"{t}={float(w):.4g}" for t, w in sorted(weights.items()))


def config_key(subset: Sequence[str], weights: Mapping[str, float]) -> str:
    return f"{auxenc.encode_subset(subset)}|{weights_code(weights)}"


def trial_key(subset: Sequence[str], weights: Mapping[str, float], seed: int) -> str:
    return f"{config_key(subset, weights)}|seed={int(seed)}"


def decode_params(params: Mapping[str, Any], pool: Sequence[str]) -> tuple[tuple[str, ...], dict[str, float], int]:
    subset = auxenc.chosen_subset(params, pool)
    weights = {t: float(params[auxenc.weight_name(t)]) for t in subset if auxenc.weight_name(t) in params}
    return subset, weights, int(params.get("train.seed", 0))


def read_ledger(exp_dir: Path) -> list[dict]:
    path = Path(exp_dir) / LEDGER
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash mid-write: ignore, the trial re-runs
            print(f"warning: {path}:{i}: unreadable ledger line ignored", file=sys.stderr)
    return out


def finished(ledger: Iterable[dict]) -> dict[str, dict]:
    """trial key -> record of every full-budget (not early-stopped by the scheduler) finished trial."""
    return {r["key"]: r for r in ledger if r.get("complete")}


def append_ledger(exp_dir: Path, record: dict) -> None:
    path = Path(exp_dir) / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _ledger_callback_cls():
    from ray.tune import Callback

    class LedgerCallback(Callback):
        """Appends each finished trial to the ledger as soon as it finishes (in the driver)."""

        def __init__(self, exp_dir: str, pool: list[str], points: list[dict] | None, phase: str, round_name: str,
                     test_key: str):
            self.exp_dir, self.pool, self.points = exp_dir, pool, points
            self.phase, self.round_name, self.test_key = phase, round_name, test_key

        def _record(self, trial, error: str | None = None) -> None:
            cfg = dict(trial.config or {})
            params = self.points[int(cfg["point"])] if self.points is not None and "point" in cfg else cfg
            subset, weights, seed = decode_params(params, self.pool)
            m = dict(trial.last_result or {})
            rec = {"key": trial_key(subset, weights, seed), "config": config_key(subset, weights),
                   "subset": list(subset), "weights": weights, "seed": seed,
                   "complete": bool(m.get("final")) and error is None, "phase": self.phase,
                   "round": self.round_name, "trial": trial.trial_id, "epochs": m.get("epoch"),
                   "dev": m.get("best_dev_score", m.get("dev_score")), "test": m.get(self.test_key),
                   "metrics": {k: v for k, v in m.items() if k.startswith(("dev/", "test/"))
                               and isinstance(v, (int, float))},
                   "wall_time_s": m.get("time_total_s"), "error": error, "finished_at": time.time()}
            append_ledger(Path(self.exp_dir), rec)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._record(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._record(trial, error="trial failed (see its Tune log)")

    return LedgerCallback


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


def _run_points(ctx: _Ctx, points: list[dict], phase: str) -> int:
    """Run explicit (subset, λ, seed) points as one Tune experiment; returns the trials run."""
    if not points:
        return 0
    from ray import tune

    from raymtl import tune as rt

    inner = make_trainable(ctx.space, ctx.single_arch, ctx.locations, ctx.resources, str(ctx.exp_dir / "train"),
                           ctx.opts.max_failures)
    pts = list(points)

    def trainable(config: dict) -> None:
        inner(pts[int(config["point"])])

    name = _round_name(ctx.exp_dir, phase)
    cb = _ledger_callback_cls()(str(ctx.exp_dir), list(ctx.opts.pool), pts, phase, name, ctx.test_key)
    (ctx.exp_dir / f"{name}.points.json").write_text(json.dumps(pts, indent=1))
    print(f"{name}: {len(pts)} trial(s), {ctx.concurrency} at once")
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"CPU": rt.DRIVER_CPUS}),
        param_space={"point": tune.grid_search(list(range(len(pts))))},
        tune_config=tune.TuneConfig(max_concurrent_trials=ctx.concurrency),
        run_config=tune.RunConfig(name=name, storage_path=str(ctx.exp_dir), verbose=1, callbacks=[cb],
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
    cb = _ledger_callback_cls()(str(ctx.exp_dir), list(ctx.opts.pool), None, "search", name, ctx.test_key)
    trainable = make_trainable(ctx.space, ctx.single_arch, ctx.locations, ctx.resources,
                               str(ctx.exp_dir / "train"), ctx.opts.max_failures)
    print(f"{name}: {n} TPE trial(s){' with ASHA' if ctx.opts.strategy == 'halving' else ''}, "
          f"{ctx.concurrency} at once ({len(replay)} earlier trial(s) replayed into TPE)")
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"CPU": rt.DRIVER_CPUS}),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=rt.build_scheduler(ctx.space, ctx.space.scheduler.max_t + 1),
                                    num_samples=n, max_concurrent_trials=ctx.concurrency),
        run_config=tune.RunConfig(name=name, storage_path=str(ctx.exp_dir), verbose=1, callbacks=[cb],
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)))
    tuner.fit()
    ctx.trials_run += n
    return n


def exhaustive_points(pool: Sequence[str], seeds: Sequence[int], weight: float) -> list[dict]:
    """Every subset (main only first) × seed, seed-major: a partial budget covers subsets evenly."""
    out = []
    for seed in seeds:
        for subset in auxenc.all_subsets(pool):
            ordered = [t for t in pool if t in subset]
            out.append(point_params(pool, ordered, {t: weight for t in ordered}, seed))
    return out


def _pending(points: list[dict], pool: Sequence[str], done: Mapping[str, dict]) -> list[dict]:
    return [p for p in points if trial_key(*decode_params(p, pool)) not in done]


def run_aux_select(opts: AuxSelectOptions) -> dict[str, Any]:
    from raymtl import tune as rt

    opts.main = _check_ref(opts.main.strip(), "--main")
    opts.pool = [_check_ref(t, "--pool") for t in _split_refs(opts.pool)]
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
    _write_meta(exp_dir, opts, seeds, test_key, single_arch)

    done = finished(ledger)
    n_subsets = 2 ** len(opts.pool)
    if opts.strategy == "exhaustive":
        points = exhaustive_points(opts.pool, seeds, opts.weight)
        budget = len(points) if opts.budget is None else min(opts.budget, len(points))
        todo = _pending(points[:budget], opts.pool, done)
        print(f"exhaustive: {n_subsets} subsets × {len(seeds)} seed(s) = {len(points)} trials; budget {budget}; "
              f"{len(done)} finished in the ledger, {len(todo)} to run")
        plan = [("grid", todo)]
    else:
        budget = opts.budget or max(4, n_subsets // 2)
        searched = [r for r in ledger if r.get("phase") == "search" and r.get("dev") is not None]
        plan = [("search", budget - len(searched))]
    ctx = _Ctx(opts, space, exp_dir, locations, seeds, test_key, single_arch)
    if opts.strategy != "exhaustive" or plan[0][1]:
        joined = rt.connect(opts.address, opts.num_cpus)
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
        todo = _pending(points, opts.pool, finished(ledger))
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


def _write_meta(exp_dir: Path, opts: AuxSelectOptions, seeds: list[int], test_key: str, single_arch: str) -> None:
    meta = {"single_arch": single_arch, "main": opts.main, "pool": list(opts.pool), "strategy": opts.strategy, "seeds": seeds,
            "weights": opts.weights, "weight": opts.weight, "base": str(opts.base), "overrides": opts.overrides,
            "smoke_test": opts.smoke_test, "test_key": test_key}
    path = exp_dir / "aux_select.json"
    if path.exists():
        old = json.loads(path.read_text())
        for k in ("main", "pool", "weights", "weight", "base", "overrides", "smoke_test", "single_arch"):
            if old.get(k) != meta[k]:
                raise ConfigError(f"{exp_dir} was started with {k} = {old.get(k)!r}, not {meta[k]!r}; finished "
                                  "trials would not be comparable (choose another --name)", key=f"--{k}")
    tmp = path.with_name(".aux_select.json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


# ---- the report ---------------------------------------------------------------------------------------
def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    xs = [float(x) for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else math.nan)


def differs(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool | None:
    """The noise rule: True/False when ±1 std intervals (over ≥2 seeds each) do (not) overlap; None
    when it cannot be judged (fewer than 2 seeds)."""
    (ma, sa, na), (mb, sb, nb) = a, b
    if na < 2 or nb < 2 or any(math.isnan(x) for x in (ma, sa, mb, sb)):
        return None
    return abs(ma - mb) > sa + sb


def short_name(ref: str, pool: Sequence[str]) -> str:
    ds = ref.split(":", 1)[0]
    return ds if sum(1 for t in pool if t.split(":", 1)[0] == ds) == 1 else ref


def label(subset: Sequence[str], pool: Sequence[str]) -> str:
    return " + ".join(short_name(t, pool) for t in subset) if subset else MAIN_ONLY


def summarise(ledger: list[dict], pool: Sequence[str]) -> list[dict]:
    """One row per evaluated configuration (subset, λ): dev/test mean ± std over seeds, ranked by dev."""
    groups: dict[str, list[dict]] = {}
    for r in finished(ledger).values():
        groups.setdefault(r["config"], []).append(r)
    rows = []
    for key, rs in groups.items():
        rs.sort(key=lambda r: r["seed"])
        dm, ds = _mean_std([r["dev"] for r in rs])
        tm, ts = _mean_std([r["test"] for r in rs])
        subset = [t for t in pool if t in rs[0]["subset"]]
        rows.append({"config": key, "subset": subset, "label": label(subset, pool), "weights": rs[0]["weights"],
                     "seeds": [r["seed"] for r in rs], "n": len(rs), "dev_mean": dm, "dev_std": ds,
                     "test_mean": tm, "test_std": ts, "dev_by_seed": {r["seed"]: r["dev"] for r in rs},
                     "test_by_seed": {r["seed"]: r["test"] for r in rs}, "trials": [r["trial"] for r in rs]})
    rows.sort(key=lambda r: (-(r["dev_mean"] if not math.isnan(r["dev_mean"]) else -math.inf), r["label"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def marginal_effects(rows: list[dict], pool: Sequence[str], which: str = "dev") -> dict[str, dict]:
    """Per auxiliary task: mean score of subsets with vs without it, and the paired difference
    score(S ∪ {t}) − score(S) over subsets S where both were evaluated (t-test over the pairs)."""
    by_subset: dict[tuple, list[float]] = {}
    for r in rows:  # several λ per subset (tpe): average them
        v = r[f"{which}_mean"]
        if not math.isnan(v):
            by_subset.setdefault(tuple(sorted(r["subset"])), []).append(v)
    score = {k: statistics.fmean(v) for k, v in by_subset.items()}
    out = {}
    for t in pool:
        with_t = [v for k, v in score.items() if t in k]
        without = [v for k, v in score.items() if t not in k]
        diffs = [score[tuple(sorted((*k, t)))] - v for k, v in score.items()
                 if t not in k and tuple(sorted((*k, t))) in score]
        p = math.nan
        if len(diffs) >= 2 and statistics.pstdev(diffs) > 0:
            try:
                from scipy import stats

                p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
            except ImportError:  # pragma: no cover
                p = math.nan
        mean_diff = statistics.fmean(diffs) if diffs else math.nan
        verdict = ("not measurable (< 2 pairs)" if len(diffs) < 2 else
                   ("helps" if mean_diff > 0 else "hurts") if (not math.isnan(p) and p < 0.05) else "within noise")
        out[t] = {"with": statistics.fmean(with_t) if with_t else math.nan,
                  "without": statistics.fmean(without) if without else math.nan,
                  "n_with": len(with_t), "n_without": len(without), "paired_diff": mean_diff,
                  "paired_diff_std": statistics.stdev(diffs) if len(diffs) > 1 else math.nan,
                  "pairs": len(diffs), "p": p, "verdict": verdict}
    return out


def aux_importances(ledger: list[dict], pool: Sequence[str], space) -> dict[str, float]:
    """Optuna (fANOVA) importances of the subset bits (and λ) for the dev score, replayed from the ledger."""
    import optuna

    recs = [r for r in finished(ledger).values() if r.get("dev") is not None]
    if len(recs) < 3 or len({r["config"] for r in recs}) < 2:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for r in recs:
        params = point_params(pool, r["subset"], r["weights"], r["seed"])
        params.pop("train.seed")
        study.enqueue_trial(params, skip_if_exists=False)
        value = float(r["dev"])
        study.optimize(lambda t: (space.define_by_run(t), value)[1], n_trials=1)
    try:
        imp = optuna.importance.get_param_importances(  # fANOVA (Optuna's default changed across versions)
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as e:
        return {"_error": str(e)}  # type: ignore[dict-item]
    return {k: float(v) for k, v in imp.items()}


def _f(x: float, std: float | None = None, n: int | None = None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if std is None:
        return f"{x:.4f}"
    return f"{x:.4f} ± {std:.4f}" if not math.isnan(std) else f"{x:.4f} (1 seed)"


def _vs(row: dict, other: dict | None, which: str) -> str:
    if other is None or row is other:
        return ""
    d = row[f"{which}_mean"] - other[f"{which}_mean"]
    verdict = differs((row[f"{which}_mean"], row[f"{which}_std"], row["n"]),
                      (other[f"{which}_mean"], other[f"{which}_std"], other["n"]))
    tag = {None: "?", True: "", False: " (noise)"}[verdict]
    return f"{d:+.4f}{tag}"


def markdown_table(rows: list[dict], baseline: dict | None) -> str:
    head = ("| rank | auxiliary tasks (main always in) | λ | seeds | dev mean ± std | test mean ± std | "
            "Δdev vs main only | Δtest vs main only |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lam = ", ".join(f"{w:.3g}" for w in r["weights"].values()) or "–"
        lines.append(f"| {r['rank']} | {r['label']}{' **(baseline)**' if r is baseline else ''} | {lam} | {r['n']} | "
                     f"{_f(r['dev_mean'], r['dev_std'])} | {_f(r['test_mean'], r['test_std'])} | "
                     f"{_vs(r, baseline, 'dev')} | {_vs(r, baseline, 'test')} |")
    return "\n".join(lines)


def write_figure(rows: list[dict], baseline: dict | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * n + 1.6))
    ys = list(range(n))[::-1]
    lab = [r["label"].replace(" + ", "\n+ ") if len(r["label"]) > 40 else r["label"] for r in rows]

    def err(key):
        return [0.0 if math.isnan(r[f"{key}_std"]) else r[f"{key}_std"] for r in rows]

    ax.errorbar([r["dev_mean"] for r in rows], [y + 0.15 for y in ys], xerr=err("dev"), fmt="o", capsize=3,
                label="dev (mean ± 1 std over seeds)")
    ax.errorbar([r["test_mean"] for r in rows], [y - 0.15 for y in ys], xerr=err("test"), fmt="s", capsize=3,
                label="test (mean ± 1 std over seeds)")
    if baseline is not None:
        ax.axvline(baseline["dev_mean"], color="C0", ls="--", lw=0.8)
        ax.axvline(baseline["test_mean"], color="C1", ls="--", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels(lab, fontsize=7)
    ax.set_xlabel("main-task score (dashed: main only)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def write_report(exp_dir: Path, ledger: list[dict], *, pool: Sequence[str], main: str, space, test_key: str,
                 seeds: Sequence[int], strategy: str, expected: list[str] | None = None,
                 options: AuxSelectOptions | None = None, single_arch: str = "") -> dict[str, Any]:
    import pandas as pd

    from raymtl.tune import _atomic_text

    rows = summarise(ledger, pool)
    baseline = next((r for r in rows if not r["subset"]), None)
    best = rows[0] if rows else None
    dev_me = marginal_effects(rows, pool, "dev")
    test_me = marginal_effects(rows, pool, "test")
    imps = aux_importances(ledger, pool, space)
    done = finished(ledger)
    pending = [k for k in (expected or []) if k not in done]
    stopped = [r for r in ledger if not r.get("complete") and not r.get("error")]
    errors = [r for r in ledger if r.get("error")]
    table = markdown_table(rows, baseline)
    metric = test_key.rsplit("/", 1)[-1]

    md = [f"# Auxiliary-task selection for `{main}`", "",
          f"Strategy **{strategy}**, pool of {len(pool)} ({', '.join(f'`{t}`' for t in pool)}), "
          f"seeds {list(seeds)}. Score: the main task's `{metric}` (dev: at the best dev epoch, which also "
          f"selects the test checkpoint). {len(done)} finished full-budget trial(s)"
          + (f", {len(stopped)} stopped early by the scheduler (not in the table)" if stopped else "")
          + (f", {len(errors)} failed" if errors else "") + ".", ""]
    if options is not None:
        md += [f"Base config `{options.base}` with {options.overrides or 'no overrides'}"
               f"{' (smoke test)' if options.smoke_test else ''}; λ "
               + (f"fixed at {options.weight:g} for every chosen auxiliary task" if options.weights == "fixed"
                  else f"searched in [{options.weight_low:g}, {options.weight_high:g}]") + "."
               + (f" The main-only baseline uses architecture `{single_arch}` (same fields, no auxiliary parts)."
                  if single_arch else ""), ""]
    if pending:
        md += [f"**Incomplete:** {len(pending)} (subset, seed) trial(s) of the exhaustive design have not run yet "
               "(budget); `--resume` runs them without re-running finished ones.", ""]
    md += ["## Ranked table (by dev mean)", "", table, "",
           f"Noise rule: {NOISE_RULE}. `(noise)` marks a difference to the main-only baseline within noise, "
           "`?` one that cannot be judged.", ""]
    if best is not None:
        md.append("## Answer")
        md.append("")
        if baseline is None:
            md.append(f"Best by dev: **{best['label']}** (the main-only baseline has not run yet).")
        elif best is baseline:
            md.append("The main task alone is best by dev mean: no subset of the pool helps at this budget.")
            if len(rows) > 1:
                second = rows[1]
                v2 = differs((best["dev_mean"], best["dev_std"], best["n"]),
                             (second["dev_mean"], second["dev_std"], second["n"]))
                say = {True: "beyond noise", False: "**within noise**", None: "not judgeable (1 seed)"}
                md.append(f"The best subset, **{second['label']}**, is {second['dev_mean'] - best['dev_mean']:+.4f} "
                          f"on dev ({say[v2]}).")
        else:
            v = differs((best["dev_mean"], best["dev_std"], best["n"]),
                        (baseline["dev_mean"], baseline["dev_std"], baseline["n"]))
            vt = differs((best["test_mean"], best["test_std"], best["n"]),
                         (baseline["test_mean"], baseline["test_std"], baseline["n"]))
            say = {True: "a difference beyond noise", False: "**within noise**", None: "not judgeable (1 seed)"}
            md.append(f"Best by dev: **{best['label']}**: dev {best['dev_mean']:+.4f} − {baseline['dev_mean']:.4f} "
                      f"= {best['dev_mean'] - baseline['dev_mean']:+.4f} vs main only ({say[v]}); test "
                      f"{best['test_mean'] - baseline['test_mean']:+.4f} ({say[vt]}).")
            if len(rows) > 1:
                second = rows[1]
                v2 = differs((best["dev_mean"], best["dev_std"], best["n"]),
                             (second["dev_mean"], second["dev_std"], second["n"]))
                md.append(f"Runner-up **{second['label']}** at dev {second['dev_mean']:.4f}: the gap to the best is "
                          f"{say[v2]}.")
        md.append("")
    md += ["## Marginal effect of each auxiliary task", "",
           "| auxiliary task | dev: mean with | dev: mean without | dev: paired Δ (pairs, p) | test: paired Δ (p) | "
           "verdict (dev) | Optuna importance (dev) |", "|---|---|---|---|---|---|---|"]
    for t in pool:
        d, e = dev_me[t], test_me[t]
        imp = imps.get(auxenc.flag_name(t))
        md.append(f"| {t} | {_f(d['with'])} | {_f(d['without'])} | {_f(d['paired_diff'])} ({d['pairs']}, "
                  f"p={d['p']:.3f}) | {_f(e['paired_diff'])} (p={e['p']:.3f}) | {d['verdict']} | "
                  f"{'–' if imp is None else f'{imp:.3f}'} |")
    lam_imp = {k: v for k, v in imps.items() if k.endswith(".weight")}
    md += ["", f"Rule: {MARGINAL_RULE}. Importances: Optuna's fANOVA over the subset bits"
           + (" and λ" if lam_imp else "") + " for the dev score of every finished trial (all seeds)."
           + (f" λ importances: {', '.join(f'{k}={v:.3f}' for k, v in lam_imp.items())}." if lam_imp else ""),
           "", "![subset × score](aux_selection.png)", ""]
    if pending:
        md += ["Pending trials: " + ", ".join(f"`{k}`" for k in pending[:20]) + (" …" if len(pending) > 20 else ""), ""]
    text = "\n".join(md)
    exp_dir.mkdir(parents=True, exist_ok=True)
    _atomic_text(exp_dir / "aux_selection.md", text)
    flat = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()} for r in rows]
    tmp = exp_dir / ".aux_selection.csv.tmp"
    pd.DataFrame(flat).to_csv(tmp, index=False)
    os.replace(tmp, exp_dir / "aux_selection.csv")
    out = {"main": main, "pool": list(pool), "strategy": strategy, "seeds": list(seeds), "test_key": test_key,
           "rows": rows, "baseline": baseline["config"] if baseline else None,
           "best": best["config"] if best else None, "marginal_dev": dev_me, "marginal_test": test_me,
           "importances": imps, "pending": pending, "noise_rule": NOISE_RULE, "marginal_rule": MARGINAL_RULE,
           "finished_trials": len(done)}
    _atomic_text(exp_dir / "aux_selection.json", json.dumps(out, indent=1, default=str))
    write_figure(rows, baseline, exp_dir / "aux_selection.png", f"auxiliary tasks for {main}")
    out["markdown_table"] = table
    return out


# ---- the schedule report (raymtl tune search_spaces/pretraining_schedule.yaml) ----------------------
def _score_columns(df) -> tuple[str, str | None]:
    """The dev score column and the test column of the same metric (the one dev_score equals)."""
    import pandas as pd

    dev = "best_dev_score" if "best_dev_score" in df else "dev_score"
    best_col, best_hits = None, 0
    for c in df.columns:
        if c.startswith("dev/") and f"test/{c[4:]}" in df and pd.api.types.is_numeric_dtype(df[c]):
            hits = int(((df[c] - df[dev]).abs() < 1e-9).sum())
            if hits > best_hits or (hits == best_hits and hits and c.endswith("/main")):
                best_col, best_hits = c, hits
    return dev, (f"test/{best_col[4:]}" if best_col else None)


def _val(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if hasattr(v, "left"):  # a pandas Interval (quantile bin)
        return f"({v.left:.4g}, {v.right:.4g}]"
    try:
        return f"{float(v):.4g}" if "." in str(v) else str(v)
    except ValueError:
        return str(v)


def _ft(m: float, sd: float) -> str:
    """mean ± std over the trials of a bin."""
    if math.isnan(m):
        return "–"
    return f"{m:.4f} ± {sd:.4f}" if not math.isnan(sd) else f"{m:.4f} (1 trial)"


def write_schedule_report(exp_dir: str | Path) -> Path:
    """``schedule_report.md`` in a tune experiment dir: the effect of each searched parameter
    (schedule.*, λ, …) on the main task — binned mean ± std of the dev (and test) score, Spearman ρ,
    and Optuna importances (``importances.json``)."""
    import pandas as pd

    exp_dir = Path(exp_dir)
    csv = exp_dir / "results.csv"
    if not csv.exists():
        raise RaymtlError(f"{csv}: no results table (run `raymtl tune SPACE.yaml` first)")
    df = pd.read_csv(csv)
    dev, test = _score_columns(df)
    ok = df[(df["status"] != "ERROR") & df[dev].notna()] if len(df) else df
    imps = {}
    if (exp_dir / "importances.json").exists():
        imps = json.loads((exp_dir / "importances.json").read_text())
    params = [c for c in df.columns if c.startswith("param/")]
    md = [f"# Schedule search: effect of each parameter on the main task ({exp_dir.name})", "",
          f"{len(ok)} finished trial(s) of {len(df)} (trials stopped early by the scheduler count with their best "
          f"dev score so far). Score: `{dev}` (dev, the monitored main-task metric)"
          + (f"; test: `{test}` at the best dev epoch" if test else "") + ".", "",
          "| parameter | Optuna importance | Spearman ρ (dev) | value / bin | trials | dev mean ± std | test mean ± std |",
          "|---|---|---|---|---|---|---|"]
    order = sorted(params, key=lambda c: -float(imps.get(c[6:], 0.0)) if isinstance(imps.get(c[6:]), (int, float))
                   else 0.0)
    for c in order:
        col = ok[c]
        present = ok[col.notna()]
        imp = imps.get(c[6:])
        rho = "–"
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and present[c].nunique() > 1 and len(present) > 2:
            r = present[c].rank().corr(present[dev].rank())
            rho = f"{r:+.2f}" if not math.isnan(r) else "–"
        if numeric and present[c].nunique() > 4:
            bins = pd.qcut(present[c], q=3, duplicates="drop")
            groups = present.groupby(bins, observed=True)
        else:
            groups = present.groupby(present[c].astype(str))
        first = True
        for val, g in groups:
            dm, ds = _mean_std(g[dev].tolist())
            tm, ts = _mean_std(g[test].tolist()) if test else (math.nan, math.nan)
            name = c[6:] if first else ""
            imp_s = (f"{imp:.3f}" if isinstance(imp, (int, float)) else "–") if first else ""
            md.append(f"| {name} | {imp_s} | {rho if first else ''} | {_val(val)} | {len(g)} | {_ft(dm, ds)} | "
                      f"{_ft(tm, ts)} |")
            first = False
        if first:
            md.append(f"| {c[6:]} | – | – | (inactive in every trial) | 0 | – | – |")
    md += ["", "Read with care: with few trials a bin's mean mixes the other parameters' effects; the importances "
           "(fANOVA) are only meaningful with tens of trials. Binning: distinct values when ≤ 4, else 3 quantile bins.", ""]
    out = exp_dir / "schedule_report.md"
    tmp = out.with_name(".schedule_report.md.tmp")
    tmp.write_text("\n".join(md))
    os.replace(tmp, out)
    return out


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
    p.add_argument("--storage", default="runs", help="experiment root (local directory)")
    p.add_argument("--name", help="experiment name (default aux_select-<main>)")
    p.add_argument("--resume", action="store_true", help="continue: finished (subset, seed) trials are never re-run")
    p.add_argument("--smoke-test", action="store_true",
                   help="120 training examples per dataset, 1 epoch, 1 seed, at most 4 trials")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: what Ray's CPUs fit)")
    p.add_argument("--workers-per-trial", type=int, default=1)
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--num-cpus", type=int, help="logical CPUs of a local Ray")
    p.add_argument("--address", help="Ray cluster address")


def options_from_args(args: argparse.Namespace) -> AuxSelectOptions:
    try:
        low, high = (float(x) for x in args.weight_range.split(","))
    except ValueError:
        raise ConfigError(f"expected LOW,HIGH, got {args.weight_range!r}", key="--weight-range") from None
    from raymtl.paths import resolve_input

    base, note = resolve_input(args.base)  # under `ray submit` the repository is ~/raymtl, not the cwd
    if note:
        print(note, flush=True)
    return AuxSelectOptions(main=args.main, pool=_split_refs(args.pool), strategy=args.strategy, budget=args.budget,
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
