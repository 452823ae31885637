"""``gradnorm``: GradNorm. Chen et al. 2018, eq. 1-2: with G_k = ||∇_W w_k λ_k L_k||, Ḡ their mean,
r_k = L̃_k / mean(L̃), L̃_k = L_k(t) / L_k(0), the weights descend L_grad = Σ_k |G_k - Ḡ r_k^α|
(the target Ḡ r_k^α held constant) and are renormalised to Σ_k w_k = K. W is every shared
parameter (as LibMTL does), not only the last shared layer."""

from __future__ import annotations

import math
from typing import Any

import torch

from raymtl.train.weighting.base import GradientWeighting, WeightingStep


class GradNorm(GradientWeighting):
    name = "gradnorm"
    paper = "Chen et al. 2018, GradNorm: gradient normalization for adaptive loss balancing, eq. 1-2"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.w = torch.ones(len(self.tasks), dtype=torch.float64)
        self.initial = torch.full((len(self.tasks),), math.nan, dtype=torch.float64)  # L_k(0)

    def head_coef(self, task: str) -> float:
        return float(self.w[self.tasks.index(task)])

    def combine(self, grads: torch.Tensor, losses: torch.Tensor, names: list[str],
                step: WeightingStep) -> tuple[torch.Tensor, dict[str, float]]:
        idx = torch.tensor([self.tasks.index(n) for n in names])
        w = self.w[idx].clone()
        update = (w.to(grads)[:, None] * grads).sum(0)
        used = {n: float(w[i]) * self.lambdas[n] for i, n in enumerate(names)}
        norms = grads.detach().double().norm(dim=1).cpu()
        loss = losses.detach().double().cpu()
        if not (torch.isfinite(norms).all() and torch.isfinite(loss).all()):
            return update, used  # a non-finite step is skipped by the loop: keep the weights
        first = torch.isnan(self.initial[idx])
        self.initial[idx[first]] = loss[first]
        ratio = loss / self.initial[idx].clamp(min=1e-12)  # L̃_k
        r = ratio / ratio.mean()
        g = w * norms  # G_k
        target = g.mean() * r.pow(self.cfg.gradnorm_alpha)
        # Chen et al. 2018 eq. 1: d/dw_k Σ_i |G_i - target_i| = sign(G_k - target_k) ||∇ λ_k L_k||
        w_new = (w - self.cfg.gradnorm_lr * torch.sign(g - target) * norms).clamp(min=1e-3)
        self.w[idx] = w_new * len(names) / w_new.sum()  # renormalised: Σ w = number of tasks
        return update, used

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.clone(), "initial": self.initial.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "w" in state:
            self.w, self.initial = state["w"].double().clone(), state["initial"].double().clone()
