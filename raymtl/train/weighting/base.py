"""The common interface of loss-weighting methods, and the one place that knows DDP for them.

A method is a small object handed what it needs each step: the unweighted task losses, the extra
(already weighted) losses, and a :class:`WeightingStep` (the shared and the other parameters,
epoch, step, world size, grad scaler). ``backward`` leaves the gradients in ``.grad`` and returns
the weight it applied to each task's unweighted loss (λ included), so they can be logged.

Loss methods (``fixed``, ``equal``, ``uw``, ``dwa``) back-propagate one weighted sum and let DDP
all-reduce as usual. Gradient methods (``gradnorm``, ``pcgrad``, ``cagrad``) run the forward and
backward under ``no_sync``, take per-task gradients of the shared parameters on each rank and
all-reduce them (with the other gradients) in one buffer, so every rank combines the same
globally averaged per-task gradients into the same update.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, ContextManager

import torch
import torch.distributed as dist
from torch import nn

from raymtl.train.config import WeightingConfig


@dataclass
class WeightingStep:
    """What a method may use in one step (set by the training loop)."""

    shared: list[nn.Parameter]  # parameters every task shares (the model's shared_parameters())
    rest: list[nn.Parameter]  # every other trainable parameter (task-specific parts)
    epoch: int = 0
    step: int = 0
    world: int = 1
    scaler: Any = None  # torch.amp.GradScaler under mixed precision, else None


def split_parameters(model: nn.Module, shared: list[nn.Parameter]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(shared, rest), trainable only and without duplicates; every parameter is shared when the
    architecture declares none (single-task and fully shared models)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    ids = {id(p) for p in shared if p.requires_grad}
    if not ids:
        return trainable, []
    return [p for p in trainable if id(p) in ids], [p for p in trainable if id(p) not in ids]


def sum_extras(extras: dict[str, torch.Tensor]) -> torch.Tensor | None:
    total = None
    for loss in extras.values():
        total = loss if total is None else total + loss
    return total


def distributed(world: int) -> bool:
    return world > 1 and dist.is_available() and dist.is_initialized()


def all_reduce_mean(t: torch.Tensor, world: int) -> torch.Tensor:
    """In-place mean over ranks (a no-op on one process)."""
    if distributed(world):
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world
    return t


class Weighting:
    """Base class: subclasses set ``name``/``paper`` and implement ``apply``."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    gradient_based: ClassVar[bool] = False

    def __init__(self, tasks: list[str], lambdas: dict[str, float], cfg: WeightingConfig, *, seed: int = 0,
                 device: torch.device | str = "cpu"):
        self.tasks = list(tasks)
        self.device = torch.device(device)
        self.lambdas = {t: float(lambdas.get(t, 1.0)) for t in self.tasks}
        self.cfg = cfg
        self.seed = seed
        self.weight_sums: dict[str, float] = {}
        self.weight_counts: dict[str, int] = {}

    # ---- what the loop calls --------------------------------------------------------------
    def parameters(self) -> list[nn.Parameter]:
        """Learned parameters of the method (trained by the run's optimiser, no weight decay)."""
        return []

    def forward_context(self, model: nn.Module) -> ContextManager:
        """Entered around the forward: gradient methods all-reduce themselves, so DDP must not."""
        return nullcontext()

    def backward(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
                 step: WeightingStep) -> dict[str, float]:
        weights = self.apply(losses, extras, step)
        for k, w in weights.items():
            self.weight_sums[k] = self.weight_sums.get(k, 0.0) + w
            self.weight_counts[k] = self.weight_counts.get(k, 0) + 1
        return weights

    def end_epoch(self, epoch: int, world: int = 1) -> dict[str, float]:
        """Mean weight per task over the epoch (``weighting/<task>``); every rank calls it."""
        out = {f"weighting/{k}": self.weight_sums[k] / self.weight_counts[k] for k in self.tasks
               if self.weight_counts.get(k)}
        self.weight_sums, self.weight_counts = {}, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ---- what methods implement -----------------------------------------------------------
    def apply(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
              step: WeightingStep) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- helpers for loss methods -----------------------------------------------------------
    def weighted_backward(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
                          coefs: dict[str, float | torch.Tensor], step: WeightingStep,
                          add: torch.Tensor | None = None) -> None:
        """Back-propagates Σ coef_k L_k (+ ``add``) + extras, in the order the fixed-λ loop summed."""
        total = torch.zeros((), device=next(iter(losses.values())).device) if losses else None
        for key, loss in losses.items():
            total = total + coefs[key] * loss
        if add is not None:
            total = add if total is None else total + add
        for loss in extras.values():
            total = loss if total is None else total + loss
        if total is None or not total.requires_grad:
            return
        (step.scaler.scale(total) if step.scaler is not None else total).backward()


