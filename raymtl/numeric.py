"""The one number rule shared by training configs, search spaces and ``--set`` values.

YAML 1.1 (PyYAML) reads ``1e-3`` and ``1E5`` as text; :func:`as_number` turns such a string into
the number it spells, so ``1e-3`` is a float in a config file, a search space and ``--set`` alike.
:func:`check_number` is the range check every numeric field goes through: NaN and ±inf are never
accepted, and ``low``/``high`` bound the value (open or closed). Both raise
:class:`~raymtl.errors.ConfigError` naming the file and key.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from raymtl.errors import ConfigError

# A decimal number as YAML 1.2 writes it (1e-3, -2.5E+4, .5, 10); no hex/octal/sexagesimal.
NUMBER_RE = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INT_RE = re.compile(r"[-+]?[0-9]+")


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_number(value: object) -> object:
    """``value`` as an int/float when it is a string that spells a decimal number, else unchanged."""
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.fullmatch(text):
            return int(text)
        if NUMBER_RE.fullmatch(text):
            return float(text)
    return value


def check_number(value: object, *, key: str, file: str | Path | None = None, integer: bool = False,
                 low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, none_ok: bool = False, hint: str = "") -> int | float | None:
    """``value`` (parsed by :func:`as_number`) if it is a finite number within the bounds, else ConfigError."""
    if value is None and none_ok:
        return None
    value = as_number(value)
    if not is_number(value):
        raise ConfigError(f"expected {'an integer' if integer else 'a number'}, got {type(value).__name__} "
                          f"{value!r}", file=file, key=key)
    if not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", file=file, key=key)
    if integer and not float(value).is_integer():
        raise ConfigError(f"expected an integer, got {value!r}", file=file, key=key)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ConfigError(f"expected {lo}value{hi}{' (or null)' if none_ok else ''}, got {value!r}"
                          + (f"; {hint}" if hint else ""), file=file, key=key)
    return int(value) if integer else value
