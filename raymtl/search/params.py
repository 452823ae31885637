"""The typed pieces of a search space: a param and its Optuna suggestion, conditional blocks,
auxiliary-task subsets, and the search / scheduler / resource settings. No parsing here (see
raymtl.search.schema and raymtl.search.parser).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from raymtl.search import aux as auxenc

if typing.TYPE_CHECKING:  # pragma: no cover
    import optuna

ParamType = Literal["int", "float", "categorical", "fixed"]
Algorithm = Literal["tpe", "random", "grid", "cmaes", "nsga2"]
SchedulerKind = Literal["asha", "hyperband", "median", "fifo"]

ALGORITHMS = ("tpe", "random", "grid", "cmaes", "nsga2")
SCHEDULERS = ("asha", "hyperband", "median", "fifo")
MODES = ("max", "min")


# --------------------------------------------------------------------------------------------
# typed pieces


@dataclass(frozen=True)
class Param:
    """One searched (or fixed) value, addressed by a dotted config key."""

    name: str
    type: ParamType
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False
    choices: tuple = ()
    value: Any = None

    @property
    def is_fixed(self) -> bool:
        return self.type == "fixed"

    @property
    def is_discrete(self) -> bool:
        return self.type in ("int", "categorical", "fixed") or self.step is not None

    def suggest(self, trial: "optuna.Trial", *, as_grid: bool = False) -> Any:
        """Suggest a value (``fixed``: the constant, not suggested). ``as_grid``: a categorical over
        :meth:`grid_values` (what ``GridSampler`` needs)."""
        if self.type == "fixed":
            return self.value
        if as_grid:
            return trial.suggest_categorical(self.name, self.grid_values())
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def grid_values(self) -> list:
        """Every value of a discrete param (a float needs ``step``)."""
        if self.type == "fixed":
            return [self.value]
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError(f"{self.name}: a continuous float has no grid (give it a step)")
        n = int(round((self.high - self.low) / self.step))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a possible value of this param (for ``when`` conditions)."""
        if self.type == "fixed":
            return value == self.value
        if self.type == "categorical":
            return any(same_value(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.type == "int":
            return float(value).is_integer() and (int(value) - int(self.low)) % int(self.step or 1) == 0
        if self.step is not None:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-9
        return True

    def corner(self, which: int) -> Any:
        """A representative value: ``0`` the low end / first choice, ``-1`` the high end / last."""
        if self.type == "fixed":
            return self.value
        if self.type == "categorical":
            return self.choices[which]
        if self.type == "int":
            return self.grid_values()[which] if self.step else (int(self.low) if which == 0 else int(self.high))
        return float(self.low) if which == 0 else (self.grid_values()[-1] if self.step else float(self.high))

    def describe(self) -> str:
        if self.type == "fixed":
            return f"= {self.value!r}"
        if self.type == "categorical":
            return "one of [" + ", ".join(format_value(c) for c in self.choices) + "]"
        extra = (" log" if self.log else "") + (f" step {format_value(self.step)}" if self.step is not None else "")
        return f"{self.type} [{format_value(self.low)}, {format_value(self.high)}]{extra}"


@dataclass(frozen=True)
class ConditionalBlock:
    """Params suggested only when every ``when`` key has one of its accepted values."""

    when: dict[str, tuple]  # param name -> accepted values
    params: tuple[Param, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        return all(k in values and any(same_value(values[k], v) for v in accepted) for k, accepted in self.when.items())

    def describe_when(self) -> str:
        parts = []
        for k, vals in self.when.items():
            parts.append(f"{k} = {format_value(vals[0])}" if len(vals) == 1 else f"{k} in [{', '.join(map(format_value, vals))}]")
        return " and ".join(parts)


@dataclass(frozen=True)
class AuxTasks:
    """Auxiliary-task subset search (the main task is always trained). Task refs are canonical
    ``DATASET:TASK``. ``min_size``/``max_size`` bound the subset size in ``k_of_n`` mode."""

    main: str
    pool: tuple[str, ...]
    mode: Literal["each", "k_of_n"] = "each"
    min_size: int = 0
    max_size: int = 0
    weight: Param = Param("aux.weight", "fixed", value=1.0)  # template: renamed per task

    def weight_param(self, task: str) -> Param:
        return dataclasses.replace(self.weight, name=auxenc.weight_name(task))

    def selector_params(self) -> tuple[Param, ...]:
        """The params that choose the subset (``aux.<task>`` flags or ``aux.subset``)."""
        if self.mode == "each":
            return tuple(Param(auxenc.flag_name(t), "categorical", choices=(False, True)) for t in self.pool)
        return (Param(auxenc.SUBSET_PARAM, "categorical",
                      choices=tuple(auxenc.subset_choices(self.pool, self.min_size, self.max_size))),)

    def chosen(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return auxenc.chosen_subset(params, self.pool)

    def describe(self) -> str:
        if self.mode == "each":
            how = "each on/off"
        elif self.min_size == self.max_size:
            how = f"exactly {self.min_size}"
        else:
            how = f"{self.min_size} to {self.max_size}"
        return (f"main {self.main} + subsets of {len(self.pool)} ({how}): {', '.join(self.pool)}; "
                f"λ per chosen task {self.weight.describe()}")


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: Literal["max", "min"] = "max"


@dataclass(frozen=True)
class SearchSettings:
    """``num_samples``: trials (grid: defaults to the grid size). ``population_size``: NSGA-II's
    (default ``min(50, max(4, num_samples // 4))``). ``n_startup_trials``: TPE's random start."""

    algorithm: Algorithm = "tpe"
    num_samples: int = 20
    max_concurrent: int = 2
    seed: int | None = 0
    n_startup_trials: int | None = None
    population_size: int | None = None


@dataclass(frozen=True)
class SchedulerSettings:
    """A Ray Tune trial scheduler. ``time_attr`` counts reports (one per epoch); ``max_t`` defaults
    to the base config's ``train.epochs``; ``brackets`` for ASHA; ``min_samples_required`` for
    the median rule."""

    kind: SchedulerKind = "fifo"
    grace_period: int = 1
    reduction_factor: float = 2.0
    max_t: int = 10
    brackets: int = 1
    min_samples_required: int = 3
    time_attr: str = "training_iteration"


@dataclass(frozen=True)
class Resources:
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    @property
    def use_gpu(self) -> bool:
        return self.gpus_per_worker > 0


def canonical_ref(ref: str, datasets: list[str]) -> str | None:
    """``TASK`` -> ``DATASET:TASK`` when the config has a single dataset (else None)."""
    if ":" in ref:
        return ref
    return f"{datasets[0]}:{ref}" if len(datasets) == 1 else None


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 (categorical choices may mix them)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