class GradientWeighting(Weighting):
    """Gradient methods: ``combine`` turns per-task gradients of the shared parameters into one."""

    gradient_based = True

    def forward_context(self, model: nn.Module) -> ContextManager:
        no_sync = getattr(model, "no_sync", None)
        return no_sync() if callable(no_sync) else nullcontext()

    def head_coef(self, task: str) -> float:
        """Coefficient of λ_k L_k for the task-specific parameters (1 unless the method keeps weights)."""
        return 1.0

    def combine(self, grads: torch.Tensor, losses: torch.Tensor, names: list[str],
                step: WeightingStep) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover - abstract
        """grads [K, P]: per-task gradients of λ_k L_k on the shared parameters (mean over ranks);
        losses [K]: the unweighted losses (mean over ranks). Returns the shared update [P] and the
        weight of each task's unweighted loss."""
        raise NotImplementedError

    def apply(self, losses: dict[str, torch.Tensor], extras: dict[str, torch.Tensor],
              step: WeightingStep) -> dict[str, float]:
        if step.scaler is not None:
            raise RuntimeError(f"weighting method {self.name!r} does not support mixed precision")
        shared, rest = step.shared, step.rest
        dev = shared[0].device if shared else torch.device("cpu")
        sizes = [p.numel() for p in shared]
        n_shared, n_tasks = sum(sizes), len(self.tasks)
        # One buffer, one all-reduce: presence, losses, per-task shared grads, extras' shared grad,
        # the other parameters' grads and whether each had one.
        rest_sizes = [p.numel() for p in rest]
        n_rest = sum(rest_sizes)
        buf = torch.zeros(2 * n_tasks + (n_tasks + 1) * n_shared + n_rest + len(rest), device=dev)
        present, loss_v = buf[:n_tasks], buf[n_tasks:2 * n_tasks]
        grads = buf[2 * n_tasks:2 * n_tasks + n_tasks * n_shared].view(n_tasks, n_shared)
        off = 2 * n_tasks + n_tasks * n_shared
        extra_g, rest_g = buf[off:off + n_shared], buf[off + n_shared:off + n_shared + n_rest]
        rest_has = buf[off + n_shared + n_rest:]
        for i, task in enumerate(self.tasks):
            if task not in losses or not losses[task].requires_grad:
                continue
            present[i], loss_v[i] = 1.0, losses[task].detach().float()
            g = torch.autograd.grad(self.lambdas[task] * losses[task], shared, retain_graph=True, allow_unused=True)
            grads[i] = flat(g, shared)
        extra = sum_extras(extras)
        if extra is not None and extra.requires_grad and shared:
            extra_g.copy_(flat(torch.autograd.grad(extra, shared, retain_graph=True, allow_unused=True), shared))
        head = None
        for task, loss in losses.items():
            if loss.requires_grad:
                term = self.head_coef(task) * self.lambdas.get(task, 1.0) * loss
                head = term if head is None else head + term
        if extra is not None and extra.requires_grad:
            head = extra if head is None else head + extra
        if rest and head is not None:
            torch.autograd.backward(head, inputs=rest)
            rest_g.copy_(flat([p.grad for p in rest], rest))
            rest_has.copy_(torch.tensor([float(p.grad is not None) for p in rest], device=dev))
        if distributed(step.world):
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            counts = present.clamp(min=1.0)
            loss_v /= counts
            buf[2 * n_tasks:] /= step.world
            rest_has.mul_(step.world)  # back to "how many ranks had a gradient" (> 0: keep it)
        on = [i for i in range(n_tasks) if present[i] > 0]
        names = [self.tasks[i] for i in on]
        if on:
            update, weights = self.combine(grads[on], loss_v[on], names, step)
        else:
            update, weights = torch.zeros(n_shared, device=dev), {}
        write_flat(update + extra_g, shared)
        if rest:
            write_flat(rest_g, rest, keep=[bool(h > 0) for h in rest_has.tolist()])
        return weights


def flat(grads, params: list[nn.Parameter]) -> torch.Tensor:
    """One vector of the gradients (zeros where a parameter got none)."""
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def write_flat(vec: torch.Tensor, params: list[nn.Parameter], keep: list[bool] | None = None) -> None:
    """Sets each parameter's ``.grad`` from ``vec`` (None where ``keep`` is False, as DDP leaves unused ones)."""
    off = 0
    for i, p in enumerate(params):
        n = p.numel()
        p.grad = vec[off:off + n].view_as(p).clone() if keep is None or keep[i] else None
        off += n
