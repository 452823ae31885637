"""Loss weighting methods, one file each on :class:`~raymtl.train.weighting.base.Weighting`.

``train.weighting.method`` picks one by name; adding a method is one file plus a line here.
"""

from __future__ import annotations

from raymtl.train.weighting.base import GradientWeighting, Weighting, WeightingStep, split_parameters
from raymtl.train.weighting.cagrad import CAGrad
from raymtl.train.weighting.dwa import DynamicWeightAverage
from raymtl.train.weighting.equal import Equal
from raymtl.train.weighting.fixed import Fixed
from raymtl.train.weighting.gradnorm import GradNorm
from raymtl.train.weighting.pcgrad import PCGrad
from raymtl.train.weighting.uw import Uncertainty

METHODS: dict[str, type[Weighting]] = {m.name: m for m in (Fixed, Equal, Uncertainty, DynamicWeightAverage,
                                                           GradNorm, PCGrad, CAGrad)}


def build_weighting(cfg, tasks: list[str], lambdas: dict[str, float], *, seed: int = 0,
                    device="cpu", mixed_precision: bool = False) -> Weighting:
    """The method of ``cfg`` (a WeightingConfig) for these task keys and λ."""
    from raymtl.errors import ConfigError

    cls = METHODS.get(cfg.method)
    if cls is None:
        raise ConfigError(f"unknown weighting method {cfg.method!r}; one of {', '.join(METHODS)}",
                          key="train.weighting.method")
    if mixed_precision and cls.gradient_based:
        raise ConfigError(f"{cfg.method} combines per-task gradients and does not support mixed precision; "
                          "set train.mixed_precision=false", key="train.weighting.method")
    return cls(tasks, lambdas, cfg, seed=seed, device=device)


__all__ = ["METHODS", "GradientWeighting", "Weighting", "WeightingStep", "build_weighting", "split_parameters"]
