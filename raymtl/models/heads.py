"""Output heads by task kind (causal-mtl appendix A), shared by every architecture.

A head maps features to logits (``forward``), computes the unweighted loss over the examples that
carry the task (``loss(logits, target, present, mask)``; targets as in :mod:`raymtl.data.batch`),
decodes predictions in the formats of :class:`raymtl.models.base.MTLModel` (``decode``), and gives
the predicted distribution (``probs``) and its hard version (``hard``: one-hot / multi-hot floats,
used to transfer predicted labels to higher tasks). Tagging predictions are 0 at padding
(use the batch mask); relation predictions are False outside pairs of unmasked tokens.

Loss normalisation. Token-level heads follow ``token_loss``: ``"sum"`` (default, causal-mtl eq. 13
and 15 as printed) sums over a sentence's labelled tokens (tagging) or its (head, tail, type)
cells (relation) and averages over the sentences of the batch; ``"mean"`` averages over labelled
tokens (tagging) or head tokens (relation). The choice sets how much a token task weighs against a
sentence task in a shared encoder: with ``"mean"`` an ATE loss of ~0.1 per token sits beside an
ACD loss of ~1.3 per sentence and the shared encoder serves ACD (measured: FSMTL ATE 58 F1 against
76 single-task); with ``"sum"`` it weighs as the paper's does. Multilabel — sum over labels
(eq. 18), mean over examples; classify — mean over examples. Examples not ``present`` never count;
with none present the loss is a zero that keeps the graph (DDP-safe).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raymtl.data.batch import IGNORE
from raymtl.data.schema import TaskSpec
from raymtl.models.encoders import pool as pool_fn


TOKEN_LOSSES = ("sum", "mean")


def _zero(logits: torch.Tensor) -> torch.Tensor:
    return logits.sum() * 0.0


def check_token_loss(value: str) -> str:
    if value not in TOKEN_LOSSES:
        raise ValueError(f"token_loss: expected one of {TOKEN_LOSSES}, got {value!r}")
    return value


class Head(nn.Module):
    kind: str = ""
    level: str = ""  # "token" | "pair" (token pairs) | "sentence"

    def __init__(self, task: TaskSpec):
        super().__init__()
        self.task = task
        self.num_labels = task.num_labels


# ---------------------------------------------------------------------------------------------- CRF
class CRF(nn.Module):
    """Linear-chain CRF over left-aligned masks: ``nll`` (forward algorithm) and ``viterbi``."""

    def __init__(self, num_labels: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_labels))
        self.end = nn.Parameter(torch.zeros(num_labels))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per sequence ``[B]`` (``tags`` valid where ``mask``)."""
        b, t, _ = emissions.shape
        tags = tags.clamp(min=0)
        maskf = mask.to(emissions.dtype)
        ar = torch.arange(b, device=emissions.device)
        score = self.start[tags[:, 0]] + emissions[ar, 0, tags[:, 0]]
        for i in range(1, t):
            step = self.transitions[tags[:, i - 1], tags[:, i]] + emissions[ar, i, tags[:, i]]
            score = score + step * maskf[:, i]
        last = tags[ar, (mask.long().sum(1) - 1).clamp(min=0)]
        score = score + self.end[last]
        alpha = self.start + emissions[:, 0]  # [B, C]
        for i in range(1, t):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, i].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, i : i + 1], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)
        return log_z - score

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = emissions.shape
        score = self.start + emissions[:, 0]
        back = []
        for i in range(1, t):
            best, idx = (score.unsqueeze(2) + self.transitions).max(dim=1)
            nxt = best + emissions[:, i]
            m = mask[:, i : i + 1]
            score = torch.where(m, nxt, score)
            # where masked, point to self so backtracking passes through unchanged
            back.append(torch.where(m, idx, torch.arange(idx.shape[1], device=idx.device).expand_as(idx)))
        score = score + self.end
        best = score.argmax(dim=1)
        path = [best]
        for idx in reversed(back):
            best = idx.gather(1, best.unsqueeze(1)).squeeze(1)
            path.append(best)
        path.reverse()
        return torch.stack(path, dim=1) * mask.long()


