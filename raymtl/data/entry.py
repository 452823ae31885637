"""The record types a dataset plugin (a reader module) needs: what it returns and how it registers.

Readers import this module, the registry imports the readers; this module imports no reader, so
there is no loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from raymtl.data.schema import Example, TaskSpec


@dataclass
class ReadResult:
    """What a reader returns: task specs, examples per split, and the source files it read.

    ``tasks[i].labels`` may be empty: the label vocabulary is then inferred (sorted, ``O`` first
    for tagging) from the data when shards are written. ``notes`` are shown to the user (e.g. a
    missing split and the documented substitute). ``views`` names splits made of other splits'
    examples (a protocol's dev set, say): their example IDs repeat those splits' by design.
    """

    tasks: list[TaskSpec]
    splits: Mapping[str, Iterable[Example]]
    source_files: list[Path]
    notes: list[str] = field(default_factory=list)
    views: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteFile:
    """An official download: the file name the reader expects, its URL and expected sha256."""

    name: str
    url: str
    sha256: str
    # The download is an archive whose member ``member`` is the file (``None``: the file itself).
    member: str | None = None


Reader = Callable[[Path, Mapping[str, object]], ReadResult]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset.

    ``folder``: the directory name under the data dir holding the source files.
    ``task_kinds``: task name -> kind, for listing and validating configs before reading.
    ``joint``: every example carries every task (else: disjoint, one task per example).
    """

    name: str
    description: str
    folder: str
    reader: Reader
    task_kinds: Mapping[str, str]
    files: tuple[RemoteFile, ...] = ()
    license: str = ""
    citation: str = ""
    joint: bool = True
    options: Mapping[str, object] = field(default_factory=dict)

    def source_dir(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.folder
