"""torch's Adadelta with its CPU float32 update in one pass per parameter (``fused_adadelta.c``),
and lazily for row-sparse gradients.

graph-mtl trains with AdaDelta and fine-tunes the embedding matrix (94,577 × 50 on fudan-mtl-16):
torch's eager update makes nine passes over every parameter, its gradient and both state tensors,
35 ms of a 190 ms SG-MTL step on one core. The kernel makes one. Same state (``step``, ``square_avg``,
``acc_delta``), so checkpoints load into either class; the same results within float tolerance.

A row-sparse gradient (an ``nn.Embedding(sparse=True)``, see :mod:`raymtl.train.sparse_grads`) updates
only the rows it touches: an untouched row's accumulators only decay by ρ per step, so the decay is
applied when the row is next touched (ρ^k at once), and to every row before :meth:`state_dict`, which
therefore is torch's dense state. Exact with weight decay 0; otherwise the gradient is made dense.
Where the kernel does not apply (no C compiler, a GPU or non-float32 parameter, ``maximize``,
``differentiable``, ``capturable``, a tensor ``lr``), the step is torch's own.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from raymtl import ckernels

SOURCE = Path(__file__).with_suffix(".c")
_P, _F, _L = ctypes.c_void_p, ctypes.c_float, ctypes.c_long
SIGNATURES: ckernels.Signatures = {
    "raymtl_adadelta": ([_L, _P, _P, _P, _P] + [_F] * 5, None),
    "raymtl_adadelta_rows": ([_L, _L, _P, _P, _P, _P, _P, _P, _L] + [_F] * 4, None),
}


def _eligible(p: torch.Tensor, state: dict) -> bool:
    grad = p.grad._values() if p.grad.is_sparse else p.grad
    tensors = [p, grad] + [state[k] for k in ("square_avg", "acc_delta") if k in state]
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors) and \
        all(t.is_contiguous() for t in tensors if t is not grad)


class Adadelta(torch.optim.Adadelta):
    """:class:`torch.optim.Adadelta` whose step runs the compiled update where it applies."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # per lazily updated parameter: the step each row's state is current at (not in the state
        # dict: catch_up() makes the state dense-exact before it is read)
        self._row_step: dict[torch.Tensor, torch.Tensor] = {}

    def _catch_up(self, p: torch.Tensor, rho: float) -> None:
        last = self._row_step.pop(p, None)
        if last is None:
            return
        state = self.state[p]
        missed = (float(state["step"]) - last.double()).clamp_(min=0)
        decay = torch.pow(float(rho), missed).float().view(-1, *([1] * (p.dim() - 1)))
        state["square_avg"].mul_(decay)
        state["acc_delta"].mul_(decay)

    @torch.no_grad()
    def catch_up(self) -> None:
        """Apply every row's pending decays, so the state is what dense updates would have left."""
        for group in self.param_groups:
            for p in group["params"]:
                self._catch_up(p, group["rho"])

    def state_dict(self):
        self.catch_up()
        return super().state_dict()

    def load_state_dict(self, state_dict):
        self._row_step.clear()
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure=None):
        lib = ckernels.load(SOURCE, SIGNATURES)
        groups = [[p for p in g["params"] if p.grad is not None] for g in self.param_groups]
        for g, ps in zip(self.param_groups, groups):
            for p in ps:  # the lazy update is exact only without weight decay
                if p.grad.is_sparse and g["weight_decay"] != 0:
                    p.grad = p.grad.to_dense()
        if lib is None or not all(
                not (g["maximize"] or g["differentiable"] or g["capturable"] or torch.is_tensor(g["lr"]))
                and all(_eligible(p, self.state[p]) for p in ps) for g, ps in zip(self.param_groups, groups)):
            self.catch_up()
            for ps in groups:
                for p in ps:
                    if p.grad.is_sparse:
                        p.grad = p.grad.to_dense()
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, params in zip(self.param_groups, groups):
            rho, lr = group["rho"], group["lr"]
            for p in params:
                state = self.state[p]
                if not state:  # as torch.optim.Adadelta initialises it
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if not p.grad.is_sparse:  # dense this time after lazy updates before
                    self._catch_up(p, rho)
                sq, acc = state["square_avg"], state["acc_delta"]
                state["step"] += 1
                if p.grad.is_sparse:
                    self._sparse_step(lib, p, state, group)
                    continue
                lib.raymtl_adadelta(p.numel(), p.data_ptr(), p.grad.data_ptr(), sq.data_ptr(), acc.data_ptr(),
                                    rho, 1 - rho, group["eps"], -lr, group["weight_decay"])
        return loss

    def _sparse_step(self, lib, p: torch.Tensor, state: dict, group: dict) -> None:
        grad = p.grad if p.grad.is_coalesced() else p.grad.coalesce()
        rows = grad._indices()[0].contiguous()
        values = grad._values().contiguous()
        step = int(state["step"])
        last = self._row_step.get(p)
        if last is None:  # every row current at the previous step
            last = self._row_step[p] = torch.full((p.shape[0],), step - 1, dtype=torch.long)
        rho = group["rho"]
        lib.raymtl_adadelta_rows(rows.numel(), p.numel() // max(p.shape[0], 1), rows.data_ptr(),
                                 p.data_ptr(), values.data_ptr(), state["square_avg"].data_ptr(),
                                 state["acc_delta"].data_ptr(), last.data_ptr(), step, rho, 1 - rho,
                                 group["eps"], -group["lr"])
