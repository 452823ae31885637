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
``aux.subset``). Numbers written like ``1e-4`` (which YAML reads as text) are accepted for
int/float bounds; write ``1.0e-4`` in categorical choices.

Every problem raises :class:`~raymtl.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
import re
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from raymtl.configs import _coerce, load_yaml
from raymtl.errors import ConfigError
from raymtl.search import aux as auxenc
from raymtl.train.config import TrainConfig

if typing.TYPE_CHECKING:  # pragma: no cover
    import optuna

    from raymtl.models.registry import ArchitectureRegistry

ParamType = Literal["int", "float", "categorical", "fixed"]
Algorithm = Literal["tpe", "random", "grid", "cmaes", "nsga2"]
SchedulerKind = Literal["asha", "hyperband", "median", "fifo"]

ALGORITHMS = ("tpe", "random", "grid", "cmaes", "nsga2")
SCHEDULERS = ("asha", "hyperband", "median", "fifo")
MODES = ("max", "min")
TOP_LEVEL_KEYS = ("name", "description", "base", "config", "metric", "mode", "search", "objectives", "scheduler",
                  "resources", "params", "conditional", "aux_tasks")
PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "int": ("type", "low", "high", "step", "log"),
    "float": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
    "fixed": ("type", "value"),
}
CONFIG_SECTIONS = ("data", "model", "optim", "train", "schedule", "tasks")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


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
            return any(_same(value, c) for c in self.choices)
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
            return "one of [" + ", ".join(_fmt(c) for c in self.choices) + "]"
        extra = (" log" if self.log else "") + (f" step {_fmt(self.step)}" if self.step is not None else "")
        return f"{self.type} [{_fmt(self.low)}, {_fmt(self.high)}]{extra}"


@dataclass(frozen=True)
class ConditionalBlock:
    """Params suggested only when every ``when`` key has one of its accepted values."""

    when: dict[str, tuple]  # param name -> accepted values
    params: tuple[Param, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        return all(k in values and any(_same(values[k], v) for v in accepted) for k, accepted in self.when.items())

    def describe_when(self) -> str:
        parts = []
        for k, vals in self.when.items():
            parts.append(f"{k} = {_fmt(vals[0])}" if len(vals) == 1 else f"{k} in [{', '.join(map(_fmt, vals))}]")
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


# --------------------------------------------------------------------------------------------
# the space


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

    def define_by_run(self, trial: "optuna.Trial") -> dict[str, Any] | None:
        """Suggest every active param on ``trial``; return the constants (fixed params and fixed
        auxiliary λ) that Ray's ``OptunaSearch`` merges into the trial config."""
        as_grid = self.search.algorithm == "grid"
        values: dict[str, Any] = {}
        constants: dict[str, Any] = {}

        def run(p: Param) -> None:
            values[p.name] = p.suggest(trial, as_grid=as_grid)
            if p.is_fixed:
                constants[p.name] = p.value

        for p in self.params:
            run(p)
        if self.aux_tasks:
            for p in self.aux_tasks.selector_params():
                run(p)
            for task in self.aux_tasks.chosen(values):
                run(self.aux_tasks.weight_param(task))
        for block in self.conditional:
            if block.holds(values):
                for p in block.params:
                    run(p)
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
        import optuna

        s = self.search
        if s.algorithm == "tpe":
            kwargs: dict[str, Any] = {"seed": s.seed, "multivariate": True,
                                      "group": bool(self.conditional or self.aux_tasks)}
            if s.n_startup_trials is not None:
                kwargs["n_startup_trials"] = s.n_startup_trials
            with warnings.catch_warnings():  # multivariate/group are "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.samplers.TPESampler(**kwargs)
        if s.algorithm == "random":
            return optuna.samplers.RandomSampler(seed=s.seed)
        if s.algorithm == "grid":
            return optuna.samplers.GridSampler(self.grid(), seed=s.seed)
        if s.algorithm == "cmaes":
            if importlib.util.find_spec("cmaes") is None:
                raise ConfigError("algorithm cmaes needs the `cmaes` package (pip install cmaes)", file=self.file,
                                  key="search.algorithm")
            return optuna.samplers.CmaEsSampler(seed=s.seed)
        population = s.population_size or min(50, max(4, s.num_samples // 4))
        return optuna.samplers.NSGAIISampler(seed=s.seed, population_size=population)

    # ---- params -> train config

    def trial_config(self, params: Mapping[str, Any]) -> dict:
        """The train config of a trial: ``params`` (flat, as Tune passes them: suggested values and
        constants) applied onto a deep copy of the base config, validated with
        ``TrainConfig.from_dict`` (and the architecture's config). Fixed params whose block is
        active are applied even when absent from ``params``. Returns plain data."""
        where = f"{self.file or self.name} (trial params)"
        known = set(self.param_names())
        unknown = [k for k in params if k not in known]
        if unknown:
            raise ConfigError(f"params not in the search space: {', '.join(sorted(unknown))}", file=where,
                              key=unknown[0])
        values: dict[str, Any] = {}
        for p in self.params:
            _take(values, p, params)
        if self.aux_tasks:
            for p in self.aux_tasks.selector_params():
                if p.name in params:
                    values[p.name] = params[p.name]
        for block in self.conditional:
            if block.holds(values):
                for p in block.params:
                    _take(values, p, params)

        cfg = copy.deepcopy(self.base_config)
        if self.aux_tasks:
            self._apply_aux(cfg, params, where)
        # tasks.*.weight first so that a task's own λ wins over the shared one
        for key in sorted(values, key=lambda k: (k != "tasks.*.weight", not k.startswith("tasks."))):
            if key.startswith(auxenc.PREFIX):
                continue
            _set_key(cfg, key, values[key], self._datasets, where,
                     skip=set(self.aux_tasks.pool) if self.aux_tasks else set())
        return self._validate(cfg, where)

    def _validate(self, cfg: dict, where: str) -> dict:
        from raymtl.models.registry import build_config, default_registry

        tc = TrainConfig.from_dict(cfg, file=where)
        registry = self.registry or default_registry()
        try:
            build_config(registry.get(tc.arch), tc.arch_params)
        except ConfigError as e:
            raise ConfigError(str(e).split(": ", 1)[-1] if e.key else str(e), file=where, key=e.key) from None
        return tc.to_dict()

    def _apply_aux(self, cfg: dict, params: Mapping[str, Any], where: str) -> None:
        a = self.aux_tasks
        assert a is not None
        try:
            chosen = a.chosen(params)
        except ValueError as e:
            raise ConfigError(str(e), file=where, key=auxenc.SUBSET_PARAM) from None
        base_ds = self._datasets
        pool = set(a.pool)
        tasks: list[dict] = []
        for t in cfg.get("tasks") or []:
            ref = _canon(str(t["name"]), base_ds)
            if ref in pool:
                continue
            t = dict(t)
            t["main"] = ref == a.main
            tasks.append(t)
        if not any(_canon(str(t["name"]), base_ds) == a.main for t in tasks):
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
            ds = _canon(str(t["name"]), base_ds).split(":", 1)[0]
            if ds not in datasets:
                datasets.append(ds)
        datasets.sort(key=lambda d: base_ds.index(d) if d in base_ds else len(base_ds))
        if len(datasets) > 1:  # TASK alone is ambiguous with several datasets
            for t in tasks:
                t["name"] = _canon(str(t["name"]), base_ds)
        cfg["tasks"] = tasks
        cfg.setdefault("data", {})["datasets"] = datasets

    @property
    def _datasets(self) -> list[str]:
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
                         f"factor {_fmt(sch.reduction_factor)}, max_t {sch.max_t})")
        lines.append(f"  resources per trial: {r.workers_per_trial} worker(s) x {_fmt(r.cpus_per_worker)} CPU"
                     + (f" + {_fmt(r.gpus_per_worker)} GPU" if r.gpus_per_worker else ""))
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


# --------------------------------------------------------------------------------------------
# loading


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
    _apply_space_overrides(doc, space_ov, path)
    return parse_space(doc, file=path, base_overrides=base_ov, registry=registry, base_config=base_config)


def parse_space(doc: Mapping[str, Any], *, file: str | Path | None = None, base_overrides: list[str] | None = None,
                registry: "ArchitectureRegistry | None" = None, base_config: Mapping[str, Any] | None = None
                ) -> SearchSpace:
    """Validate a space given as a mapping (``load_space`` without the file reading)."""
    return _Parser(doc, Path(file) if file is not None else None, registry).parse(base_overrides or [], base_config)


class _Parser:
    def __init__(self, doc: Mapping[str, Any], file: Path | None, registry: "ArchitectureRegistry | None"):
        if not isinstance(doc, Mapping):
            raise ConfigError("a search space must be a mapping", file=file)
        self.doc = dict(doc)
        self.file = file
        self._registry = registry

    @property
    def registry(self) -> "ArchitectureRegistry":
        if self._registry is None:
            from raymtl.models.registry import default_registry

            self._registry = default_registry()
        return self._registry

    def err(self, message: str, key: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, key=key)

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
        self.base_tasks = {_canon(t.name, self.datasets): t for t in self.base_tc.tasks}

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
            data = _deep_merge(data, copy.deepcopy(dict(inline)))
        apply_overrides(data, base_overrides)
        return data, base_file

    def _resolve(self, ref: str) -> Path:
        p = Path(ref).expanduser()
        if not p.is_absolute() and self.file is not None:
            p = self.file.parent / p
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

    # -- params

    def params_block(self, raw: Any, where: str, arch_scope: tuple[str, ...] | None) -> tuple[Param, ...]:
        if not isinstance(raw, Mapping):
            raise self.err("expected a mapping of KEY: {type: ..., ...}", where)
        out = []
        for name, spec in raw.items():
            key = f"{where}.{name}"
            if not isinstance(name, str) or not name:
                raise self.err("a param key must be a dotted config key", key)
            if name in self.defined:
                raise self.err(f"param {name!r} is defined twice (use a list of values in one `when`)", key)
            if name.startswith(auxenc.PREFIX):
                raise self.err("aux.* params are made by `aux_tasks`", key)
            p = self.param(name, spec, key)
            self.check_target(p, key, arch_scope)
            self.defined[name] = p
            self.yaml_keys[name] = key
            out.append(p)
        return tuple(out)

    def param(self, name: str, spec: Any, key: str) -> Param:
        if "/" in name:
            raise self.err("'/' is not allowed in a param key (Ray Tune splits nested keys on it)", key)
        if not isinstance(spec, Mapping):  # shorthand: a list = categorical, a scalar = fixed
            spec = {"type": "categorical", "choices": spec} if isinstance(spec, list) else {"type": "fixed",
                                                                                          "value": spec}
        kind = spec.get("type")
        if kind not in PARAM_KEYS:
            raise self.err(f"unknown param type {kind!r}; one of {', '.join(PARAM_KEYS)}", f"{key}.type")
        self._keys(spec, PARAM_KEYS[kind], key)
        if kind == "fixed":
            if "value" not in spec:
                raise self.err("a fixed param needs `value`", f"{key}.value")
            return Param(name, "fixed", value=spec["value"])
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise self.err("expected a non-empty list of choices", f"{key}.choices")
            for i, c in enumerate(choices):
                if c is not None and not isinstance(c, (bool, int, float, str)):
                    raise self.err("a choice must be a number, string, boolean or null", f"{key}.choices[{i}]")
                if isinstance(c, str) and _NUMBER.match(c) and any(
                        isinstance(o, (int, float)) and not isinstance(o, bool) for o in choices):
                    raise self.err(f"{c!r} is text (YAML reads 1e-5 as a string): write it like 1.0e-5",
                                   f"{key}.choices[{i}]")
            for i, c in enumerate(choices):
                if any(_same(c, d) for d in choices[:i]):
                    raise self.err(f"choice {c!r} is listed twice", f"{key}.choices[{i}]")
            return Param(name, "categorical", choices=tuple(choices))
        integer = kind == "int"
        for k in ("low", "high"):
            if k not in spec:
                raise self.err(f"an {kind} param needs `low` and `high`", f"{key}.{k}")
        low = self._number(spec["low"], f"{key}.low", integer)
        high = self._number(spec["high"], f"{key}.high", integer)
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise self.err("expected true or false", f"{key}.log")
        step = None if spec.get("step") is None else self._number(spec["step"], f"{key}.step", integer)
        if low > high:
            raise self.err(f"low ({low}) > high ({high})", key)
        if log and low <= 0:
            raise self.err(f"a log scale needs low > 0, got {low}", f"{key}.low")
        if step is not None:
            if step <= 0:
                raise self.err("step must be > 0", f"{key}.step")
            if log and (not integer or step != 1):
                raise self.err("log and step cannot be combined (Optuna)", f"{key}.step")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9:
                raise self.err(f"high - low ({high} - {low}) is not a multiple of step {step}", f"{key}.step")
        return Param(name, kind, low=low, high=high, step=step, log=log)

    def check_target(self, p: Param, key: str, arch_scope: tuple[str, ...] | None) -> None:
        """``p.name`` must address a field of the train config whose type accepts p's values."""
        parts = p.name.split(".")
        section = parts[0]
        if section not in CONFIG_SECTIONS or len(parts) < 2:
            raise self.err(f"unknown config key; a param key starts with one of {', '.join(CONFIG_SECTIONS)}", key)
        if section == "tasks":
            task = ".".join(parts[1:-1])
            if parts[-1] != "weight" or not task:
                raise self.err("only a task's λ can be searched: tasks.<name>.weight", key)
            if task != "*":
                ref = _canon(task, self.datasets)
                pool = set((self.doc.get("aux_tasks") or {}).get("pool") or []) if isinstance(
                    self.doc.get("aux_tasks"), Mapping) else set()
                if ref in {_canon(t, self.datasets) for t in pool if isinstance(t, str)}:
                    raise self.err(f"{task} is an auxiliary pool task: its λ is aux_tasks.weight", key)
                aux_main = (self.doc.get("aux_tasks") or {}).get("main") if isinstance(
                    self.doc.get("aux_tasks"), Mapping) else None
                if ref not in self.base_tasks and not (isinstance(aux_main, str)
                                                       and ref == _canon(aux_main, self.datasets)):
                    raise self.err(f"task {task!r} is not a task of the base config "
                                   f"({', '.join(t.name for t in self.base_tc.tasks)})", key)
            self._check_values(p, float, key)
            return
        if section == "model":
            if parts[1] == "arch":
                if len(parts) > 2:
                    raise self.err("model.arch has no sub-keys", key)
                names = self.registry.names()
                for v in self._values(p):
                    if v not in names:
                        raise self.err(f"unknown architecture {v!r}; registered: {', '.join(names)}", key)
                return
            archs = arch_scope or self.possible_archs()
            for arch in archs:
                cls = self.registry.get(arch).config_cls
                tp = self._walk(cls, parts[1:], key, f"architecture {arch!r}")
                self._check_values(p, tp, key)
            return
        cls = typing.get_type_hints(TrainConfig)[section]
        tp = self._walk(cls, parts[1:], key, section)
        self._check_values(p, tp, key)

    def possible_archs(self) -> tuple[str, ...]:
        p = self.defined.get("model.arch")
        return tuple(self._values(p)) if p else (self.base_arch(),)

    def base_arch(self) -> str:
        arch = self.base_tc.arch
        try:
            self.registry.get(arch)
        except ConfigError:
            raise self.err(f"the base config's architecture {arch!r} is not registered "
                           f"({', '.join(self.registry.names())})", "base") from None
        return arch

    def _walk(self, cls: Any, parts: list[str], key: str, what: str) -> Any:
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        head = parts[0]
        if head not in fields:
            hint = _suggest_path(cls, head)
            raise self.err(f"{head!r} is not a field of {what} ({cls.__name__}: {', '.join(sorted(fields))})"
                           + (f"; did you mean {hint}?" if hint else ""), key)
        tp = typing.get_type_hints(cls)[head]
        if len(parts) == 1:
            return tp
        inner = _unwrap_optional(tp)
        if dataclasses.is_dataclass(inner):
            return self._walk(inner, parts[1:], key, f"{what}.{head}")
        if inner is Any or typing.get_origin(inner) is dict or inner is dict:
            return Any
        raise self.err(f"{head!r} is not a mapping", key)

    def _check_values(self, p: Param, tp: Any, key: str) -> None:
        for v in self._values(p):
            _coerce(v, tp, key, str(self.file) if self.file else None)

    @staticmethod
    def _values(p: Param) -> list:
        if p.type == "fixed":
            return [p.value]
        if p.type == "categorical":
            return list(p.choices)
        return [p.low, p.high]

    # -- conditional

    def conditional(self) -> tuple[ConditionalBlock, ...]:
        raw = self.doc.get("conditional")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.err("expected a list of {when: {...}, params: {...}}", "conditional")
        out = []
        for i, block in enumerate(raw):
            key = f"conditional[{i}]"
            if not isinstance(block, Mapping):
                raise self.err("expected {when: {...}, params: {...}}", key)
            self._keys(block, ("when", "params"), key)
            when = block.get("when")
            if not isinstance(when, Mapping) or not when:
                raise self.err("expected a non-empty mapping PARAM: VALUE (or list of values)", f"{key}.when")
            conds: dict[str, tuple] = {}
            for pname, accepted in when.items():
                wkey = f"{key}.when.{pname}"
                if pname not in self.defined:
                    raise self.err(f"{pname!r} is not a param defined before this block", wkey)
                vals = tuple(accepted) if isinstance(accepted, list) else (accepted,)
                if not vals:
                    raise self.err("expected a value or a non-empty list of values", wkey)
                for v in vals:
                    if not self.defined[pname].contains(v):
                        raise self.err(f"{v!r} is not a possible value of {pname} "
                                       f"({self.defined[pname].describe()})", wkey)
                conds[pname] = vals
            if not block.get("params"):
                raise self.err("a conditional block needs params", f"{key}.params")
            scope = None
            if "model.arch" in conds:
                scope = tuple(conds["model.arch"])
            out.append(ConditionalBlock(conds, self.params_block(block["params"], f"{key}.params", scope)))
        return tuple(out)

    # -- auxiliary tasks

    def aux_tasks(self) -> AuxTasks | None:
        raw = self.doc.get("aux_tasks")
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise self.err("expected {main, pool, mode, ...}", "aux_tasks")
        self._keys(raw, ("main", "pool", "mode", "k", "min", "max", "weight"), "aux_tasks")
        main = raw.get("main") or (self.base_tc.main_task if self.base_tc.tasks else None)
        if not isinstance(main, str):
            raise self.err("expected the main task reference DATASET:TASK", "aux_tasks.main")
        main = self._task_ref(main, "aux_tasks.main")
        base_main = [_canon(t.name, self.datasets) for t in self.base_tc.tasks if t.main]
        if base_main and base_main[0] != main:
            raise self.err(f"the base config's main task is {base_main[0]}, not {main}", "aux_tasks.main")
        pool_raw = raw.get("pool")
        if not isinstance(pool_raw, list) or not pool_raw:
            raise self.err("expected a non-empty list of DATASET:TASK", "aux_tasks.pool")
        pool: list[str] = []
        for i, t in enumerate(pool_raw):
            key = f"aux_tasks.pool[{i}]"
            if not isinstance(t, str):
                raise self.err("expected DATASET:TASK", key)
            ref = self._task_ref(t, key)
            if ref == main:
                raise self.err(f"{t} is the main task (always trained), not an auxiliary one", key)
            if ref in pool:
                raise self.err(f"{t} is listed twice", key)
            if auxenc.SEP in ref or "/" in ref or ref == auxenc.EMPTY:
                raise self.err(f"a pool task cannot be named {auxenc.EMPTY!r} or contain '+' or '/'", key)
            pool.append(ref)
        mode = raw.get("mode", "each")
        if mode not in ("each", "k_of_n"):
            raise self.err(f"unknown mode {mode!r}; each | k_of_n", "aux_tasks.mode")
        n = len(pool)
        lo, hi = 0, n
        if mode == "each":
            for k in ("k", "min", "max"):
                if k in raw:
                    raise self.err("`each` turns every task on/off; k/min/max need mode k_of_n", f"aux_tasks.{k}")
        else:
            if "k" in raw and ("min" in raw or "max" in raw):
                raise self.err("give either k or min/max", "aux_tasks.k")
            if "k" in raw:
                lo = hi = self._int(raw, "k", 1, "aux_tasks", minimum=0)
            elif "min" in raw or "max" in raw:
                lo = self._int(raw, "min", 0, "aux_tasks", minimum=0)
                hi = self._int(raw, "max", n, "aux_tasks", minimum=0)
            else:
                raise self.err("k_of_n needs k (exactly k tasks) or min/max", "aux_tasks.k")
            which = "k" if "k" in raw else ("max" if hi > n else "min")
            if hi > n or lo > n:
                raise self.err(f"{max(lo, hi)} is larger than the pool ({n} tasks)", f"aux_tasks.{which}")
            if lo > hi:
                raise self.err(f"min ({lo}) > max ({hi})", "aux_tasks.min")
        wspec = raw.get("weight", {"type": "fixed", "value": 1.0})
        weight = self.param("aux.weight", wspec, "aux_tasks.weight")
        for v in self._values(weight):
            _coerce(v, float, "aux_tasks.weight", str(self.file) if self.file else None)
            if not isinstance(v, bool) and isinstance(v, (int, float)) and v < 0:
                raise self.err("λ must be >= 0", "aux_tasks.weight")
        # datasets of pool tasks are checked by the train config (registered datasets) at trial time
        return AuxTasks(main=main, pool=tuple(pool), mode=mode, min_size=lo, max_size=hi, weight=weight)

    def _task_ref(self, ref: str, key: str) -> str:
        c = _canon(ref, self.datasets)
        if c is None or ref.count(":") > 1 or ref.startswith(":") or ref.endswith(":"):
            raise self.err(f"{ref!r}: write DATASET:TASK (the base config has several datasets)", key)
        return c

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
        params: dict[str, Any] = {}

        def put(p: Param) -> None:
            params[p.name] = forced[p.name] if p.name in forced else p.corner(which)

        for p in space.params:
            put(p)
        if space.aux_tasks:
            for p in space.aux_tasks.selector_params():
                put(p)
            for t in space.aux_tasks.chosen(params):
                params[auxenc.weight_name(t)] = space.aux_tasks.weight.corner(which)
        for b in space.conditional:
            if b.holds(params):
                for p in b.params:
                    put(p)
        return params

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

    # -- small readers

    def _mapping(self, key: str) -> Mapping:
        raw = self.doc.get(key) or {}
        if not isinstance(raw, Mapping):
            raise self.err("expected a mapping", key)
        return raw

    def _keys(self, raw: Mapping, allowed: tuple[str, ...], where: str) -> None:
        for k in raw:
            if k not in allowed:
                raise self.err(f"unknown key; valid keys here: {', '.join(allowed)}", f"{where}.{k}")

    def _number(self, v: Any, key: str, integer: bool) -> int | float:
        if isinstance(v, str) and _NUMBER.match(v.strip()):  # YAML 1.1 reads 1e-4 as text
            v = float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.err(f"expected a number, got {v!r}", key)
        if integer:
            if not float(v).is_integer():
                raise self.err(f"expected an integer, got {v!r}", key)
            return int(v)
        return float(v)

    def _int(self, raw: Mapping, k: str, default: Any, where: str, *, minimum: int, optional: bool = False) -> Any:
        if k not in raw:
            return default
        v = raw[k]
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(f"expected an integer, got {v!r}", f"{where}.{k}")
        if v < minimum:
            raise self.err(f"must be >= {minimum}", f"{where}.{k}")
        return v

    def _float(self, raw: Mapping, k: str, default: float, where: str) -> float:
        return default if k not in raw else float(self._number(raw[k], f"{where}.{k}", False))


# --------------------------------------------------------------------------------------------
# helpers


def _take(values: dict, p: Param, params: Mapping[str, Any]) -> None:
    if p.is_fixed:
        values[p.name] = params.get(p.name, p.value)
    elif p.name in params:
        values[p.name] = params[p.name]


def _set_key(cfg: dict, key: str, value: Any, datasets: list[str], where: str, skip: set[str]) -> None:
    """Apply one param: ``tasks.<name|*>.weight`` into task entries (``*``: every task not in
    ``skip``, the auxiliary pool), other dotted keys into nested mappings."""
    if key.startswith("tasks."):
        task = key[len("tasks."):-len(".weight")]
        hit = False
        for t in cfg.get("tasks") or []:
            if task == "*" and _canon(str(t.get("name")), datasets) not in skip or _canon(str(t.get("name")), datasets) == _canon(task, datasets):
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


def _canon(ref: str, datasets: list[str]) -> str | None:
    """``TASK`` -> ``DATASET:TASK`` when the config has a single dataset (else None)."""
    if ":" in ref:
        return ref
    return f"{datasets[0]}:{ref}" if len(datasets) == 1 else None


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 (categorical choices may mix them)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType")):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _suggest_path(cls: Any, name: str, prefix: str = "") -> str | None:
    """``tau_start`` in ScheduleConfig -> ``tau.tau_start`` (a field of a nested dataclass)."""
    for f in dataclasses.fields(cls):
        tp = _unwrap_optional(typing.get_type_hints(cls)[f.name])
        if dataclasses.is_dataclass(tp):
            names = {g.name for g in dataclasses.fields(tp)}
            if name in names:
                return f"{prefix}{f.name}.{name}"
    return None


def _deep_merge(a: dict, b: Mapping) -> dict:
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(a.get(k), dict):
            _deep_merge(a[k], v)
        else:
            a[k] = v
    return a


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
