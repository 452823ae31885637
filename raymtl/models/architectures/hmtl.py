"""Hierarchical MTL (Sanh et al. 2018): encoders stacked along the chain, H^k = Enc^k(E ⊕ H^{k-1}). (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, MTLConfig

Config = MTLConfig


class HMTL(CausalFamilyModel):
    name = "hmtl"
    equations = "Fig. 3c, eq. 4/6 without TH, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    stacked = True

    SUMMARY = "Hierarchical MTL (Sanh et al. 2018): encoders stacked along the chain, H^k = Enc^k(E ⊕ H^{k-1})."
