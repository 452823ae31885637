"""Shared pieces of the graph-mtl family (Liu, Fu, Qiu & Huang: multi-task learning over graph structures).

- :class:`LSTMBank`: one unidirectional LSTM per task (the task nodes, eq. 2), usable plainly (to
  send messages, eq. 2) or as the recurrent part of LSTM† (to receive them, eq. 9);
- :class:`FusionGate`: LSTM†'s fusion gate (eq. 10–11); the recurrence itself, with its message
  attention, is :func:`lstm_dagger` in ``_graph_recurrence`` (one autograd node, written-out backward);
- :class:`MessageScorer`: the edge score ``u tanh(W [x_t, h_{t-1}^(k), h_src])`` (eq. 4–5) used for
  α (eq. 6, over other tasks) and β (eq. 8, over the shared LSTM's positions);
- :func:`grad_reverse` and :func:`orthogonality_penalty` for the SP-MTL baseline (Liu et al. 2017);
- :class:`TaskRows` + :class:`RowModel`: the bookkeeping every graph-family model shares. A *row*
  is one (example, task) pair to compute: by default the labelled pairs of the batch (disjoint
  data: one row per labelled example), with ``predict_all_tasks`` every example × every task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_recurrence import Sources, lstm_dagger
from raymtl.models.config import BaseConfig
from raymtl.models.base import ModelOutput, MTLModel, StepContext
from raymtl.models.heads import build_head


# ----------------------------------------------------------------------------- SP-MTL pieces


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``-scale`` backward (gradient reversal layer)."""
    return _GradReverse.apply(x, float(scale))


def orthogonality_penalty(shared: torch.Tensor, private: torch.Tensor) -> torch.Tensor:
    """``||S^T P||_F^2`` with rows of S / P the shared / private features of the same examples."""
    return (shared.transpose(0, 1) @ private).pow(2).sum()  # SP-MTL L_diff (Liu et al. 2017)


# ----------------------------------------------------------------------------- task LSTMs


