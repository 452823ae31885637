"""The model and optimizer of a run, built from its config and data (the loop and the analysis
commands build them the same way)."""

from __future__ import annotations

from typing import Callable

import torch

from raymtl.models.base import MTLModel
from raymtl.models.registry import default_registry as default_architectures
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o = cfg.optim
    params = [p for p in params if p.requires_grad]
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum)
    if o.name == "adadelta":  # torch's, with the CPU float32 update as one compiled pass
        from raymtl.train.fused_adadelta import Adadelta

        return Adadelta(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum)


def build_model(cfg: TrainConfig, data: TrainData, *, log: Callable[[str], None] = print) -> MTLModel:
    vectors = None
    log(data.vocab_summary())
    if data.vector_table is not None:
        from raymtl.data.vectors import align_vectors

        aligned = align_vectors(data.vector_table, data.vocab, seed=cfg.train.seed)
        log(f"vectors: {aligned.summary()}")
        log(data.vector_coverage)
        vectors = aligned.weights
    torch.manual_seed(cfg.train.seed)
    model = default_architectures().build(cfg.arch, cfg.arch_params, data.specs, len(data.vocab), vectors=vectors)
    if getattr(getattr(model, "cfg", None), "diversity_features", False):  # disparate-label-spaces §3.5
        model.set_task_term_distributions(data.term_distributions())
    return model
