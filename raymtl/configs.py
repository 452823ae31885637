"""Typed dataclass configs from YAML/dicts, with errors that name the file and the key.

``from_mapping(Cls, mapping)`` builds a (possibly nested) dataclass, rejecting unknown keys and
values of the wrong type; ``apply_overrides`` applies ``--set a.b=value`` pairs (values parsed as
YAML, so ``--set train.epochs=3`` is an int). Numeric fields follow :mod:`raymtl.numeric`
(``1e-3`` is a float; NaN and ±inf are refused). Files are read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, TypeVar, Union

import yaml

from raymtl.errors import ConfigError
from raymtl.numeric import as_number, is_number

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError("file not found", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"malformed YAML{where}: {getattr(e, 'problem', e)}", file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", file=path)
    return data


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``key.sub=value`` overrides in place (creating intermediate mappings)."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE", key=item)
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""  # `key=` sets an empty string
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"cannot set {key}: {p} is not a mapping", key=key)
            node = nxt
        node[parts[-1]] = value
    return data


def override_for(key: str | None, overrides: list[str] | None) -> str | None:
    """The ``--set`` item that gave ``key`` (or one of its parents or children) its value, if any."""
    if not key:
        return None
    for item in reversed(overrides or []):  # the last one given wins, as in apply_overrides
        k = item.split("=", 1)[0]
        if key == k or key.startswith((k + ".", k + "[")) or k.startswith(key + "."):
            return item
    return None


@contextmanager
def naming_overrides(overrides: list[str] | None, file: str | Path | None = None) -> Iterator[None]:
    """A ConfigError about a value that ``--set`` gave names that ``--set`` item, not the line of the
    file whose value it replaced (``--set optim.lr=.nan [optim.lr]: expected a finite number``); one
    that names no file is given ``file`` (the config the checked values came from)."""
    try:
        yield
    except ConfigError as e:
        if (e.file or "").startswith("--set "):
            raise
        item = override_for(e.key, overrides)
        if item is not None:
            raise ConfigError(e.message, file=f"--set {item}", key=e.key) from None
        if e.file is None and file is not None and e.key:
            raise ConfigError(e.message, file=file, key=e.key) from None
        raise


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str, file: str | None) -> Any:
    """``value`` checked against (and converted to) the type ``tp``; a mismatch is a ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, key, file)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}", file=file, key=key)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"expected one of {list(typing.get_args(tp))}, got {value!r}", file=file, key=key)
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {type(value).__name__}", file=file, key=key)
        return from_mapping(tp, value, where=key, file=file)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list, got {type(value).__name__} {value!r}", file=file, key=key)
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [coerce(v, inner, f"{key}[{i}]", file) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {type(value).__name__}", file=file, key=key)
        kt, vt = (typing.get_args(tp) + (Any, Any))[:2]
        return {k: coerce(v, vt, f"{key}.{k}", file) for k, v in value.items()}
    if tp is float:
        value = as_number(value)  # 1e-3 is text to YAML 1.1
        if not is_number(value):
            raise ConfigError(f"expected a number, got {type(value).__name__} {value!r}", file=file, key=key)
        if not math.isfinite(value):  # NaN/inf reach no worker (a NaN lr fails only inside PyTorch)
            raise ConfigError(f"expected a finite number, got {value!r}", file=file, key=key)
        return float(value)
    if tp is int:
        value = as_number(value)  # "10" -> 10; 50.0 and "1e3" stay floats, refused for an int field
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {type(value).__name__} {value!r}", file=file, key=key)
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"expected {tp.__name__}, got {type(value).__name__} {value!r}", file=file, key=key)
        return value
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "", file: str | Path | None = None) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    file = str(file) if file is not None else None
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"unknown key; valid keys here: {', '.join(sorted(fields))}", file=file,
                              key=prefix + str(key))
    kwargs = {k: coerce(v, hints[k], prefix + k, file) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e), file=file, key=where or None) from None


def to_dict(obj: Any) -> Any:
    """A dataclass as plain data (tuples become lists) for YAML/JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
