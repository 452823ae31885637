"""Search spaces (YAML -> Optuna define-by-run) and auxiliary-task subsets. See :mod:`raymtl.search.space`."""

from raymtl.search.space import SearchSpace, load_space, parse_space

__all__ = ["SearchSpace", "load_space", "parse_space"]
