"""The config fields every architecture shares (architecture configs subclass :class:`BaseConfig`).

Only the token-embedding and size fields live here; encoder- and family-specific fields belong to
the architecture's own config dataclass. Validation errors are ``ValueError`` s naming the field;
:func:`raymtl.models.registry.build_config` turns them into ``ConfigError`` s.
"""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDINGS = ("random", "vectors", "transformer")
TRANSFORMER_LAYERS = ("last", "mix")
CHAR_FEATURES = ("none", "cnn", "bilstm")


@dataclass
class BaseConfig:
    """Common fields.

    ``embedding``: ``random`` (trained from scratch), ``vectors`` (a ``[V, D]`` matrix given by the
    data layer, fine-tuned unless ``freeze_embeddings``) or ``transformer`` (``transformer`` is a
    local directory or hub name loaded with ``from_pretrained``; ``transformer_layers``: ``last``
    hidden layer or ``mix``: a softmax-weighted scalar mix of all layers, ELMo style).
    ``emb_dim`` is used by ``random`` only. ``hidden``: encoder hidden size (per LSTM direction).
    ``char_features``: ``cnn`` concatenates to every word's vector a character CNN over the word as
    written (cased, whatever ``data.lowercase`` does to the word lookup; Ma & Hovy 2016: ``char_dim``
    30-d character embeddings, width-3 filters, max over characters, ``char_filters`` of them);
    ``bilstm`` a character BiLSTM instead, the final states of both directions (Bekoulis et al. 2018:
    25-d characters, ``char_hidden`` 25 per direction; set ``char_dim: 25`` for their setting).
    """

    embedding: str = "random"
    emb_dim: int = 100
    freeze_embeddings: bool = False
    transformer: str = ""
    transformer_layers: str = "last"
    freeze_transformer: bool = True
    transformer_max_length: int = 512
    dropout: float = 0.3
    hidden: int = 300
    char_features: str = "none"
    char_dim: int = 30
    char_filters: int = 50
    char_hidden: int = 25

    def __post_init__(self) -> None:
        if self.char_features not in CHAR_FEATURES:
            raise ValueError(f"char_features: expected one of {CHAR_FEATURES}, got {self.char_features!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding: expected one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.transformer_layers not in TRANSFORMER_LAYERS:
            raise ValueError(f"transformer_layers: expected one of {TRANSFORMER_LAYERS}, got {self.transformer_layers!r}")
        if self.embedding == "transformer" and not self.transformer:
            raise ValueError("transformer: embedding is 'transformer' but no model path or name is given")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {self.dropout!r}")
        for name in ("emb_dim", "hidden", "transformer_max_length", "char_dim", "char_filters", "char_hidden"):
            v = getattr(self, name)
            if isinstance(v, int) and not isinstance(v, bool) and v <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
