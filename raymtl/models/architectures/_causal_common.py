"""The shared base of the causal-mtl family (CMTL, its ablations and baselines).

One class, :class:`CausalFamilyModel`, is configured by class flags; each architecture module
only sets them. Tasks run in the order of ``chain`` (config; default: the tasks' order), the lower
task first. Per task ``k`` (paper notation, ``E`` = token embeddings, ``TH`` = transferred labels):

- encoders (``bilstm``): ``H^k = BiLSTM^k(E ⊕ TH^{k-1} ⊕ H^{k-1})`` (eq. 4); HMTL drops ``TH``,
  SPMTL uses ``E ⊕ H^s`` (its private encoder reads the shared one), FSMTL uses ``H^s`` alone,
  STL uses ``E`` alone with its own embedder;
- encoders (``cnn``, eq. 5-6): ``h^k_init = pool(CNN^k(E))``; stacked models (HMTL, CMTL) run a
  shared level-LSTM over tasks ``h^k_0 = LSTM^(s)(h^k_init ⊕ th^{k-1}_0, h^{k-1}_0)``; token-level
  tasks then read ``CNN^k(E) ⊕ h^k_0`` (broadcast over tokens);
- predictors: ``Predictor^k(h^k_i ⊕ th^{k-1}_i)`` (eq. 7, the direct path; without it just ``h^k_i``);
  sentence-level predictors read ``max-pool(H^k)`` (eq. 16) ⊕ ``pool(TH^{k-1})``;
- label transfer: the label ``Y^k`` of task k is turned into a one-hot / multi-hot float tensor,
  embedded ``le^k = W^k y^k`` (eq. 1) and fed to the LT LSTM over task levels (eq. 2).

How each lower task kind is transferred (``y^k``; also the format of ``forced`` overrides):

- tagging: per token, one-hot over its labels ``[B, T, C]`` (0 at padding) — token-level;
- classify: one-hot ``[B, C]`` — sentence-level, ``le`` broadcast over tokens when an upper level
  is token-level;
- multilabel: multi-hot ``[B, C]`` (``le`` = sum of the label embeddings) — sentence-level;
- relation: per head token, multi-hot of the relation types it takes part in as head
  ``[B, T, R]`` (``max`` over tails) — token-level.

The LT state is sentence-level (``[B, d_l]``, paper's ``i = 0``) as long as every transferred
label is sentence-level, and token-level (``[B, T, d_l]``) from the first token-level one on
(earlier sentence-level states are broadcast over tokens).

Which label is transferred: the Gumbel-softmax sample of the lower prediction (eq. 8-9, ``tau``
from ``StepContext.tau``; straight-through if ``straight_through``) when training a Gumbel model;
gold labels when ``StepContext.gold_labels`` (examples without the lower task fall back to the
prediction); models without Gumbel sampling (HMTL+LT) use gold labels while training (Bekoulis et
al. 2018); in evaluation the predicted label (argmax / threshold) unless ``gold_labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.models.base import ModelOutput, MTLModel, StepContext, check_task_kinds
from raymtl.models.config import BaseConfig
from raymtl.models.embeddings import build_embedder
from raymtl.models.encoders import BiLSTMEncoder, CNNEncoder, pool
from raymtl.models.gumbel import gumbel_sigmoid, gumbel_softmax
from raymtl.models.heads import build_head, check_token_loss

PAPER = "causal-mtl"
TOKEN_KINDS = ("tagging", "relation")


# ------------------------------------------------------------------------------------------ configs
@dataclass
class TowerConfig(BaseConfig):
    """Encoder and head fields. ``hidden`` is per LSTM direction; the CNN has ``filters`` per kernel size."""

    layers: int = 1
    kernel_sizes: list[int] = field(default_factory=lambda: [2, 3, 4, 5])
    filters: int = 128
    pool: str = "max"
    rel_dim: int = 64
    crf: bool = False
    pair_mode: str = "concat"
    token_loss: str = "sum"  # tagging/relation loss: per-sentence sum (eq. 13, 15) or per-token "mean"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_token_loss(self.token_loss)
        if self.pool not in ("max", "mean", "last"):
            raise ValueError(f"pool: expected max, mean or last, got {self.pool!r}")
        if self.pair_mode not in ("concat", "interact"):
            raise ValueError(f"pair_mode: expected concat or interact, got {self.pair_mode!r}")
        if not self.kernel_sizes or any(int(k) <= 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes: expected positive integers, got {self.kernel_sizes!r}")


@dataclass
class MTLConfig(TowerConfig):
    """``encoder``: bilstm | cnn. ``chain``: task names, lowest level first (default: the tasks' order)."""

    encoder: str = "bilstm"
    chain: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder not in ("bilstm", "cnn"):
            raise ValueError(f"encoder: expected bilstm or cnn, got {self.encoder!r}")
        if not isinstance(self.chain, (list, tuple)) or not all(isinstance(c, str) for c in self.chain):
            raise ValueError(f"chain: expected a list of task names, got {self.chain!r}")


@dataclass
class LTConfig(MTLConfig):
    """``label_dim``: size of label embeddings and of the label-transfer LSTM (paper: 300)."""

    label_dim: int = 300


@dataclass
class CMTLConfig(LTConfig):
    """``straight_through``: one-hot Gumbel samples forward, relaxed gradients backward."""

    straight_through: bool = False


# ------------------------------------------------------------------------------------------- model
class CausalFamilyModel(MTLModel):
    paper: ClassVar[str] = PAPER
    find_unused_parameters: ClassVar[bool] = True

    encoder_kind: ClassVar[str | None] = None  # fixed encoder (STL); None: cfg.encoder
    shared: ClassVar[bool] = False  # a shared encoder H^s (FSMTL, SPMTL)
    private: ClassVar[bool] = True  # one encoder per task
    separate_embedders: ClassVar[bool] = False  # STL: each task its own embedding table
    stacked: ClassVar[bool] = False  # encoder k reads H^{k-1} (HMTL and up)
    label_transfer: ClassVar[bool] = False  # label embeddings + LT LSTM (eq. 1-2)
    indirect: ClassVar[bool] = False  # TH^{k-1} -> encoder k (eq. 3-6)
    direct: ClassVar[bool] = False  # TH^{k-1} -> predictor k (eq. 7)
    gumbel: ClassVar[bool] = False  # Gumbel sampling of lower labels while training (eq. 8-9)

    def __init__(self, cfg, tasks: list[TaskSpec], vocab_size: int, *, vectors: torch.Tensor | None = None):
        super().__init__(tasks)
        check_task_kinds(type(self), tasks)
        self.cfg = cfg
        self.chain = self._resolve_chain(cfg, tasks)
        self.enc = self.encoder_kind or getattr(cfg, "encoder", "bilstm")
        self.dropout = nn.Dropout(cfg.dropout)

        # embeddings: STL towers own theirs (a transformer is loaded once and shared)
        if self.separate_embedders and cfg.embedding != "transformer":
            self.embedders = nn.ModuleDict({n: build_embedder(cfg, vocab_size, vectors) for n in self.chain})
        else:
            self.embedders = nn.ModuleDict({"shared": build_embedder(cfg, vocab_size, vectors)})
        e_dim = next(iter(self.embedders.values())).out_dim

        self.lt = self.label_transfer
        dl = getattr(cfg, "label_dim", 0) if self.lt else 0
        if self.lt:
            # causal-mtl eq. 1: le = W^k y^k (one matrix per task that passes labels up)
            self.label_emb = nn.ModuleDict({n: nn.Linear(self._transfer_dim(self.tasks[n]), dl, bias=False)
                                            for n in self.chain[:-1]})
            self.lt_cell = nn.LSTMCell(dl, dl)  # causal-mtl eq. 2: the LT LSTM over task levels

        self.shared_encoder = None
        if self.shared:
            self.shared_encoder = self._make_encoder(e_dim)
        s_dim = self._enc_dim(self.shared_encoder) if self.shared else 0

        self.encoders = nn.ModuleDict()
        self.level_cell = None
        tok_dims: dict[str, int] = {}
        sent_dims: dict[str, int] = {}
        prev = 0
        for k, name in enumerate(self.chain):
            if not self.private:  # FSMTL: every task reads H^s
                tok_dims[name] = sent_dims[name] = s_dim
                continue
            in_dim = e_dim + (s_dim if self.shared else 0)
            if self.enc == "bilstm":
                if self.stacked and k > 0:
                    in_dim += prev
                if self.lt and self.indirect and k > 0:
                    in_dim += dl
            self.encoders[name] = self._make_encoder(in_dim)
            d = self._enc_dim(self.encoders[name])
            if self.enc == "cnn" and self.stacked:
                tok_dims[name] = d + cfg.hidden
                sent_dims[name] = cfg.hidden
            else:
                tok_dims[name] = sent_dims[name] = d
            prev = tok_dims[name]
        if self.enc == "cnn" and self.stacked and self.private:
            f_dim = len(cfg.kernel_sizes) * cfg.filters
            # causal-mtl eq. 6: LSTM^(s) over task levels, input h_init ⊕ th_0
            self.level_cell = nn.LSTMCell(f_dim + (dl if self.lt and self.indirect else 0), cfg.hidden)

        self.pair_encoder = None
        pair_dim = 0
        if any(t.pairwise for t in tasks):
            self.pair_encoder = BiLSTMEncoder(e_dim, cfg.hidden, 1)
            pair_dim = self.pair_encoder.out_dim

        self.heads = nn.ModuleDict()
        for k, name in enumerate(self.chain):
            t = self.tasks[name]
            is_sent = t.kind not in TOKEN_KINDS
            in_dim = (sent_dims if is_sent else tok_dims)[name] + (dl if self.lt and self.direct and k > 0 else 0)
            self.heads[name] = build_head(t, in_dim, crf=cfg.crf, rel_dim=cfg.rel_dim, token_loss=cfg.token_loss,
                                          pool=cfg.pool,
                                          pair_dim=pair_dim if t.pairwise else 0, pair_mode=cfg.pair_mode)

    # -------------------------------------------------------------------------------- construction
    @staticmethod
    def _resolve_chain(cfg, tasks: list[TaskSpec]) -> list[str]:
        names = [t.name for t in tasks]
        chain = list(getattr(cfg, "chain", None) or names)
        if sorted(chain) != sorted(names):
            raise ConfigError(f"chain {chain} must list every task exactly once (tasks: {names})", key="model.chain")
        return chain

    def _make_encoder(self, in_dim: int) -> nn.Module:
        cfg = self.cfg
        if self.enc == "cnn":
            return CNNEncoder(in_dim, cfg.kernel_sizes, cfg.filters, dropout=0.0, pool_how=cfg.pool)
        return BiLSTMEncoder(in_dim, cfg.hidden, cfg.layers, cfg.dropout)

    @staticmethod
    def _enc_dim(enc: nn.Module | None) -> int:
        return enc.out_dim if enc is not None else 0

    @staticmethod
    def _transfer_dim(task: TaskSpec) -> int:
        return task.num_labels

    # ----------------------------------------------------------------------------------- forward
    def forward(self, batch: Batch, ctx: StepContext | None = None) -> ModelOutput:
        ctx = ctx or StepContext(training=self.training)
        logits = self.run(batch, ctx)
        out = ModelOutput()
        for name in batch.tasks:
            if name in self.heads:
                out.losses[name] = self.heads[name].loss(logits[name], batch.targets[name], batch.present[name],
                                                         batch.mask)
        with torch.no_grad():
            for name, lg in logits.items():
                out.predictions[name] = self.heads[name].decode(lg, batch.mask)
                if self.tasks[name].kind == "classify":
                    out.scores[name] = lg.detach()
        return out

    def run(self, batch: Batch, ctx: StepContext, forced: dict[str, torch.Tensor] | None = None
            ) -> dict[str, torch.Tensor]:
        """Logits of every task in chain order. ``forced[task]``: the transferred label of a lower task
        (format in the module docstring) — an intervention ``do(Y^k = y)`` for causal effects."""
        mask = batch.mask
        emb_cache: dict[str, torch.Tensor] = {}

        def embedded(name: str) -> torch.Tensor:
            key = name if name in self.embedders else "shared"
            if key not in emb_cache:
                emb_cache[key] = self.dropout(self.embedders[key].embed(batch))
            return emb_cache[key]

        pair_vec = None
        if self.pair_encoder is not None and batch.pair_tokens is not None:
            key = "shared" if "shared" in self.embedders else self.chain[0]
            pe, pm = self.embedders[key].embed_pair(batch)
            pair_vec = pool(self.pair_encoder(self.dropout(pe), pm), pm, "max")

        shared_tok = None
        if self.shared_encoder is not None:
            shared_tok = self._encode(self.shared_encoder, embedded(self.chain[0]), mask)[0]

        logits: dict[str, torch.Tensor] = {}
        prev_tok = None
        level_state = None
        lt_state = None  # (h, c) of the LT LSTM
        th = None  # TH^{k-1}: [B, d_l] or [B, T, d_l]
        for k, name in enumerate(self.chain):
            task = self.tasks[name]
            sent = None
            if not self.private:
                tok = shared_tok
            else:
                parts = [embedded(name)]
                if shared_tok is not None:
                    parts.append(shared_tok)
                if self.enc == "bilstm":
                    if self.stacked and prev_tok is not None:
                        parts.append(prev_tok)
                    if self.lt and self.indirect and th is not None:
                        parts.append(_as_tokens(th, mask))
                    tok, _ = self._encode(self.encoders[name], torch.cat(parts, -1), mask)  # causal-mtl eq. 3-4
                else:
                    tok, h_init = self._encode(self.encoders[name], torch.cat(parts, -1), mask)  # causal-mtl eq. 5
                    sent = h_init
                    if self.level_cell is not None:
                        x = h_init
                        if self.lt and self.indirect:
                            th0 = _as_sentence(th, mask) if th is not None else h_init.new_zeros(
                                h_init.shape[0], self.level_cell.input_size - h_init.shape[-1])
                            x = torch.cat([h_init, th0], -1)
                        level_state = self.level_cell(x, level_state)  # causal-mtl eq. 6
                        sent = self.dropout(level_state[0])
                        tok = torch.cat([tok, _as_tokens(sent, mask)], -1)
            prev_tok = tok

            # predictor (causal-mtl eq. 7: h^k_i ⊕ th^{k-1}_i when the direct path is on)
            if task.kind in TOKEN_KINDS:
                x = tok
                if self.lt and self.direct and th is not None:
                    x = torch.cat([x, _as_tokens(th, mask)], -1)  # causal-mtl eq. 7
            else:
                x = sent if sent is not None else pool(tok, mask, self.cfg.pool)  # causal-mtl eq. 16
                if self.lt and self.direct and th is not None:
                    x = torch.cat([x, _as_sentence(th, mask)], -1)  # causal-mtl eq. 7 (i = 0)
            logits[name] = self.heads[name](x, mask, pair=pair_vec if task.pairwise else None)

            if self.lt and k < len(self.chain) - 1:
                if forced is not None and name in forced:
                    y = forced[name].to(logits[name].dtype)
                else:
                    y = self.transfer_label(name, logits[name], batch, ctx)
                le = self.label_emb[name](y)  # causal-mtl eq. 1
                th, lt_state = self._lt_step(le, lt_state, mask)
        return logits

    def _encode(self, enc: nn.Module, x: torch.Tensor, mask: torch.Tensor):
        if isinstance(enc, CNNEncoder):
            tok, sent = enc(x, mask)
            return self.dropout(tok), self.dropout(sent)
        return self.dropout(enc(x, mask)), None

    def _lt_step(self, le: torch.Tensor, state, mask: torch.Tensor):
        """One step of the LT LSTM over task levels, per position (causal-mtl eq. 2)."""
        token_level = le.dim() == 3 or (state is not None and state[0].dim() == 3)
        if token_level:
            b, t = mask.shape
            le = _as_tokens(le, mask)
            if state is not None and state[0].dim() == 2:
                state = tuple(s.unsqueeze(1).expand(b, t, s.shape[-1]) for s in state)
            flat_state = None if state is None else tuple(s.reshape(b * t, -1) for s in state)
            h, c = self.lt_cell(le.reshape(b * t, -1), flat_state)  # causal-mtl eq. 2
            h, c = h.view(b, t, -1), c.view(b, t, -1)
            return h * mask.unsqueeze(-1).to(h.dtype), (h, c)
        h, c = self.lt_cell(le, state)  # causal-mtl eq. 2 (sentence level, i = 0)
        return h, (h, c)

    # ----------------------------------------------------------------------------- label transfer
    def transfer_label(self, name: str, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        head = self.heads[name]
        kind = self.tasks[name].kind
        mask = batch.mask
        training = self.training and ctx.training
        if self.gumbel and training:
            pred = self._gumbel_label(kind, logits, mask, ctx)
        else:
            pred = token_transfer(kind, head.hard(logits, mask), mask)
        use_gold = ctx.gold_labels or (training and not self.gumbel)
        if use_gold and name in batch.targets:
            gold = gold_transfer(self.tasks[name], batch.targets[name], mask)
            present = batch.present[name].view(-1, *([1] * (gold.dim() - 1)))
            return torch.where(present, gold.to(pred.dtype), pred)
        return pred

    def _gumbel_label(self, kind: str, logits: torch.Tensor, mask: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        st = bool(getattr(self.cfg, "straight_through", False))
        if kind in ("tagging", "classify"):
            y = gumbel_softmax(logits, ctx.tau, hard=st)  # causal-mtl eq. 9
            return y * mask.unsqueeze(-1).to(y.dtype) if kind == "tagging" else y
        y = gumbel_sigmoid(logits, ctx.tau, hard=st)  # causal-mtl eq. 9 (per label, two classes)
        if kind == "relation":
            pm = (mask.unsqueeze(2) & mask.unsqueeze(1)).unsqueeze(-1)
            return (y * pm.to(y.dtype)).amax(dim=2)
        return y

    def label_embeddings(self) -> dict[str, tuple[torch.Tensor, list[str]]]:
        if not self.lt:
            return {}
        return {n: (m.weight.detach().t().clone(), list(self.tasks[n].labels)) for n, m in self.label_emb.items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        params = [p for e in self.embedders.values() for p in e.parameters()]
        if self.shared_encoder is not None:
            params += list(self.shared_encoder.parameters())
        return params


# ------------------------------------------------------------------------------------------ helpers
def _as_tokens(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Broadcast a sentence-level ``[B, D]`` tensor over tokens; token-level ones pass through."""
    if x.dim() == 3:
        return x
    return x.unsqueeze(1).expand(mask.shape[0], mask.shape[1], x.shape[-1]) * mask.unsqueeze(-1).to(x.dtype)


def _as_sentence(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return pool(x, mask, "max") if x.dim() == 3 else x


def token_transfer(kind: str, hard: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Head ``hard`` outputs in the transfer format (relations: per head token, max over tails)."""
    return hard.amax(dim=2) if kind == "relation" else hard


def gold_transfer(task: TaskSpec, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gold targets (batch format) in the transfer format of the module docstring."""
    if task.kind == "tagging":
        valid = (target != IGNORE) & mask
        return F.one_hot(target.clamp(min=0), task.num_labels).float() * valid.unsqueeze(-1).float()
    if task.kind == "classify":
        valid = target != IGNORE
        return F.one_hot(target.clamp(min=0), task.num_labels).float() * valid.unsqueeze(-1).float()
    if task.kind == "relation":
        return target.float().amax(dim=2)
    return target.float()
