"""HPS-MTL + Label Embedding Layer (disparate-label-spaces §3.2, eq. 3–4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._disparate_common import DisparateConfig, DisparateModel, LabelEmbeddingLayer


@dataclass
class HPSLELConfig(DisparateConfig):
    """``label_dim``: label embedding size l (paper: 100). With ``task_layer`` the task layers output
    ``label_dim`` units (unless ``task_layer_dim`` says otherwise)."""

    label_dim: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_dim < 1:
            raise ValueError(f"label_dim: expected >= 1, got {self.label_dim!r}")


class HPSLEL(DisparateModel):
    """Hard parameter sharing whose output layer is one Label Embedding Layer shared by all tasks:
    ``p = softmax(L h)`` over all tasks' labels (eq. 3–4), masked per task so that p^{T_i} is a
    distribution over T_i's labels (0 elsewhere). ``label_embeddings()`` returns L per task.

    DDP: ``find_unused_parameters=True`` — task-specific layers of tasks absent from a batch are
    unused (L itself is always used).
    """

    name = "hps_lel"
    paper = "disparate-label-spaces"
    equations = "2-4"
    find_unused_parameters = True

    def __init__(self, cfg: HPSLELConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks, vocab_size, vectors=vectors, task_layer_dim=cfg.label_dim)
        self.lel = LabelEmbeddingLayer(tasks, cfg.label_dim, self.feat_dim)

    def task_scores(self, h):
        out = {}
        for k, t in enumerate(self.task_names):
            scores = self.lel.scores(self.task_features(h, k))  # disparate-label-spaces eq. 3–4: L h
            out[t] = self.lel.task_logits(scores, t)  # the task mask: only T_i's labels
        return out

    def label_embeddings(self):
        return {t.name: (self.lel.label_matrix(t.name).detach(), list(t.labels)) for t in self.tasks.values()}