# ------------------------------------------------------------------------------------------ tagging
class TaggingHead(Head):
    """Token labels: ``softmax(W h_i + b)`` (causal-mtl eq. 12), CE (eq. 13); optional CRF on top."""

    kind, level = "tagging", "token"

    def __init__(self, task: TaskSpec, in_dim: int, *, crf: bool = False, token_loss: str = "sum"):
        super().__init__(task)
        self.proj = nn.Linear(in_dim, self.num_labels)
        self.crf = CRF(self.num_labels) if crf else None
        self.token_loss = check_token_loss(token_loss)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None, pair=None) -> torch.Tensor:
        return self.proj(h)  # causal-mtl eq. 12 (logits; softmax in loss/probs)

    def loss(self, logits, target, present, mask):
        valid = mask & present.unsqueeze(1) & (target != IGNORE)
        if not valid.any():
            return _zero(logits)
        rows = valid.any(1)
        if self.crf is not None:
            total = self.crf.nll(logits[rows], target[rows], mask[rows] & valid[rows]).sum()
        else:
            total = F.cross_entropy(logits[valid], target[valid], reduction="sum")  # causal-mtl eq. 13
        return total / (rows.sum() if self.token_loss == "sum" else valid.sum())

    def decode(self, logits, mask):
        if self.crf is not None:
            return self.crf.viterbi(logits, mask)
        return logits.argmax(-1) * mask.long()

    def probs(self, logits):
        return torch.softmax(logits, -1)  # causal-mtl eq. 8 (and eq. 12)

    def hard(self, logits, mask):
        return F.one_hot(self.decode(logits, mask), self.num_labels).to(logits.dtype) * mask.unsqueeze(-1)


# ----------------------------------------------------------------------------------------- relation
class RelationHead(Head):
    """Multi-head selection: ``y_ij = sigmoid(V relu(U h_i + W h_j + b))`` (causal-mtl eq. 14).

    Logits ``[B, T, T, R]`` indexed ``[b, i, j, r]`` like the relation targets; BCE (eq. 15 with the
    negative term, as in Bekoulis et al. 2018) over pairs of unmasked tokens.
    """

    kind, level = "relation", "pair"

    def __init__(self, task: TaskSpec, in_dim: int, *, rel_dim: int = 64, token_loss: str = "sum"):
        super().__init__(task)
        self.token_loss = check_token_loss(token_loss)
        self.U = nn.Linear(in_dim, rel_dim, bias=False)
        self.W = nn.Linear(in_dim, rel_dim, bias=True)  # its bias is b_p of eq. 14
        self.V = nn.Linear(rel_dim, self.num_labels, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None, pair=None) -> torch.Tensor:
        s = F.relu(self.U(h).unsqueeze(2) + self.W(h).unsqueeze(1))  # causal-mtl eq. 14: f(U h_i + W h_j + b)
        return self.V(s)  # logits; sigmoid in loss/probs

    @staticmethod
    def pair_mask(mask: torch.Tensor) -> torch.Tensor:
        return mask.unsqueeze(2) & mask.unsqueeze(1)

    def loss(self, logits, target, present, mask):
        valid = self.pair_mask(mask) & present.view(-1, 1, 1)
        if not valid.any():
            return _zero(logits)
        bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")  # eq. 15
        total = (bce * valid.unsqueeze(-1).to(bce.dtype)).sum()
        if self.token_loss == "sum":  # causal-mtl eq. 15: summed over i, j, c per sentence
            return total / (present & mask.any(1)).sum()
        return total / (mask & present.unsqueeze(1)).sum()

    def decode(self, logits, mask):
        return (logits > 0) & self.pair_mask(mask).unsqueeze(-1)

    def probs(self, logits):
        return torch.sigmoid(logits)

    def hard(self, logits, mask):
        return self.decode(logits, mask).to(logits.dtype)


