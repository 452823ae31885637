"""How much of a corpus pretrained vectors cover: types and tokens per split, in one log line.

Shown when a config with ``data.vectors`` starts, so a user with their own corpus sees at once
whether the vectors fit its tokenisation (e.g. ``it's`` is one token here and two in GloVe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from raymtl.data.readers.common import CLITIC_RE
from raymtl.data.vectors import has_vector


@dataclass(frozen=True)
class Coverage:
    types: int
    types_found: int
    tokens: int
    tokens_found: int
    clitic_oov: tuple[str, ...]  # OOV types ending in a clitic (it's, don't), most frequent first

    @property
    def type_rate(self) -> float:
        return self.types_found / self.types if self.types else 0.0

    @property
    def token_rate(self) -> float:
        return self.tokens_found / self.tokens if self.tokens else 0.0


def coverage(table: Mapping[str, np.ndarray], counts: Iterable[tuple[str, int]]) -> Coverage:
    """Coverage of the ``(word, count)`` pairs of one split by ``table`` (word or its lower case)."""
    types = found = tokens = tokens_found = 0
    clitics = []
    for word, n in counts:
        types += 1
        tokens += n
        if has_vector(table, word):
            found += 1
            tokens_found += n
        else:
            m = CLITIC_RE.search(word)
            if m is not None and m.start() > 0:
                clitics.append((-n, word))
    return Coverage(types, found, tokens, tokens_found, tuple(w for _, w in sorted(clitics)))


def coverage_line(table: Mapping[str, np.ndarray], counts_by_split: Mapping[str, Iterable[tuple[str, int]]]) -> str:
    """``vector coverage: ds/train types 91.2% tokens 98.0%, ...`` plus a hint when OOV words end in
    clitics that the vectors' tokenisation splits off."""
    parts, clitics = [], {}
    for split, counts in counts_by_split.items():
        c = coverage(table, counts)
        parts.append(f"{split} types {c.type_rate:.1%} tokens {c.token_rate:.1%}")
        clitics.update(dict.fromkeys(c.clitic_oov))  # dict: insertion order (train's most frequent first)
    line = "vector coverage: " + ", ".join(parts)
    if clitics:
        line += (f"; {len(clitics)} OOV types end in a clitic ({', '.join(list(clitics)[:4])}): the reader option "
                 "split_clitics=true (semeval14, jsonl) splits them (it 's) as the vectors' tokenisation does")
    return line
