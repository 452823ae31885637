"""CG-MTL: Complete-graph multi-task learning (graph-mtl, "Direct Communication", eq. 3–6, 9–12)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import MessagePassingConfig, MessagePassingModel
from raymtl.models.architectures._graph_recurrence import Sources


@dataclass
class CGMTLConfig(MessagePassingConfig):
    """CG-MTL config: the shared graph fields (see :class:`GraphConfig`, :class:`MessagePassingConfig`)."""


class CGMTL(MessagePassingModel):
    """Every task is a node with its own LSTM; a sentence of task k is read by all other tasks' LSTMs
    (eq. 2) and task k's node receives, at every step t, ``r_t^(k) = Σ_{i≠k} α_t^(i→k) h_t^(i)``
    (eq. 3) with ``α_t = softmax_i(u tanh(W [x_t, h_{t-1}^(k), h_t^(i)]))`` (eq. 4–6), fused into its
    LSTM† state (eq. 9–11). The class label is read from ``h_T^(k)`` (eq. 12).

    ``extras["alpha"]``: ``[N, T, K]`` per row (``extras["row_example"]``/``["row_task"]`` map rows
    to examples/tasks; a disjoint batch has one row per labelled example, in batch order); 0 on the
    row's own task and at padding. With one task there are no messages (r = 0, α = 0).

    DDP: ``find_unused_parameters=True`` — the heads of tasks absent from a batch get no gradient
    (all task LSTMs do: they send messages).
    """

    name = "cg_mtl"
    paper = "graph-mtl"
    equations = "2-6, 9-14"
    find_unused_parameters = True

    def __init__(self, cfg: CGMTLConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks, vocab_size, vectors=vectors)
        self.init_weights()

    def messages(self, x, batch, rows):
        # h_t^(i) of every task LSTM on every row, [N, T, K, H] (graph-mtl eq. 2)
        hs = self.nodes.plain(x)[:, rows.example].permute(1, 2, 0, 3).contiguous()
        src = self.scorer.project_source(hs)  # W^(s) h_t^(i) part of graph-mtl eq. 5, [N, T, K, A]
        # α over the other tasks i ≠ k (eq. 6); with one task every source is excluded: r = 0, α = 0
        own = torch.nn.functional.one_hot(rows.task, len(self.nodes)).bool()  # [N, K]
        return Sources(src, hs, own, self.scorer.u.weight[0]), "alpha"

    def shared_parameters(self):
        """The parameters every task node shares (superscript (s)): edge scorer and fusion gate."""
        return list(self.scorer.parameters()) + list(self.fusion.parameters())
