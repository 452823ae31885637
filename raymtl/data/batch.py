"""Turning Arrow rows into padded tensors: the :class:`Batch` every model consumes.

Targets per task kind (``-100`` / mask = no label):
- tagging: ``[B, T]`` label ids, ``-100`` at padding and for examples without the task;
- relation: ``[B, T, T, R]`` 0/1, ``[b, h, t, r] = 1`` for a triple (head h, tail t, type r)
  (multi-head selection: token h selects head t with relation r, causal-mtl eq. 14);
- multilabel: ``[B, L]`` 0/1;
- classify: ``[B]`` label id, ``-100`` for examples without the task.
``present[task]`` is a ``[B]`` bool mask of the examples that carry the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import pyarrow as pa
import torch

from raymtl.data.schema import TaskSpec, label_column
from raymtl.data.tagging import bio_to_bilou
from raymtl.data.vocab import Vocab

IGNORE = -100


@dataclass
class Batch:
    ids: list[str]
    words: list[list[str]]
    tokens: torch.Tensor  # [B, T] long
    mask: torch.Tensor  # [B, T] bool
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    pair_words: list[list[str]] | None = None
    pair_tokens: torch.Tensor | None = None  # [B, T2] long
    pair_mask: torch.Tensor | None = None  # [B, T2] bool

    @property
    def size(self) -> int:
        return self.tokens.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)

    @property
    def tasks(self) -> list[str]:
        """Tasks with at least one labelled example in this batch."""
        return [t for t, p in self.present.items() if bool(p.any())]

    def to(self, device: torch.device | str) -> "Batch":
        mv = lambda t: t.to(device, non_blocking=True) if t is not None else None  # noqa: E731
        return replace(self, tokens=mv(self.tokens), mask=mv(self.mask), pair_tokens=mv(self.pair_tokens),
                       pair_mask=mv(self.pair_mask), targets={k: mv(v) for k, v in self.targets.items()},
                       present={k: mv(v) for k, v in self.present.items()})


def _pad(seqs: Sequence[Sequence[int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.bool)
    for i, s in enumerate(seqs):
        n = min(len(s), width)
        out[i, :n] = torch.as_tensor(s[:n], dtype=torch.long)
        mask[i, :n] = True
    return out, mask


class BatchEncoder:
    """Encodes rows of one dataset's Arrow table into a :class:`Batch`.

    ``task_keys`` maps the dataset's task name to the key used in ``Batch.targets`` (the training
    layer qualifies names as ``dataset:task`` when several datasets are mixed).
    """

    def __init__(self, vocab: Vocab, tasks: Sequence[TaskSpec], task_keys: dict[str, str] | None = None,
                 max_len: int | None = None, max_pair_len: int | None = None):
        self.vocab = vocab
        self.tasks = list(tasks)
        self.keys = task_keys or {t.name: t.name for t in self.tasks}
        self.max_len = max_len
        self.max_pair_len = max_pair_len
        self._label_ids = {t.name: {lab: i for i, lab in enumerate(t.labels)} for t in self.tasks}

    def encode(self, table: pa.Table, indices: Sequence[int]) -> Batch:
        cols = ["id", "tokens", "text_b"] + [label_column(t.name) for t in self.tasks]
        rows = table.select(cols).take(pa.array(indices, type=pa.int64())).to_pydict()
        words = [w[: self.max_len] if self.max_len else w for w in rows["tokens"]]
        width = max(len(w) for w in words)
        tokens, mask = _pad([self.vocab.encode(w) for w in words], width)
        batch = Batch(ids=rows["id"], words=words, tokens=tokens, mask=mask)
        if any(tb is not None for tb in rows["text_b"]):
            pw = [(tb or ["<none>"])[: self.max_pair_len] if self.max_pair_len else (tb or ["<none>"])
                  for tb in rows["text_b"]]
            batch.pair_words = pw
            batch.pair_tokens, batch.pair_mask = _pad([self.vocab.encode(w) for w in pw], max(map(len, pw)))
        for t in self.tasks:
            values = rows[label_column(t.name)]
            present = torch.tensor([v is not None for v in values], dtype=torch.bool)
            if not present.any():
                continue
            key = self.keys[t.name]
            batch.present[key] = present
            batch.targets[key] = self._target(t, values, width)
        return batch

    def _target(self, t: TaskSpec, values: list, width: int) -> torch.Tensor:
        ids = self._label_ids[t.name]
        b = len(values)
        if t.kind == "tagging":
            y = torch.full((b, width), IGNORE, dtype=torch.long)
            for i, tags in enumerate(values):
                if tags is not None:
                    tags = tags[:width]
                    if t.scheme == "BILOU":  # shards hold BIO; the task trains on BILOU (data.tagging_scheme)
                        tags = bio_to_bilou(tags)
                    y[i, : len(tags)] = torch.as_tensor([ids[x] for x in tags], dtype=torch.long)
            return y
        if t.kind == "relation":
            y = torch.zeros(b, width, width, len(t.labels))
            for i, rels in enumerate(values):
                for r in rels or ():
                    if r["head"] < width and r["tail"] < width:
                        y[i, r["head"], r["tail"], ids[r["type"]]] = 1.0
            return y
        if t.kind == "multilabel":
            y = torch.zeros(b, len(t.labels))
            for i, labs in enumerate(values):
                for lab in labs or ():
                    y[i, ids[lab]] = 1.0
            return y
        return torch.tensor([ids[v] if v is not None else IGNORE for v in values], dtype=torch.long)
