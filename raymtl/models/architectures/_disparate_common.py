"""Shared pieces of the disparate-label-spaces family (Augenstein, Ruder & Søgaard, NAACL 2018).

- :class:`ConditionalEncoder`: the base model (§4.2, Augenstein et al. 2016's bidirectional
  conditional encoding): a BiLSTM reads the target (``text_b``); its final states initialise the
  BiLSTM that reads the text; ``h`` is the text BiLSTM's final forward ⊕ backward state;
- :class:`LabelEmbeddingLayer`: one label matrix L for all tasks, ``p = softmax(L h)`` restricted by
  a task mask to the task's labels (eq. 3–4);
- :func:`output_label_embedding` (eq. 5), :class:`LabelTransferNetwork` (eq. 6),
  :func:`pseudo_label_mse` (eq. 7), :func:`diversity_tensor` (§3.5);
- :class:`DisparateModel`: the hard-parameter-sharing model (eq. 1–2) the three architectures extend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.models.base import ModelOutput, MTLModel, StepContext
from raymtl.models.config import BaseConfig
from raymtl.models.encoders import BiLSTMEncoder


@dataclass
class DisparateConfig(BaseConfig):
    """Fields shared by the family (defaults: the paper's §4.3 settings).

    ``hidden`` 100 per direction and ``emb_dim`` 100 (random init); ``task_layer``: a task-specific
    ``ReLU(W h + b)`` layer before the output layer (§3.6; its width is ``task_layer_dim``, 0 = the
    encoder's width ``2*hidden``, or ``label_dim`` when the output layer is the LEL).
    ``main_task``: the target task T_T ("" = the first task); used by the LTN.
    ``skip_connections`` (§3.6, after Ruder et al. 2017): the shared representation also bypasses
    the task-specific layer, ``ReLU(W h + b) + P h`` (``P`` = identity when the widths agree, else
    a learned projection), so each task's output layer sees the shared features directly.
    """

    emb_dim: int = 100
    hidden: int = 100
    dropout: float = 0.0
    task_layer: bool = True
    task_layer_dim: int = 0
    main_task: str = ""
    skip_connections: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task_layer_dim < 0:
            raise ValueError(f"task_layer_dim: expected >= 0, got {self.task_layer_dim!r}")


# ----------------------------------------------------------------------------- encoder


class ConditionalEncoder(nn.Module):
    """Bidirectional conditional encoding (Augenstein et al. 2016), shared by all tasks.

    ``forward(x, mask, target=None, target_mask=None) -> h [B, 2*hidden]``. Without a target (a
    non-pairwise task, or a batch without ``text_b``) the text BiLSTM starts from zeros.
    """

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.target_lstm = BiLSTMEncoder(in_dim, hidden)
        self.text_lstm = BiLSTMEncoder(in_dim, hidden)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, target: torch.Tensor | None = None,
                target_mask: torch.Tensor | None = None) -> torch.Tensor:
        state = None
        if target is not None:
            _, state = self.target_lstm(target, target_mask, return_state=True)  # final (h, c) of both directions
        _, (h, _) = self.text_lstm(x, mask, state=state, return_state=True)
        return torch.cat([h[-2], h[-1]], dim=-1)  # forward h_T ⊕ backward h_1


# ----------------------------------------------------------------------------- LEL / LTN


class LabelEmbeddingLayer(nn.Module):
    """``L ∈ R^{(Σ_i L_i) × l}`` for all tasks' labels; ``c(l, h) = l · h`` (eq. 3), ``p = softmax(L h)``
    (eq. 4) with a task mask so that ``p^{T_i}`` lives on T_i's labels only.

    If ``l < in_dim``, L is zero-padded to ``in_dim`` (the paper: "we use padding if l < h"), i.e.
    only the first ``l`` components of h enter the scores; if ``l > in_dim``, h is zero-padded.
    """

    def __init__(self, tasks: Sequence[TaskSpec], label_dim: int, in_dim: int):
        super().__init__()
        sizes = [t.num_labels for t in tasks]
        self.names = [t.name for t in tasks]
        self.offsets = {t.name: (sum(sizes[:i]), sum(sizes[: i + 1])) for i, t in enumerate(tasks)}
        self.total = sum(sizes)
        self.label_dim = label_dim
        self.in_dim = in_dim
        self.weight = nn.Parameter(torch.empty(self.total, label_dim))
        nn.init.normal_(self.weight, std=label_dim ** -0.5)
        masks = torch.zeros(len(tasks), self.total, dtype=torch.bool)
        for i, t in enumerate(tasks):
            a, b = self.offsets[t.name]
            masks[i, a:b] = True
        self.register_buffer("task_masks", masks, persistent=False)

    def label_matrix(self, task: str) -> torch.Tensor:
        """``[L_i, l]``: the embeddings of ``task``'s labels."""
        a, b = self.offsets[task]
        return self.weight[a:b]

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """``L h`` for every label of every task, ``[B, Σ L_i]`` (eq. 3, as a matrix product)."""
        d = min(self.label_dim, self.in_dim)
        return h[..., :d] @ self.weight[:, :d].T  # disparate-label-spaces eq. 3–4 (padding: zeros beyond d)

    def task_probs(self, scores: torch.Tensor, task: str) -> torch.Tensor:
        """``[B, Σ L_i]`` distribution: softmax over ``task``'s labels, exactly 0 elsewhere (eq. 4 + mask)."""
        m = self.task_masks[self.names.index(task)]
        return torch.softmax(scores.masked_fill(~m, float("-inf")), dim=-1)  # disparate-label-spaces eq. 4

    def task_logits(self, scores: torch.Tensor, task: str) -> torch.Tensor:
        """``[B, L_i]``: the scores of ``task``'s labels (softmax of these = the masked eq. 4)."""
        a, b = self.offsets[task]
        return scores[..., a:b]


def output_label_embedding(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``o_i = Σ_j p_j^{T_i} l_j``: ``[B, L_i] × [L_i, l] -> [B, l]`` (disparate-label-spaces eq. 5)."""
    return probs @ labels  # disparate-label-spaces eq. 5


class LabelTransferNetwork(nn.Module):
    """``LTN_T = MLP([o_1, ..., o_{T-1}, features])`` -> logits over the main task's labels (eq. 6).

    The MLP is ``Linear -> ReLU -> Linear`` (``hidden`` units); ``softmax`` of its output is the
    pseudo-label distribution ``z^{T_T}``.
    """

    def __init__(self, in_dim: int, hidden: int, num_labels: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_labels))

    def forward(self, label_embeddings: Sequence[torch.Tensor], features: torch.Tensor | None = None) -> torch.Tensor:
        parts = list(label_embeddings) + ([features] if features is not None else [])
        return self.mlp(torch.cat(parts, dim=-1))  # disparate-label-spaces eq. 6


def pseudo_label_mse(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``||p^{T_T} − z^{T_T}||^2`` per example, averaged over examples (eq. 7); ``[B, L]`` inputs."""
    if p.shape[0] == 0:
        return p.sum() * 0.0
    return (p - z).pow(2).sum(-1).mean()  # disparate-label-spaces eq. 7


DIVERSITY_DIM = 5


def diversity_tensor(words: Sequence[Sequence[str]], term_dist: Mapping[str, float] | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, 5]`` diversity features per example (§3.5): log(1 + #word types), type-token ratio,
    entropy, Simpson's index, Rényi entropy (see :mod:`raymtl.data.diversity`). The word-type
    count is log-scaled so all inputs of the LTN are O(1)."""
    from raymtl.data.diversity import feature_matrix

    feats = torch.as_tensor(feature_matrix([list(w) for w in words], term_dist), dtype=torch.float32)
    feats[:, 0] = torch.log1p(feats[:, 0])
    return feats.to(device)


# ----------------------------------------------------------------------------- base model


class DisparateModel(MTLModel):
    """Hard parameter sharing (eq. 1–2): shared embedder + conditional encoder, then per task an
    optional task-specific layer and an output layer (:meth:`task_scores`, the subclass's choice).

    Every task is predicted for every example (the shared encoder runs once; outputs are cheap);
    losses only for the tasks present in the batch, over their labelled examples.
    """

    task_kinds = ("classify",)

    def __init__(self, cfg: DisparateConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None, task_layer_dim: int | None = None):
        super().__init__(tasks)
        from raymtl.errors import ConfigError
        from raymtl.models.embeddings import build_embedder

        self.cfg = cfg
        self.task_names = [t.name for t in tasks]
        if not tasks:
            raise ConfigError("at least one task is needed", key="tasks")
        if cfg.main_task and cfg.main_task not in self.task_names:
            raise ConfigError(f"main_task {cfg.main_task!r} is not one of the tasks {self.task_names}",
                              key="model.main_task")
        self.main_task = cfg.main_task or self.task_names[0]
        self.embedder = build_embedder(cfg, vocab_size, vectors)
        self.encoder = ConditionalEncoder(self.embedder.out_dim, cfg.hidden)
        self.feat_dim = self.encoder.out_dim
        if cfg.task_layer:
            width = cfg.task_layer_dim or task_layer_dim or self.encoder.out_dim
            self.task_layers = nn.ModuleList(nn.Linear(self.encoder.out_dim, width) for _ in tasks)
            self.feat_dim = width
        else:
            self.task_layers = None
        self.skips = None
        if cfg.skip_connections and self.task_layers is not None:
            same = self.feat_dim == self.encoder.out_dim
            self.skips = nn.ModuleList(nn.Identity() if same else nn.Linear(self.encoder.out_dim, self.feat_dim,
                                                                            bias=False) for _ in tasks)

    def encode(self, batch: Batch) -> torch.Tensor:
        p = self.cfg.dropout
        drop = (lambda t: F.dropout(t, p, self.training)) if p > 0 else (lambda t: t)
        x = drop(self.embedder.embed(batch))
        pair = self.embedder.embed_pair(batch)
        if pair is not None:
            return drop(self.encoder(x, batch.mask, drop(pair[0]), pair[1]))
        return drop(self.encoder(x, batch.mask))

    def task_features(self, h: torch.Tensor, k: int) -> torch.Tensor:
        if self.task_layers is None:
            return h
        out = F.relu(self.task_layers[k](h))  # §3.6 task-specific layer
        return out + self.skips[k](h) if self.skips is not None else out  # §3.6 skip-connection

    def task_scores(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits ``[B, L_k]`` of every task."""
        raise NotImplementedError  # pragma: no cover

    def forward(self, batch: Batch, ctx: StepContext | None = None) -> ModelOutput:
        ctx = ctx or StepContext(training=self.training)
        h = self.encode(batch)
        logits = self.task_scores(h)
        out = ModelOutput()
        for name in self.task_names:
            out.predictions[name] = logits[name].argmax(-1)
            out.scores[name] = logits[name].detach()
            if name in batch.present and name in batch.targets:
                valid = batch.present[name] & (batch.targets[name] != IGNORE)
                if valid.any():  # disparate-label-spaces eq. 2: L_i = H(p^{T_i}, y^{T_i}) (λ_i: trainer)
                    out.losses[name] = F.cross_entropy(logits[name][valid], batch.targets[name][valid])
        self.extend_output(out, batch, h, logits, ctx)
        return out

    def extend_output(self, out: ModelOutput, batch: Batch, h: torch.Tensor, logits: dict[str, torch.Tensor],
                      ctx: StepContext) -> None:
        """Hook for the LTN (extra losses, extras, prediction overrides)."""

    def shared_parameters(self):
        return list(self.embedder.parameters()) + list(self.encoder.parameters())
