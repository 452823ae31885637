"""Row-sparse gradients for fine-tuned embedding matrices, and gradient clipping that handles them.

A batch of 8 reviews touches ≤ 1,600 of fudan-mtl-16's 94,577 embedding rows, yet a dense gradient
costs a zeroed 19 MB matrix, a clipping pass and an optimiser pass over all of it every step (13 ms of
SG-MTL's 113 ms on one core). With ``nn.Embedding(sparse=True)`` the gradient holds the touched rows
only; :func:`clip_grad_norm` clips it with the dense ones (torch's clipping has no sparse kernels) and
the lazy Adadelta of :mod:`raymtl.train.fused_adadelta` updates just those rows, with the same result.

:func:`enable_sparse_embeddings` turns it on only where the result is the dense one: an optimiser with
an exact lazy update (``supports_sparse_rows``), no weight decay, one process on the CPU (NCCL has no
sparse all-reduce), no mixed precision, and a loss-weighting method (gradient methods flatten the
shared gradients).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def supports_sparse_rows(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` updates row-sparse gradients exactly as it would their dense form."""
    from raymtl import ckernels
    from raymtl.train import fused_adadelta

    return (isinstance(optimizer, fused_adadelta.Adadelta)
            and all(g["weight_decay"] == 0 for g in optimizer.param_groups)
            and ckernels.load(fused_adadelta.SOURCE, fused_adadelta.SIGNATURES) is not None)


def enable_sparse_embeddings(model: nn.Module, optimizer: torch.optim.Optimizer, *, device: torch.device,
                             world: int, mixed_precision: bool, gradient_weighting: bool) -> list[str]:
    """Make the fine-tuned float32 ``nn.Embedding`` tables of ``model`` produce row-sparse gradients
    where that changes nothing but the cost; returns their module names (empty: left dense)."""
    if (device.type != "cpu" or world != 1 or mixed_precision or gradient_weighting
            or not supports_sparse_rows(optimizer)):
        return []
    names = []
    for name, module in model.named_modules():
        if (isinstance(module, nn.Embedding) and module.weight.requires_grad
                and module.weight.dtype == torch.float32 and module.max_norm is None):
            module.sparse = True
            names.append(name)
    return names


@torch.no_grad()
def clip_grad_norm(params: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """:func:`torch.nn.utils.clip_grad_norm_` (2-norm over all gradients, the same coefficient) for
    dense and row-sparse gradients; a sparse gradient is coalesced in place (its duplicate rows summed)."""
    params = [p for p in params if p.grad is not None]
    for p in params:
        if p.grad.is_sparse and not p.grad.is_coalesced():
            p.grad = p.grad.coalesce()
    dense = [p for p in params if not p.grad.is_sparse]
    values = [p.grad._values() for p in params if p.grad.is_sparse]
    if not values:
        return torch.nn.utils.clip_grad_norm_(dense, max_norm)
    total = torch.nn.utils.get_total_norm([p.grad for p in dense] + values)
    torch.nn.utils.clip_grads_with_norm_(dense, max_norm, total)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # as torch computes it
    for v in values:
        v.mul_(coef.to(v.device))
    return total
