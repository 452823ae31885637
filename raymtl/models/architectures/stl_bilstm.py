"""Single-task BiLSTM baseline: each task its own embedding, BiLSTM encoder and head (separate towers). (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, TowerConfig

Config = TowerConfig


class StlBiLSTM(CausalFamilyModel):
    name = "stl_bilstm"
    equations = "eq. 4 (without TH, H^{k-1}), 12-20"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    encoder_kind = "bilstm"
    separate_embedders = True

    SUMMARY = "Single-task BiLSTM baseline: each task its own embedding, BiLSTM encoder and head (separate towers)."
