"""One module per architecture family member; ``ARCHITECTURES`` registers them all."""

from __future__ import annotations

from raymtl.models.architectures import (cmtl, cmtl_direct, cmtl_indirect, fsmtl, hmtl, hmtl_lt, spmtl, stl_bilstm,
                                         stl_cnn)
from raymtl.models.registry import Architecture

_C = "causal-mtl"

ARCHITECTURES: tuple = (
    # causal-mtl family: baselines, ablations, CMTL
    Architecture("stl_bilstm", stl_bilstm.StlBiLSTM, stl_bilstm.Config, family=_C, summary=stl_bilstm.StlBiLSTM.SUMMARY),
    Architecture("stl_cnn", stl_cnn.StlCNN, stl_cnn.Config, family=_C, summary=stl_cnn.StlCNN.SUMMARY),
    Architecture("fsmtl", fsmtl.FSMTL, fsmtl.Config, family=_C, summary=fsmtl.FSMTL.SUMMARY),
    Architecture("spmtl", spmtl.SPMTL, spmtl.Config, family=_C, summary=spmtl.SPMTL.SUMMARY),
    Architecture("hmtl", hmtl.HMTL, hmtl.Config, family=_C, summary=hmtl.HMTL.SUMMARY),
    Architecture("hmtl_lt", hmtl_lt.HMTLLT, hmtl_lt.Config, family=_C, summary=hmtl_lt.HMTLLT.SUMMARY),
    Architecture("cmtl_indirect", cmtl_indirect.CMTLIndirect, cmtl_indirect.Config, family=_C,
                 summary=cmtl_indirect.CMTLIndirect.SUMMARY),
    Architecture("cmtl_direct", cmtl_direct.CMTLDirect, cmtl_direct.Config, family=_C,
                 summary=cmtl_direct.CMTLDirect.SUMMARY),
    Architecture("cmtl", cmtl.CMTL, cmtl.Config, family=_C, summary=cmtl.CMTL.SUMMARY),
)
