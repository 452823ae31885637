"""Sequence encoders shared by the architectures: a packed BiLSTM, a Kim-style CNN, and pooling."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def pool(x: torch.Tensor, mask: torch.Tensor, how: str = "max") -> torch.Tensor:
    """``[B, T, D]`` -> ``[B, D]`` over the positions where ``mask`` is true (all-masked rows give 0).

    ``max`` (causal-mtl eq. 16), ``mean``, or ``last`` (the last unmasked position).
    """
    m = mask.unsqueeze(-1)
    if how == "max":
        out = x.masked_fill(~m, float("-inf")).max(dim=1).values
        return torch.where(torch.isfinite(out), out, torch.zeros_like(out))
    if how == "mean":
        return (x * m.to(x.dtype)).sum(1) / m.sum(1).clamp(min=1).to(x.dtype)
    if how == "last":
        last = (mask.long().sum(1) - 1).clamp(min=0)
        out = x[torch.arange(x.shape[0], device=x.device), last]
        return out * mask.any(1, keepdim=True).to(x.dtype)
    raise ValueError(f"pool: unknown method {how!r}; expected max, mean or last")


class BiLSTMEncoder(nn.Module):
    """A bidirectional LSTM over packed sequences: ``[B, T, in_dim]`` -> ``[B, T, 2*hidden]`` (0 at padding).

    ``forward(x, mask, state=None, return_state=False)``: ``state`` (``(h0, c0)``, each
    ``[2*layers, B, hidden]``) initialises the LSTM — conditional encoding of a text on a target
    encoded first — and ``return_state`` also returns the final ``(h_n, c_n)``.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state=None, return_state: bool = False):
        b, t, _ = x.shape
        lengths = mask.long().sum(-1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        out = out * mask.unsqueeze(-1).to(out.dtype)
        return (out, (h, c)) if return_state else out


class CNNEncoder(nn.Module):
    """Kim (2014) CNN: one 1-d convolution per kernel size, ``filters`` each, ReLU.

    ``forward(x, mask) -> (tokens [B, T, len(kernel_sizes)*filters], pooled [B, same])``: token-level
    outputs keep the input length ("same" padding; even kernels pad one more on the right) and the
    sentence vector is their max over unmasked positions.
    """

    def __init__(self, in_dim: int, kernel_sizes: Sequence[int] = (2, 3, 4, 5), filters: int = 128,
                 dropout: float = 0.0, pool_how: str = "max"):
        super().__init__()
        if not kernel_sizes:
            raise ValueError("kernel_sizes: at least one kernel size is needed")
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv1d(in_dim, filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.pool_how = pool_how
        self.out_dim = filters * len(self.kernel_sizes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xt = (x * mask.unsqueeze(-1).to(x.dtype)).transpose(1, 2)  # [B, D, T]
        outs = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            left = (k - 1) // 2
            outs.append(F.relu(conv(F.pad(xt, (left, k - 1 - left)))))
        tokens = self.dropout(torch.cat(outs, dim=1).transpose(1, 2))  # [B, T, F]
        tokens = tokens * mask.unsqueeze(-1).to(tokens.dtype)
        return tokens, pool(tokens, mask, self.pool_how)
