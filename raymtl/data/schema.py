"""One schema for all data: examples with optional per-task labels, and the task specs.

An :class:`Example` carries tokens, an optional second text (stance target, headline, opinion
target), optional character offsets, and labels for any subset of the dataset's tasks. Joint data
(every example labels every task), disjoint data (one task per example) and unlabelled data
(no labels) all use it. In Arrow each task is one nullable column ``label:<task>`` whose type
depends on the task kind; null means "this example does not carry this task".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union, get_args

import pyarrow as pa

SCHEMA_VERSION = 1

TaskKind = Literal["tagging", "relation", "multilabel", "classify"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

# A relation triple: (head token index, tail token index, relation type), token indices 0-based.
Relation = tuple[int, int, str]
# Per-kind label value: tagging -> list[str] (one per token); relation -> list[Relation];
# multilabel -> list[str] (a set, sorted); classify -> str.
LabelValue = Union[list[str], list[Relation], str]


@dataclass(frozen=True)
class TaskSpec:
    """A task of a dataset: its kind and ordered label vocabulary.

    ``pairwise``: the task conditions on the example's second text (``text_b``).
    ``scheme``: the tagging scheme (``BIO``) or ``None``; for relations, ``labels`` are the
    relation types and ``scheme`` is unused. ``metric`` names the task's main dev metric.
    """

    name: str
    kind: TaskKind
    labels: tuple[str, ...] = ()
    pairwise: bool = False
    scheme: str | None = None
    metric: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: unknown kind {self.kind!r}; expected one of {TASK_KINDS}")
        if not self.name:
            raise ValueError("task name must be non-empty")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def default_metric(self) -> str:
        if self.metric:
            return self.metric
        return {"tagging": "f1", "relation": "f1", "multilabel": "f1", "classify": "acc"}[self.kind]

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "labels": list(self.labels), "pairwise": self.pairwise,
                "scheme": self.scheme, "metric": self.metric, "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        return cls(name=d["name"], kind=d["kind"], labels=tuple(d.get("labels", ())),
                   pairwise=bool(d.get("pairwise", False)), scheme=d.get("scheme"), metric=d.get("metric"),
                   description=d.get("description", ""))


@dataclass
class Example:
    """One example. ``labels`` maps task name to its value; a task absent from it is unlabelled."""

    id: str
    tokens: list[str]
    text_b: list[str] | None = None
    offsets: list[tuple[int, int]] | None = None
    labels: dict[str, LabelValue] = field(default_factory=dict)

    def validate(self, tasks: dict[str, TaskSpec]) -> None:
        """Raise ``ValueError`` naming the field when a label does not fit its task."""
        if not isinstance(self.id, str):
            raise ValueError(f"example {self.id!r} [id]: expected a string id")
        if not isinstance(self.tokens, list) or not self.tokens:
            raise ValueError(f"example {self.id!r} [tokens]: empty token list")
        if not _all_str(self.tokens):
            raise ValueError(f"example {self.id!r} [tokens]: every token must be a string")
        if self.text_b is not None and not (isinstance(self.text_b, list) and _all_str(self.text_b)):
            raise ValueError(f"example {self.id!r} [text_b]: expected a list of strings")
        if self.offsets is not None and len(self.offsets) != len(self.tokens):
            raise ValueError(f"example {self.id!r} [offsets]: {len(self.offsets)} offsets for {len(self.tokens)} tokens")
        for o in self.offsets or ():
            if not (isinstance(o, (list, tuple)) and len(o) == 2 and all(_is_int(x) for x in o)
                    and 0 <= o[0] <= o[1] <= INT32_MAX):
                raise ValueError(f"example {self.id!r} [offsets]: {o!r:.40} is not a (start, end) pair of "
                                 f"integers with 0 <= start <= end <= {INT32_MAX}")
        for name, value in self.labels.items():
            spec = tasks.get(name)
            if spec is None:
                raise ValueError(f"example {self.id!r} [labels.{name}]: unknown task")
            n = len(self.tokens)
            if spec.kind == "tagging":
                if not isinstance(value, list) or len(value) != n:
                    raise ValueError(f"example {self.id!r} [labels.{name}]: expected {n} tags, got {value!r:.80}")
                if not _all_str(value):
                    raise ValueError(f"example {self.id!r} [labels.{name}]: every tag must be a string")
            elif spec.kind == "relation":
                if not isinstance(value, list):
                    raise ValueError(f"example {self.id!r} [labels.{name}]: expected a list of relations")
                for rel in value:
                    if not (isinstance(rel, (list, tuple)) and len(rel) == 3 and _is_int(rel[0]) and _is_int(rel[1])
                            and isinstance(rel[2], str)):
                        raise ValueError(f"example {self.id!r} [labels.{name}]: relation {rel!r:.60} is not "
                                         "(head index, tail index, type string)")
                    h, t, _ = rel
                    if not (0 <= h < n and 0 <= t < n):
                        raise ValueError(f"example {self.id!r} [labels.{name}]: relation {rel} outside {n} tokens")
            elif spec.kind == "multilabel":
                if not isinstance(value, list) or not _all_str(value):
                    raise ValueError(f"example {self.id!r} [labels.{name}]: expected a list of label strings")
            elif not isinstance(value, str):
                raise ValueError(f"example {self.id!r} [labels.{name}]: expected one label string")
            if spec.pairwise and self.text_b is None:
                raise ValueError(f"example {self.id!r} [text_b]: task {name!r} is pairwise but the example has no text_b")


INT32_MAX = 2**31 - 1  # offsets and relation indices are int32 in Arrow


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _all_str(values: list) -> bool:
    return all(isinstance(v, str) for v in values)


def label_column(task: str) -> str:
    return f"label:{task}"


_RELATION_TYPE = pa.list_(pa.struct([("head", pa.int32()), ("tail", pa.int32()), ("type", pa.string())]))


def arrow_type(kind: str) -> pa.DataType:
    return {
        "tagging": pa.list_(pa.string()),
        "relation": _RELATION_TYPE,
        "multilabel": pa.list_(pa.string()),
        "classify": pa.string(),
    }[kind]


def arrow_schema(tasks: list[TaskSpec]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("tokens", pa.list_(pa.string()), nullable=False),
        pa.field("text_b", pa.list_(pa.string())),
        pa.field("offsets", pa.list_(pa.list_(pa.int32(), 2))),
    ]
    fields += [pa.field(label_column(t.name), arrow_type(t.kind)) for t in tasks]
    return pa.schema(fields, metadata={b"raymtl.schema_version": str(SCHEMA_VERSION).encode()})


def to_row(ex: Example, tasks: list[TaskSpec]) -> dict:
    row = {"id": ex.id, "tokens": ex.tokens, "text_b": ex.text_b,
           "offsets": [list(o) for o in ex.offsets] if ex.offsets is not None else None}
    for t in tasks:
        v = ex.labels.get(t.name)
        if v is not None and t.kind == "relation":
            v = [{"head": h, "tail": tl, "type": ty} for h, tl, ty in v]  # type: ignore[misc]
        row[label_column(t.name)] = v
    return row


def label_from_arrow(kind: str, value):
    """A label column's Python value as an Example holds it (relation structs -> triples)."""
    if kind == "relation":
        return [(r["head"], r["tail"], r["type"]) for r in value]
    return value


def from_row(row: dict, tasks: list[TaskSpec]) -> Example:
    labels: dict[str, LabelValue] = {}
    for t in tasks:
        v = row.get(label_column(t.name))
        if v is not None:
            labels[t.name] = label_from_arrow(t.kind, v)
    offsets = row.get("offsets")
    return Example(id=row["id"], tokens=list(row["tokens"]),
                   text_b=list(row["text_b"]) if row.get("text_b") is not None else None,
                   offsets=[(int(a), int(b)) for a, b in offsets] if offsets is not None else None,
                   labels=labels)
