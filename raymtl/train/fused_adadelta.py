"""torch's Adadelta with its CPU float32 update in one pass per parameter (``fused_adadelta.c``).

graph-mtl trains with AdaDelta and fine-tunes the embedding matrix (94,577 × 50 on fudan-mtl-16):
torch's eager update makes nine passes over every parameter, its gradient and both state tensors,
35 ms of a 190 ms SG-MTL step on one core. The kernel makes one. Same state (``step``, ``square_avg``,
``acc_delta``), so checkpoints load into either class; the same results within float tolerance.
Where the kernel does not apply (no C compiler, a GPU or non-float32 parameter, ``maximize``,
``differentiable``, ``capturable``, a tensor ``lr``), the step is torch's own.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from raymtl import ckernels

SOURCE = Path(__file__).with_suffix(".c")
_P, _F = ctypes.c_void_p, ctypes.c_float
SIGNATURES: ckernels.Signatures = {"raymtl_adadelta": ([ctypes.c_long, _P, _P, _P, _P] + [_F] * 5, None)}


def _eligible(p: torch.Tensor, state: dict) -> bool:
    tensors = [p, p.grad] + [state[k] for k in ("square_avg", "acc_delta") if k in state]
    return not p.grad.is_sparse and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous()
                                        for t in tensors)


class Adadelta(torch.optim.Adadelta):
    """:class:`torch.optim.Adadelta` whose step runs the compiled update where it applies."""

    @torch.no_grad()
    def step(self, closure=None):
        lib = ckernels.load(SOURCE, SIGNATURES)
        groups = [[p for p in g["params"] if p.grad is not None] for g in self.param_groups]
        if lib is None or not all(
                not (g["maximize"] or g["differentiable"] or g["capturable"] or torch.is_tensor(g["lr"]))
                and all(_eligible(p, self.state[p]) for p in ps) for g, ps in zip(self.param_groups, groups)):
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
                sq, acc = state["square_avg"], state["acc_delta"]
                state["step"] += 1
                lib.raymtl_adadelta(p.numel(), p.data_ptr(), p.grad.data_ptr(), sq.data_ptr(), acc.data_ptr(),
                                    rho, 1 - rho, group["eps"], -lr, group["weight_decay"])
        return loss