# ------------------------------------------------------------------------------- sentence-level heads
class _SentenceHead(Head):
    level = "sentence"

    def __init__(self, task: TaskSpec, in_dim: int, *, pool: str = "max", pair_dim: int = 0,
                 pair_mode: str = "concat"):
        super().__init__(task)
        if pair_mode not in ("concat", "interact"):
            raise ValueError(f"pair_mode: expected concat or interact, got {pair_mode!r}")
        if pair_mode == "interact" and pair_dim and pair_dim != in_dim:
            raise ValueError(f"pair_mode 'interact' needs pair_dim == in_dim ({pair_dim} != {in_dim})")
        self.pool_how = pool
        self.pair_dim = pair_dim
        self.pair_mode = pair_mode
        extra = 0 if not pair_dim else (pair_dim if pair_mode == "concat" else 3 * in_dim)
        self.proj = nn.Linear(in_dim + extra, self.num_labels)

    def sentence_vector(self, h: torch.Tensor, mask: torch.Tensor | None, pair: torch.Tensor | None):
        h0 = pool_fn(h, mask, self.pool_how) if h.dim() == 3 else h  # causal-mtl eq. 16
        if self.pair_dim:
            if pair is None:
                raise ValueError(f"task {self.task.name!r} is pairwise but no pair vector was given")
            if self.pair_mode == "concat":
                h0 = torch.cat([h0, pair], -1)
            else:
                h0 = torch.cat([h0, pair, h0 * pair, (h0 - pair).abs()], -1)
        return h0


class MultiLabelHead(_SentenceHead):
    """``h_0 = pool(H)`` (causal-mtl eq. 16), ``y = sigmoid(W h_0 + b)`` (eq. 17), BCE (eq. 18)."""

    kind = "multilabel"

    def forward(self, h, mask=None, pair=None):
        return self.proj(self.sentence_vector(h, mask, pair))  # causal-mtl eq. 17 (logits)

    def loss(self, logits, target, present, mask=None):
        if not present.any():
            return _zero(logits)
        bce = F.binary_cross_entropy_with_logits(logits[present], target[present].to(logits.dtype), reduction="none")
        return bce.sum(-1).mean()  # causal-mtl eq. 18, mean over examples

    def decode(self, logits, mask=None):
        return logits > 0

    def probs(self, logits):
        return torch.sigmoid(logits)

    def hard(self, logits, mask=None):
        return (logits > 0).to(logits.dtype)


class ClassifyHead(_SentenceHead):
    """``y = softmax(W h_0 + b)`` (causal-mtl eq. 19), CE (eq. 20).

    Pairwise tasks (a text conditioned on a target): ``pair_dim`` > 0 and ``forward(..., pair=p)``
    with the target's vector ``p``: ``concat`` uses ``[h0; p]``, ``interact`` ``[h0; p; h0*p; |h0-p|]``.
    Conditional encoding (the text encoder started from the target encoder's final state) is done
    by the architecture with ``BiLSTMEncoder(..., state=...)``; the head then needs no pair vector.
    """

    kind = "classify"

    def forward(self, h, mask=None, pair=None):
        return self.proj(self.sentence_vector(h, mask, pair))  # causal-mtl eq. 19 (logits)

    def loss(self, logits, target, present, mask=None):
        valid = present & (target != IGNORE)
        if not valid.any():
            return _zero(logits)
        return F.cross_entropy(logits[valid], target[valid])  # causal-mtl eq. 20

    def decode(self, logits, mask=None):
        return logits.argmax(-1)

    def probs(self, logits):
        return torch.softmax(logits, -1)  # causal-mtl eq. 8 (and eq. 19)

    def hard(self, logits, mask=None):
        return F.one_hot(logits.argmax(-1), self.num_labels).to(logits.dtype)


_OPTIONS = {
    "tagging": ("crf", "token_loss"),
    "relation": ("rel_dim", "token_loss"),
    "multilabel": ("pool", "pair_dim", "pair_mode"),
    "classify": ("pool", "pair_dim", "pair_mode"),
}
_ALL_OPTIONS = {o for opts in _OPTIONS.values() for o in opts}


def build_head(task: TaskSpec, in_dim: int, **opts) -> Head:
    """The head of ``task.kind``. Options for other kinds are ignored (so call sites can pass one set):
    ``crf`` (tagging), ``rel_dim`` (relation), ``token_loss`` (tagging, relation), ``pool``/``pair_dim``/``pair_mode`` (multilabel, classify)."""
    unknown = set(opts) - _ALL_OPTIONS
    if unknown:
        raise TypeError(f"build_head: unknown options {sorted(unknown)}; known: {sorted(_ALL_OPTIONS)}")
    if task.num_labels == 0:
        raise ValueError(f"task {task.name!r} has no labels")
    mine = {k: v for k, v in opts.items() if k in _OPTIONS[task.kind]}
    cls = {"tagging": TaggingHead, "relation": RelationHead, "multilabel": MultiLabelHead,
           "classify": ClassifyHead}[task.kind]
    return cls(task, in_dim, **mine)
