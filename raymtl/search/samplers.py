"""The Optuna sampler of a search space's algorithm (tpe, random, grid, cmaes, nsga2).

Ray Tune's schedulers (ASHA, HyperBand, median stopping) are built where Tune runs: raymtl.tune.
"""

from __future__ import annotations

import importlib.util
import typing
import warnings
from typing import Any

from raymtl.errors import ConfigError

if typing.TYPE_CHECKING:  # pragma: no cover
    import optuna

    from raymtl.search.definition import SearchSpace


def build_sampler(space: SearchSpace) -> "optuna.samplers.BaseSampler":
    """The Optuna sampler of ``space.search.algorithm``, seeded with ``search.seed``."""
    import optuna

    s = space.search
    if s.algorithm == "tpe":
        kwargs: dict[str, Any] = {"seed": s.seed, "multivariate": True,
                                  "group": bool(space.conditional or space.aux_tasks)}
        if s.n_startup_trials is not None:
            kwargs["n_startup_trials"] = s.n_startup_trials
        with warnings.catch_warnings():  # multivariate/group are "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(**kwargs)
    if s.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.algorithm == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=s.seed)
    if s.algorithm == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise ConfigError("algorithm cmaes needs the `cmaes` package (pip install cmaes)", file=space.file,
                              key="search.algorithm")
        return optuna.samplers.CmaEsSampler(seed=s.seed)
    from raymtl.search.nsga2 import PicklableNSGAIISampler

    population = s.population_size or min(50, max(4, s.num_samples // 4))
    return PicklableNSGAIISampler(seed=s.seed, population_size=population)
