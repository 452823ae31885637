"""The manifest of a prepared dataset: tasks, label vocabularies, splits, token vocabulary, checksums."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from raymtl import atomic
from raymtl.data.schema import SCHEMA_VERSION, TaskSpec
from raymtl.errors import ConfigError, DataError
from raymtl.safety import check_name

MANIFEST_NAME = "manifest.json"
_SHARD_RE = re.compile(r"part-[0-9]{5,}\.arrow")


@dataclass
class ShardInfo:
    path: str  # relative to the dataset directory, e.g. "train/part-00000.arrow"
    rows: int
    bytes: int
    sha256: str


@dataclass
class SplitInfo:
    rows: int
    shards: list[ShardInfo]
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> label -> count
    task_rows: dict[str, int] = field(default_factory=dict)  # task -> examples labelled for it


@dataclass
class Manifest:
    name: str
    reader: str
    tasks: list[TaskSpec]
    splits: dict[str, SplitInfo]
    vocab: list[tuple[str, int]]  # token -> frequency in the train split, most frequent first
    sources: dict[str, str]  # source file name -> sha256
    options: dict = field(default_factory=dict)
    rows_per_shard: int = 0
    notes: list[str] = field(default_factory=list)
    joint: bool = True
    schema_version: int = SCHEMA_VERSION
    created: str = ""

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tasks)
        raise DataError(f"dataset {self.name!r} has no task {name!r}; its tasks: {known}", field="task")

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "reader": self.reader,
            "created": self.created,
            "joint": self.joint,
            "options": self.options,
            "rows_per_shard": self.rows_per_shard,
            "notes": self.notes,
            "sources": self.sources,
            "tasks": [t.to_dict() for t in self.tasks],
            "splits": {
                s: {"rows": i.rows, "task_rows": i.task_rows, "label_counts": i.label_counts,
                    "shards": [vars(sh) for sh in i.shards]}
                for s, i in self.splits.items()
            },
            "vocab": [[w, c] for w, c in self.vocab],
        }

    @classmethod
    def from_dict(cls, d: dict, *, file: str | Path | None = None) -> "Manifest":
        if not isinstance(d, dict):
            raise DataError(f"expected a JSON object, got {type(d).__name__}", file=file)
        try:
            if d.get("schema_version") != SCHEMA_VERSION:
                raise DataError(f"schema version {d.get('schema_version')} is not {SCHEMA_VERSION}; re-run "
                                "`raymtl data prepare`", file=file, field="schema_version")
            if not isinstance(d["splits"], dict) or not isinstance(d["tasks"], list):
                raise DataError("'splits' must be an object and 'tasks' a list", file=file, field="splits")
            tasks = [TaskSpec.from_dict(t) for t in d["tasks"]]
            splits = {s: SplitInfo(rows=i["rows"], shards=[ShardInfo(**sh) for sh in i["shards"]],
                                   label_counts=i.get("label_counts", {}), task_rows=i.get("task_rows", {}))
                      for s, i in d["splits"].items()}
            for s, info in splits.items():  # shards are read below the dataset directory only
                try:
                    check_name(s, key=f"splits.{s}", what="a split name", under="the dataset directory")
                except ConfigError as e:
                    raise DataError(str(e).split(": ", 1)[-1], file=file, field="splits") from None
                for sh in info.shards:
                    parts = str(sh.path).split("/")
                    if len(parts) != 2 or parts[0] != s or not _SHARD_RE.fullmatch(parts[1]):
                        raise DataError(f"shard path {sh.path!r} is not {s}/part-NNNNN.arrow", file=file,
                                        field=f"splits.{s}.shards")
            m = cls(
                name=d["name"], reader=d["reader"], created=d.get("created", ""), joint=d.get("joint", True),
                options=d.get("options", {}), rows_per_shard=d.get("rows_per_shard", 0), notes=d.get("notes", []),
                sources=d["sources"], tasks=tasks, splits=splits, vocab=[(w, int(c)) for w, c in d["vocab"]])
        except KeyError as e:
            raise DataError(f"manifest lacks {e.args[0]!r}", file=file, field=str(e.args[0])) from None
        except (TypeError, ValueError, AttributeError) as e:  # wrong shapes or values (a hand-edited manifest)
            raise DataError(f"malformed manifest: {e}", file=file) from None
        return m

    def save(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST_NAME
        atomic.write_json(path, self.to_dict(), ensure_ascii=False)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "Manifest":
        path = Path(directory) / MANIFEST_NAME
        if not path.exists():
            raise DataError("no manifest here; prepare the dataset first with `raymtl data prepare NAME`",
                            file=path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg}", file=path, line=e.lineno) from None
        return cls.from_dict(d, file=path)
