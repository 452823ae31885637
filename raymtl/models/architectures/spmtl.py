"""Shared-private MTL: a shared encoder H^s and per-task encoders H^k = Enc^k(E ⊕ H^s). (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, MTLConfig

Config = MTLConfig


class SPMTL(CausalFamilyModel):
    name = "spmtl"
    equations = "Fig. 3b, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    shared = True

    SUMMARY = "Shared-private MTL: a shared encoder H^s and per-task encoders H^k = Enc^k(E ⊕ H^s)."
