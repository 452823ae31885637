"""``dwa``: dynamic weight average. Liu, Johns & Davison 2019 (MTAN), eq. 7:
λ_k(t) = K exp(w_k(t-1)/T) / Σ_i exp(w_i(t-1)/T), w_k(t-1) = L_k(t-1) / L_k(t-2), with L_k the
epoch-mean loss; weights are 1 for the first two epochs. The config's λ_k multiplies λ_k(t)."""

from __future__ import annotations

import math
from typing import Any

import torch

from raymtl.train.weighting.base import WeightingStep, distributed
from raymtl.train.weighting.fixed import Fixed


class DynamicWeightAverage(Fixed):
    name = "dwa"
    paper = "Liu et al. 2019, End-to-end multi-task learning with attention, eq. 7"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.history: list[dict[str, float]] = []  # epoch-mean losses of the last two epochs
        self.loss_sums: dict[str, float] = {}
        self.loss_counts: dict[str, int] = {}
        self.current = self.dwa_weights()

    def dwa_weights(self) -> dict[str, float]:
        if len(self.history) < 2:
            return {t: 1.0 for t in self.tasks}
        prev, prev2 = self.history[-1], self.history[-2]
        ratio = {t: prev[t] / prev2[t] if t in prev and t in prev2 and prev2[t] > 0 else 1.0 for t in self.tasks}
        temp = self.cfg.dwa_temperature
        # Liu et al. 2019 eq. 7 (max subtracted for stability; it cancels in the ratio)
        top = max(ratio.values())
        e = {t: math.exp((r - top) / temp) for t, r in ratio.items()}
        z = sum(e.values())
        return {t: len(self.tasks) * e[t] / z for t in self.tasks}

    def coefs(self) -> dict[str, float]:
        return {t: self.current[t] * self.lambdas[t] for t in self.tasks}

    def apply(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
              step: WeightingStep) -> dict[str, float]:
        for k, loss in losses.items():
            self.loss_sums[k] = self.loss_sums.get(k, 0.0) + float(loss.detach())
            self.loss_counts[k] = self.loss_counts.get(k, 0) + 1
        return super().apply(losses, extras, step)

    def end_epoch(self, epoch: int, world: int = 1) -> dict[str, float]:
        sums = torch.tensor([[self.loss_sums.get(t, 0.0), float(self.loss_counts.get(t, 0))] for t in self.tasks],
                            dtype=torch.float64)
        if distributed(world):  # every rank must weigh alike: epoch means over all ranks
            import torch.distributed as dist

            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        self.history = (self.history + [{t: float(s / c) for t, (s, c) in zip(self.tasks, sums.tolist()) if c > 0}])[-2:]
        self.loss_sums, self.loss_counts = {}, {}
        self.current = self.dwa_weights()
        return super().end_epoch(epoch, world)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state.get("history", [])]
        self.current = self.dwa_weights()
