"""Gumbel-softmax sampling of lower-task labels (causal-mtl eq. 8-9).

``gumbel_softmax`` samples a relaxed one-hot label from logits; ``tau -> 0`` gives the one-hot of
``argmax(o + g)`` (a sample of ``softmax(o)``, eq. 8), ``tau = 0`` returns exactly that one-hot,
large ``tau`` tends to the uniform distribution. ``hard=True`` is the straight-through estimator:
one-hot forward, relaxed gradient backward. ``gumbel_sigmoid`` is the two-class case used for
multi-label (independent Bernoulli) lower tasks: softmax over {on, off} with two Gumbel draws is
``sigmoid((o + g1 - g2) / tau)`` and ``g1 - g2`` is Logistic(0, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_gumbel(shape, *, like: torch.Tensor, eps: float = 1e-10, generator: torch.Generator | None = None):
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    return -torch.log(-torch.log(u + eps) + eps)


def gumbel_softmax(logits: torch.Tensor, tau: float, *, hard: bool = False, noise: torch.Tensor | None = None,
                   sample: bool = True, dim: int = -1, generator: torch.Generator | None = None) -> torch.Tensor:
    """``softmax((o + g) / tau)`` along ``dim`` (causal-mtl eq. 9).

    ``noise``: a fixed ``g`` (tests); ``sample=False``: ``g = 0``. ``tau <= 0`` is the limit
    ``tau -> 0``: the exact one-hot of ``argmax(o + g)`` (no gradient unless ``hard``).
    """
    if noise is None:
        noise = sample_gumbel(logits.shape, like=logits, generator=generator) if sample else torch.zeros_like(logits)
    z = logits + noise
    index = z.argmax(dim=dim, keepdim=True)
    one_hot = torch.zeros_like(z).scatter_(dim, index, 1.0)
    if tau <= 0:
        if hard:  # straight-through with the tau = 1 relaxation as the backward surrogate
            soft = F.softmax(z, dim=dim)
            return one_hot - soft.detach() + soft
        return one_hot
    soft = F.softmax(z / tau, dim=dim)  # causal-mtl eq. 9
    if hard:
        return one_hot - soft.detach() + soft
    return soft


def gumbel_sigmoid(logits: torch.Tensor, tau: float, *, hard: bool = False, noise: torch.Tensor | None = None,
                   sample: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary Gumbel-softmax per element: ``sigmoid((o + l) / tau)``, ``l ~ Logistic(0, 1)`` (eq. 9, two classes)."""
    if noise is None:
        if sample:
            u = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
            u = u.clamp(1e-10, 1 - 1e-7)
            noise = torch.log(u) - torch.log1p(-u)
        else:
            noise = torch.zeros_like(logits)
    z = logits + noise
    hard_out = (z > 0).to(logits.dtype)
    if tau <= 0:
        if hard:
            soft = torch.sigmoid(z)
            return hard_out - soft.detach() + soft
        return hard_out
    soft = torch.sigmoid(z / tau)  # causal-mtl eq. 9 (binary case)
    if hard:
        return hard_out - soft.detach() + soft
    return soft
