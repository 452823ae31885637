"""The dataset registry: name -> reader, official download URLs, checksums and terms.

Adding a dataset is one module in ``raymtl/data/readers/`` that defines ``ENTRY`` and one line in
``readers/__init__.py`` (see docs/adding_a_dataset.md).
"""

from __future__ import annotations

from typing import Iterable

from raymtl.data.entry import DatasetEntry, ReadResult, Reader, RemoteFile
from raymtl.data.readers import ENTRIES
from raymtl.errors import DataError

__all__ = ["DatasetEntry", "DatasetRegistry", "ReadResult", "Reader", "RemoteFile", "default_registry"]


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
    return DatasetRegistry(ENTRIES)
