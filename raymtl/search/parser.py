"""A search-space document -> a validated :class:`SearchSpace`: the base config, the settings
(objectives, search, scheduler, resources), the params (raymtl.search.schema), the algorithm's
constraints, and a dry run of the corner trials so that a bad value fails at load time.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Mapping

from raymtl.configs import load_yaml
from raymtl.errors import ConfigError
from raymtl.paths import REPO_ROOT
from raymtl.search import aux as auxenc
from raymtl.search.definition import SearchSpace
from raymtl.search.params import (ALGORITHMS, MODES, SCHEDULERS, Objective, Param, Resources, SchedulerSettings,
                                  SearchSettings, canonical_ref)
from raymtl.search.schema import TOP_LEVEL_KEYS, ParamRules
from raymtl.train.config import TrainConfig


class SpaceParser(ParamRules):
    """Parses one document; ``parse`` returns the space (use :func:`raymtl.search.space.parse_space`)."""

    # -- entry

    def parse(self, base_overrides: list[str], base_config: Mapping[str, Any] | None) -> SearchSpace:
        doc = self.doc
        for k in doc:
            if k not in TOP_LEVEL_KEYS:
                raise self.err(f"unknown key; valid keys: {', '.join(TOP_LEVEL_KEYS)}", str(k))
        name = doc.get("name", self.file.stem if self.file else "space")
        if not isinstance(name, str) or not name:
            raise self.err("expected a non-empty string", "name")
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise self.err("expected a string", "description")

        base, base_file = self.base(base_overrides, base_config)
        self.base_cfg = base
        self.base_tc = TrainConfig.from_dict(base, file=base_file or self.file)
        self.datasets = list(self.base_tc.data.datasets)
        self.base_tasks = {canonical_ref(t.name, self.datasets): t for t in self.base_tc.tasks}

        objectives = self.objectives()
        metric = doc.get("metric", objectives[0].metric if objectives else "dev_score")
        if not isinstance(metric, str) or not metric:
            raise self.err("expected a metric name", "metric")
        mode = doc.get("mode", objectives[0].mode if objectives else "max")
        if mode not in MODES:
            raise self.err(f"expected one of {MODES}, got {mode!r}", "mode")
        search = self.search(objectives)
        scheduler = self.scheduler()
        resources = self.resources()

        self.defined: dict[str, Param] = {}
        self.yaml_keys: dict[str, str] = {}  # param name -> where the space defines it
        params = self.params_block(doc.get("params") or {}, "params", arch_scope=None)
        aux = self.aux_tasks()
        if aux:
            for p in aux.selector_params():
                self.defined[p.name] = p
        conditional = self.conditional()
        if not params and not conditional and not aux:
            raise self.err("the space has no params", "params")

        space = SearchSpace(name=name, base_config=base, params=params, conditional=conditional, aux_tasks=aux,
                            metric=metric, mode=mode, objectives=objectives, search=search, scheduler=scheduler,
                            resources=resources, description=description, file=self.file, base_file=base_file)
        space.registry = self._registry
        if "model.arch" not in self.defined:
            self.base_arch()
        self.check_algorithm(space)
        if search.algorithm == "grid" and "num_samples" not in (doc.get("search") or {}):
            space.search = dataclasses.replace(search, num_samples=space.grid_size())
        self.dry_run(space)
        return space

    # -- base config

    def base(self, base_overrides: list[str], given: Mapping[str, Any] | None) -> tuple[dict, Path | None]:
        from raymtl.configs import apply_overrides

        ref = self.doc.get("base")
        inline = self.doc.get("config")
        base_file: Path | None = None
        if given is not None:
            data = copy.deepcopy(dict(given))
            if isinstance(ref, str):
                base_file = self._resolve(ref)
        elif ref is not None:
            if not isinstance(ref, str) or not ref:
                raise self.err("expected a path to a train config (relative to this file)", "base")
            base_file = self._resolve(ref)
            if not base_file.exists():
                raise self.err(f"base config {base_file} does not exist", "base")
            data = load_yaml(base_file)
        elif inline is not None:
            data = {}
        else:
            raise self.err("give the train config trials start from: `base: PATH` or an inline `config:` mapping",
                           "base")
        if inline is not None:
            if not isinstance(inline, Mapping):
                raise self.err("expected a mapping (a train config)", "config")
            data = deep_merge(data, copy.deepcopy(dict(inline)))
        apply_overrides(data, base_overrides)
        return data, base_file

    def _resolve(self, ref: str) -> Path:
        p = Path(ref).expanduser()
        if not p.is_absolute() and self.file is not None:
            p = self.file.parent / p
        if not p.exists() and not Path(ref).is_absolute() and (REPO_ROOT / ref).exists():
            p = REPO_ROOT / ref  # a space of one's own naming a config of the installed repository
        return p.resolve() if p.exists() else p

    # -- settings

    def objectives(self) -> tuple[Objective, ...]:
        raw = self.doc.get("objectives")
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            raise self.err("expected a non-empty list of {metric, mode}", "objectives")
        out = []
        for i, o in enumerate(raw):
            key = f"objectives[{i}]"
            if not isinstance(o, Mapping):
                raise self.err("expected {metric: NAME, mode: max|min}", key)
            self._keys(o, ("metric", "mode"), key)
            if not isinstance(o.get("metric"), str) or not o["metric"]:
                raise self.err("expected a metric name", f"{key}.metric")
            mode = o.get("mode", "max")
            if mode not in MODES:
                raise self.err(f"expected one of {MODES}, got {mode!r}", f"{key}.mode")
            out.append(Objective(o["metric"], mode))
        names = [o.metric for o in out]
        if len(set(names)) != len(names):
            raise self.err("an objective metric is listed twice", "objectives")
        return tuple(out)

    def search(self, objectives: tuple[Objective, ...]) -> SearchSettings:
        raw = self._mapping("search")
        self._keys(raw, tuple(f.name for f in dataclasses.fields(SearchSettings)), "search")
        algo = raw.get("algorithm", "tpe")
        if algo not in ALGORITHMS:
            raise self.err(f"unknown algorithm {algo!r}; one of {', '.join(ALGORITHMS)}", "search.algorithm")
        s = SearchSettings(
            algorithm=algo,
            num_samples=self._int(raw, "num_samples", 20, "search", minimum=1),
            max_concurrent=self._int(raw, "max_concurrent", 2, "search", minimum=1),
            seed=self._int(raw, "seed", 0, "search", minimum=0, optional=True),
            n_startup_trials=self._int(raw, "n_startup_trials", None, "search", minimum=0, optional=True),
            population_size=self._int(raw, "population_size", None, "search", minimum=2, optional=True))
        if algo == "nsga2" and len(objectives) < 2:
            raise self.err("nsga2 is multi-objective: list two or more `objectives`", "search.algorithm")
        if algo == "cmaes" and len(objectives) > 1:
            raise self.err("cmaes is single-objective; use nsga2 or tpe for several objectives", "search.algorithm")
        return s

    def scheduler(self) -> SchedulerSettings:
        raw = self._mapping("scheduler")
        self._keys(raw, tuple(f.name for f in dataclasses.fields(SchedulerSettings)), "scheduler")
        kind = raw.get("kind", "fifo")
        if kind not in SCHEDULERS:
            raise self.err(f"unknown scheduler {kind!r}; one of {', '.join(SCHEDULERS)}", "scheduler.kind")
        max_t = self._int(raw, "max_t", self.base_tc.train.epochs, "scheduler", minimum=1)
        grace = self._int(raw, "grace_period", 1, "scheduler", minimum=1)
        if grace > max_t:
            raise self.err(f"grace_period ({grace}) is larger than max_t ({max_t})", "scheduler.grace_period")
        rf = self._float(raw, "reduction_factor", 2.0, "scheduler")
        if rf <= 1:
            raise self.err("reduction_factor must be > 1", "scheduler.reduction_factor")
        time_attr = raw.get("time_attr", "training_iteration")
        if not isinstance(time_attr, str):
            raise self.err("expected a string", "scheduler.time_attr")
        return SchedulerSettings(kind=kind, grace_period=grace, reduction_factor=rf, max_t=max_t,
                                 brackets=self._int(raw, "brackets", 1, "scheduler", minimum=1),
                                 min_samples_required=self._int(raw, "min_samples_required", 3, "scheduler",
                                                                minimum=1),
                                 time_attr=time_attr)

    def resources(self) -> Resources:
        raw = self._mapping("resources")
        self._keys(raw, tuple(f.name for f in dataclasses.fields(Resources)), "resources")
        r = Resources(workers_per_trial=self._int(raw, "workers_per_trial", 1, "resources", minimum=1),
                      cpus_per_worker=self._float(raw, "cpus_per_worker", 1.0, "resources"),
                      gpus_per_worker=self._float(raw, "gpus_per_worker", 0.0, "resources"))
        if r.cpus_per_worker < 0 or r.gpus_per_worker < 0:
            raise self.err("resources must be >= 0", "resources")
        return r

    # -- algorithm constraints and a dry run

    def check_algorithm(self, space: SearchSpace) -> None:
        algo = space.search.algorithm
        if algo == "grid":
            space.grid()  # raises naming the offending key
        if algo == "cmaes":
            cats = [p.name for p in space.params if p.type == "categorical"]
            cats += [p.name for b in space.conditional for p in b.params if p.type == "categorical"]
            if space.aux_tasks:
                cats.append("aux_tasks")
            if cats:
                raise self.err(f"cmaes cannot sample categorical params ({', '.join(cats)}); use tpe",
                               "params." + cats[0] if cats[0] != "aux_tasks" else "aux_tasks")

    def dry_run(self, space: SearchSpace) -> None:
        """Build trial configs at corners of the space (every param at its low end / first choice,
        then at its high end / last choice; once more per conditional block with its ``when`` made
        true) so that values the train config rejects fail at load time, not in a trial."""
        scenarios: list[dict[str, Any]] = [{}]
        for b in space.conditional:
            forced = {k: v[0] for k, v in b.when.items()}
            if forced not in scenarios:
                scenarios.append(forced)
        for forced in scenarios:
            for which, end, label in ((0, "low end", "low ends / first choices"),
                                      (-1, "high end", "high ends / last choices")):
                params = self._corner(space, which, forced)
                try:
                    space.trial_config(params)
                except ConfigError as e:
                    msg = str(e).split(": ", 1)[-1] if e.file else str(e)
                    culprit = self._culprit(space, params)
                    if culprit:
                        raise self.err(f"{culprit} = {params[culprit]!r} (its {end}) gives an "
                                       f"invalid trial config: {msg}", self._yaml_key(culprit)) from None
                    raise self.err(f"with every param at its {label} the trial config is invalid: {msg}",
                                   e.key) from None

    @staticmethod
    def _corner(space: SearchSpace, which: int, forced: Mapping[str, Any]) -> dict[str, Any]:
        lam = {auxenc.weight_name(t) for t in space.aux_tasks.pool} if space.aux_tasks else set()
        return space.walk(lambda p: forced[p.name] if p.name in forced and p.name not in lam else p.corner(which))

    def _culprit(self, space: SearchSpace, params: dict[str, Any]) -> str | None:
        """The first param that alone (with the conditions and subset it needs) breaks the config."""
        context = {k for b in space.conditional for k in b.when} | {
            k for k in params if k.startswith(auxenc.PREFIX) and not k.endswith(".weight")}
        for name in params:
            try:
                space.trial_config({k: v for k, v in params.items() if k == name or k in context})
            except ConfigError:
                return name
        return None

    def _yaml_key(self, name: str) -> str:
        if name in self.yaml_keys:
            return self.yaml_keys[name]
        return "aux_tasks.weight" if name.endswith(".weight") else "aux_tasks"


def deep_merge(a: dict, b: Mapping) -> dict:
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(a.get(k), dict):
            deep_merge(a[k], v)
        else:
            a[k] = v
    return a
