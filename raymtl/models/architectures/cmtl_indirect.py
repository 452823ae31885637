"""CMTL ablation keeping only the indirect causal path (transferred labels into encoders), with Gumbel sampling. (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, CMTLConfig

Config = CMTLConfig


class CMTLIndirect(CausalFamilyModel):
    name = "cmtl_indirect"
    equations = "1-6, 8-9, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    stacked = True
    label_transfer = True
    indirect = True
    gumbel = True

    SUMMARY = "CMTL ablation keeping only the indirect causal path (transferred labels into encoders), with Gumbel sampling."
