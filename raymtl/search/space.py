"""Search spaces: a small declarative YAML turned into an Optuna define-by-run function.

A space (``search_spaces/*.yaml``) names the train config trials start from, the metric, the
search algorithm, the trial scheduler, per-trial resources, and the params to search::

    name: absa_cmtl
    base: ../configs/absa_cmtl.yaml        # relative to this file; or an inline `config:` mapping
                                           # (both: `config:` is deep-merged onto the base file)
    metric: dev_score                      # reported by the train loop every epoch
    mode: max
    search: {algorithm: tpe, num_samples: 20, max_concurrent: 2, seed: 0}
    scheduler: {kind: asha, grace_period: 1, reduction_factor: 2}   # max_t: base train.epochs
    resources: {workers_per_trial: 2, cpus_per_worker: 1, gpus_per_worker: 0}
    params:
      model.hidden: {type: int, low: 50, high: 300, step: 50}
      optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      model.dropout: {type: fixed, value: 0.3}      # shorthand: `model.dropout: 0.3`
      model.emb_dim: {type: categorical, choices: [100, 200]}   # shorthand: `[100, 200]`
      tasks.acd.weight: {type: float, low: 0.1, high: 2.0}      # λ of the base config's task `acd`
      tasks.*.weight: {type: categorical, choices: [1.0, 0.5]}  # one λ shared by every base task
    conditional:
      - when: {model.arch: cmtl}           # value or list of values; several keys = all must hold
        params: {schedule.tau.tau_start: {type: float, low: 0.5, high: 5.0, log: true}}
    aux_tasks:
      main: semeval16-stance:stance
      pool: [twitter-target-dong14:sentiment, fnc1:stance]
      mode: each                           # or k_of_n with k (exactly) or min/max
      weight: {type: float, low: 0.1, high: 1.0}

Param keys are dotted paths into the train config (checked against its dataclasses and, for
``model.*``, against the config of every architecture a trial can use). Params are suggested in
this order: ``params``, the auxiliary-task params, then ``conditional`` blocks in order; a
``when`` may reference any param suggested before its block (including ``aux.<task>`` /
``aux.subset``). Numbers follow the configs' rule (:mod:`raymtl.numeric`): ``1e-4`` (which YAML
reads as text) is a number in bounds, steps and numeric choices; NaN and ±inf are refused.

Every problem raises :class:`~raymtl.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from raymtl.configs import load_yaml, naming_overrides
from raymtl.errors import ConfigError
from raymtl.search.definition import SearchSpace
from raymtl.search.params import (ALGORITHMS, MODES, SCHEDULERS, Algorithm, AuxTasks, ConditionalBlock, Objective,
                                  Param, ParamType, Resources, SchedulerKind, SchedulerSettings, SearchSettings)
from raymtl.search.parser import SpaceParser
from raymtl.search.schema import CONFIG_SECTIONS, PARAM_KEYS, TOP_LEVEL_KEYS

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.models.registry import ArchitectureRegistry

# The pieces live in their own modules (params, schema, parser, definition, samplers,
# trial_config); this module keeps the public API in one place.
__all__ = ["ALGORITHMS", "CONFIG_SECTIONS", "MODES", "PARAM_KEYS", "SCHEDULERS", "TOP_LEVEL_KEYS", "Algorithm",
           "AuxTasks", "ConditionalBlock", "Objective", "Param", "ParamType", "Resources", "SchedulerKind",
           "SchedulerSettings", "SearchSettings", "SearchSpace", "load_space", "parse_space"]


def load_space(path: str | Path, overrides: list[str] | None = None, *,
               registry: "ArchitectureRegistry | None" = None, base_config: Mapping[str, Any] | None = None
               ) -> SearchSpace:
    """Load and validate a search space.

    ``overrides``: ``KEY=VALUE`` items (values parsed as YAML). Keys under a train-config section
    (``data.``, ``model.``, ``optim.``, ``train.``, ``schedule.``) or ``config.`` change the base
    config (``train.epochs=1``); other keys change the space (``search.num_samples=2``,
    ``params.optim.lr.high=0.1``, ``params.model.hidden={type: fixed, value: 64}``).
    ``registry``: architectures to check ``model.*`` against (default: the registered ones).
    ``base_config``: use this train config instead of the space's ``base`` (tools and tests).
    """
    path = Path(path)
    doc = load_yaml(path)
    space_ov, base_ov = _split_overrides(overrides or [], path)
    with naming_overrides(space_ov + base_ov):
        _apply_space_overrides(doc, space_ov, path)
        return parse_space(doc, file=path, base_overrides=base_ov, registry=registry, base_config=base_config)


def parse_space(doc: Mapping[str, Any], *, file: str | Path | None = None, base_overrides: list[str] | None = None,
                registry: "ArchitectureRegistry | None" = None, base_config: Mapping[str, Any] | None = None
                ) -> SearchSpace:
    """Validate a space given as a mapping (``load_space`` without the file reading)."""
    return SpaceParser(doc, Path(file) if file is not None else None, registry).parse(base_overrides or [], base_config)


def _split_overrides(items: list[str], file: Path) -> tuple[list[str], list[str]]:
    """Overrides of the space vs of its base config (``config.`` or a train-config section)."""
    space, base = [], []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE", file=file, key=item)
        key = item.split("=", 1)[0]
        head = key.split(".", 1)[0]
        if head == "config":
            base.append(item.split(".", 1)[1] if "." in key else item)
        elif head in ("data", "model", "optim", "train", "schedule"):
            base.append(item)
        else:
            space.append(item)
    return space, base


def _apply_space_overrides(doc: dict, items: list[str], file: Path) -> None:
    from raymtl.configs import apply_overrides

    plain = []
    for item in items:
        key, raw = item.split("=", 1)
        if not key.startswith("params."):
            plain.append(item)
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        rest = key[len("params."):]
        params = doc.setdefault("params", {})
        if not isinstance(params, dict):
            raise ConfigError("params is not a mapping", file=file, key="params")
        pname, _, attr = rest.rpartition(".")
        if pname and attr in ("type", "low", "high", "step", "log", "choices", "value") and rest not in params:
            spec = params.get(pname)
            if not isinstance(spec, dict):
                raise ConfigError(f"no param {pname!r} to change {attr} of", file=file, key=key)
            spec[attr] = value
        else:
            params[rest] = value
    for k in [i.split("=", 1)[0] for i in plain]:
        if k.split(".", 1)[0] not in TOP_LEVEL_KEYS:
            raise ConfigError(f"unknown key; valid keys: {', '.join(TOP_LEVEL_KEYS)} (or a train-config section)",
                              file=file, key=k)
    apply_overrides(doc, plain)

