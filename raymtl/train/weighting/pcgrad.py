"""``pcgrad``: projecting conflicting gradients. Yu et al. 2020, Algorithm 1: for each task i and
every other task j in random order, if g_i·g_j < 0 then g_i ← g_i - (g_i·g_j / ||g_j||²) g_j;
the update is Σ_i g_i (g_k = ∇ λ_k L_k on the shared parameters)."""

from __future__ import annotations

import torch

from raymtl.train.weighting.base import GradientWeighting, WeightingStep


def project_conflicts(grads: torch.Tensor, order: list[list[int]]) -> torch.Tensor:
    """PCGrad's projected per-task gradients; ``order[i]`` is the order task i meets the others."""
    pc = grads.clone()
    sq = (grads * grads).sum(1)
    for i in range(grads.shape[0]):
        for j in order[i]:
            if j == i or sq[j] <= 0:
                continue
            dot = pc[i] @ grads[j]
            if dot < 0:  # Yu et al. 2020 Alg. 1: project onto the normal plane of g_j
                pc[i] -= dot / sq[j] * grads[j]
    return pc


class PCGrad(GradientWeighting):
    name = "pcgrad"
    paper = "Yu et al. 2020, Gradient surgery for multi-task learning, Algorithm 1"

    def combine(self, grads: torch.Tensor, losses: torch.Tensor, names: list[str],
                step: WeightingStep) -> tuple[torch.Tensor, dict[str, float]]:
        # The same random order on every rank: seeded by (seed, step), never by a rank's RNG.
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step.step)
        k = grads.shape[0]
        order = [torch.randperm(k, generator=gen).tolist() for _ in range(k)]
        return project_conflicts(grads, order).sum(0), {n: self.lambdas[n] for n in names}
