#!/usr/bin/env python
"""Search hyperparameters with Ray Tune + Optuna; every trial is a Ray Train DDP run.

    python raymtl/tune.py search_spaces/absa_cmtl.yaml --num-samples 20 --max-concurrent 2
    raymtl tune search_spaces/absa_cmtl.yaml --smoke-test            # the same, via the CLI
    ray submit cluster/gpu.yaml raymtl/tune.py -- search_spaces/absa_cmtl.yaml --gpus-per-worker 1

Under ``ray submit`` / ``ray job submit`` (or with RAY_ADDRESS set) it joins the running cluster;
otherwise it starts a local Ray. The experiment directory ``STORAGE/NAME`` receives
``results.csv``/``results.parquet``, ``best_config.yaml`` (re-runnable with ``raymtl train``),
``importances.json`` and TensorBoard HParams for every trial. ``--resume`` continues an
interrupted search without re-running finished trials (the Optuna searcher state is restored).

This module knows Ray Tune, Optuna and search spaces; model internals stay in the training layer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, "") and (Path(__file__).resolve().parent / "__init__.py").exists():
    # `python raymtl/tune.py` from a clone; `ray submit` copies the script alone to ~ (raymtl installed)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raymtl.errors import ConfigError, RaymtlError  # noqa: E402

DRIVER_CPUS = 0.5  # the trial's driver function only waits on its TorchTrainer


@dataclass
class SearchOptions:
    space: Path
    num_samples: int | None = None
    max_concurrent: int | None = None
    workers_per_trial: int | None = None
    cpus_per_worker: float | None = None
    gpus_per_worker: float | None = None
    storage: str = "runs"
    name: str | None = None
    resume: bool = False
    smoke_test: bool = False
    refit: int = 0
    address: str | None = None
    num_cpus: int | None = None
    algorithm: str | None = None
    scheduler: str | None = None
    overrides: list[str] = field(default_factory=list)
    max_failures: int = 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="raymtl tune",
        description="Search a space (search_spaces/*.yaml) with Ray Tune + Optuna. Each trial trains with Ray "
                    "Train on --workers-per-trial DDP workers; ASHA (or the space's scheduler) stops weak "
                    "trials on the per-epoch dev metric.",
        epilog="Outputs in STORAGE/NAME: results.csv, results.parquet, best_config.yaml, importances.json, "
               "tensorboard/ (HParams of every trial). Open them with `tensorboard --logdir STORAGE/NAME`.")
    p.add_argument("space", type=Path, help="search-space YAML (see search_spaces/)")
    p.add_argument("--num-samples", type=int, help="trials to run (default: the space's)")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: what the cluster fits)")
    p.add_argument("--workers-per-trial", type=int, help="Ray Train DDP workers per trial")
    p.add_argument("--cpus-per-worker", type=float, help="CPUs per worker")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (> 0: nccl and GPU placement)")
    p.add_argument("--storage", help="experiment root: a local dir or s3://, gs:// URI (default runs; under "
                                     "`ray job submit --working-dir`: $RAYMTL_RUNS_DIR or ~/raymtl-runs)")
    p.add_argument("--name", help="experiment name (default: the space's name)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search of the same name")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny budget on a slice of the data (2 trials, 2 epochs), a couple of minutes on 2 CPUs")
    p.add_argument("--refit", type=int, default=0, metavar="S",
                   help="retrain the best configuration with S seeds and report test mean ± std")
    p.add_argument("--algorithm", choices=["tpe", "random", "grid", "cmaes", "nsga2"], help="override the space's")
    p.add_argument("--scheduler", choices=["asha", "hyperband", "median", "fifo"], help="override the space's")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or a running cluster, else local)")
    p.add_argument("--num-cpus", type=int, help="logical CPUs for a local Ray (may exceed cores)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the space, e.g. --set search.seed=3")
    p.add_argument("--max-failures", type=int, default=1,
                   help="retries of a trial whose workers die (from its last checkpoint)")
    return p


# ---- Ray set-up -------------------------------------------------------------------------------
def connect(address: str | None, num_cpus: int | None) -> bool:
    """Join a running cluster when there is one; else start a local Ray. True if a cluster was joined."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
        return True
    if num_cpus is None:
        try:  # `ray start` on this machine or `ray submit`: a running cluster is joined
            ray.init(address="auto")
            return True
        except (ConnectionError, RuntimeError, ValueError):
            pass
    # The dashboard's State API must run: without it Ray Train V2 never frees a finished trial's
    # placement group and later trials wait forever.
    ray.init(address="local", num_cpus=num_cpus)  # a new local instance, never a stray cluster
    return False


