"""``fixed``: the per-task λ of the config (``tasks[].weight``), L = Σ_k λ_k L_k. The default."""

from __future__ import annotations

import torch

from raymtl.train.weighting.base import Weighting, WeightingStep


class Fixed(Weighting):
    name = "fixed"
    paper = "(per-task λ, as causal-mtl and graph-mtl weight their task losses)"

    def coefs(self) -> dict[str, float]:
        return self.lambdas

    def apply(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
              step: WeightingStep) -> dict[str, float]:
        coefs = self.coefs()
        self.weighted_backward(losses, extras, coefs, step)
        return {k: coefs.get(k, 1.0) for k in losses}
