"""The search-space YAML language: its keys, and the rules every param, conditional block and
auxiliary-task block must follow (each break is a ConfigError naming file and key).

``SchemaReader`` holds the document and reads typed values; ``ParamRules`` adds the params,
``conditional`` and ``aux_tasks`` blocks. raymtl.search.parser builds the whole space on them.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Mapping

from raymtl.configs import coerce
from raymtl.errors import ConfigError
from raymtl.numeric import as_number, check_number, is_number
from raymtl.search import aux as auxenc
from raymtl.search.params import AuxTasks, ConditionalBlock, Param, canonical_ref, same_value
from raymtl.train.config import TrainConfig

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.models.registry import ArchitectureRegistry

TOP_LEVEL_KEYS = ("name", "description", "base", "config", "metric", "mode", "search", "objectives", "scheduler",
                  "resources", "params", "conditional", "aux_tasks")
PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "int": ("type", "low", "high", "step", "log"),
    "float": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
    "fixed": ("type", "value"),
}
CONFIG_SECTIONS = ("data", "model", "optim", "train", "schedule", "tasks")


class SchemaReader:
    """A space document with its file, the architecture registry, and readers of typed values that
    fail with a ConfigError naming the key."""

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
        """The configs' number rule (raymtl.numeric): 1e-4 is a float, NaN and ±inf are refused."""
        try:
            n = check_number(v, key=key, integer=integer)
        except ConfigError as e:
            raise self.err(str(e).split(": ", 1)[-1], key) from None
        return int(n) if integer else float(n)  # type: ignore[arg-type]

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


class ParamRules(SchemaReader):
    """The params, ``conditional`` and ``aux_tasks`` blocks. Needs, set by the parser before use:
    ``base_tc``, ``datasets``, ``base_tasks``, ``defined`` and ``yaml_keys``."""

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
            if any(is_number(c) for c in choices):  # numeric choices: the one number rule (1e-5, no NaN/inf)
                choices = list(choices)
                for i, c in enumerate(choices):
                    n = as_number(c)
                    if is_number(n):
                        choices[i] = n if isinstance(n, int) else self._number(n, f"{key}.choices[{i}]", False)
            for i, c in enumerate(choices):
                if any(same_value(c, d) for d in choices[:i]):
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
                ref = canonical_ref(task, self.datasets)
                pool = set((self.doc.get("aux_tasks") or {}).get("pool") or []) if isinstance(
                    self.doc.get("aux_tasks"), Mapping) else set()
                if ref in {canonical_ref(t, self.datasets) for t in pool if isinstance(t, str)}:
                    raise self.err(f"{task} is an auxiliary pool task: its λ is aux_tasks.weight", key)
                aux_main = (self.doc.get("aux_tasks") or {}).get("main") if isinstance(
                    self.doc.get("aux_tasks"), Mapping) else None
                if ref not in self.base_tasks and not (isinstance(aux_main, str)
                                                       and ref == canonical_ref(aux_main, self.datasets)):
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
            coerce(v, tp, key, str(self.file) if self.file else None)

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
        base_main = [canonical_ref(t.name, self.datasets) for t in self.base_tc.tasks if t.main]
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
            coerce(v, float, "aux_tasks.weight", str(self.file) if self.file else None)
            if not isinstance(v, bool) and isinstance(v, (int, float)) and v < 0:
                raise self.err("λ must be >= 0", "aux_tasks.weight")
        # datasets of pool tasks are checked by the train config (registered datasets) at trial time
        return AuxTasks(main=main, pool=tuple(pool), mode=mode, min_size=lo, max_size=hi, weight=weight)

    def _task_ref(self, ref: str, key: str) -> str:
        c = canonical_ref(ref, self.datasets)
        if c is None or ref.count(":") > 1 or ref.startswith(":") or ref.endswith(":"):
            raise self.err(f"{ref!r}: write DATASET:TASK (the base config has several datasets)", key)
        return c


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
