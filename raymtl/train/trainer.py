"""Ray Train: run the :class:`~raymtl.train.loop.Runner` on N DDP workers with ``TorchTrainer``.

The driver validates the config and resolves shard locations before any worker starts; workers
memory-map the shards themselves. Inside a Ray Tune trial the same trainer is built with
``TuneReportCallback`` so every epoch's metrics reach Tune (Ray Train V2 pattern).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from raymtl.errors import ConfigError
from raymtl.models.registry import default_registry as default_architectures
from raymtl.models.base import check_task_kinds
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData, resolve_shards
from raymtl.data.shards import verify_shards

# Worker-group start on a busy 2-core machine can exceed Ray Train's 60 s default.
os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "300")
# Ray Train V2 sends a worker's print() both to stdout and to its logger, which also reaches the
# terminal: every progress line twice. Plain print (passed on to the workers by Train itself).
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")


@dataclass
class Resources:
    workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0

    def per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            res["GPU"] = self.gpus_per_worker
        return res


def smoke_overrides(cfg: TrainConfig) -> TrainConfig:
    """A few hundred examples and one epoch (``--smoke-test``)."""
    cfg.data.max_train_examples = min(cfg.data.max_train_examples or 300, 300)
    cfg.data.max_eval_examples = min(cfg.data.max_eval_examples or 100, 100)
    cfg.train.epochs = 1
    return cfg


def validate(cfg: TrainConfig, *, log: Callable[[str], None] = print) -> dict[str, str]:
    """Everything checkable before a worker starts; returns dataset -> shard location."""
    archs = default_architectures()
    arch = archs.get(cfg.arch)
    from raymtl.models.registry import build_config

    build_config(arch, cfg.arch_params)
    locations = resolve_shards(cfg, log=log)
    for location in locations.values():  # corrupted shard bytes fail here, before any worker starts
        if "://" not in location:  # remote shards are verified when fetched into a node's cache
            verify_shards(location)
    data = TrainData(cfg, locations)
    check_task_kinds(arch.model_cls, data.specs)
    for ds, split in cfg.data.test_splits.items():
        if ds not in data.manifests:
            raise ConfigError(f"{ds!r} is not one of data.datasets ({', '.join(data.manifests)})",
                              key=f"data.test_splits.{ds}")
        if split not in data.manifests[ds].splits:
            raise ConfigError(f"dataset {ds!r} has no split {split!r} (it has "
                              f"{', '.join(data.manifests[ds].splits)})", key=f"data.test_splits.{ds}")
    if cfg.train.monitor not in ("main", "mean") and "/" not in cfg.train.monitor:
        raise ConfigError("expected 'main', 'mean' or a metric key such as 'ate/f1'", key="train.monitor")
    return locations


def _quiet_report_logs() -> None:
    """Ray Train logs every report (all metrics, every rank) at INFO through a logger named after
    its file, which LoggingConfig does not reach; keep the loop's own progress line readable."""
    import logging

    try:
        from ray.train.v2._internal.execution import context as train_context
    except ImportError:  # another Ray version: nothing to quiet
        return
    logging.getLogger(train_context.__file__).setLevel(
        os.environ.get("RAYMTL_TRAIN_LOG_LEVEL", "WARNING").upper())


def train_func(config: dict[str, Any]) -> None:
    """The per-worker entry point of ``TorchTrainer`` (also used by Tune trials)."""
    import ray.train
    import ray.train.torch

    from raymtl.train.checkpoint import restore_copy_dir
    from raymtl.train.loop import Runner

    cfg = TrainConfig.from_dict(config["train_config"])
    _quiet_report_logs()
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.set_num_threads(max(1, int(config.get("threads_per_worker", 1))))

    class RayReporter:
        def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
            ckpt = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
            ray.train.report(metrics, checkpoint=ckpt)

        def latest_checkpoint(self) -> Path | None:
            ckpt = ray.train.get_checkpoint()
            if ckpt is None:
                return None
            local = restore_copy_dir()  # removed by Runner.fit once loaded (stale ones on the next resume)
            return Path(ckpt.to_directory(str(local)))

    from raymtl.models.registry import default_registry

    arch = default_registry().get(cfg.arch)
    find_unused = bool(arch.model_cls.find_unused_parameters)

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        if world == 1:
            return model
        return ray.train.torch.prepare_model(model, move_to_device=False,
                                             parallel_strategy_kwargs={"find_unused_parameters": find_unused})

    import ray

    runner = Runner(cfg, config["locations"], reporter=RayReporter(), run_dir=Path(config["run_dir"]), rank=rank,
                    world=world, device=device, wrap_model=wrap,
                    info={"node_id": ray.get_runtime_context().get_node_id(), "device": str(device)})
    runner.fit()


def build_trainer(cfg: TrainConfig, locations: dict[str, str], *, resources: Resources, run_dir: Path,
                  storage: str | None, name: str, in_tune: bool = False, max_failures: int = 2):
    """A ``TorchTrainer`` for ``cfg`` (``in_tune``: report each epoch to the enclosing Tune trial)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.v2.api.config import LoggingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    callbacks = []
    if in_tune:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks.append(TuneReportCallback())
    return TorchTrainer(
        train_func,
        train_loop_config={"train_config": cfg.to_dict(), "locations": locations, "run_dir": str(run_dir),
                           "threads_per_worker": max(1, int(resources.cpus_per_worker))},
        torch_config=TorchConfig(backend="nccl" if resources.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=resources.workers, use_gpu=resources.use_gpu,
                                     resources_per_worker=resources.per_worker()),
        run_config=RunConfig(
            name=name, storage_path=storage,
            # A bounded retry budget: an unbounded FailureConfig retries a broken trial forever.
            failure_config=FailureConfig(max_failures=max_failures),
            # Keeps the best (by dev score) and, always, the latest checkpoint.
            checkpoint_config=CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="dev_score",
                                               checkpoint_score_order="max"),
            callbacks=callbacks,
            # Ray Train's per-report INFO lines would drown the loop's own progress lines.
            logging_config=LoggingConfig(log_level=os.environ.get("RAYMTL_TRAIN_LOG_LEVEL", "WARNING")),
        ),
    )
