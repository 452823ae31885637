"""HPS-MTL: hard parameter sharing over disparate label spaces (disparate-label-spaces §3.1, eq. 1–2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._disparate_common import DisparateConfig, DisparateModel
from raymtl.models.heads import build_head


@dataclass
class HPSMTLConfig(DisparateConfig):
    """HPS-MTL config: the family's fields (see :class:`DisparateConfig`)."""


class HPSMTL(DisparateModel):
    """Shared embeddings + conditional BiLSTM encoder (the text read after its target, §4.2),
    then per task an optional task-specific layer and a softmax output layer
    ``p^{T_i} = softmax(W_{T_i} h + b_{T_i})`` (eq. 1); the trainer sums the task losses (eq. 2).

    Every task is predicted for every example. DDP: ``find_unused_parameters=True`` — task layers
    and output layers of tasks absent from the batch get no gradient.
    """

    name = "hps_mtl"
    paper = "disparate-label-spaces"
    equations = "1-2"
    find_unused_parameters = True

    def __init__(self, cfg: HPSMTLConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks, vocab_size, vectors=vectors)
        self.heads = nn.ModuleList(build_head(t, self.feat_dim) for t in tasks)

    def task_scores(self, h):
        # disparate-label-spaces eq. 1 (logits; the softmax is in the loss)
        return {t: self.heads[k](self.task_features(h, k)) for k, t in enumerate(self.task_names)}
