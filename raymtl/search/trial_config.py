"""A trial's params -> its train config: suggested values and constants applied onto a copy of the
space's base config (auxiliary subsets rewrite ``tasks`` and ``data.datasets``), then validated
like any train config.
"""

from __future__ import annotations

import copy
import typing
from typing import Any, Mapping

from raymtl.errors import ConfigError
from raymtl.search import aux as auxenc
from raymtl.search.params import Param, canonical_ref
from raymtl.train.config import TrainConfig

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.search.definition import SearchSpace


def build_trial_config(space: SearchSpace, params: Mapping[str, Any]) -> dict:
    """The train config of a trial: ``params`` (flat, as Tune passes them: suggested values and
    constants) applied onto a deep copy of the base config, validated with
    ``TrainConfig.from_dict`` (and the architecture's config). Fixed params whose block is
    active are applied even when absent from ``params``. Returns plain data."""
    where = f"{space.file or space.name} (trial params)"
    known = set(space.param_names())
    unknown = [k for k in params if k not in known]
    if unknown:
        raise ConfigError(f"params not in the search space: {', '.join(sorted(unknown))}", file=where,
                          key=unknown[0])
    values: dict[str, Any] = {}
    for p in space.params:
        take_value(values, p, params)
    if space.aux_tasks:
        for p in space.aux_tasks.selector_params():
            if p.name in params:
                values[p.name] = params[p.name]
    for block in space.conditional:
        if block.holds(values):
            for p in block.params:
                take_value(values, p, params)

    cfg = copy.deepcopy(space.base_config)
    if space.aux_tasks:
        apply_aux_tasks(space, cfg, params, where)
    # tasks.*.weight first so that a task's own λ wins over the shared one
    for key in sorted(values, key=lambda k: (k != "tasks.*.weight", not k.startswith("tasks."))):
        if key.startswith(auxenc.PREFIX):
            continue
        set_key(cfg, key, values[key], space.base_datasets, where,
                skip=set(space.aux_tasks.pool) if space.aux_tasks else set())
    return validate_trial_config(space, cfg, where)


def validate_trial_config(space: SearchSpace, cfg: dict, where: str) -> dict:
    """``cfg`` through ``TrainConfig.from_dict`` and its architecture's config; returns plain data."""
    from raymtl.models.registry import build_config, default_registry

    tc = TrainConfig.from_dict(cfg, file=where)
    registry = space.registry or default_registry()
    try:
        build_config(registry.get(tc.arch), tc.arch_params)
    except ConfigError as e:
        raise ConfigError(str(e).split(": ", 1)[-1] if e.key else str(e), file=where, key=e.key) from None
    return tc.to_dict()


def apply_aux_tasks(space: SearchSpace, cfg: dict, params: Mapping[str, Any], where: str) -> None:
    """The main task, the chosen auxiliary tasks with their λ, and the datasets they need, into ``cfg``."""
    a = space.aux_tasks
    assert a is not None
    try:
        chosen = a.chosen(params)
    except ValueError as e:
        raise ConfigError(str(e), file=where, key=auxenc.SUBSET_PARAM) from None
    base_ds = space.base_datasets
    pool = set(a.pool)
    tasks: list[dict] = []
    for t in cfg.get("tasks") or []:
        ref = canonical_ref(str(t["name"]), base_ds)
        if ref in pool:
            continue
        t = dict(t)
        t["main"] = ref == a.main
        tasks.append(t)
    if not any(canonical_ref(str(t["name"]), base_ds) == a.main for t in tasks):
        tasks.insert(0, {"name": a.main, "weight": 1.0, "main": True})
    for task in chosen:
        wname = auxenc.weight_name(task)
        if a.weight.is_fixed:
            w = params.get(wname, a.weight.value)
        elif wname in params:
            w = params[wname]
        else:
            raise ConfigError(f"auxiliary task {task} is chosen but its λ is missing", file=where, key=wname)
        tasks.append({"name": task, "weight": w, "main": False})
    datasets: list[str] = []
    for t in tasks:
        ds = canonical_ref(str(t["name"]), base_ds).split(":", 1)[0]
        if ds not in datasets:
            datasets.append(ds)
    datasets.sort(key=lambda d: base_ds.index(d) if d in base_ds else len(base_ds))
    if len(datasets) > 1:  # TASK alone is ambiguous with several datasets
        for t in tasks:
            t["name"] = canonical_ref(str(t["name"]), base_ds)
    cfg["tasks"] = tasks
    cfg.setdefault("data", {})["datasets"] = datasets


def take_value(values: dict, p: Param, params: Mapping[str, Any]) -> None:
    if p.is_fixed:
        values[p.name] = params.get(p.name, p.value)
    elif p.name in params:
        values[p.name] = params[p.name]


def set_key(cfg: dict, key: str, value: Any, datasets: list[str], where: str, skip: set[str]) -> None:
    """Apply one param: ``tasks.<name|*>.weight`` into task entries (``*``: every task not in
    ``skip``, the auxiliary pool), other dotted keys into nested mappings."""
    if key.startswith("tasks."):
        task = key[len("tasks."):-len(".weight")]
        hit = False
        for t in cfg.get("tasks") or []:
            if task == "*" and canonical_ref(str(t.get("name")), datasets) not in skip or canonical_ref(str(t.get("name")), datasets) == canonical_ref(task, datasets):
                t["weight"] = value
                hit = True
        if not hit:
            raise ConfigError(f"no task {task!r} in the trial config", file=where, key=key)
        return
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {key}: {p} is not a mapping in the base config", file=where, key=key)
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)
