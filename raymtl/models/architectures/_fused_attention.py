"""LSTM†'s message attention (graph-mtl eq. 4–8) as one compiled pass per step, and the elementwise
rest of the step (eq. 9–11) as two calls each way (``_fused_attention.c``).

The eager ops of ``_graph_recurrence`` spend most of an SG-MTL step in the ``[N, J, A]`` passes of the
attention (add, tanh, score; recomputed in backward): each writes or reads a block larger than a
core's cache. The C file does a step's forward, and its backward, in one pass over the candidates.
Around the step's matrix products (which stay in torch) the gates, the fusion gate and their
derivatives are ~25 small torch ops per step, whose dispatch costs more than their arithmetic at
``[8, 200]``; the C file does them in four calls.
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
    "raymtl_gates_forward": ([_L, _L, _P, _L, _P, _P, _P], None),
    "raymtl_out_forward": ([_L, _L, _P, _P, _L] + [_P] * 9, None),
    "raymtl_cell_backward_a": ([_L, _L, _P, _P, _L] + [_P] * 7, None),
    "raymtl_cell_backward_b": ([_L, _L] + [_P] * 9 + [_L], None),
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


def _p(t: torch.Tensor | None):
    return None if t is None else t.data_ptr()


class FusedStep:
    """The per-step calls of one forward (or backward) of the recurrence. ``[N, H]`` arguments are
    contiguous; views with a row stride are passed as they are (their stride is read).

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

    def gates(self, pre, c, act, cn) -> None:
        """``act = [σ(i), σ(f), tanh(g), σ(o)]`` of ``pre``'s first 4H columns, ``cn = σ(f) c + σ(i) tanh(g)``."""
        self.lib.raymtl_gates_forward(c.shape[0], c.shape[1], pre.data_ptr(), _rows(pre), c.data_ptr(),
                                      act.data_ptr(), cn.data_ptr())

    def out(self, gg, fr, cn, act, h_prev, c_prev, row_mask, th, seq, h_next, c_next) -> None:
        """``gg = σ(gg)``, ``th = tanh(cn + gg fr)``, ``h = σ(o) th``; a padded row keeps its state."""
        self.lib.raymtl_out_forward(cn.shape[0], cn.shape[1], gg.data_ptr(), fr.data_ptr(), _rows(fr), cn.data_ptr(),
                                    act.data_ptr(), h_prev.data_ptr(), c_prev.data_ptr(), _p(row_mask),
                                    th.data_ptr(), seq.data_ptr(), h_next.data_ptr(), c_next.data_ptr())

    def cell_backward_a(self, dh, dseq, row_mask, dc, p_th, p_fa, dh_new, dcn, d_fa) -> None:
        self.lib.raymtl_cell_backward_a(dh.shape[0], dh.shape[1], dh.data_ptr(), _p(dseq),
                                        0 if dseq is None else _rows(dseq), _p(row_mask), dc.data_ptr(),
                                        p_th.data_ptr(), p_fa.data_ptr(), dh_new.data_ptr(), dcn.data_ptr(),
                                        d_fa.data_ptr())

    def cell_backward_b(self, dcn, dc, act, row_mask, p_cn, dh_new, p_o, dc_prev, d_pre) -> None:
        self.lib.raymtl_cell_backward_b(dcn.shape[0], dcn.shape[1], dcn.data_ptr(), dc.data_ptr(), act.data_ptr(),
                                        _p(row_mask), p_cn.data_ptr(), dh_new.data_ptr(), p_o.data_ptr(),
                                        dc_prev.data_ptr(), d_pre.data_ptr(), _rows(d_pre))
