"""Auxiliary-task selection, its search space: the task references, the base config every trial
starts from, the space of subset bits (+ λ), and the main-only baseline's architecture swap.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

from raymtl.errors import ConfigError

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.search.aux_select import AuxSelectOptions


def split_refs(text: str | Sequence[str]) -> list[str]:
    """``a, b,`` or a list -> the stripped non-empty references."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [t.strip() for t in items if t and t.strip()]


def check_ref(ref: str, key: str) -> str:
    """``ref`` when it reads DATASET:TASK, else a ConfigError naming ``key``."""
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
    names = {f.name for f in dataclasses.fields(arch.config_cls)}
    cfg["model"] = {"arch": single_arch, **{k: v for k, v in model.items() if k in names}}
    tc = TrainConfig.from_dict(cfg, file="main-only baseline")
    build_config(arch, tc.arch_params)
    return tc.to_dict()
