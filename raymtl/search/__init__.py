"""Search spaces (YAML -> Optuna define-by-run) and auxiliary-task subsets. See :mod:`raymtl.search.space`.

The names are loaded on first use, so that ``raymtl --help`` (which imports the aux-select parser)
does not import the search machinery.
"""

from __future__ import annotations

__all__ = ["SearchSpace", "load_space", "parse_space"]


def __getattr__(name: str):
    if name in __all__:
        from raymtl.search import space

        return getattr(space, name)
    raise AttributeError(f"module 'raymtl.search' has no attribute {name!r}")
