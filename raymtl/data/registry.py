"""The dataset registry: name -> reader, official download URLs, checksums and terms.

Adding a dataset is one module in ``raymtl/data/readers/`` that defines ``ENTRY`` and one line in
``readers/__init__.py`` (see docs/adding_a_dataset.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError


@dataclass
class ReadResult:
    """What a reader returns: task specs, examples per split, and the source files it read.

    ``tasks[i].labels`` may be empty: the label vocabulary is then inferred (sorted, ``O`` first
    for tagging) from the data when shards are written. ``notes`` are shown to the user (e.g. a
    missing split and the documented substitute).
    """

    tasks: list[TaskSpec]
    splits: Mapping[str, Iterable[Example]]
    source_files: list[Path]
    notes: list[str] = field(default_factory=list)


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


class DatasetRegistry:
    """Name -> :class:`DatasetEntry`. Build one with :func:`default_registry`."""

    def __init__(self, entries: Iterable[DatasetEntry] = ()):
        self._entries: dict[str, DatasetEntry] = {}
        for e in entries:
            self.register(e)

    def register(self, entry: DatasetEntry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"dataset {entry.name!r} registered twice")
        self._entries[entry.name] = entry

    def get(self, name: str) -> DatasetEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise DataError(f"unknown dataset {name!r}; registered datasets: {known}", field="dataset") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self):
        return iter(self._entries[n] for n in self.names())

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def default_registry() -> DatasetRegistry:
    """The datasets that ship with raymtl (see ``raymtl/data/readers/__init__.py``)."""
    from raymtl.data.readers import ENTRIES

    return DatasetRegistry(ENTRIES)