class LSTMBank(nn.Module):
    """``n`` unidirectional single-layer LSTMs of the same sizes (task-dependent LSTMs θ^(k))."""

    def __init__(self, n: int, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstms = nn.ModuleList(nn.LSTM(input_size, hidden_size, batch_first=True) for _ in range(n))

    def __len__(self) -> int:
        return len(self.lstms)

    def plain(self, x: torch.Tensor, which: list[int] | None = None) -> torch.Tensor:
        """``[n, B, T, H]`` hidden states of every (or the listed) task LSTM over ``x`` (eq. 2).

        Right-padded input needs no packing for a forward LSTM: outputs at real positions only
        depend on earlier positions; padded positions are masked by the callers.
        """
        idx = range(len(self.lstms)) if which is None else which
        return torch.stack([self.lstms[i](x)[0] for i in idx])  # graph-mtl eq. 2

    def stacked(self, which: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``W_ih [n, 4H, D]``, ``W_hh [n, 4H, H]``, ``b [n, 4H]`` (gate order i, f, g, o) of every
        (or the listed) task LSTM. Only the listed LSTMs enter the graph, so the others get no
        gradient at all (not a zero one that an optimiser with momentum would still act on)."""
        ms = [self.lstms[i] for i in (range(len(self.lstms)) if which is None else which)]
        w_ih = torch.stack([m.weight_ih_l0 for m in ms])
        w_hh = torch.stack([m.weight_hh_l0 for m in ms])
        b = torch.stack([m.bias_ih_l0 + m.bias_hh_l0 for m in ms])
        return w_ih, w_hh, b


class FusionGate(nn.Module):
    """The fusion gate of LSTM†: ``h_t = o_t ⊙ tanh(c_t + g_t ⊙ W_f r_t)``, ``g_t = σ(W_r r_t + W_c c_t)``.

    Its parameters carry the superscript (s) in the paper: one gate shared by all tasks.
    """

    def __init__(self, hidden_size: int, message_size: int):
        super().__init__()
        self.W_f = nn.Linear(message_size, hidden_size, bias=False)
        self.W_r = nn.Linear(message_size, hidden_size, bias=False)
        self.W_c = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, o: torch.Tensor, c: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.sigmoid(self.W_r(r) + self.W_c(c))  # graph-mtl eq. 11
        h = o * torch.tanh(c + g * self.W_f(r))  # graph-mtl eq. 10
        return h, g


class MessageScorer(nn.Module):
    """``s = u^T tanh(W [x_t, h_{t-1}^(k), h_src])`` (graph-mtl eq. 5), split as ``W = [W_x, W_h, W_s]``.

    ``source`` terms are projected once per sequence (:meth:`project_source`), ``W_x x_t`` once per
    sequence by the caller; ``lstm_dagger`` adds ``W_h h_{t-1}`` and scores at each step.
    """

    def __init__(self, input_size: int, hidden_size: int, source_size: int, attn_size: int):
        super().__init__()
        self.W_x = nn.Linear(input_size, attn_size, bias=False)
        self.W_h = nn.Linear(hidden_size, attn_size, bias=False)
        self.W_s = nn.Linear(source_size, attn_size, bias=False)
        self.u = nn.Linear(attn_size, 1, bias=False)

    def project_source(self, src: torch.Tensor) -> torch.Tensor:
        return self.W_s(src)


# ----------------------------------------------------------------------------- rows and heads


@dataclass
class TaskRows:
    """The (example, task) pairs computed in one forward, in batch order then task order."""

    example: torch.Tensor  # [N] long: batch index of the row
    task: torch.Tensor  # [N] long: task index of the row

    def __len__(self) -> int:
        return int(self.example.numel())

    def of_task(self, k: int) -> torch.Tensor:
        return (self.task == k).nonzero(as_tuple=True)[0]


def task_rows(batch: Batch, task_names: list[str], *, all_tasks: bool = False) -> TaskRows:
    b = batch.size
    dev = batch.tokens.device
    sel = torch.zeros(b, len(task_names), dtype=torch.bool, device=dev)
    for k, name in enumerate(task_names):
        if all_tasks:
            sel[:, k] = True
        elif name in batch.present:
            sel[:, k] = batch.present[name].to(dev)
    ex, task = sel.nonzero(as_tuple=True)  # row-major: batch order, then task order
    return TaskRows(example=ex, task=task)


def uniform_init_(module: nn.Module, bound: float) -> None:
    """graph-mtl: "parameters are initialized by sampling from U[-0.1, 0.1]" (embeddings excluded)."""
    if bound <= 0:
        return
    for name, p in module.named_parameters():
        if "embed" in name:
            continue
        nn.init.uniform_(p, -bound, bound)


class RowModel(MTLModel):
    """Base of the graph family: encode rows, apply each task's head to its rows, collect losses.

    Subclasses implement :meth:`encode_rows` returning ``(seq [N, T, D], last [N, D], extras)``
    (extras whose key starts with ``_`` go to :meth:`row_extra_losses` only);
    classification heads read ``last`` (graph-mtl eq. 12: OUTPUT-LAYER(h_T^(k))), tagging heads
    read ``seq``. Losses are computed for labelled rows only; predictions of every task are ``[B]``
    (classify) / ``[B, T]`` (tagging) tensors holding ``-100`` where the task was not computed.
    """

    task_kinds = ("classify", "tagging")

    def __init__(self, cfg, tasks: list[TaskSpec]):
        super().__init__(tasks)
        self.cfg = cfg
        self.task_names = [t.name for t in tasks]
        if len(set(self.task_names)) != len(self.task_names):
            from raymtl.errors import ConfigError

            raise ConfigError(f"duplicate task names {self.task_names}", key="tasks")

    def build_heads(self, in_dim: int) -> None:
        """graph-mtl eq. 12: a softmax layer per classification task, a CRF for tagging (``crf``)."""
        crf = bool(getattr(self.cfg, "crf", False))
        self.heads = nn.ModuleList(build_head(t, in_dim, crf=crf) for t in self.tasks.values())

    def encode_rows(self, batch: Batch, rows: TaskRows, ctx: StepContext
                    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:  # pragma: no cover
        raise NotImplementedError

    def shared_state_dict(self) -> dict[str, torch.Tensor]:
        """``{name: tensor}`` of :meth:`shared_parameters` — what leave-one-task-out transfers.

        Shared parameter names do not depend on the task set, so the dict of a model trained on
        15 tasks loads into a fresh model of the 16th (:meth:`load_shared_state_dict`).
        """
        ids = {id(p) for p in self.shared_parameters()}
        return {n: p.detach().clone() for n, p in self.named_parameters() if id(p) in ids}

    def load_shared_state_dict(self, state: dict[str, torch.Tensor], *, freeze: bool = True) -> None:
        """Copy transferred shared parameters in (shapes must match), then freeze them (the paper)."""
        own = self.shared_state_dict()
        if set(state) != set(own):
            from raymtl.errors import ConfigError

            raise ConfigError(f"shared parameters differ: expected {sorted(own)}, got {sorted(state)}",
                              key="model")
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        if freeze:
            self.freeze_shared()

    def row_extra_losses(self, batch: Batch, rows: TaskRows, internal: dict[str, torch.Tensor],
                         ctx: StepContext) -> dict[str, torch.Tensor]:
        """Already-weighted extra losses; ``internal``: the ``_``-prefixed extras of :meth:`encode_rows`."""
        return {}

    def forward(self, batch: Batch, ctx: StepContext | None = None) -> ModelOutput:
        ctx = ctx or StepContext(training=self.training)
        rows = task_rows(batch, self.task_names, all_tasks=bool(getattr(self.cfg, "predict_all_tasks", False)))
        out = ModelOutput()
        if len(rows) == 0:
            out.predictions = {n: self._empty_prediction(t, batch) for n, t in self.tasks.items()}
            return out
        seq, last, extras = self.encode_rows(batch, rows, ctx)
        row_mask = batch.mask[rows.example]
        for k, (name, spec) in enumerate(self.tasks.items()):
            pred = self._empty_prediction(spec, batch)
            idx = rows.of_task(k)
            if idx.numel():
                head = self.heads[k]
                feats = last[idx] if spec.kind == "classify" else seq[idx]
                ex = rows.example[idx]
                logits = head(feats, row_mask[idx])
                pred[ex] = head.decode(logits, row_mask[idx]).to(pred.dtype)
                if spec.kind == "classify" and not ctx.training:  # for evaluation metrics only
                    scores = logits.new_full((batch.size, logits.shape[-1]), float("-inf"))
                    scores[ex] = logits.detach()
                    out.scores[name] = scores
                if name in batch.targets:
                    lab = batch.present[name][ex]
                    if lab.any():  # graph-mtl eq. 13 (unweighted; λ_k of eq. 14 is the trainer's)
                        out.losses[name] = head.loss(logits, batch.targets[name][ex], lab, row_mask[idx])
            out.predictions[name] = pred
        internal = {k: extras.pop(k) for k in [k for k in extras if k.startswith("_")]}
        out.extra_losses.update(self.row_extra_losses(batch, rows, internal, ctx))
        if extras:
            out.extras.update(extras)
            out.extras["row_example"] = rows.example
            out.extras["row_task"] = rows.task
        return out

    @staticmethod
    def _empty_prediction(spec: TaskSpec, batch: Batch) -> torch.Tensor:
        shape = (batch.size,) if spec.kind == "classify" else tuple(batch.tokens.shape)
        return torch.full(shape, IGNORE, dtype=torch.long, device=batch.tokens.device)


def dropout_seq(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    return F.dropout(x, p, training) if p > 0 else x


class SeqLSTM(nn.Module):
    """A packed (Bi)LSTM returning token states ``[B, T, out_dim]`` (0 at padding) and the final state.

    The final state is the last layer's ``h_T`` (forward) concatenated with the backward direction's
    state at position 1 when bidirectional. Used by the baselines (single-task LSTM, FS-MTL, SP-MTL).
    """

    def __init__(self, in_dim: int, hidden: int, *, layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.dirs = 2 if bidirectional else 1
        self.out_dim = hidden * self.dirs

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        t = x.shape[1]
        lengths = mask.long().sum(-1).clamp(min=1).cpu()
        out, (h, _) = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        seq, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        last = torch.cat(list(h[-self.dirs:]), dim=-1)
        return seq * mask.unsqueeze(-1).to(seq.dtype), last


@dataclass
class GraphConfig(BaseConfig):
    """Fields shared by the graph-mtl family (defaults: the paper's text-classification setting).

    ``hidden`` 200 and ``emb_dim`` 200 (GloVe-200 in the paper; grid over hidden 100/200/300).
    ``init_range``: non-embedding parameters drawn from U[-init_range, init_range] (paper: 0.1;
    0 keeps PyTorch's defaults). ``crf``: tagging heads use a CRF (paper, eq. 12).
    ``predict_all_tasks``: compute every task on every example (default: only the tasks an example
    is labelled with — the rows that have a loss or a metric; the paper's Algorithm 1 runs the
    sentence of task k through task k's node only).
    """

    emb_dim: int = 200
    hidden: int = 200
    dropout: float = 0.0
    init_range: float = 0.1
    crf: bool = True
    predict_all_tasks: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_range < 0:
            raise ValueError(f"init_range: expected >= 0, got {self.init_range!r}")


def check_positive(cfg, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if v < 0:
            raise ValueError(f"{name}: expected >= 0, got {v!r}")


@dataclass
class MessagePassingConfig(GraphConfig):
    """``attn_size``: size of the edge scorer's hidden layer (W^(s) in eq. 5; 0 = ``hidden``).
    ``fused_attention``: on CPU in float32, run LSTM† and its message attention (the whole time loop,
    forward and backward) as one compiled call (built once with the machine's C compiler; the eager
    torch ops where there is none), the same results within float tolerance."""

    attn_size: int = 0
    fused_attention: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "attn_size")


class MessagePassingModel(RowModel):
    """CG-MTL and SG-MTL: a task node per task (an LSTM θ^(k)) updated by LSTM† (eq. 9–11) from
    messages ``r_t^(k)`` that the subclass aggregates (:meth:`messages`)."""

    def __init__(self, cfg: MessagePassingConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None, source_size: int | None = None):
        super().__init__(cfg, tasks)
        from raymtl.models.embeddings import build_embedder

        self.embedder = build_embedder(cfg, vocab_size, vectors)
        d, h = self.embedder.out_dim, cfg.hidden
        src = source_size or h
        self.nodes = LSTMBank(len(tasks), d, h)  # θ^(k)
        self.scorer = MessageScorer(d, h, src, cfg.attn_size or h)  # u^(s), W^(s): graph-mtl eq. 5
        self.fusion = FusionGate(h, src)  # W_f^(s), W_r^(s), W_c^(s): graph-mtl eq. 10–11
        self.build_heads(h)

    def init_weights(self) -> None:
        for name, mod in self.named_children():
            if name != "embedder":
                uniform_init_(mod, self.cfg.init_range)

    def messages(self, x: torch.Tensor, batch: Batch, rows: TaskRows) -> tuple[Sources, str]:
        """What each row's node attends to (the message sources of eq. 3 / 8) and the weights' name."""
        raise NotImplementedError  # pragma: no cover

    def encode_rows(self, batch, rows, ctx):
        x = dropout_seq(self.embedder.embed(batch), self.cfg.dropout, self.training)  # [B, T, D]
        which, local = torch.unique(rows.task, return_inverse=True)  # the tasks of this batch's rows
        w_ih, w_hh, b = self.nodes.stacked(which.tolist())
        xr = x[rows.example]  # [N, T, D]
        x_proj = torch.einsum("ntd,ngd->ntg", xr, w_ih[local]) + b[local].unsqueeze(1)
        qx = self.scorer.W_x(xr)  # W^(s) x_t part of graph-mtl eq. 5, [N, T, A]
        sources, key = self.messages(x, batch, rows)
        seq, last, weights = lstm_dagger(x_proj, w_hh, batch.mask[rows.example], self.fusion, self.scorer.W_h.weight,
                                         qx, sources, which=local,
                                         recompute=bool(getattr(self.cfg, "checkpoint_attention", True)),
                                         fused=self.cfg.fused_attention)
        p = self.cfg.dropout
        return dropout_seq(seq, p, self.training), dropout_seq(last, p, self.training), {key: weights}
