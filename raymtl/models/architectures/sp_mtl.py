"""SP-MTL baseline of graph-mtl: shared-private model with adversarial training (Liu, Qiu & Huang 2017)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import (GraphConfig, RowModel, SeqLSTM, dropout_seq, grad_reverse,
                                                       orthogonality_penalty, uniform_init_)


@dataclass
class SPMTLConfig(GraphConfig):
    """``adversarial``: the task discriminator on the shared features through gradient reversal
    (``grl_scale``: the reversed gradient's factor; the loss itself is weighted by the schedule's
    ``ctx.adv_weight``, λ = 0.05 in Liu et al. 2017). ``orth_weight``: weight of the orthogonality
    penalty Σ_k ||S_k^T P_k||_F^2 (γ = 0.01 in Liu et al. 2017; 0 disables it)."""

    bidirectional: bool = False
    adversarial: bool = True
    grl_scale: float = 1.0
    orth_weight: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grl_scale < 0 or self.orth_weight < 0:
            raise ValueError("grl_scale and orth_weight must be >= 0")


class SPMTL(RowModel):
    """A shared LSTM and a private LSTM per task; task k's output layer reads ``[s; p_k]``.

    Extra losses (both already weighted): ``adversarial`` = ``ctx.adv_weight`` · CE of a task
    discriminator ``softmax(U s + b)`` on gradient-reversed shared features (the discriminator learns
    the task, the shared LSTM learns to hide it); ``orthogonality`` = ``orth_weight`` ·
    Σ_k ||S_k^T P_k||_F^2 over each present task's rows (sentence-level final states). Both need
    labelled rows; the adversarial loss needs at least two tasks in the model.

    ``shared_parameters()``: the shared LSTM (the transferred layer in the leave-one-task-out setting).
    DDP: ``find_unused_parameters=True`` — private LSTMs/heads of absent tasks are unused.
    """

    name = "sp_mtl"
    paper = "graph-mtl"
    equations = "2, 12-14; Liu et al. 2017 L_adv (GRL), L_diff"
    find_unused_parameters = True

    def __init__(self, cfg: SPMTLConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks)
        from raymtl.models.embeddings import build_embedder

        self.embedder = build_embedder(cfg, vocab_size, vectors)
        d = self.embedder.out_dim
        self.shared = SeqLSTM(d, cfg.hidden, bidirectional=cfg.bidirectional)
        self.private = nn.ModuleList(SeqLSTM(d, cfg.hidden, bidirectional=cfg.bidirectional) for _ in tasks)
        self.discriminator = nn.Linear(self.shared.out_dim, len(tasks))
        self.build_heads(2 * self.shared.out_dim)
        for name, m in self.named_children():
            if name != "embedder":
                uniform_init_(m, cfg.init_range)

    def encode_rows(self, batch, rows, ctx):
        p = self.cfg.dropout
        x = dropout_seq(self.embedder.embed(batch), p, self.training)
        s_seq, s_last = self.shared(x, batch.mask)
        s_seq, s_last = s_seq[rows.example], s_last[rows.example]
        n, t_len, h = s_seq.shape
        p_seq = s_seq.new_zeros(n, t_len, h)
        p_last = s_last.new_zeros(n, h)
        for k in rows.task.unique().tolist():
            idx = rows.of_task(k)
            ex = rows.example[idx]
            ps, pl = self.private[k](x[ex], batch.mask[ex])
            p_seq = p_seq.index_copy(0, idx, ps)
            p_last = p_last.index_copy(0, idx, pl)
        seq = torch.cat([s_seq, p_seq], -1)
        last = torch.cat([s_last, p_last], -1)
        return (dropout_seq(seq, p, self.training), dropout_seq(last, p, self.training),
                {"_shared": s_last, "_private": p_last})

    def row_extra_losses(self, batch, rows, internal, ctx):
        s, pr = internal.get("_shared"), internal.get("_private")
        out: dict[str, torch.Tensor] = {}
        labelled = torch.zeros(len(rows), dtype=torch.bool, device=rows.task.device)
        for k, name in enumerate(self.task_names):
            if name in batch.present:
                idx = rows.of_task(k)
                labelled[idx] = batch.present[name][rows.example[idx]]
        if s is None or not labelled.any():
            return out
        if self.cfg.adversarial and len(self.task_names) > 1:
            logits = self.discriminator(grad_reverse(s[labelled], self.cfg.grl_scale))
            out["adversarial"] = ctx.adv_weight * F.cross_entropy(logits, rows.task[labelled])  # Liu et al. 2017 L_adv
        if self.cfg.orth_weight > 0:
            pen = s.new_zeros(())
            for k in rows.task[labelled].unique().tolist():
                sel = labelled & (rows.task == k)
                pen = pen + orthogonality_penalty(s[sel], pr[sel])  # Liu et al. 2017 L_diff
            out["orthogonality"] = self.cfg.orth_weight * pen
        return out

    def shared_parameters(self):
        return list(self.shared.parameters())
