"""Diversity features of examples (disparate-label-spaces §3.5, after Ruder & Plank 2017).

The paper augments the Label Transfer Network's input with, per example, "the number of word
types, type-token ratio, entropy, Simpson's index, and Rényi entropy" (and Ruder & Plank also list
quadratic entropy, which needs word vectors). Pure Python / numpy; no torch.

Two ways to get the word probabilities ``p(w)`` the entropy-like features sum over:

- ``term_dist=None`` (default): the example's own relative frequencies, ``p(w) = count(w) / n``.
  Then entropy, Simpson's index and Rényi entropy are the textbook quantities of the example's
  word distribution (self-contained; what :class:`~raymtl.models.architectures.hps_lel_ltn` uses
  inside a batch).
- ``term_dist={word: prob}``: a corpus term distribution (e.g. :func:`term_distribution` of the
  training split), as Ruder & Plank compute them: the sums run over the example's word *types*
  with the corpus probability of each (words missing from the distribution contribute 0).

Definitions (over the example's word types ``V_x``):

====================  ==========================================================
``num_word_types``    ``|V_x|``
``type_token_ratio``  ``|V_x| / n``
``entropy``           ``-sum_w p(w) ln p(w)``
``simpsons_index``    ``sum_w p(w)^2``
``renyi_entropy``     ``1/(1-a) ln sum_w p(w)^a`` (``a = 0.99`` as Ruder & Plank; ``a != 1``)
``quadratic_entropy`` ``sum_{w,w'} cos(v_w, v_w') p(w) p(w')`` (only with ``vectors``)
====================  ==========================================================
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

FEATURES: tuple[str, ...] = ("num_word_types", "type_token_ratio", "entropy", "simpsons_index", "renyi_entropy")
RENYI_ALPHA = 0.99  # Ruder & Plank (2017)'s order
_RENYI_FLOOR = 1e-4  # Ruder & Plank: a sum of 0 (no known word) becomes a small constant


def term_distribution(token_lists: Iterable[Sequence[str]], *, lowercase: bool = True) -> dict[str, float]:
    """Relative frequency of every word over a corpus (a list of token lists)."""
    counts: Counter[str] = Counter()
    for toks in token_lists:
        counts.update(t.lower() if lowercase else t for t in toks)
    total = sum(counts.values())
    return {w: c / total for w, c in counts.items()} if total else {}


def _probs(tokens: Sequence[str], term_dist: Mapping[str, float] | None) -> tuple[list[str], np.ndarray]:
    counts = Counter(tokens)
    types = list(counts)
    if term_dist is None:
        n = len(tokens)
        return types, np.array([counts[w] / n for w in types], dtype=np.float64)
    return types, np.array([term_dist.get(w, 0.0) for w in types], dtype=np.float64)


def num_word_types(tokens: Sequence[str]) -> int:
    return len(set(tokens))


def type_token_ratio(tokens: Sequence[str]) -> float:
    return len(set(tokens)) / len(tokens) if tokens else 0.0


def entropy(tokens: Sequence[str], term_dist: Mapping[str, float] | None = None) -> float:
    _, p = _probs(tokens, term_dist)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def simpsons_index(tokens: Sequence[str], term_dist: Mapping[str, float] | None = None) -> float:
    _, p = _probs(tokens, term_dist)
    return float((p**2).sum())


def renyi_entropy(tokens: Sequence[str], term_dist: Mapping[str, float] | None = None,
                  alpha: float = RENYI_ALPHA) -> float:
    if alpha == 1.0:
        raise ValueError("Rényi entropy of order 1 is the Shannon entropy; use entropy()")
    _, p = _probs(tokens, term_dist)
    s = float((p[p > 0] ** alpha).sum())
    return math.log(s if s > 0 else _RENYI_FLOOR) / (1.0 - alpha)


def quadratic_entropy(tokens: Sequence[str],
                      vectors: Mapping[str, Sequence[float]] | Callable[[str], Sequence[float] | None],
                      term_dist: Mapping[str, float] | None = None) -> float:
    """``sum_{w,w'} cos(v_w, v_w') p(w) p(w')`` over the example's types that have a vector."""
    get = vectors if callable(vectors) else (lambda w: vectors.get(w))  # type: ignore[union-attr]
    types, p = _probs(tokens, term_dist)
    keep = [(get(w), pw) for w, pw in zip(types, p)]
    keep = [(np.asarray(v, dtype=np.float64), pw) for v, pw in keep if v is not None]
    if not keep:
        return 0.0
    vecs = np.stack([v for v, _ in keep])
    norms = np.linalg.norm(vecs, axis=1)
    norms[norms == 0] = 1.0
    unit = vecs / norms[:, None]
    pw = np.array([q for _, q in keep])
    return float(pw @ (unit @ unit.T) @ pw)


def diversity_features(tokens: Sequence[str], term_dist: Mapping[str, float] | None = None, *,
                       lowercase: bool = True, alpha: float = RENYI_ALPHA, vectors=None) -> dict[str, float]:
    """All features of one example as ``{name: value}`` (``quadratic_entropy`` only with ``vectors``)."""
    toks = [t.lower() for t in tokens] if lowercase else list(tokens)
    out = {
        "num_word_types": float(num_word_types(toks)),
        "type_token_ratio": type_token_ratio(toks),
        "entropy": entropy(toks, term_dist),
        "simpsons_index": simpsons_index(toks, term_dist),
        "renyi_entropy": renyi_entropy(toks, term_dist, alpha) if toks else 0.0,
    }
    if vectors is not None:
        out["quadratic_entropy"] = quadratic_entropy(toks, vectors, term_dist)
    return out


def feature_matrix(token_lists: Sequence[Sequence[str]], term_dist: Mapping[str, float] | None = None, *,
                   names: Sequence[str] = FEATURES, lowercase: bool = True, alpha: float = RENYI_ALPHA,
                   vectors=None) -> np.ndarray:
    """``[n_examples, len(names)]`` float64 matrix of the named features."""
    out = np.zeros((len(token_lists), len(names)), dtype=np.float64)
    for i, toks in enumerate(token_lists):
        feats = diversity_features(toks, term_dist, lowercase=lowercase, alpha=alpha, vectors=vectors)
        for j, name in enumerate(names):
            if name not in feats:
                raise ValueError(f"unknown diversity feature {name!r} (known: {', '.join(feats)})")
            out[i, j] = feats[name]
    return out


def split_features(location: str | Path, split: str, *, corpus_split: str | None = "train",
                   names: Sequence[str] = FEATURES, field: str = "tokens") -> np.ndarray:
    """Features of every example of a prepared dataset split (Arrow shards).

    ``corpus_split`` names the split whose term distribution gives ``p(w)`` (Ruder & Plank use
    the training data); ``None`` uses each example's own word distribution. ``field`` is
    ``tokens`` or ``text_b``.
    """
    from raymtl.data.shards import open_split

    def tokens_of(sp: str) -> list[list[str]]:
        col = open_split(location, sp).column(field).to_pylist()
        return [list(t or ()) for t in col]

    toks = tokens_of(split)
    dist = None
    if corpus_split is not None:
        dist = term_distribution(toks if corpus_split == split else tokens_of(corpus_split))
    return feature_matrix(toks, dist, names=names)
