"""CMTL ablation keeping only the direct causal path (transferred labels into predictors), with Gumbel sampling. (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, CMTLConfig

Config = CMTLConfig


class CMTLDirect(CausalFamilyModel):
    name = "cmtl_direct"
    equations = "1-2, 4-7, 8-9, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    stacked = True
    label_transfer = True
    direct = True
    gumbel = True

    SUMMARY = "CMTL ablation keeping only the direct causal path (transferred labels into predictors), with Gumbel sampling."
