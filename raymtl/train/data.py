"""Training-side data: resolve shards for a config, and open each worker's memory-mapped view.

The driver calls :func:`resolve_shards` (prepares missing registered datasets, checks tasks) and
passes only *locations* to workers; each worker memory-maps the shards itself, so the dataset never
travels through the object store. A *stream* is what the task sampler picks from: a joint dataset
is one stream carrying all its selected tasks; a disjoint dataset gives one stream per task
(its rows labelled for that task).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raymtl.data.batch import Batch, BatchEncoder
from raymtl.data.manifest import Manifest
from raymtl.data.schema import TaskSpec, label_column
from raymtl.data.shards import load_manifest, open_split
from raymtl.data.vocab import Vocab
from raymtl.errors import ConfigError, DataError
from raymtl.paths import data_dir, shards_dir
from raymtl.train.config import TrainConfig


def shards_root(cfg: TrainConfig) -> str:
    return cfg.data.shards or str(shards_dir())


def resolve_shards(cfg: TrainConfig, *, log: Callable[[str], None] = print) -> dict[str, str]:
    """dataset -> shard location; prepares missing registered datasets when ``data.prepare``."""
    root = shards_root(cfg)
    out: dict[str, str] = {}
    for ds in cfg.data.datasets:
        location = f"{root.rstrip('/')}/{ds}"
        local = "://" not in root
        if local and not (Path(location) / "manifest.json").exists():
            if not cfg.data.prepare:
                raise ConfigError(f"no prepared shards at {location}; run `raymtl data prepare {ds}`",
                                  key="data.shards")
            from raymtl.data.prepare import prepare
            from raymtl.data.registry import default_registry

            entry = default_registry().get(ds)
            log(f"preparing {ds} into {root} (first use)")
            prepare(entry, entry.source_dir(data_dir()), Path(root), log=log)
        out[ds] = location
    manifests = {ds: load_manifest(loc) for ds, loc in out.items()}
    for i, t in enumerate(cfg.tasks):
        ds, task = cfg.task_ref(t.name)
        if task not in manifests[ds].task_names:
            raise ConfigError(f"dataset {ds!r} has no task {task!r}; its tasks: "
                              f"{', '.join(manifests[ds].task_names)}", key=f"tasks[{i}].name")
    for ds, m in manifests.items():
        for split in (cfg.data.train_split, cfg.data.dev_split):
            if split not in m.splits:
                raise ConfigError(f"dataset {ds!r} has no split {split!r}; splits: {', '.join(m.splits)}",
                                  key="data")
    return out


@dataclass
class Stream:
    """Rows of one dataset that carry ``tasks`` (keys), with their lengths for bucketing."""

    name: str
    dataset: str
    tasks: list[str]
    indices: np.ndarray
    lengths: np.ndarray
    table: pa.Table
    encoder: BatchEncoder

    def batch(self, positions: list[int]) -> Batch:
        return self.encoder.encode(self.table, self.indices[np.asarray(positions, dtype=np.int64)].tolist())


class TrainData:
    """Manifests, vocabulary and keyed task specs of a config, and its streams per split."""

    def __init__(self, cfg: TrainConfig, locations: dict[str, str]):
        self.cfg = cfg
        self.locations = locations
        self.manifests: dict[str, Manifest] = {ds: load_manifest(loc) for ds, loc in locations.items()}
        self.vocab = Vocab.from_manifests(list(self.manifests.values()), min_freq=cfg.data.min_freq,
                                          max_size=cfg.data.max_vocab, lowercase=cfg.data.lowercase)
        self.specs: list[TaskSpec] = []
        self._by_dataset: dict[str, dict[str, str]] = {ds: {} for ds in locations}  # ds -> task -> key
        for t in cfg.tasks:
            ds, task = cfg.task_ref(t.name)
            self.specs.append(replace(self.manifests[ds].task(task), name=t.name))
            self._by_dataset[ds][task] = t.name
        self._tables: dict[tuple[str, str], pa.Table] = {}

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: t.weight for t in self.cfg.tasks}

    def spec(self, key: str) -> TaskSpec:
        return next(s for s in self.specs if s.name == key)

    def table(self, ds: str, split: str) -> pa.Table:
        if (ds, split) not in self._tables:
            self._tables[(ds, split)] = open_split(self.locations[ds], split, manifest=self.manifests[ds])
        return self._tables[(ds, split)]

    def streams(self, split: str, *, limit: int | None = None,
                per_dataset: dict[str, str] | None = None) -> list[Stream]:
        """One stream per (dataset, task group) of ``split`` (``per_dataset`` names another split
        for some datasets, e.g. ``{"semeval16-stance": "test_b"}``)."""
        out = []
        for ds, task_keys in self._by_dataset.items():
            m = self.manifests[ds]
            split_ds = (per_dataset or {}).get(ds, split)
            if split_ds not in m.splits:
                raise DataError(f"dataset {ds!r} has no split {split_ds!r} (it has {', '.join(m.splits)})",
                                field="split")
            table = self.table(ds, split_ds)
            specs = [m.task(t) for t in task_keys]
            enc = BatchEncoder(self.vocab, specs, task_keys=task_keys, max_len=self.cfg.data.max_len,
                               max_pair_len=self.cfg.data.max_pair_len)
            lengths_all = pc.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False)
            groups = [(ds, list(task_keys))] if m.joint else [(f"{ds}:{t}", [t]) for t in task_keys]
            for name, tasks in groups:
                present = np.zeros(table.num_rows, dtype=bool)
                for t in tasks:
                    col = table.column(label_column(t))
                    present |= pc.is_valid(col).to_numpy(zero_copy_only=False)
                idx = np.flatnonzero(present)
                if limit is not None:
                    idx = idx[:limit]
                if len(idx) == 0:
                    continue
                out.append(Stream(name=name, dataset=ds, tasks=[task_keys[t] for t in tasks], indices=idx,
                                  lengths=lengths_all[idx], table=table, encoder=enc))
        if not out:
            raise DataError(f"no examples of the configured tasks in split {split!r}", field="split")
        return out
