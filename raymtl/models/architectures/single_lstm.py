"""Single-task LSTM baselines of graph-mtl (Table 1 "Single Task": LSTM, BiLSTM, stacked LSTM)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import GraphConfig, RowModel, SeqLSTM, dropout_seq, uniform_init_


@dataclass
class SingleLSTMConfig(GraphConfig):
    """``bidirectional``/``layers`` give the paper's three single-task variants (LSTM, BiLSTM,
    stacked LSTM). ``share_embeddings``: one lookup table for all tasks (else one per task)."""

    bidirectional: bool = False
    layers: int = 1
    share_embeddings: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layers < 1:
            raise ValueError(f"layers: expected >= 1, got {self.layers!r}")


class SingleLSTM(RowModel):
    """One independent LSTM and output layer per task (no sharing beyond, optionally, the embeddings).

    Training it on several tasks at once equals training each task alone (the gradients of a task
    touch only its own LSTM and head), so one run gives every task's single-task baseline.

    DDP: ``find_unused_parameters=True`` — the LSTM and head of a task absent from a batch are unused.
    """

    name = "single_lstm"
    paper = "graph-mtl"
    equations = "2, 12-13"
    find_unused_parameters = True

    def __init__(self, cfg: SingleLSTMConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks)
        from raymtl.models.embeddings import build_embedder

        n_emb = 1 if cfg.share_embeddings else len(tasks)
        self.embedders = nn.ModuleList(build_embedder(cfg, vocab_size, vectors) for _ in range(n_emb))
        d = self.embedders[0].out_dim
        self.encoders = nn.ModuleList(SeqLSTM(d, cfg.hidden, layers=cfg.layers, bidirectional=cfg.bidirectional)
                                      for _ in tasks)
        self.build_heads(self.encoders[0].out_dim)
        for m in (self.encoders, self.heads):
            uniform_init_(m, cfg.init_range)

    def encode_rows(self, batch, rows, ctx):
        p = self.cfg.dropout
        n, t_len = len(rows), batch.tokens.shape[1]
        out_dim = self.encoders[0].out_dim
        seq = batch.mask.new_zeros(n, t_len, out_dim, dtype=torch.float)
        last = batch.mask.new_zeros(n, out_dim, dtype=torch.float)
        shared_x = self.embedders[0].embed(batch) if len(self.embedders) == 1 else None
        for k in rows.task.unique().tolist():
            idx = rows.of_task(k)
            x = shared_x if shared_x is not None else self.embedders[k].embed(batch)
            ex = rows.example[idx]
            s, l = self.encoders[k](dropout_seq(x[ex], p, self.training), batch.mask[ex])  # graph-mtl eq. 2
            seq = seq.index_copy(0, idx, s.to(seq.dtype))
            last = last.index_copy(0, idx, l.to(last.dtype))
        return dropout_seq(seq, p, self.training), dropout_seq(last, p, self.training), {}
