"""Causal MTL: label embeddings, label-transfer LSTM, indirect + direct causal paths, Gumbel sampling of lower-task labels. (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, CMTLConfig

Config = CMTLConfig


class CMTL(CausalFamilyModel):
    name = "cmtl"
    equations = "1-9, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    stacked = True
    label_transfer = True
    indirect = True
    direct = True
    gumbel = True

    SUMMARY = "Causal MTL: label embeddings, label-transfer LSTM, indirect + direct causal paths, Gumbel sampling of lower-task labels."
