"""HMTL + label transfer (eq. 1-7), gold lower labels in training and predicted ones in evaluation (no Gumbel sampling). (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, LTConfig

Config = LTConfig


class HMTLLT(CausalFamilyModel):
    name = "hmtl_lt"
    equations = "1-7, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    stacked = True
    label_transfer = True
    indirect = True
    direct = True

    SUMMARY = "HMTL + label transfer (eq. 1-7), gold lower labels in training and predicted ones in evaluation (no Gumbel sampling)."
