"""``raymtl train``: validate a config, start a private Ray (or join the cluster asked for), run the
TorchTrainer, print a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raymtl.configs import naming_overrides
from raymtl.train.config import TrainConfig


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """Join the cluster asked for (``address`` or ``RAY_ADDRESS``), else start a private local Ray
    (with the dashboard: Ray Train V2 needs its State API to free placement groups)."""
    from raymtl.train.cluster import connect

    return connect(address, num_cpus=num_cpus, dashboard=True, log_to_driver=True)


def storage_path(storage: str) -> str:
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n== {summary['name']}: best dev score {summary['best_dev_score']:.4f} at epoch {summary['best_epoch']} "
          f"of {summary['epochs_run']}{' (early stop)' if summary['stopped_early'] else ''}")
    keys = sorted(set(summary["dev"]) | set(summary["test"]))
    if keys:
        w = max(len(k) for k in keys)
        print(f"{'metric':<{w}}  {'dev':>8}  {'test':>8}")
        for k in keys:
            d, t = summary["dev"].get(k), summary["test"].get(k)
            fmt = lambda v: f"{v:8.4f}" if isinstance(v, (int, float)) else f"{'-':>8}"  # noqa: E731
            print(f"{k:<{w}}  {fmt(d)}  {fmt(t)}")


def run_train(config: Path | str | TrainConfig, *, overrides: list[str] | None = None, workers: int = 1,
              use_gpu: bool = False, cpus_per_worker: float = 1.0, storage: str = "runs/train", name: str | None = None,
              smoke_test: bool = False, address: str | None = None, quiet: bool = False) -> dict[str, Any]:
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.load(config, overrides)
    # torch and the model registry after the file's own checks: an error in the file shows in ~0.1 s
    from raymtl.train.trainer import Resources, build_trainer, smoke_overrides, validate

    if smoke_test:
        cfg = smoke_overrides(cfg)
    from raymtl.safety import check_name

    check_name(name or cfg.name, key="--name" if name else "name")  # one directory under --storage
    name = name or cfg.name
    with naming_overrides(overrides, None if isinstance(config, TrainConfig) else config):
        locations = validate(cfg)
    storage = storage_path(storage)
    run_dir = Path(storage) / name if "://" not in storage else Path(storage_path("runs")) / name
    if "://" not in storage:  # a bad checkpoint to resume from fails here once, not in every worker retry
        from raymtl.train.checkpoint import check_resume_checkpoints

        check_resume_checkpoints(run_dir)
    init_ray(address, num_cpus=None)
    trainer = build_trainer(cfg, locations, resources=Resources(workers, use_gpu, cpus_per_worker),
                            run_dir=run_dir, storage=storage, name=name)
    trainer.fit()
    summary = json.loads((run_dir / "results.json").read_text())
    if not quiet:
        print_summary(summary)
        print(f"\nresults: {run_dir / 'results.json'}\nreview: raymtl report {run_dir}  |  raymtl board {run_dir}")
        if smoke_test:  # near-zero F1 after one epoch on 300 sentences is expected, not a fault
            d, t = cfg.data, cfg.train
            print(f"smoke test: at most {d.max_train_examples} training and {d.max_eval_examples} dev and test "
                  f"examples per dataset, {t.epochs} epoch(s): it checks that every step runs, its scores mean "
                  "nothing; the real run is the same command without --smoke-test")
    return summary
