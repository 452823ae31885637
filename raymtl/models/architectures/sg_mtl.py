"""SG-MTL: Star-graph multi-task learning (graph-mtl, "Indirect Communication", eq. 7–12)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import MessagePassingConfig, MessagePassingModel
from raymtl.models.architectures._graph_recurrence import Sources


@dataclass
class SGMTLConfig(MessagePassingConfig):
    """``checkpoint_attention``: recompute the per-step β scores' ``tanh`` in backward instead of storing
    them (memory O(N·T·A) instead of O(N·T²·A) for long reviews; same results)."""

    checkpoint_attention: bool = True


class SGMTL(MessagePassingModel):
    """A shared LSTM (the virtual node, the "mailbox") reads every sentence (eq. 7); task k's node
    reads from it at step t ``r_t^(k) = Σ_i β_{t→i}^(k) h_i^(s)`` over all positions i (eq. 8) with
    β computed like eq. 5–6 from ``[x_t, h_{t-1}^(k), h_i^(s)]`` (softmax over the sentence's
    positions), fused into its LSTM† state (eq. 9–11). Output from ``h_T^(k)`` (eq. 12).

    ``extras["beta"]``: ``[N, T, T]`` per row (step t → position i); rows sum to 1 over real
    positions, 0 at padding. ``shared_parameters()``: the shared LSTM (the layer the paper transfers,
    frozen, in its leave-one-task-out experiment).

    DDP: ``find_unused_parameters=True`` — the node LSTM and head of a task absent from a batch get
    no gradient (Algorithm 1: a batch holds one task).
    """

    name = "sg_mtl"
    paper = "graph-mtl"
    equations = "7-14"
    find_unused_parameters = True

    def __init__(self, cfg: SGMTLConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks, vocab_size, vectors=vectors)
        self.shared = nn.LSTM(self.embedder.out_dim, cfg.hidden, batch_first=True)  # θ^(s)
        self.init_weights()

    def messages(self, x, batch, rows):
        hs = self.shared(x)[0][rows.example]  # h_i^(s), [N, T, H] (graph-mtl eq. 7)
        src = self.scorer.project_source(hs)  # W^(s) h_i^(s) part of eq. 5, [N, T, A]
        # β over the row's real positions (graph-mtl eq. 8), the same positions at every step
        return Sources(src, hs, ~batch.mask[rows.example], self.scorer.u.weight[0]), "beta"

    def shared_parameters(self):
        return list(self.shared.parameters())
