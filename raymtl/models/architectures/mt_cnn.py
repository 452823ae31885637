"""MT-CNN baseline of graph-mtl (Collobert & Weston 2008): shared lookup table, task-specific CNNs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import GraphConfig, RowModel, dropout_seq, uniform_init_
from raymtl.models.encoders import CNNEncoder


@dataclass
class MTCNNConfig(GraphConfig):
    """``kernel_sizes``/``filters``: each task's convolution (max-pooled over time).
    ``private_emb_dim`` > 0 adds a task-specific lookup table of that width next to the shared one
    ("lookup-tables are shared partially", Collobert & Weston 2008); 0 shares the whole table."""

    kernel_sizes: tuple[int, ...] = (3,)
    filters: int = 200
    private_emb_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ValueError(f"kernel_sizes: expected positive integers, got {self.kernel_sizes!r}")
        if self.filters < 1 or self.private_emb_dim < 0:
            raise ValueError("filters must be >= 1 and private_emb_dim >= 0")


class MTCNN(RowModel):
    """Shared (part of the) lookup table; per task: convolution + max over time + output layer.

    ``shared_parameters()``: the shared lookup table. DDP: ``find_unused_parameters=True`` — the
    CNN/head of tasks absent from the batch are unused.
    """

    name = "mt_cnn"
    paper = "graph-mtl"
    equations = "12-14"
    find_unused_parameters = True

    def __init__(self, cfg: MTCNNConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks)
        from raymtl.models.embeddings import build_embedder

        self.embedder = build_embedder(cfg, vocab_size, vectors)
        d = self.embedder.out_dim + cfg.private_emb_dim
        self.private_emb = nn.ModuleList(nn.Embedding(vocab_size, cfg.private_emb_dim, padding_idx=0)
                                         for _ in tasks) if cfg.private_emb_dim else None
        self.cnns = nn.ModuleList(CNNEncoder(d, cfg.kernel_sizes, cfg.filters) for _ in tasks)
        self.build_heads(self.cnns[0].out_dim)
        for m in (self.cnns, self.heads):
            uniform_init_(m, cfg.init_range)

    def encode_rows(self, batch, rows, ctx):
        p = self.cfg.dropout
        x = self.embedder.embed(batch)
        n, t_len = len(rows), batch.tokens.shape[1]
        out_dim = self.cnns[0].out_dim
        seq = x.new_zeros(n, t_len, out_dim)
        last = x.new_zeros(n, out_dim)
        for k in rows.task.unique().tolist():
            idx = rows.of_task(k)
            ex = rows.example[idx]
            xk = x[ex]
            if self.private_emb is not None:
                xk = torch.cat([xk, self.private_emb[k](batch.tokens[ex])], -1)
            s, l = self.cnns[k](dropout_seq(xk, p, self.training), batch.mask[ex])
            seq = seq.index_copy(0, idx, s)
            last = last.index_copy(0, idx, l)
        return seq, dropout_seq(last, p, self.training), {}

    def shared_parameters(self):
        return list(self.embedder.parameters())
