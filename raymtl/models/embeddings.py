"""Token embedders: random, pretrained vectors, or a (usually frozen) transformer with layer mix.

Every embedder is an ``nn.Module`` with ``out_dim`` and ``forward(tokens, mask, words) -> [B, T, D]``
(``tokens``/``mask``: ``[B, T]`` from :class:`raymtl.data.batch.Batch`, ``words``: the batch's
word lists, used by the transformer only). ``embed(batch)`` / ``embed_pair(batch)`` apply the same
embedder to the text and to the second text (``text_b``) of a batch.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from raymtl.errors import ConfigError


class Embedder(nn.Module):
    out_dim: int

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, words: Sequence[Sequence[str]]) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def embed(self, batch) -> torch.Tensor:
        return self(batch.tokens, batch.mask, batch.words)

    def embed_pair(self, batch) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The same embedder on ``text_b``: ``([B, T2, D], [B, T2] mask)``, or None when the batch has none."""
        if batch.pair_tokens is None:
            return None
        words = batch.pair_words or [[""] * int(n) for n in batch.pair_mask.sum(-1)]
        return self(batch.pair_tokens, batch.pair_mask, words), batch.pair_mask


class LookupEmbedder(Embedder):
    """A lookup table: random init (``vectors=None``) or pretrained ``[V, D]`` vectors, frozen or fine-tuned."""

    def __init__(self, vocab_size: int, dim: int, *, vectors: torch.Tensor | None = None, freeze: bool = False):
        super().__init__()
        if vectors is not None:
            if vectors.dim() != 2 or vectors.shape[0] != vocab_size:
                raise ConfigError(f"pretrained vectors have shape {tuple(vectors.shape)}, expected [{vocab_size}, D] "
                                  f"for a vocabulary of {vocab_size}", key="model.embedding")
            self.emb = nn.Embedding.from_pretrained(vectors.float().clone(), freeze=freeze, padding_idx=0)
        else:
            self.emb = nn.Embedding(vocab_size, dim, padding_idx=0)
            nn.init.normal_(self.emb.weight, std=dim ** -0.5)
            with torch.no_grad():
                self.emb.weight[0].zero_()
            self.emb.weight.requires_grad_(not freeze)
        self.out_dim = self.emb.embedding_dim

    def forward(self, tokens, mask, words=None):
        return self.emb(tokens)


