"""Token vocabulary built from one or more manifests (index 0 = padding, 1 = unknown).

``itos[:n_train]`` are the train split's words; any after them are words seen only in other
splits (or cut by ``min_freq``/``max_size``) that were added because they have a pretrained
vector (:func:`raymtl.data.vectors.extend_with_vectors`): no label of those splits is used.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Iterable, Sequence

from raymtl.data.manifest import Manifest

PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class Vocab:
    itos: tuple[str, ...]
    lowercase: bool = False
    n_train: int = 0  # 0: every entry comes from the train split

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stoi", {w: i for i, w in enumerate(self.itos)})
        if not self.n_train:
            object.__setattr__(self, "n_train", len(self.itos))

    def norm(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def __contains__(self, word: str) -> bool:
        return self.norm(word) in self._stoi  # type: ignore[attr-defined]

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[str, int]], *, min_freq: int = 1, max_size: int | None = None,
                    lowercase: bool = False) -> "Vocab":
        merged: collections.Counter = collections.Counter()
        for w, c in counts:
            merged[w.lower() if lowercase else w] += c
        words = [w for w, c in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_freq]
        if max_size is not None:
            words = words[:max_size]
        return cls((PAD, UNK, *words), lowercase)

    @classmethod
    def from_manifests(cls, manifests: Sequence[Manifest], **kw) -> "Vocab":
        return cls.from_counts((wc for m in manifests for wc in m.vocab), **kw)

    def __len__(self) -> int:
        return len(self.itos)

    def id(self, word: str) -> int:
        return self._stoi.get(word.lower() if self.lowercase else word, 1)  # type: ignore[attr-defined]

    def encode(self, words: Sequence[str]) -> list[int]:
        stoi = self._stoi  # type: ignore[attr-defined]
        if self.lowercase:
            return [stoi.get(w.lower(), 1) for w in words]
        return [stoi.get(w, 1) for w in words]


def oov_rate(vocab: Vocab, counts: Iterable[tuple[str, int]]) -> tuple[float, int]:
    """(share of the tokens that map to ``<unk>``, number of tokens) of a split's token counts."""
    total = unk = 0
    for w, c in counts:
        total += c
        if w not in vocab:
            unk += c
    return (unk / total if total else 0.0), total
