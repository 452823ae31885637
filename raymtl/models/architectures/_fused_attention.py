"""LSTM†'s message attention (graph-mtl eq. 4–8) as one compiled pass per step (``_fused_attention.c``).

The eager ops of ``_graph_recurrence`` spend most of an SG-MTL step in the ``[N, J, A]`` passes of the
attention (add, tanh, score; recomputed in backward): each writes or reads a block larger than a
core's cache. The C file does a step's forward, and its backward, in one pass over the candidates.
Built and loaded by :mod:`raymtl.ckernels`; without a C compiler, for GPU tensors or a dtype other
than float32, the eager ops run instead (the same results within float tolerance).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from raymtl import ckernels

SOURCE = Path(__file__).with_suffix(".c")
_P, _L, _F = ctypes.c_void_p, ctypes.c_long, ctypes.c_float
SIGNATURES: ckernels.Signatures = {
    "raymtl_tanh": ([_F], _F),
    "raymtl_attn_forward": ([_L] * 4 + [_P, _L, _P, _L, _P, _P, _L, _P, _P, _P, _P, _P], None),
    "raymtl_attn_backward": ([_L] * 4 + [_P, _L, _P, _L, _P, _P, _L, _P, _P, _P, _P, _P, _L, _P, _L,
                                         ctypes.c_int, _P], None),
}


def library() -> ctypes.CDLL | None:
    """The compiled kernel (built on first use), or None where it cannot be built."""
    return ckernels.load(SOURCE, SIGNATURES)


def usable(*tensors: torch.Tensor) -> bool:
    """The kernel applies: float32 CPU tensors and a built library."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors) and library() is not None


def _rows(t: torch.Tensor) -> int:
    """Row stride of an ``[N, J, K]`` (or ``[N, K]``) view whose inner block is contiguous (the stride
    of a size-1 dimension is arbitrary in torch, and unused here)."""
    inner_ok = (t.shape[-1] == 1 or t.stride(-1) == 1) and (
        t.dim() == 2 or t.shape[-2] == 1 or t.stride(-2) == t.shape[-1])
    assert inner_ok, f"inner block not contiguous: shape {tuple(t.shape)}, strides {t.stride()}"
    return t.stride(0)


class FusedAttention:
    """The per-step calls of one forward (or backward) of the recurrence.

    ``src [N, J, A]``, ``val [N, J, M]``: a step's candidates (views of ``[N, T, J, ·]`` when they change
    per step); ``u [A]``; ``keep [N, J]`` float, 1 for a candidate.
    """

    def __init__(self, u: torch.Tensor, keep: torch.Tensor):
        self.lib = library()
        self.u, self.keep = u.contiguous(), keep.contiguous()
        self.scratch = torch.empty(keep.shape[-1] + u.shape[0])

    def forward(self, src, val, q, row_mask, w, r, z_out=None) -> None:
        """Fill ``w [N, J]`` (β times ``row_mask [N]``, None = 1) and ``r [N, M]`` (Σ_j β_j val_j, unmasked)."""
        n, j, a = src.shape
        self.lib.raymtl_attn_forward(n, j, a, val.shape[-1], src.data_ptr(), _rows(src), q.data_ptr(), _rows(q),
                                     self.u.data_ptr(), val.data_ptr(), _rows(val), self.keep.data_ptr(),
                                     None if row_mask is None else row_mask.data_ptr(), w.data_ptr(), r.data_ptr(),
                                     None if z_out is None else z_out.data_ptr())

    def backward(self, src, val, q, w, dr, du, dq, dsrc, *, accumulate: bool, z_in=None) -> None:
        """Add this step's ``du``; write ``dq = ∂/∂q`` (``[N, A]`` view); add ``(1 - z²) ds`` to ``dsrc``
        (``accumulate``, the caller multiplies by ``u`` once) or write ``(1 - z²) ds u`` there."""
        n, j, a = src.shape
        self.lib.raymtl_attn_backward(n, j, a, val.shape[-1], src.data_ptr(), _rows(src), q.data_ptr(), _rows(q),
                                      self.u.data_ptr(), val.data_ptr(), _rows(val), w.data_ptr(), dr.data_ptr(),
                                      None if z_in is None else z_in.data_ptr(), du.data_ptr(), dq.data_ptr(),
                                      _rows(dq), dsrc.data_ptr(), _rows(dsrc), int(accumulate),
                                      self.scratch.data_ptr())
