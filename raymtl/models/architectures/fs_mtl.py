"""FS-MTL: fully shared multi-task baseline of graph-mtl (one shared LSTM, task-specific outputs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import GraphConfig, RowModel, SeqLSTM, dropout_seq, uniform_init_


@dataclass
class FSMTLConfig(GraphConfig):
    bidirectional: bool = False
    layers: int = 1


class FSMTL(RowModel):
    """All tasks share the embeddings and one LSTM layer; each task has its own output layer (eq. 12).

    ``shared_parameters()``: the shared LSTM. DDP: ``find_unused_parameters=True`` — heads of tasks
    absent from the batch are unused.
    """

    name = "fs_mtl"
    paper = "graph-mtl"
    equations = "2, 12-14"
    find_unused_parameters = True

    def __init__(self, cfg: FSMTLConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks)
        from raymtl.models.embeddings import build_embedder

        self.embedder = build_embedder(cfg, vocab_size, vectors)
        self.encoder = SeqLSTM(self.embedder.out_dim, cfg.hidden, layers=cfg.layers, bidirectional=cfg.bidirectional)
        self.build_heads(self.encoder.out_dim)
        for m in (self.encoder, self.heads):
            uniform_init_(m, cfg.init_range)

    def encode_rows(self, batch, rows, ctx):
        p = self.cfg.dropout
        x = dropout_seq(self.embedder.embed(batch), p, self.training)
        seq, last = self.encoder(x, batch.mask)  # graph-mtl eq. 2, shared θ
        return (dropout_seq(seq[rows.example], p, self.training), dropout_seq(last[rows.example], p, self.training),
                {})

    def shared_parameters(self):
        return list(self.encoder.parameters())