def trial_resources(workers: int, cpus: float, gpus: float):
    from raymtl.train.trainer import Resources

    return Resources(workers=workers, use_gpu=gpus > 0, cpus_per_worker=cpus, gpus_per_worker=gpus or 1.0)


def fit_concurrency(requested: int | None, workers: int, cpus: float, gpus: float, *, joined_cluster: bool) -> int:
    """Concurrency that the cluster's resources fit; an explicit request beyond them is an error."""
    import ray

    total = ray.cluster_resources()
    per_trial_cpu = workers * cpus + DRIVER_CPUS
    fits = int((total.get("CPU", 0) + 1e-9) // per_trial_cpu)
    if gpus > 0:
        fits = min(fits, int((total.get("GPU", 0) + 1e-9) // (workers * gpus)))
    if requested is None:
        if fits < 1 and not joined_cluster:
            raise ConfigError(f"one trial needs {per_trial_cpu:g} CPUs{f' and {workers * gpus:g} GPUs' if gpus else ''}"
                              f" but Ray has {total.get('CPU', 0):g} CPUs / {total.get('GPU', 0):g} GPUs; "
                              "lower --workers-per-trial or raise --num-cpus", key="resources")
        return max(fits, 1)
    if requested > fits and not joined_cluster:
        raise ConfigError(f"--max-concurrent {requested} needs {requested * per_trial_cpu:g} CPUs"
                          f"{f' and {requested * workers * gpus:g} GPUs' if gpus else ''}; Ray has "
                          f"{total.get('CPU', 0):g} CPUs / {total.get('GPU', 0):g} GPUs (at most {fits} trials fit)",
                          key="max_concurrent")
    return requested


# ---- the trainable ------------------------------------------------------------------------------
def make_trainable(space, locations: dict[str, str], resources, train_storage: str, max_failures: int):
    """A Tune function trainable: trial params -> TrainConfig -> TorchTrainer reporting to Tune."""

    def trial(params: dict[str, Any]) -> None:
        from ray import tune

        from raymtl.train.config import TrainConfig
        from raymtl.train.trainer import build_trainer

        cfg = TrainConfig.from_dict(space.trial_config(params))
        ctx = tune.get_context()
        run_dir = Path(ctx.get_trial_dir())
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        failed = run_dir / FAILED_MARKER
        if failed.exists():  # a Tune retry of a trial that failed for a reason a retry cannot fix
            raise RaymtlError(f"{failed.read_text()} (not retried: the same config fails the same way)")
        # Same name + storage on a Tune retry (a lost node): the TorchTrainer resumes from its checkpoint.
        trainer = build_trainer(cfg, {ds: locations[ds] for ds in cfg.data.datasets}, resources=resources,
                                run_dir=run_dir, storage=train_storage, name=ctx.get_trial_id(), in_tune=True,
                                max_failures=max_failures)
        try:
            trainer.fit()
        except Exception as e:
            if is_deterministic_failure(e):
                lines = str(e).strip().splitlines() or [repr(e)]
                reason = next((x for x in lines if any(n in x for n in DETERMINISTIC_ERRORS)), lines[-1])
                failed.write_text(reason.strip()[:2000])
            raise

    return trial


def finished_trials(exp_dir: Path) -> dict[str, Path]:
    """Trials that Tune's last saved experiment state records as TERMINATED (what ``--resume``
    keeps without running them again): trial id -> trial directory."""
    states = sorted(Path(exp_dir).glob("experiment_state-*.json"))
    if not states:
        return {}
    try:
        state = json.loads(states[-1].read_text())
    except (OSError, json.JSONDecodeError):  # being replaced right now
        return {}
    out: dict[str, Path] = {}
    for entry in state.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        if trial.get("status") == "TERMINATED":
            out[trial["trial_id"]] = next(Path(exp_dir).glob(f"*_{trial['trial_id']}_*"), Path(exp_dir))
    return out


FAILED_MARKER = ".raymtl_failed"  # in a trial dir: the reason of a failure that retries cannot fix
DETERMINISTIC_ERRORS = ("NonFiniteLossError", "EmptyBatchError", "ConfigError", "DataError")


def is_deterministic_failure(error: BaseException) -> bool:
    """A raymtl error (non-finite loss, bad config/data) inside a failed training run: retrying the
    trial gives the same failure, unlike a dead worker or a lost node."""
    seen: list[BaseException] = []
    todo = [error]
    while todo and len(seen) < 50:
        e = todo.pop()
        seen.append(e)
        if isinstance(e, RaymtlError):
            return True
        todo += [x for x in (getattr(e, "cause", None), e.__cause__, getattr(e, "controller_failure", None))
                 if isinstance(x, BaseException)]
        todo += [x for x in (getattr(e, "worker_failures", None) or {}).values() if isinstance(x, BaseException)]
    return any(name in str(e) for e in seen for name in DETERMINISTIC_ERRORS)


def validate_space(space, *, samples: int = 16) -> dict[str, str]:
    """Before any trial: sampled points must give valid configs, and every dataset and task any
    trial may use must exist (missing shards are prepared now). Returns dataset -> location."""
    import optuna

    from raymtl.train.config import TrainConfig
    from raymtl.train.trainer import validate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=space.search.seed))
    base = TrainConfig.from_dict(space.base_config, file=space.file)
    refs = [t.name if ":" in t.name else f"{base.data.datasets[0]}:{t.name}" for t in base.tasks]
    if space.aux_tasks is not None:
        refs += [t for t in (space.aux_tasks.main, *space.aux_tasks.pool) if t not in refs]
    for _ in range(samples):
        t = study.ask()
        params = {**t.params, **(space.define_by_run(t) or {})}
        cfg = TrainConfig.from_dict(space.trial_config(params), file=space.file)
        refs += [r for r in (x.name if ":" in x.name else f"{cfg.data.datasets[0]}:{x.name}" for x in cfg.tasks)
                 if r not in refs]
        study.tell(t, 0.0)
    datasets = sorted({r.split(":", 1)[0] for r in refs})
    probe = base.to_dict()
    probe["data"]["datasets"] = datasets
    probe["tasks"] = [{"name": r} for r in refs]
    probe["model"] = {"arch": base.arch}  # the architecture's own fields were checked per point above
    probe["train"]["monitor"] = "mean"
    return validate(TrainConfig.from_dict(probe, file=space.file))


# ---- outputs ------------------------------------------------------------------------------------
def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = {}
    for k, v in (metrics or {}).items():
        if k.startswith(("dev/", "test/")) or k in ("dev_score", "best_dev_score", "best_epoch", "epoch"):
            keep[k] = v
    return keep


def write_outputs(space, result_grid, exp_dir: Path, started: float) -> dict[str, Any]:
    import pandas as pd
    import yaml

    rows = []
    for r in result_grid:
        m = r.metrics or {}
        trial_id = m.get("trial_id") or (Path(r.path).name if r.path else "")
        status = "ERROR" if r.error else ("STOPPED" if not m.get("final") else "TERMINATED")
        row = {"trial": trial_id, "status": status, "error": error_reason(r.error) if r.error else "",
               "epochs_run": m.get("epoch"), "wall_time_s": m.get("time_total_s"),
               **{f"param/{k}": v for k, v in (r.config or {}).items()}, **_flat_metrics(m)}
        if space.aux_tasks is not None:
            aux = space.chosen_aux_tasks(r.config or {})
            row["aux_tasks"] = "+".join(aux) if aux else "(main only)"
        rows.append(row)
    df = pd.DataFrame(rows)
    exp_dir.mkdir(parents=True, exist_ok=True)
    _atomic_df(df, exp_dir)
    metric, mode = space.metric, space.mode
    done = df[df["status"] != "ERROR"] if len(df) else df
    summary: dict[str, Any] = {"trials": len(df), "errors": int((df["status"] == "ERROR").sum()) if len(df) else 0,
                               "stopped_early": int((df["status"] == "STOPPED").sum()) if len(df) else 0,
                               "wall_time_s": time.time() - started, "metric": metric, "mode": mode}
    score_col = "best_dev_score" if "best_dev_score" in df else metric
    if len(done) and score_col in done and done[score_col].notna().any():
        best_idx = done[score_col].idxmax() if mode == "max" else done[score_col].idxmin()
        best = df.loc[best_idx]
        params = {k[6:]: _py(v) for k, v in best.items() if k.startswith("param/") and not _isnan(v)}
        best_cfg = space.trial_config(params)
        best_cfg["name"] = f"{space.name}-best"
        _atomic_text(exp_dir / "best_config.yaml", yaml.safe_dump(best_cfg, sort_keys=False))
        summary.update({"best_trial": best["trial"], "best_score": float(best[score_col]), "best_params": params})
    summary["importances"] = param_importances(space, df, score_col)
    _atomic_text(exp_dir / "importances.json", json.dumps(summary["importances"], indent=1))
    _atomic_text(exp_dir / "summary.json", json.dumps(summary, indent=1, default=str))
    write_hparams(df, exp_dir / "tensorboard")
    return summary


def error_reason(error: BaseException) -> str:
    """The innermost ``SomeError: message`` line of a (Ray-wrapped) trial error, for results.csv."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.findall(r"^\s*([\w.]*(?:Error|Exception)): (.+)$", text, flags=re.M)
    found = [(k, m) for k, m in found if not k.endswith(("RayTaskError", "TrainingFailedError"))]
    if found:
        kind, message = found[-1]
        return f"{kind.rsplit('.', 1)[-1]}: {message.strip()}"[:500]
    return text.strip().splitlines()[-1][:500] if text.strip() else type(error).__name__


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_df(df, exp_dir: Path) -> None:
    tmp = exp_dir / ".results.csv.tmp"
    df.to_csv(tmp, index=False)
    os.replace(tmp, exp_dir / "results.csv")
    tmp = exp_dir / ".results.parquet.tmp"
    df.astype({c: "string" for c in df.columns if df[c].dtype == object}).to_parquet(tmp, index=False)
    os.replace(tmp, exp_dir / "results.parquet")


def param_importances(space, df, score_col: str) -> dict[str, float]:
    """Optuna's parameter importances over the finished trials (replayed into an in-memory study)."""
    import optuna

    done = df[(df["status"] != "ERROR") & df.get(score_col, pd_nan_series(df)).notna()] if len(df) else df
    if len(done) < 3:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if space.mode == "max" else "minimize")
    for _, row in done.iterrows():
        params = {k[6:]: _py(v) for k, v in row.items() if k.startswith("param/") and not _isnan(v)}
        study.enqueue_trial(params, skip_if_exists=False)
        value = float(row[score_col])
        study.optimize(lambda t: (space.define_by_run(t), value)[1], n_trials=1)
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as e:  # e.g. a single distinct value per parameter
        return {"_error": str(e)}  # type: ignore[dict-item]


