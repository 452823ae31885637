"""Auxiliary-task subsets: how a subset of a pool of auxiliary tasks is encoded as Optuna params.

disparate-label-spaces (Table 4) reports the best auxiliary-task subset per main task; searching
for it is a search over subsets of a pool. The main task is never part of the pool: it is always
trained. Two encodings:

- ``each``: one boolean categorical per pool task, named ``aux.<task>`` (on/off independently);
- ``k_of_n``: one categorical ``aux.subset`` over the allowed subsets, each encoded as the sorted
  task references joined by ``+`` (the empty subset is ``none``).

The λ of a chosen auxiliary task is the param ``aux.<task>.weight``. ``chosen_subset`` turns a
params dict (what Tune reports) back into the subset, in pool order.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

PREFIX = "aux."
SUBSET_PARAM = "aux.subset"
SEP = "+"
EMPTY = "none"


def flag_name(task: str) -> str:
    """The boolean param of ``task`` in ``each`` mode."""
    return f"{PREFIX}{task}"


def weight_name(task: str) -> str:
    """The λ param of a chosen auxiliary ``task``."""
    return f"{PREFIX}{task}.weight"


def encode_subset(subset: Iterable[str]) -> str:
    """``("b:t", "a:t")`` -> ``"a:t+b:t"``; the empty subset -> ``"none"``."""
    items = sorted(subset)
    return SEP.join(items) if items else EMPTY


def decode_subset(code: str) -> tuple[str, ...]:
    """Inverse of :func:`encode_subset` (sorted)."""
    if code == EMPTY or code == "":
        return ()
    return tuple(code.split(SEP))


def all_subsets(pool: Sequence[str]) -> list[tuple[str, ...]]:
    """Every subset of ``pool`` (2^n, the empty one = main task only first), by size then name."""
    return subsets(pool, 0, len(pool))


def subsets(pool: Sequence[str], min_size: int, max_size: int) -> list[tuple[str, ...]]:
    """Subsets of ``pool`` with ``min_size <= size <= max_size``, each sorted, by size then name."""
    items = sorted(pool)
    out: list[tuple[str, ...]] = []
    for k in range(max(0, min_size), min(max_size, len(items)) + 1):
        out.extend(itertools.combinations(items, k))
    return out


def subset_choices(pool: Sequence[str], min_size: int, max_size: int) -> list[str]:
    """The choices of the ``aux.subset`` categorical (encoded subsets, by size then name)."""
    return [encode_subset(s) for s in subsets(pool, min_size, max_size)]


def chosen_subset(params: Mapping[str, Any], pool: Sequence[str]) -> tuple[str, ...]:
    """The auxiliary tasks a params dict selects, in pool order.

    Reads ``aux.subset`` (``k_of_n``) when present, else the ``aux.<task>`` flags (``each``);
    a missing flag counts as off.
    """
    if SUBSET_PARAM in params:
        picked = set(decode_subset(str(params[SUBSET_PARAM])))
        unknown = picked - set(pool)
        if unknown:
            raise ValueError(f"{SUBSET_PARAM}={params[SUBSET_PARAM]!r} names tasks not in the pool: "
                             f"{', '.join(sorted(unknown))}")
        return tuple(t for t in pool if t in picked)
    return tuple(t for t in pool if _truthy(params.get(flag_name(t), False)))


def _truthy(v: Any) -> bool:
    if isinstance(v, str):  # results tables may carry booleans as text
        return v.strip().lower() in ("true", "1", "yes", "on")
    return bool(v)