class ScalarMix(nn.Module):
    """ELMo-style layer mix: ``gamma * sum_l softmax(w)_l * h_l`` (Peters et al. 2018 eq. 1; causal-mtl's
    BERT rows mix the layers so). Starts as the plain mean of the layers (w = 0, gamma = 1)."""

    def __init__(self, n_layers: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: Sequence[torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(self.weights, dim=0)
        return self.gamma * sum(w[i] * h for i, h in enumerate(layers))  # Peters et al. 2018 eq. 1


class TransformerEmbedder(Embedder):
    """``AutoModel`` + fast ``AutoTokenizer`` over pre-split words; each word gets its first sub-token.

    Words the tokenizer turns into no sub-token (or that fall beyond the model's maximum length)
    get a zero vector. Frozen: no gradients and the transformer stays in eval mode (no dropout);
    the scalar mix stays trainable.
    """

    def __init__(self, path: str, *, layers: str = "last", freeze: bool = True, max_length: int = 512):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load transformer {path!r}: {e}", key="model.transformer") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError(f"transformer {path!r} has no fast tokenizer (needed for word alignment)",
                              key="model.transformer")
        self.freeze = freeze
        if freeze:
            for p in self.model.parameters():
                p.requires_grad_(False)
            self.model.eval()
        limit = getattr(self.model.config, "max_position_embeddings", max_length) or max_length
        self.max_length = min(int(max_length), int(limit))
        self.layers = layers
        n_layers = int(getattr(self.model.config, "num_hidden_layers", 0)) + 1  # + the embedding layer
        self.mix = ScalarMix(n_layers) if layers == "mix" else None
        self.out_dim = int(self.model.config.hidden_size)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, tokens, mask, words):
        b, t = tokens.shape
        device = tokens.device
        enc = self.tokenizer([list(w) for w in words], is_split_into_words=True, padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        inputs = {k: v.to(device) for k, v in enc.items()}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            out = self.model(**inputs, output_hidden_states=self.mix is not None)
        hidden = self.mix(out.hidden_states) if self.mix is not None else out.last_hidden_state  # [B, S, D]
        # first sub-token of each word
        index = torch.zeros(b, t, dtype=torch.long)
        found = torch.zeros(b, t, dtype=torch.bool)
        for i in range(b):
            for pos, wid in enumerate(enc.word_ids(i)):
                if wid is not None and wid < t and not found[i, wid]:
                    index[i, wid] = pos
                    found[i, wid] = True
        index, found = index.to(device), found.to(device)
        picked = torch.gather(hidden, 1, index.unsqueeze(-1).expand(b, t, hidden.shape[-1]))
        return picked * (found & mask).unsqueeze(-1).to(picked.dtype)


CHAR_BUCKETS = 512  # character ids: code point mod (512 - 2) + 2; 0 = padding, Latin-1 never collides
MAX_WORD_CHARS = 20


class CharCNN(nn.Module):
    """Character features of each word as written (Ma & Hovy 2016): embed its first
    ``MAX_WORD_CHARS`` characters, one width-3 convolution, ReLU, max over characters -> ``[B, T, F]``.

    Characters are ids by code point, not a vocabulary, so every architecture and checkpoint agrees
    on them without the data layer's help.
    """

    def __init__(self, char_dim: int = 30, filters: int = 50):
        super().__init__()
        self.emb = nn.Embedding(CHAR_BUCKETS, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, filters, 3, padding=1)
        self.out_dim = filters

    @staticmethod
    def char_ids(words: Sequence[Sequence[str]], width: int) -> torch.Tensor:
        """``[B, width, MAX_WORD_CHARS]`` character ids (0 beyond a word's end or the sentence's)."""
        out = torch.zeros(len(words), width, MAX_WORD_CHARS, dtype=torch.long)
        for b, ws in enumerate(words):
            for t, w in enumerate(ws[:width]):
                ids = [ord(ch) % (CHAR_BUCKETS - 2) + 2 for ch in w[:MAX_WORD_CHARS]]
                if ids:
                    out[b, t, :len(ids)] = torch.tensor(ids)
        return out

    def forward(self, words: Sequence[Sequence[str]], mask: torch.Tensor) -> torch.Tensor:
        b, t = mask.shape
        ids = self.char_ids(words, t).to(mask.device)  # [B, T, C]
        x = self.emb(ids.view(b * t, -1)).transpose(1, 2)  # [B*T, D, C]
        h = torch.relu(self.conv(x))  # [B*T, F, C]
        h = h.masked_fill((ids.view(b * t, 1, -1) == 0), 0.0).amax(-1)  # max over the word's characters
        return h.view(b, t, -1) * mask.unsqueeze(-1).to(h.dtype)


class CharBiLSTM(nn.Module):
    """Character features of each word as written (Lample et al. 2016; Bekoulis et al. 2018, §3.1): a
    BiLSTM over its first ``MAX_WORD_CHARS`` character embeddings; the forward state after the last
    character ⊕ the backward state after the first -> ``[B, T, 2 * hidden]`` (zeros for padding)."""

    def __init__(self, char_dim: int = 25, hidden: int = 25):
        super().__init__()
        self.emb = nn.Embedding(CHAR_BUCKETS, char_dim, padding_idx=0)
        self.lstm = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, words: Sequence[Sequence[str]], mask: torch.Tensor) -> torch.Tensor:
        b, t = mask.shape
        ids = CharCNN.char_ids(words, t).to(mask.device).view(b * t, -1)  # [B*T, C]
        lengths = (ids != 0).sum(-1)
        real = lengths.nonzero().squeeze(-1)  # words with characters (not padding)
        out = torch.zeros(b * t, self.out_dim, device=mask.device)
        if real.numel():
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids[real]), lengths[real].cpu(), batch_first=True,
                                                       enforce_sorted=False)
            _, (h, _c) = self.lstm(packed)  # h: [2, N, hidden], forward then backward final states
            out = out.to(h.dtype).index_copy(0, real, torch.cat([h[0], h[1]], -1))
        return out.view(b, t, -1) * mask.unsqueeze(-1).to(out.dtype)


class WithCharFeatures(Embedder):
    """``word embedder(tokens) ⊕ chars(words)``: character features beside any word embedder."""

    def __init__(self, words: Embedder, chars: nn.Module):
        super().__init__()
        self.words, self.chars = words, chars
        self.out_dim = words.out_dim + chars.out_dim

    def forward(self, tokens, mask, words):
        return torch.cat([self.words(tokens, mask, words), self.chars(words, mask)], -1)


def build_embedder(cfg, vocab_size: int, vectors: torch.Tensor | None = None) -> Embedder:
    """The embedder ``cfg.embedding`` asks for (see :class:`raymtl.models.config.BaseConfig`), with
    character features beside it when ``cfg.char_features`` is ``cnn`` or ``bilstm``."""
    words = _word_embedder(cfg, vocab_size, vectors)
    kind = getattr(cfg, "char_features", "none")
    if kind == "cnn":
        return WithCharFeatures(words, CharCNN(cfg.char_dim, cfg.char_filters))
    if kind == "bilstm":
        return WithCharFeatures(words, CharBiLSTM(cfg.char_dim, cfg.char_hidden))
    return words


def _word_embedder(cfg, vocab_size: int, vectors: torch.Tensor | None = None) -> Embedder:
    kind = cfg.embedding
    if kind == "random":
        return LookupEmbedder(vocab_size, cfg.emb_dim, freeze=cfg.freeze_embeddings)
    if kind == "vectors":
        if vectors is None:
            raise ConfigError("embedding is 'vectors' but no pretrained vectors were provided by the data layer",
                              key="model.embedding")
        return LookupEmbedder(vocab_size, vectors.shape[-1], vectors=vectors, freeze=cfg.freeze_embeddings)
    if kind == "transformer":
        if not cfg.transformer:
            raise ConfigError("embedding is 'transformer' but model.transformer is empty", key="model.transformer")
        return TransformerEmbedder(cfg.transformer, layers=cfg.transformer_layers, freeze=cfg.freeze_transformer,
                                   max_length=cfg.transformer_max_length)
    raise ConfigError(f"unknown embedding {kind!r}; expected random, vectors or transformer", key="model.embedding")