def pd_nan_series(df):
    import pandas as pd

    return pd.Series([float("nan")] * len(df), index=df.index)


def write_hparams(df, tb_dir: Path) -> None:
    """One HParams session per trial: its parameters (incl. auxiliary tasks) and final metrics."""
    from torch.utils.tensorboard import SummaryWriter

    for _, row in df.iterrows():
        hparams = {k[6:]: _hp(v) for k, v in row.items() if k.startswith("param/") and not _isnan(v)}
        if "aux_tasks" in row:
            hparams["aux_tasks"] = str(row["aux_tasks"])
        hparams["status"] = str(row["status"])
        metrics = {f"hparam/{k}": float(v) for k, v in row.items()
                   if (k.startswith(("dev/", "test/")) or k == "best_dev_score")
                   and isinstance(_py(v), (int, float)) and not _isnan(v)}
        with SummaryWriter(str(tb_dir / str(row["trial"]))) as w:
            w.add_hparams(hparams, metrics or {"hparam/best_dev_score": float("nan")}, run_name=".")


def _hp(v: Any) -> Any:
    v = _py(v)
    return v if isinstance(v, (int, float, str, bool)) else str(v)


# ---- refit -------------------------------------------------------------------------------------
def refit(exp_dir: Path, seeds: int, resources, storage: str) -> dict[str, Any]:
    """Retrain best_config.yaml with seeds 1..S; test mean ± sample std per metric in refit.json."""
    import statistics

    from raymtl.train.config import TrainConfig
    from raymtl.train.run import run_train

    cfg_path = exp_dir / "best_config.yaml"
    if not cfg_path.exists():
        raise RaymtlError(f"{cfg_path}: no best configuration to refit (did every trial fail?)")
    tests: list[dict[str, float]] = []
    for seed in range(1, seeds + 1):
        cfg = TrainConfig.load(cfg_path, [f"train.seed={seed}"])
        summary = run_train(cfg, workers=resources.workers, use_gpu=resources.use_gpu,
                            cpus_per_worker=resources.cpus_per_worker, storage=str(exp_dir / "refit"),
                            name=f"seed{seed}", quiet=True)
        tests.append(summary["test"])
    keys = sorted(set().union(*tests)) if tests else []
    out = {k: {"mean": statistics.fmean(t[k] for t in tests if k in t),
               "std": statistics.stdev([t[k] for t in tests if k in t]) if len(tests) > 1 else 0.0,
               "seeds": len(tests)} for k in keys}
    _atomic_text(exp_dir / "refit.json", json.dumps(out, indent=1))
    print(f"\nrefit of the best configuration over {seeds} seeds (test, mean ± std):")
    for k, v in out.items():
        print(f"  {k:<36} {v['mean']:.4f} ± {v['std']:.4f}")
    return out


