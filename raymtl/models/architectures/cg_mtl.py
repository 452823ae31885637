"""CG-MTL: Complete-graph multi-task learning (graph-mtl, "Direct Communication", eq. 3–6, 9–12)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import MessagePassingConfig, MessagePassingModel


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

    def messages(self, x, batch, rows, qx):
        k_all = len(self.nodes)
        n, t_len = qx.shape[:2]
        hidden = self.cfg.hidden
        if k_all == 1:
            zero_r, zero_a = qx.new_zeros(n, hidden), qx.new_zeros(n, 1)
            return (lambda t, h_prev: (zero_r, zero_a)), "alpha"
        # h_t^(i) of every task LSTM on every row, [K, N, T, H]
        hs = self.nodes.plain(x)[:, rows.example]  # graph-mtl eq. 2
        src = self.scorer.project_source(hs)  # W^(s) h_t^(i) part of graph-mtl eq. 5, [K, N, T, A]
        own = torch.nn.functional.one_hot(rows.task, k_all).T.bool()  # [K, N]: i == k
        qx_t, src_t, hs_t = qx.unbind(1), src.unbind(2), hs.unbind(2)  # per step, cheap in backward

        def message(t: int, h_prev: torch.Tensor):
            q = self.scorer.query(qx_t[t], h_prev)  # W^(s) [x_t, h_{t-1}^(k)] part of graph-mtl eq. 5
            s = self.scorer.score(q.unsqueeze(0), src_t[t])  # s_t^(i→k), [K, N] (graph-mtl eq. 4–5)
            alpha = torch.softmax(s.masked_fill(own, float("-inf")), dim=0)  # graph-mtl eq. 6, over i ≠ k
            r = (alpha.unsqueeze(-1) * hs_t[t]).sum(0)  # graph-mtl eq. 3
            return r, alpha.T

        return message, "alpha"

    def shared_parameters(self):
        """The parameters every task node shares (superscript (s)): edge scorer and fusion gate."""
        return list(self.scorer.parameters()) + list(self.fusion.parameters())
