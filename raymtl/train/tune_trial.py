"""One Tune trial trained inside the trial's own process (no TorchTrainer, no worker group).

A single-worker trial gains nothing from Ray Train's controller, worker group and placement group
but their start-up (30+ s a trial on 2 cores). Here the same :class:`~raymtl.train.loop.Runner`
runs in the Tune function trainable and reports every epoch with ``ray.tune.report``; with
``reuse_actors`` the process, its imports and a :class:`DataCache` of manifests, vocabulary,
vectors and memory-mapped shards serve trial after trial. Trials of 2+ workers use
:mod:`raymtl.train.trainer` (DDP); both share the loop, checkpoints and outputs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raymtl.train.checkpoint import restore_copy_dir
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData


@dataclass
class DataCache:
    """TrainData by what it depends on (data config, task names, shard locations); a few entries."""

    size: int = 2
    entries: dict[str, TrainData] = field(default_factory=dict)
    hits: int = 0
    last_hit: bool = False

    @staticmethod
    def key(cfg: TrainConfig, locations: dict[str, str]) -> str:
        d = cfg.to_dict()
        return json.dumps({"data": d["data"], "tasks": [t.name for t in cfg.tasks], "locations": locations},
                          sort_keys=True, default=str)

    def get(self, cfg: TrainConfig, locations: dict[str, str]) -> TrainData:
        k = self.key(cfg, locations)
        self.last_hit = k in self.entries
        if self.last_hit:
            self.hits += 1
            data = self.entries.pop(k)
            data.cfg = cfg  # same data fields; the rest (λ, model) is this trial's
        else:
            data = TrainData(cfg, locations)
        self.entries[k] = data
        while len(self.entries) > self.size:
            self.entries.pop(next(iter(self.entries)))
        return data


class TuneReporter:
    """The loop's reporter inside a Tune function trainable."""

    def __init__(self) -> None:
        self._restored: Path | None = None  # a copy of a remote checkpoint, removed after use

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        from ray import tune

        self._drop_restored()
        ckpt = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report(metrics, checkpoint=ckpt)

    def latest_checkpoint(self) -> Path | None:
        from ray import tune

        ckpt = tune.get_checkpoint()
        if ckpt is None:
            return None
        import pyarrow.fs as pafs

        if isinstance(ckpt.filesystem, pafs.LocalFileSystem):  # read in place: nothing to copy or clean
            return Path(ckpt.path)
        self._restored = restore_copy_dir()  # <pid>-named: a killed trial's copy is swept by the next
        return Path(ckpt.to_directory(str(self._restored)))

    def _drop_restored(self) -> None:
        if self._restored is not None:  # the runner has loaded it by its first report
            shutil.rmtree(self._restored, ignore_errors=True)
            self._restored = None


def run_trial(cfg: TrainConfig, locations: dict[str, str], run_dir: Path, *, threads: int,
              cache: DataCache | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train ``cfg`` in this process, reporting each epoch to the enclosing Tune trial."""
    import torch

    from raymtl.train.loop import Runner

    import ray

    torch.set_num_threads(max(1, threads))
    data = cache.get(cfg, locations) if cache is not None else None
    info = {"node_id": ray.get_runtime_context().get_node_id(), "device": device, "path": "in_process",
            "data_from_cache": bool(cache is not None and cache.last_hit)}
    runner = Runner(cfg, locations, reporter=TuneReporter(), run_dir=run_dir, device=device, data=data, info=info)
    return runner.fit()


def trial_dir(staging: str, experiment_dir: str) -> Path:
    """Where a trial writes its run (TensorBoard, results.json, train_config.json): its directory in
    the Tune experiment dir when that is local, so a run shows in TensorBoard while it trains.
    ``get_trial_dir()`` of a reused actor (Ray 2.60) is a staging dir
    (``.../artifacts/.../working_dirs/<trial>``) that Tune never copies to storage; on remote storage
    its ``driver_artifacts`` sibling, which Tune does copy, is used."""
    d = Path(staging)
    if "://" not in experiment_dir:
        return Path(experiment_dir) / d.name
    return d.parent.parent / "driver_artifacts" / d.name if d.parent.name == "working_dirs" else d


FAILED_MARKER = ".raymtl_failed"  # in a trial dir: the reason of a failure that retries cannot fix
DETERMINISTIC_ERRORS = ("NonFiniteLossError", "DivergenceError", "EmptyBatchError", "ConfigError", "DataError",
                        "CheckpointError")


def is_deterministic_failure(error: BaseException) -> bool:
    """A raymtl error (non-finite loss, bad config/data) inside a failed training run: retrying the
    trial gives the same failure, unlike a dead worker or a lost node."""
    from raymtl.errors import RaymtlError

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


@dataclass
class TrialRunner:
    """The body of every Tune trial: one TrainConfig, trained in this process (1 worker) or by a
    TorchTrainer (2+ DDP workers), in the trial's directory, reporting each epoch to Tune."""

    locations: dict[str, str]
    resources: Any  # raymtl.train.trainer.Resources
    train_storage: str
    max_failures: int = 1
    experiment_dir: str = ""  # STORAGE/NAME of the Tune experiment (trial dirs are its children)
    backend: str = "auto"  # auto: in_process for 1 worker, torchtrainer for 2+ (benchmarks compare both)
    cache: DataCache = field(default_factory=DataCache)

    @property
    def in_process(self) -> bool:
        if self.backend == "auto":
            return self.resources.workers <= 1
        return self.backend == "in_process"

    def request(self, driver_cpus: float = 0.5) -> dict[str, float]:
        """What ``tune.with_resources`` asks for one trial (the TorchTrainer places its workers itself)."""
        r = self.resources
        if self.in_process:
            return {"CPU": r.cpus_per_worker, **({"GPU": r.gpus_per_worker} if r.use_gpu else {})}
        return {"CPU": driver_cpus}

    def __call__(self, cfg: TrainConfig) -> None:
        from ray import tune

        from raymtl.atomic import write_text
        from raymtl.errors import RaymtlError

        ctx = tune.get_context()
        run_dir = trial_dir(ctx.get_trial_dir(), self.experiment_dir or str(Path(self.train_storage).parent))
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "train_config.json", json.dumps(cfg.to_dict(), indent=1))
        failed = run_dir / FAILED_MARKER
        if failed.exists():  # a Tune retry of a trial that failed for a reason a retry cannot fix
            raise RaymtlError(f"{failed.read_text()} (not retried: the same config fails the same way)")
        locations = {ds: self.locations[ds] for ds in cfg.data.datasets}
        try:
            if self.in_process:
                import torch

                device = "cuda" if self.resources.use_gpu and torch.cuda.is_available() else "cpu"
                run_trial(cfg, locations, run_dir, threads=int(max(1, self.resources.cpus_per_worker)),
                          cache=self.cache, device=device)
            else:
                from raymtl.train.trainer import build_trainer

                # Same name + storage on a Tune retry (a lost node): the TorchTrainer resumes from its checkpoint.
                build_trainer(cfg, locations, resources=self.resources, run_dir=run_dir, storage=self.train_storage,
                              name=ctx.get_trial_id(), in_tune=True, max_failures=self.max_failures).fit()
        except Exception as e:
            if is_deterministic_failure(e):
                lines = str(e).strip().splitlines() or [repr(e)]
                reason = next((x for x in lines if any(n in x for n in DETERMINISTIC_ERRORS)), lines[-1])
                write_text(failed, reason.strip()[:2000])
            raise