# ---- the search --------------------------------------------------------------------------------
def build_scheduler(space, max_t: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, MedianStoppingRule

    s, metric, mode = space.scheduler, space.metric, space.mode
    if s.kind == "asha":
        return ASHAScheduler(time_attr=s.time_attr, metric=metric, mode=mode, max_t=max_t,
                             grace_period=min(s.grace_period, max_t), reduction_factor=s.reduction_factor,
                             brackets=s.brackets)
    if s.kind == "hyperband":
        return HyperBandScheduler(time_attr=s.time_attr, metric=metric, mode=mode, max_t=max_t,
                                  reduction_factor=s.reduction_factor)
    if s.kind == "median":
        return MedianStoppingRule(time_attr=s.time_attr, metric=metric, mode=mode, grace_period=s.grace_period,
                                  min_samples_required=s.min_samples_required)
    return FIFOScheduler()


def run_search(opts: SearchOptions) -> dict[str, Any]:
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from raymtl.search.space import load_space

    overrides = list(opts.overrides)
    if opts.smoke_test:  # a slice of the data, 2 epochs, 2 trials
        overrides += ["data.max_train_examples=200", "data.max_eval_examples=100", "train.epochs=2",
                      "train.patience=0", "scheduler.grace_period=1"]  # a space's grace may exceed 2 epochs
    if opts.algorithm:
        overrides.append(f"search.algorithm={opts.algorithm}")
    if opts.scheduler:
        overrides.append(f"scheduler.kind={opts.scheduler}")
    space = load_space(opts.space, overrides)
    num_samples = opts.num_samples or (min(space.search.num_samples, 2) if opts.smoke_test
                                       else space.search.num_samples)
    res = space.resources
    workers = opts.workers_per_trial or res.workers_per_trial
    cpus = opts.cpus_per_worker or res.cpus_per_worker
    gpus = res.gpus_per_worker if opts.gpus_per_worker is None else opts.gpus_per_worker
    name = opts.name or space.name
    from raymtl.safety import check_name

    check_name(name, key="--name" if opts.name else "name")  # one directory under --storage
    remote = "://" in opts.storage
    storage = opts.storage if remote else str(Path(opts.storage).expanduser().resolve())
    # Outputs are written locally, then copied next to Tune's state when storage is s3://, gs://...
    exp_dir = (Path("runs").resolve() / name) if remote else Path(storage) / name
    print(space.describe())
    locations = validate_space(space)  # fails before any trial starts
    joined = connect(opts.address, opts.num_cpus)
    concurrency = fit_concurrency(opts.max_concurrent or space.search.max_concurrent, workers, cpus, gpus,
                                  joined_cluster=joined)
    resources = trial_resources(workers, cpus, gpus)
    max_t = int(space.scheduler.max_t) + 1  # + the final report carrying test metrics
    trainable = tune.with_resources(
        make_trainable(space, locations, resources, f"{storage}/{name}/train", opts.max_failures),
        {"CPU": DRIVER_CPUS})
    started = time.time()
    experiment_path = f"{storage}/{name}"
    # Tune saves the experiment state (which trials finished) at most every 10+ s by default; a
    # driver killed in that window re-runs trials that had finished. Save it every 2 s instead.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    if opts.resume:
        if not tune.Tuner.can_restore(experiment_path):
            raise RaymtlError(f"{experiment_path}: nothing to resume (no experiment state there)")
        if not remote:  # a bad checkpoint fails here once, not in every retry of its trial
            from raymtl.train.checkpoint import check_resume_checkpoints

            check_resume_checkpoints(experiment_path, recursive=True)
        kept = len(finished_trials(Path(experiment_path))) if not remote else "the"
        print(f"resuming {experiment_path}: {kept} finished trials are kept, unfinished ones continue")
        tuner = tune.Tuner.restore(experiment_path, trainable, resume_unfinished=True, resume_errored=True)
    else:
        multi = space.multi_objective
        metric = space.metrics if multi else space.metric
        mode = space.modes if multi else space.mode
        searcher = OptunaSearch(space=space.define_by_run, metric=metric, mode=mode, sampler=space.sampler())
        searcher = ConcurrencyLimiter(searcher, max_concurrent=concurrency)
        scheduler = build_scheduler(space, max_t)
        tuner = tune.Tuner(
            trainable,
            # Schedulers stop trials on the first objective (the space's `metric`).
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
                                        max_concurrent_trials=concurrency),
            run_config=tune.RunConfig(name=name, storage_path=storage, verbose=1,
                                      # Retries a trial whose driver died with its node (it resumes
                                      # from its checkpoint); deterministic failures are not re-run.
                                      failure_config=tune.FailureConfig(max_failures=opts.max_failures,
                                                                        fail_fast=False)),
        )
    print(f"search {name}: {num_samples} trials, {concurrency} at once, {workers} DDP worker(s) × "
          f"{cpus:g} CPU{f' + {gpus:g} GPU' if gpus else ''} each; experiment dir {experiment_path}")
    grid = tuner.fit()
    summary = write_outputs(space, grid, exp_dir, started)
    if any(n.startswith("schedule.") for n in space.param_names()):  # effect of each schedule param
        from raymtl.search.schedule_report import write_schedule_report

        print(f"schedule report: {write_schedule_report(exp_dir)}")
    if remote:
        import pyarrow.fs as pafs

        pafs.copy_files(str(exp_dir), f"{storage}/{name}/outputs")
        print(f"outputs copied to {storage}/{name}/outputs")
    print_summary(summary, exp_dir)
    if opts.refit:
        summary["refit"] = refit(exp_dir, opts.refit, resources, storage)
    return summary


