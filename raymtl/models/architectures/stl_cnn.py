"""Single-task CNN baseline (Kim 2014): each task its own embedding, CNN encoder and head. (causal-mtl)"""

from __future__ import annotations

from raymtl.models.architectures._causal_common import CausalFamilyModel, TowerConfig

Config = TowerConfig


class StlCNN(CausalFamilyModel):
    name = "stl_cnn"
    equations = "eq. 5 (pooled CNN), 12-20"
    task_kinds = ("tagging", "relation", "multilabel", "classify")
    encoder_kind = "cnn"
    separate_embedders = True

    SUMMARY = "Single-task CNN baseline (Kim 2014): each task its own embedding, CNN encoder and head."
