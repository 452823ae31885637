"""One module per architecture family member; ``ARCHITECTURES`` registers them all."""

from __future__ import annotations

from raymtl.models.architectures import (cmtl, cmtl_direct, cmtl_indirect, fsmtl, hmtl, hmtl_lt, spmtl, stl_bilstm,
                                         stl_cnn)
from raymtl.models.entry import Architecture

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

# graph-mtl and disparate-label-spaces families
from raymtl.models.architectures import (cg_mtl, fs_mtl, hps_lel, hps_lel_ltn, hps_mtl, mt_cnn,  # noqa: E402
                                         sg_mtl, single_lstm, sp_mtl)

_GRAPH, _DISPARATE = "graph-mtl", "disparate-label-spaces"

ARCHITECTURES = ARCHITECTURES + (
    Architecture("cg_mtl", cg_mtl.CGMTL, cg_mtl.CGMTLConfig, family=_GRAPH,
                 summary="Complete-graph MTL: each task's LSTM† receives α-weighted messages from all other tasks' LSTMs."),
    Architecture("sg_mtl", sg_mtl.SGMTL, sg_mtl.SGMTLConfig, family=_GRAPH,
                 summary="Star-graph MTL: each task's LSTM† reads a shared LSTM (virtual node) through β attention."),
    Architecture("single_lstm", single_lstm.SingleLSTM, single_lstm.SingleLSTMConfig, family=_GRAPH,
                 summary="graph-mtl single-task baseline: one (Bi/stacked) LSTM and output layer per task."),
    Architecture("mt_cnn", mt_cnn.MTCNN, mt_cnn.MTCNNConfig, family=_GRAPH,
                 summary="graph-mtl baseline MT-CNN (Collobert & Weston): shared lookup table, task-specific CNNs."),
    Architecture("fs_mtl", fs_mtl.FSMTL, fs_mtl.FSMTLConfig, family=_GRAPH,
                 summary="graph-mtl baseline FS-MTL: one fully shared LSTM, task-specific output layers."),
    Architecture("sp_mtl", sp_mtl.SPMTL, sp_mtl.SPMTLConfig, family=_GRAPH,
                 summary="graph-mtl baseline SP-MTL: shared + private LSTMs, adversarial task discriminator "
                         "(gradient reversal) and orthogonality penalty."),
    Architecture("hps_mtl", hps_mtl.HPSMTL, hps_mtl.HPSMTLConfig, family=_DISPARATE,
                 summary="Hard parameter sharing: conditional BiLSTM encoding (text after target), task-specific softmax."),
    Architecture("hps_lel", hps_lel.HPSLEL, hps_lel.HPSLELConfig, family=_DISPARATE,
                 summary="HPS + Label Embedding Layer: p = softmax(L h) over all tasks' labels, masked per task."),
    Architecture("hps_lel_ltn", hps_lel_ltn.HPSLELLTN, hps_lel_ltn.HPSLELLTNConfig, family=_DISPARATE,
                 summary="HPS + LEL + Label Transfer Network from auxiliary label embeddings, semi-supervised "
                         "MSE to its pseudo-labels."),
)
