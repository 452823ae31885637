"""``uw``: uncertainty weighting. Kendall, Gal & Cipolla 2018, eq. 10 (its classification term):
L = Σ_k exp(-s_k) λ_k L_k + s_k / 2 with a learned s_k = log σ_k², initialised to 0 (weights 1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from raymtl.train.weighting.base import Weighting, WeightingStep, all_reduce_mean


class Uncertainty(Weighting):
    name = "uw"
    paper = "Kendall et al. 2018, Multi-task learning using uncertainty to weigh losses, eq. 10"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks), device=self.device))

    def parameters(self) -> list[nn.Parameter]:
        return [self.log_vars]

    def apply(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
              step: WeightingStep) -> dict[str, float]:
        idx = {t: i for i, t in enumerate(self.tasks)}
        s = {k: self.log_vars[idx[k]] for k in losses}
        # Kendall et al. 2018 eq. 10: exp(-s) L + s/2 per task (s = log σ²; 1/σ² L + log σ)
        coefs = {k: torch.exp(-s[k]) * self.lambdas[k] for k in losses}
        reg = torch.stack([s[k] for k in losses]).sum() / 2 if losses else None
        self.weighted_backward(losses, extras, coefs, step, add=reg)
        if self.log_vars.grad is not None:  # not a DDP module parameter: average its gradient here
            all_reduce_mean(self.log_vars.grad, step.world)
        return {k: float(c.detach()) for k, c in coefs.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"log_vars": self.log_vars.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "log_vars" in state:
            with torch.no_grad():  # in place: the optimiser holds this very Parameter
                self.log_vars.copy_(state["log_vars"].to(self.log_vars.device))
