"""A loaded, validated search space and what Ray Tune / Optuna need from it: the metrics, the
define-by-run function, the grid, the sampler and each trial's train config.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from raymtl.errors import ConfigError
from raymtl.search import aux as auxenc
from raymtl.search.params import (AuxTasks, ConditionalBlock, Objective, Param, Resources, SchedulerSettings,
                                  SearchSettings, format_value)
from raymtl.search.samplers import build_sampler
from raymtl.search.trial_config import build_trial_config

if typing.TYPE_CHECKING:  # pragma: no cover
    import optuna

    from raymtl.models.registry import ArchitectureRegistry


@dataclass
class SearchSpace:
    """A loaded, validated search space (see the module docstring for the YAML)."""

    name: str
    base_config: dict  # the train config trials start from (plain data, validated)
    params: tuple[Param, ...] = ()
    conditional: tuple[ConditionalBlock, ...] = ()
    aux_tasks: AuxTasks | None = None
    metric: str = "dev_score"
    mode: Literal["max", "min"] = "max"
    objectives: tuple[Objective, ...] = ()  # multi-objective when non-empty
    search: SearchSettings = field(default_factory=SearchSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    resources: Resources = field(default_factory=Resources)
    description: str = ""
    file: Path | None = None
    base_file: Path | None = None
    registry: "ArchitectureRegistry | None" = field(default=None, repr=False, compare=False)  # None: registered

    # ---- what Tune / Optuna need

    @property
    def metrics(self) -> list[str]:
        """Metrics the search optimises (one unless multi-objective); ``metric`` drives the scheduler."""
        return [o.metric for o in self.objectives] if self.objectives else [self.metric]

    @property
    def modes(self) -> list[str]:
        return [o.mode for o in self.objectives] if self.objectives else [self.mode]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def param_names(self) -> list[str]:
        """Every param name the space can produce, in suggestion order."""
        names = [p.name for p in self.params]
        if self.aux_tasks:
            names += [p.name for p in self.aux_tasks.selector_params()]
            names += [auxenc.weight_name(t) for t in self.aux_tasks.pool]
        for b in self.conditional:
            names += [p.name for p in b.params]
        return names

    def walk(self, value_of: Callable[[Param], Any]) -> dict[str, Any]:
        """Every active param in suggestion order (params, the subset selectors, the chosen tasks'
        λ, then each conditional block whose ``when`` holds for the values so far) -> its value."""
        values: dict[str, Any] = {}

        def take(p: Param) -> None:
            values[p.name] = value_of(p)

        for p in self.params:
            take(p)
        if self.aux_tasks:
            for p in self.aux_tasks.selector_params():
                take(p)
            for task in self.aux_tasks.chosen(values):
                take(self.aux_tasks.weight_param(task))
        for block in self.conditional:
            if block.holds(values):
                for p in block.params:
                    take(p)
        return values

    def define_by_run(self, trial: "optuna.Trial") -> dict[str, Any] | None:
        """Suggest every active param on ``trial``; return the constants (fixed params and fixed
        auxiliary λ) that Ray's ``OptunaSearch`` merges into the trial config."""
        as_grid = self.search.algorithm == "grid"
        constants: dict[str, Any] = {}

        def suggest(p: Param) -> Any:
            if p.is_fixed:
                constants[p.name] = p.value
            return p.suggest(trial, as_grid=as_grid)

        self.walk(suggest)
        return constants or None

    def grid(self) -> dict[str, list]:
        """``{param: values}`` for ``optuna.samplers.GridSampler`` (fixed params are constants and
        not part of the grid)."""
        if self.conditional:
            raise ConfigError("a grid cannot have conditional blocks (GridSampler needs one fixed set of params)",
                              file=self.file, key="conditional")
        out: dict[str, list] = {}
        for p in self.params:
            if p.is_fixed:
                continue
            if not p.is_discrete:
                raise ConfigError("a grid needs discrete params: give this float a step or use categorical",
                                  file=self.file, key=f"params.{p.name}")
            out[p.name] = p.grid_values()
        if self.aux_tasks:
            if not self.aux_tasks.weight.is_fixed:
                raise ConfigError("a grid over auxiliary tasks needs a fixed λ (weight: {type: fixed, value: ...})",
                                  file=self.file, key="aux_tasks.weight")
            for p in self.aux_tasks.selector_params():
                out[p.name] = p.grid_values()
        return out

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def sampler(self) -> "optuna.samplers.BaseSampler":
        """The Optuna sampler of ``search.algorithm``, seeded with ``search.seed``."""
        return build_sampler(self)

    # ---- params -> train config

    def trial_config(self, params: Mapping[str, Any]) -> dict:
        """The validated train config of a trial's params (see raymtl.search.trial_config)."""
        return build_trial_config(self, params)

    @property
    def base_datasets(self) -> list[str]:
        return list((self.base_config.get("data") or {}).get("datasets") or [])


    # ---- reports

    def chosen_aux_tasks(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The auxiliary tasks a trial's params select (pool order); () without ``aux_tasks``."""
        return self.aux_tasks.chosen(params) if self.aux_tasks else ()

    def describe(self) -> str:
        """A short human summary of the space (for ``--help`` and logs)."""
        arch = (self.base_config.get("model") or {}).get("arch", "?")
        base = str(self.base_file) if self.base_file else "inline config"
        lines = [f"{self.name}: {self.description}" if self.description else self.name,
                 f"  base: {base} (arch {arch}, {len(self.base_config.get('tasks') or [])} tasks)"]
        s, sch, r = self.search, self.scheduler, self.resources
        target = ", ".join(f"{o.metric} ({o.mode})" for o in self.objectives) if self.objectives \
            else f"{self.metric} ({self.mode})"
        n = self.grid_size() if s.algorithm == "grid" else s.num_samples
        lines.append(f"  search: {s.algorithm}, {n} trials, {s.max_concurrent} at a time, seed {s.seed}; "
                     f"optimise {target}")
        if sch.kind != "fifo":
            lines.append(f"  scheduler: {sch.kind} on {self.metric} (grace {sch.grace_period}, "
                         f"factor {format_value(sch.reduction_factor)}, max_t {sch.max_t})")
        lines.append(f"  resources per trial: {r.workers_per_trial} worker(s) x {format_value(r.cpus_per_worker)} CPU"
                     + (f" + {format_value(r.gpus_per_worker)} GPU" if r.gpus_per_worker else ""))
        width = max([len(p.name) for p in self.params] + [len(p.name) for b in self.conditional for p in b.params]
                    + [10])
        if self.params:
            lines.append("  params:")
            lines += [f"    {p.name:<{width}}  {p.describe()}" for p in self.params]
        if self.aux_tasks:
            lines.append(f"  aux tasks: {self.aux_tasks.describe()}")
        for b in self.conditional:
            lines.append(f"  when {b.describe_when()}:")
            lines += [f"    {p.name:<{width}}  {p.describe()}" for p in b.params]
        if s.algorithm == "grid":
            lines.append("  grid: " + " x ".join(str(len(v)) for v in self.grid().values())
                         + f" = {self.grid_size()} points")
        return "\n".join(lines)

