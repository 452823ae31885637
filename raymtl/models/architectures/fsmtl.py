"""Fully-shared MTL: one shared encoder H^s, task-specific heads. (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, MTLConfig

Config = MTLConfig


class FSMTL(CausalFamilyModel):
    name = "fsmtl"
    equations = "Fig. 3a, 12-21"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    shared = True
    private = False

    SUMMARY = "Fully-shared MTL: one shared encoder H^s, task-specific heads."
