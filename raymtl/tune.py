#!/usr/bin/env python
"""Search hyperparameters with Ray Tune + Optuna; a trial trains in its own process (1 worker) or
as a Ray Train DDP run (2+ workers per trial).

    python raymtl/tune.py search_spaces/absa_cmtl.yaml --num-samples 20 --max-concurrent 2
    raymtl tune search_spaces/absa_cmtl.yaml --smoke-test            # the same, via the CLI
    ray submit cluster/gpu.yaml raymtl/tune.py -- search_spaces/absa_cmtl.yaml --gpus-per-worker 1

It starts a private local Ray unless ``--address`` or ``RAY_ADDRESS`` names a cluster (our cluster
configs export ``RAY_ADDRESS`` on their nodes, so ``ray submit`` joins the cluster it was sent to).
The experiment directory ``STORAGE/NAME`` (default ``runs/tune/NAME``) receives ``results.csv`` /
``results.parquet`` (one row per trial with its status), ``best_config.yaml`` (re-runnable with
``raymtl train``), ``importances.json`` and TensorBoard HParams for every trial. ``--resume``
continues an interrupted search without re-running finished trials.

This module knows Ray Tune, Optuna and search spaces; model internals stay in the training layer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: `python raymtl/tune.py`, `ray submit` (copied to ~)
    # Python put the script's directory first on sys.path; under `ray submit` that is ~, whose
    # a directory named raymtl (a checkout) would shadow the installed package as a namespace package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    if (Path(__file__).resolve().parent / "__init__.py").exists():  # in a clone: import from it
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raymtl.errors import ConfigError, RaymtlError  # noqa: E402
from raymtl.search.lifecycle import Interrupt, exit_status, quiet_ray  # noqa: E402
from raymtl.search.outcome import FAILED, terminated_trials  # noqa: E402
from raymtl.search.results import print_summary, write_outputs  # noqa: E402

DRIVER_CPUS = 0.5  # a DDP trial's driver function only waits on its TorchTrainer
PLACEMENT_TIMEOUT_S = 300.0  # pending trials with none running for this long: the search stops


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
    optuna_storage: str | None = None  # default: sqlite optuna.db in the experiment dir
    resume_command: str = ""  # what continues this search if interrupted (main(): the user's argv + --resume)
    smoke_test: bool = False
    refit: int = 0
    address: str | None = None
    num_cpus: int | None = None
    algorithm: str | None = None
    scheduler: str | None = None
    overrides: list[str] = field(default_factory=list)
    max_failures: int = 1
    allow_failures: bool = False
    placement_timeout: float = PLACEMENT_TIMEOUT_S
    trial_backend: str = "auto"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="raymtl tune",
        description="Search a space (search_spaces/*.yaml) with Ray Tune + Optuna. A 1-worker trial trains in "
                    "its own process; with --workers-per-trial 2+ each trial is a Ray Train DDP run. ASHA (or the "
                    "space's scheduler) stops weak trials on the per-epoch dev metric. Runs on a private local Ray "
                    "unless --address or RAY_ADDRESS names a cluster. Exit status: 0 done, 1 trials failed (unless "
                    "--allow-failures), 2 bad config, 130/143 interrupted (continue with --resume).",
        epilog="Outputs in STORAGE/NAME: results.csv, results.parquet, best_config.yaml, importances.json, "
               "and an HParams session in every trial's TensorBoard run. Review them with `raymtl board STORAGE/NAME` "
               "and `raymtl report STORAGE/NAME`.")
    p.add_argument("space", type=Path, help="search-space YAML (see search_spaces/)")
    p.add_argument("--num-samples", type=int, help="trials to run (default: the space's)")
    p.add_argument("--max-concurrent", type=int,
                   help="trials at once; must fit the cluster (default: the space's, fitted to what Ray has)")
    p.add_argument("--workers-per-trial", type=int,
                   help="DDP workers per trial (1: the trial trains in its own process; 2+: a Ray Train run)")
    p.add_argument("--cpus-per-worker", type=float, help="CPUs per worker")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (> 0: nccl and GPU placement)")
    p.add_argument("--storage", help="experiment root: a local dir or s3://, gs:// URI (default runs/tune; "
                                     "under `ray job submit --working-dir`: $RAYMTL_RUNS_DIR/tune or ~/raymtl-runs/tune)")
    p.add_argument("--name", help="experiment name (default: the space's name)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search of the same name")
    p.add_argument("--optuna-storage", metavar="URL",
                   help="Optuna RDB storage for the study, e.g. postgresql://USER:PASS@HOST/DB (default: "
                        "sqlite optuna.db in the experiment dir; `raymtl board EXPERIMENT_DIR --optuna`)")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny budget on a slice of the data (2 trials, 2 epochs), a couple of minutes on 2 CPUs")
    p.add_argument("--refit", type=int, default=0, metavar="S",
                   help="retrain the best configuration with S seeds and report test mean ± std")
    p.add_argument("--algorithm", choices=["tpe", "random", "grid", "cmaes", "nsga2"], help="override the space's")
    p.add_argument("--scheduler", choices=["asha", "hyperband", "median", "fifo"], help="override the space's")
    p.add_argument("--address", help="Ray cluster to join: auto, HOST:PORT, or local (default: RAY_ADDRESS if "
                                     "set, else a private local Ray, whatever else runs on the host)")
    p.add_argument("--num-cpus", type=int, help="logical CPUs for a local Ray (may exceed cores)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the space, e.g. --set search.seed=3")
    p.add_argument("--max-failures", type=int, default=1,
                   help="retries of a trial whose workers die (from its last checkpoint)")
    p.add_argument("--allow-failures", action="store_true", help="exit 0 even when some trials failed")
    p.add_argument("--trial-backend", choices=["auto", "in_process", "torchtrainer"], default="auto",
                   help="auto (default): a 1-worker trial trains in the trial's own process, 2+ workers in a "
                        "TorchTrainer; torchtrainer forces Ray Train for every trial (e.g. to compare)")
    p.add_argument("--placement-timeout", type=float, default=PLACEMENT_TIMEOUT_S, metavar="S",
                   help=f"stop when pending trials could not be placed for S s (default {PLACEMENT_TIMEOUT_S:g})")
    return p


# ---- Ray set-up -------------------------------------------------------------------------------
def connect(address: str | None, num_cpus: int | None, *, dashboard: bool = True):
    """Join the cluster asked for (``--address``/``RAY_ADDRESS``), else start a private local Ray;
    prints one line saying which. Returns a :class:`~raymtl.train.cluster.ClusterInfo`."""
    from raymtl.train.cluster import connect as connect_ray

    return connect_ray(address, num_cpus=num_cpus, dashboard=dashboard)


def trial_resources(workers: int, cpus: float, gpus: float):
    from raymtl.train.trainer import Resources

    return Resources(workers=workers, use_gpu=gpus > 0, cpus_per_worker=cpus, gpus_per_worker=gpus or 1.0)


def per_trial(workers: int, cpus: float, gpus: float, in_process: bool | None = None) -> tuple[float, float]:
    """(CPUs, GPUs) one trial holds: its process alone (1 worker), or a driver + its DDP workers."""
    if in_process if in_process is not None else workers <= 1:
        return cpus, gpus
    return workers * cpus + DRIVER_CPUS, workers * gpus


def fit_concurrency(requested: int | None, workers: int, cpus: float, gpus: float, *, joined_cluster: bool,
                    source: str = "--max-concurrent", in_process: bool | None = None, log=print) -> int:
    """Trials at once. A number from the space (``source`` is not a flag) is an upper bound fitted to
    what Ray has; an explicit ``--max-concurrent`` that cannot fit a local Ray is an error."""
    import ray

    total = ray.cluster_resources()
    cpu_each, gpu_each = per_trial(workers, cpus, gpus, in_process)
    fits = int((total.get("CPU", 0) + 1e-9) // cpu_each)
    if gpus > 0:
        fits = min(fits, int((total.get("GPU", 0) + 1e-9) // gpu_each))
    need = f"{cpu_each:g} CPUs" + (f" and {gpu_each:g} GPUs" if gpus else "")
    have = f"Ray has {total.get('CPU', 0):g} CPUs / {total.get('GPU', 0):g} GPUs"
    if fits < 1 and not joined_cluster:
        raise ConfigError(f"one trial needs {need} but {have}; lower --workers-per-trial or --cpus-per-worker, "
                          "or raise --num-cpus", key="resources")
    if requested is None:
        return max(fits, 1)
    if requested > fits and not joined_cluster:
        if source == "--max-concurrent":
            raise ConfigError(f"--max-concurrent {requested} needs {requested} x {need}; {have} "
                              f"(at most {fits} trials fit)", key="--max-concurrent")
        log(f"concurrency: {source} is {requested}, {have} and a trial needs {need}: {fits} trial(s) at once")
        return fits
    return requested


# ---- the trainable ------------------------------------------------------------------------------
def make_trainable(space, locations: dict[str, str], resources, train_storage: str, max_failures: int,
                   backend: str = "auto", experiment_dir: str = ""):
    """A Tune function trainable: trial params -> TrainConfig -> trained in this process (1 worker)
    or by a TorchTrainer (2+ workers). Returns (trainable, the resources one trial requests)."""
    from raymtl.train.tune_trial import TrialRunner

    runner = TrialRunner(locations, resources, train_storage, max_failures, backend=backend,
                         experiment_dir=experiment_dir)

    def trial(params: dict[str, Any]) -> None:
        from raymtl.train.config import TrainConfig

        runner(TrainConfig.from_dict(space.trial_config(params)))

    return trial, runner.request(DRIVER_CPUS)


def finished_trials(exp_dir: Path) -> dict[str, Path]:
    """Trials that Tune's last saved experiment state records as TERMINATED (what ``--resume``
    keeps without running them again): trial id -> trial directory."""
    return terminated_trials(exp_dir)


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
    from raymtl.atomic import write_json

    write_json(exp_dir / "refit.json", out)
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


def smoke_overrides() -> list[str]:
    """``--smoke-test``: a slice of the data, 2 epochs, 2 trials; the scheduler compares trials only
    after both epochs (after one, a tagger may still predict all-O: a score of 0 says nothing)."""
    return ["data.max_train_examples=200", "data.max_eval_examples=100", "train.epochs=2", "train.patience=0",
            "scheduler.grace_period=2"]


def run_search(opts: SearchOptions, interrupt: Interrupt | None = None) -> dict[str, Any]:
    from raymtl.search.space import load_space

    interrupt = interrupt or Interrupt()
    overrides = list(opts.overrides)
    if opts.smoke_test:
        overrides += smoke_overrides()
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
    exp_dir = (Path("runs/tune").resolve() / name) if remote else Path(storage) / name
    experiment_path = f"{storage}/{name}"
    locations = validate_space(space)  # every config error before Ray starts
    from raymtl.search.optuna_study import make_searcher, prepare_storage, storage_url

    optuna_url = storage_url(exp_dir, opts.optuna_storage)
    study_storage = None if opts.resume else prepare_storage(optuna_url, name, resume=False,
                                                             explicit=bool(opts.optuna_storage))

    in_process = opts.trial_backend == "in_process" or (opts.trial_backend == "auto" and workers <= 1)
    # The dashboard's State API is what Ray Train V2 needs to free placement groups; in-process trials
    # use no Ray Train, and a laptop starts faster without it.
    info = connect(opts.address, opts.num_cpus, dashboard=not in_process)  # the first line: which Ray
    print(space.describe())
    source = "--max-concurrent" if opts.max_concurrent else f"{opts.space} [search.max_concurrent]"
    concurrency = fit_concurrency(opts.max_concurrent or space.search.max_concurrent, workers, cpus, gpus,
                                  joined_cluster=info.joined, source=source, in_process=in_process)
    resources = trial_resources(workers, cpus, gpus)
    max_t = int(space.scheduler.max_t) + 1  # + the final report carrying test metrics
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.search import ConcurrencyLimiter

    from raymtl.search.progress import PlacementWatchdog, Progress

    fn, request = make_trainable(space, locations, resources, f"{storage}/{name}/train", opts.max_failures,
                                 opts.trial_backend, experiment_path)
    trainable = tune.with_resources(fn, request)
    started = time.time()
    # Tune saves the experiment state (which trials finished) at most every 10+ s by default; a
    # driver killed in that window re-runs trials that had finished. Save it every 2 s instead.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    # One TensorBoard run per trial (the loop's): Tune's TBX logger would add a second run with
    # HParams rows that hold no metrics. Its CSV/JSON loggers are kept (passed below).
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    quiet_ray()
    need = " + ".join(f"{v:g} {k}" for k, v in request.items()) + (
        f" + {workers} workers x {cpus:g} CPU" if workers > 1 else "")
    watchdog = PlacementWatchdog(opts.placement_timeout, need)
    epochs = int(space.base_config.get("train", {}).get("epochs", max_t - 1))
    progress = Progress(num_samples, epochs, concurrency, space.metric)
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
        searcher = make_searcher(space, metric, mode, storage=study_storage, study_name=name)
        print(f"optuna study {name!r} in {optuna_url.split('@')[-1]}", flush=True)
        searcher = ConcurrencyLimiter(searcher, max_concurrent=concurrency)
        scheduler = build_scheduler(space, max_t)
        tuner = tune.Tuner(
            trainable,
            # Schedulers stop trials on the first objective (the space's `metric`).
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
                                        # One process serves trial after trial (imports, data
                                        # cache); a DDP trial's TorchTrainer cannot be reset.
                                        max_concurrent_trials=concurrency, reuse_actors=in_process),
            run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0, stop=watchdog,
                                      callbacks=[CSVLoggerCallback(), JsonLoggerCallback(), progress, watchdog],
                                      # Retries a trial whose driver died with its node (it resumes
                                      # from its checkpoint); deterministic failures are not re-run.
                                      failure_config=tune.FailureConfig(max_failures=opts.max_failures,
                                                                        fail_fast=False)),
        )
    how = "in its own process" if in_process else f"as a Ray Train run of {workers} DDP worker(s)"
    print(f"search {name}: {num_samples} trials, {concurrency} at once, each {how} with "
          f"{cpus:g} CPU{f' + {gpus:g} GPU' if gpus else ''} per worker; experiment dir {experiment_path}"
          + (f"; Ray logs: {info.log_dir}" if info.log_dir else ""), flush=True)
    interrupt.install()
    grid = tuner.fit()
    terminated = set(terminated_trials(Path(experiment_path))) if not remote else None
    unfinished = [r for r in grid if r.error is None and not (r.metrics or {}).get("final")
                  and terminated is not None and (r.metrics or {}).get("trial_id") not in terminated]
    stopped_by = ""
    if watchdog.expired:
        stopped_by = f"no trial could be placed for {opts.placement_timeout:g}s ({watchdog.reason()})"
    elif interrupt.signal or unfinished or len(grid) < num_samples:
        interrupt.signal = interrupt.signal or "SIGINT"
        stopped_by = interrupt.signal
    summary = write_outputs(space, grid, exp_dir, started, terminated=terminated, interrupted=stopped_by,
                            started_ids=progress.started_ids)
    summary["num_samples"], summary["concurrency"] = num_samples, concurrency
    if "best_params" in summary and any(n.startswith("schedule.") for n in space.param_names()):
        from raymtl.search.schedule_report import write_schedule_report

        print(f"schedule report: {write_schedule_report(exp_dir)}")
    if remote:
        import pyarrow.fs as pafs

        pafs.copy_files(str(exp_dir), f"{storage}/{name}/outputs")
        print(f"outputs copied to {storage}/{name}/outputs")
    # main() passes the user's own command; a caller of run_search gets one that names the experiment
    print_summary(summary, exp_dir, resume_command=opts.resume_command or resume_command(
        [str(opts.space), "--storage", storage, "--name", name]))
    if opts.refit and not stopped_by:
        summary["refit"] = refit(exp_dir, opts.refit, resources, storage)
    summary["placement_timeout"] = watchdog.expired
    return summary


def resume_command(argv: list[str]) -> str:
    """The user's own command with ``--resume``: the same space, name, storage and overrides (a
    resumed search rebuilds its trials' configs from them)."""
    import shlex

    return "raymtl tune " + shlex.join([a for a in argv if a != "--resume"] + ["--resume"])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from raymtl.paths import default_storage, resolve_input

    space_file, note = resolve_input(args.space)  # `ray submit` runs from ~, the repository is ~/src/raymtl
    if note:
        print(note, flush=True)
    opts = SearchOptions(space=space_file, num_samples=args.num_samples, max_concurrent=args.max_concurrent,
                         workers_per_trial=args.workers_per_trial, cpus_per_worker=args.cpus_per_worker,
                         gpus_per_worker=args.gpus_per_worker, storage=default_storage(args.storage, "tune"),
                         name=args.name, resume=args.resume, smoke_test=args.smoke_test, refit=args.refit,
                         address=args.address, num_cpus=args.num_cpus, algorithm=args.algorithm,
                         scheduler=args.scheduler, overrides=args.overrides, max_failures=args.max_failures,
                         allow_failures=args.allow_failures, placement_timeout=args.placement_timeout,
                         trial_backend=args.trial_backend)
    opts.optuna_storage = args.optuna_storage
    opts.resume_command = resume_command(argv)
    interrupt = Interrupt()
    try:
        summary = run_search(opts, interrupt)
    except RaymtlError as e:
        print(f"raymtl tune: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"raymtl tune: interrupted before the search finished; continue with: {opts.resume_command}",
              file=sys.stderr)
        return interrupt.exit_code
    code = exit_status(summary, interrupt, allow_failures=opts.allow_failures)
    if code == 1 and not summary.get("placement_timeout"):
        print(f"raymtl tune: {summary['statuses'][FAILED]} trial(s) failed (see the error column of results.csv; "
              "--allow-failures exits 0)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
