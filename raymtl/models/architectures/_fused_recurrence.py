"""LSTM† (graph-mtl eq. 2–11) with its message attention, every step of a forward or a backward in one
compiled call (``_fused_recurrence.c``).

At SG-MTL's ``[8, 200]`` the eager path of ``_graph_recurrence`` pays for its passes over the
``[N, J, A]`` attention blocks (each larger than a core's cache) and for ~10 Python-dispatched calls
per step. The C file does a step's attention in one pass over the candidates, the gates and their
derivatives in a few loops, and runs the time loop itself; the step's matrix products go to the BLAS
``sgemm`` that torch links (MKL or OpenBLAS), found once per process.
Built and loaded by :mod:`raymtl.ckernels`. Without a C compiler, without an ``sgemm`` in torch's
libraries, for GPU tensors or a dtype other than float32, the eager ops run instead (the same results
within float tolerance, ``tests/test_fused_kernels.py``).
"""

from __future__ import annotations

import ctypes
import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from raymtl import ckernels

SOURCE = Path(__file__).with_suffix(".c")
_P, _L = ctypes.c_void_p, ctypes.c_long


class Recurrence(ctypes.Structure):
    """``struct raymtl_recurrence`` of the C file: sizes, strides and data pointers (field order matters)."""

    _fields_ = ([(k, _L) for k in ("n", "t_len", "h", "a", "m", "j", "groups")]
                + [(k, _P) for k in ("bounds", "w_cat", "w_cat_t", "w_fr", "w_fr_t", "w_c", "w_c_t", "u", "keep",
                                     "src", "val", "esrc")]
                + [(k, _L) for k in ("src_ns", "src_ts", "val_ns", "val_ts")]
                + [(k, _P) for k in ("mask_rows", "pre", "act", "hs", "cs", "cn", "gg", "th", "r", "fa", "seq", "w",
                                     "z_all", "d_seq")]
                + [("d_seq_ns", _L)]
                + [(k, _P) for k in ("dh", "dc", "dc2", "dh_nb", "dcn", "d_pre", "d_fa", "d_r", "du", "dsrc", "scratch")]
                + [(k, _L) for k in ("dsrc_ns", "dsrc_ts")]
                + [("sgemm", _P)])

    def set(self, **tensors: torch.Tensor | None) -> None:
        """Point the fields at these tensors' data (None: NULL). The caller keeps the tensors alive."""
        for k, t in tensors.items():
            setattr(self, k, None if t is None else t.data_ptr())


_REF = ctypes.POINTER(Recurrence)
SIGNATURES: ckernels.Signatures = {
    "raymtl_tanh": ([ctypes.c_float], ctypes.c_float),
    "raymtl_exp": ([ctypes.c_float], ctypes.c_float),
    "raymtl_factored_tanh": ([ctypes.c_float, ctypes.c_float], ctypes.c_float),
    "raymtl_denormal_mode": ([ctypes.c_uint], ctypes.c_uint),
    "raymtl_sgemm_check": ([_P], ctypes.c_int),
    "raymtl_recurrence_forward": ([_REF], None),
    "raymtl_recurrence_backward": ([_REF], None),
}


@functools.cache
def sgemm() -> int | None:
    """Address of the Fortran-interface ``sgemm_`` torch's CPU library links (MKL or OpenBLAS), so that the
    kernel's small products run on the same BLAS as ``torch.mm``; None if absent or if it gets a small
    product wrong (checked once; the eager ops run then)."""
    lib, lib_dir = library(), Path(torch.__file__).parent / "lib"
    if lib is None:
        return None
    for path in [*sorted(lib_dir.glob("libtorch_cpu.*")), None]:
        try:
            address = ctypes.cast(ctypes.CDLL(None if path is None else str(path)).sgemm_, ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
        return address if lib.raymtl_sgemm_check(address) == 1 else None
    return None


def library() -> ctypes.CDLL | None:
    """The compiled kernel (built on first use), or None where it cannot be built."""
    return ckernels.load(SOURCE, SIGNATURES)


def usable(*tensors: torch.Tensor) -> bool:
    """The kernel applies: float32 CPU tensors, a built library and torch's sgemm."""
    return (all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
            and library() is not None and sgemm() is not None)


def forward(s: Recurrence) -> None:
    library().raymtl_recurrence_forward(ctypes.byref(s))


def backward(s: Recurrence) -> None:
    library().raymtl_recurrence_backward(ctypes.byref(s))


FACTORED_MAX = 20.0  # the C file's FACTORED_MAX: |src| bound of the factored tanh (exp(2 src) stays normal)
FLUSH_DENORMALS = 0x8040  # x86 MXCSR: flush-to-zero | denormals-are-zero


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Within: float32 denormals (|x| < 1.2e-38) computed as 0 on this thread, by the kernel and by torch's
    CPU ops. Gradients back-propagated through a few hundred steps decay into that range, where the
    CPU's arithmetic (MKL's products included) is ~10x slower: measured, the weight-gradient products of
    an SG-MTL step took 24 ms instead of 2.4. The previous mode is restored on exit."""
    lib = library()
    previous = lib.raymtl_denormal_mode(FLUSH_DENORMALS)
    try:
        yield
    finally:
        lib.raymtl_denormal_mode(previous)