def print_summary(summary: dict[str, Any], exp_dir: Path) -> None:
    print(f"\n== {summary['trials']} trials ({summary['errors']} failed, {summary['stopped_early']} stopped early) "
          f"in {summary['wall_time_s']:.0f}s")
    if "best_params" in summary:
        print(f"best trial {summary['best_trial']}: {summary['metric']} = {summary['best_score']:.4f}")
        for k, v in summary["best_params"].items():
            print(f"  {k} = {v}")
        print(f"best configuration: {exp_dir / 'best_config.yaml'} (re-run: raymtl train {exp_dir / 'best_config.yaml'})")
    print(f"results: {exp_dir / 'results.csv'}\nTensorBoard: tensorboard --logdir {exp_dir}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from raymtl.paths import default_storage, resolve_input

    space_file, note = resolve_input(args.space)  # `ray submit` runs from ~, the repository is ~/raymtl
    if note:
        print(note, flush=True)
    opts = SearchOptions(space=space_file, num_samples=args.num_samples, max_concurrent=args.max_concurrent,
                         workers_per_trial=args.workers_per_trial, cpus_per_worker=args.cpus_per_worker,
                         gpus_per_worker=args.gpus_per_worker, storage=default_storage(args.storage), name=args.name,
                         resume=args.resume, smoke_test=args.smoke_test, refit=args.refit, address=args.address,
                         num_cpus=args.num_cpus, algorithm=args.algorithm, scheduler=args.scheduler,
                         overrides=args.overrides, max_failures=args.max_failures)
    try:
        run_search(opts)
    except RaymtlError as e:
        print(f"raymtl tune: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
