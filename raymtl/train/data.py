"""Training-side data: resolve shards for a config, and open each worker's memory-mapped view.

The driver calls :func:`resolve_shards` (prepares missing registered datasets, checks tasks) and
passes only *locations* to workers; each worker memory-maps the shards itself, so the dataset never
travels through the object store. A *stream* is what the task sampler picks from: a joint dataset
is one stream carrying all its selected tasks; a disjoint dataset gives one stream per task
(its rows labelled for that task).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from raymtl.data.batch import Batch, BatchEncoder
from raymtl.data.manifest import Manifest
from raymtl.data.schema import TaskSpec, label_column
from raymtl.data.shards import load_manifest, open_split
from raymtl.data.tagging import with_scheme
from raymtl.data.vocab import Vocab, oov_rate
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
            # a layer the corpus lacks was dropped at prepare (its labels were all empty): say so
            why = [n for n in manifests[ds].notes if ("dropped" in n or "not kept" in n)
                   and task in n.replace(",", " ").split()]
            raise ConfigError(f"dataset {ds!r} has no task {task!r}; its tasks: "
                              f"{', '.join(manifests[ds].task_names)}" + (f" ({why[0]})" if why else ""),
                              key=f"tasks[{i}].name")
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
        self._tables: dict[tuple[str, str], pa.Table] = {}
        self.vector_table: dict[str, np.ndarray] | None = None
        self.vector_coverage = ""  # the coverage log line when the config has vectors
        self._unk_p: torch.Tensor | None = None
        self.vocab = self._build_vocab()
        self.specs: list[TaskSpec] = []
        self._by_dataset: dict[str, dict[str, str]] = {ds: {} for ds in locations}  # ds -> task -> key
        for t in cfg.tasks:
            ds, task = cfg.task_ref(t.name)
            self.specs.append(replace(self.task(ds, task), name=t.name))
            self._by_dataset[ds][task] = t.name

    def task(self, ds: str, name: str) -> TaskSpec:
        """A dataset's task as trained: BIO tagging tasks relabelled when ``data.tagging_scheme`` is BILOU."""
        return with_scheme(self.manifests[ds].task(name), self.cfg.data.tagging_scheme)

    def split_counts(self, ds: str, split: str) -> list[tuple[str, int]]:
        """Token counts of one split (text and text_b), read from its shards' token columns."""
        table = self.table(ds, split)
        counts: collections.Counter = collections.Counter()
        for col in ("tokens", "text_b"):
            if col in table.column_names:
                vc = pc.value_counts(pc.list_flatten(table.column(col)))
                counts.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())))
        counts.pop(None, None)
        return list(counts.items())

    def _build_vocab(self) -> Vocab:
        """The train split's words; with vectors, plus the words of every split that have one.
        Fills ``vocab_report``: where the words came from and each split's OOV rate."""
        d = self.cfg.data
        base = Vocab.from_counts(self.train_counts(), min_freq=d.min_freq, max_size=d.max_vocab, lowercase=d.lowercase)
        counts = {(ds, split): self.split_counts(ds, split) for ds, m in self.manifests.items() for split in m.splits}
        vocab = base
        if d.vectors:
            from raymtl.data.vectors import extend_with_vectors, read_vectors

            seen = {w for c in counts.values() for w, _ in c} if d.vectors_all_splits else set()
            self.vector_table = read_vectors(d.vectors, set(base.itos[2:]) | seen)
            vocab = extend_with_vectors(base, seen, self.vector_table)
            from raymtl.data.coverage import coverage_line

            # only splits whose every word was looked up in the vectors
            looked_up = {f"{ds}/{split}": c for (ds, split), c in counts.items()
                         if d.vectors_all_splits or (split == "train" and d.min_freq <= 1)}
            self.vector_coverage = coverage_line(self.vector_table, looked_up)
        self.vocab_report = {
            "train_words": base.n_train - 2, "pretrained_only_words": len(vocab) - vocab.n_train,
            "pretrained_only_examples": list(vocab.itos[vocab.n_train:vocab.n_train + 20]),
            "oov": {f"{ds}/{split}": {"tokens": n, "oov": round(rate, 5),
                                      "oov_train_vocab": round(oov_rate(base, c)[0], 5)}
                    for (ds, split), c in counts.items() for rate, n in [oov_rate(vocab, c)]},
        }
        return vocab

    def term_distributions(self) -> dict[str, dict[str, float]]:
        """Task key -> word distribution of its training rows (the diversity features' corpus)."""
        from raymtl.data.diversity import term_distribution

        out = {}
        for ds, keys in self._by_dataset.items():
            table = self.table(ds, self.cfg.data.train_splits.get(ds, self.cfg.data.train_split))
            tokens = table.column("tokens").to_pylist()
            for task, key in keys.items():
                has = pc.is_valid(table.column(label_column(task))).to_numpy(zero_copy_only=False)
                out[key] = term_distribution([t for t, h in zip(tokens, has) if h])
        return out

    def vocab_summary(self) -> str:
        r = self.vocab_report
        rates = ", ".join(f"{k} {v['oov']:.1%}" + (f" (train vocabulary alone: {v['oov_train_vocab']:.1%})"
                                                  if v["oov_train_vocab"] != v["oov"] else "")
                          for k, v in r["oov"].items())
        return (f"vocabulary: {r['train_words']} train words + {r['pretrained_only_words']} words of other splits "
                f"with pretrained vectors; <unk> token rate: {rates}")

    def unk_probabilities(self) -> torch.Tensor:
        """``[V]``: the chance a training token becomes ``<unk>``, α / (α + train count) (word dropout)."""
        alpha = float(self.cfg.data.unk_dropout)
        counts = torch.zeros(len(self.vocab), dtype=torch.float64)
        for w, c in self.train_counts():
            i = self.vocab.id(w)
            if i > 1:
                counts[i] += c
        p = alpha / (alpha + counts) if alpha > 0 else torch.zeros_like(counts)
        p[:2] = 0.0  # padding stays padding
        return p.float()

    def drop_words(self, batch: Batch) -> Batch:
        """A training batch with word dropout to ``<unk>`` applied (torch's RNG, which the loop
        seeds per epoch and rank, so resumed runs drop the same words)."""
        if self.cfg.data.unk_dropout <= 0:
            return batch
        if self._unk_p is None:
            self._unk_p = self.unk_probabilities()
        drop = lambda t: t.masked_fill(torch.rand(t.shape) < self._unk_p[t], 1)  # noqa: E731
        return replace(batch, tokens=drop(batch.tokens),
                       pair_tokens=drop(batch.pair_tokens) if batch.pair_tokens is not None else None)

    def strict_entities(self) -> dict[str, str]:
        """relation task key -> the key of its dataset's first tagging task (the entities whose spans
        and types a strict relation match also needs, Bekoulis et al. 2018); none for lone relations."""
        out = {}
        for keys in self._by_dataset.values():
            kinds = {k: self.spec(k).kind for k in keys.values()}
            tags = [k for k, kind in kinds.items() if kind == "tagging"]
            out.update({k: tags[0] for k, kind in kinds.items() if kind == "relation" and tags})
        return out

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: t.weight for t in self.cfg.tasks}

    def spec(self, key: str) -> TaskSpec:
        return next(s for s in self.specs if s.name == key)

    def table(self, ds: str, split: str) -> pa.Table:
        """One split's table; ``a+b`` is the union of splits ``a`` and ``b`` (e.g. ``train+dev``)."""
        if (ds, split) not in self._tables:
            parts = [open_split(self.locations[ds], s, manifest=self.manifests[ds]) for s in split.split("+")]
            self._tables[(ds, split)] = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        return self._tables[(ds, split)]

    def train_counts(self) -> list[tuple[str, int]]:
        """Token counts of the training data: the manifests' train vocabularies, plus the other
        splits a ``data.train_splits`` union (``train+dev``) trains on."""
        out: list[tuple[str, int]] = []
        for ds, m in self.manifests.items():
            for part in self.cfg.data.train_splits.get(ds, self.cfg.data.train_split).split("+"):
                out += m.vocab if part == "train" else self.split_counts(ds, part)
        return out

    def streams(self, split: str, *, limit: int | None = None,
                per_dataset: dict[str, str] | None = None) -> list[Stream]:
        """One stream per (dataset, task group) of ``split`` (``per_dataset`` names another split
        for some datasets, e.g. ``{"semeval16-stance": "test_b"}``)."""
        out = []
        for ds, task_keys in self._by_dataset.items():
            m = self.manifests[ds]
            split_ds = (per_dataset or {}).get(ds, split)
            if not set(split_ds.split("+")) <= set(m.splits):
                raise DataError(f"dataset {ds!r} has no split {split_ds!r} (it has {', '.join(m.splits)}; shards "
                                f"prepared before a reader gained a split: `raymtl data prepare {ds} --force`)",
                                field="split")
            table = self.table(ds, split_ds)
            specs = [self.task(ds, t) for t in task_keys]
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
