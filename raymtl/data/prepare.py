"""``raymtl data prepare``: read a corpus once and write Arrow shards plus a manifest.

Nothing is half-written: shards go to a temporary directory beside the target, which is renamed
into place when complete. A lock file serialises concurrent prepares of the same dataset, so two
at once end with one valid shard set. Unchanged inputs (same source checksums, reader options and
shard size) and shards that still match their manifest make a re-run a no-op.

Nothing prepare did not write is ever replaced: the target may not be, lie inside or contain the
source directory, and an existing target is replaced only when it carries a raymtl manifest.
"""

from __future__ import annotations

import collections
import datetime as _dt
import fcntl
import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from raymtl import atomic
from raymtl.data.manifest import MANIFEST_NAME, Manifest, SplitInfo
from raymtl.data.options import DEV_FRACTION, declared
from raymtl.data.readers.common import carve_dev
from raymtl.data.registry import DatasetEntry, default_registry
from raymtl.data.schema import Example, TaskSpec
from raymtl.data.shards import sha256_file, write_shards
from raymtl.errors import ConfigError, DataError
from raymtl.safety import check_name, overlap

DEFAULT_ROWS_PER_SHARD = 2000


@dataclass
class PrepareResult:
    path: Path
    manifest: Manifest
    rebuilt: bool  # False: the existing shards were up to date


def _source_checksums(files: Iterable[Path]) -> dict[str, str]:
    return {Path(f).name: sha256_file(f) for f in sorted(set(map(Path, files)))}


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _order_labels(spec: TaskSpec, counts: Mapping[str, int]) -> tuple[str, ...]:
    """Declared labels keep their order (unseen ones appended, sorted); else sorted, ``O`` first."""
    if spec.labels:
        extra = sorted(set(counts) - set(spec.labels))
        return tuple(spec.labels) + tuple(extra)
    labels = sorted(counts)
    if spec.kind == "tagging" and "O" in labels:
        labels.remove("O")
        labels.insert(0, "O")
    return tuple(labels)


def _count(examples: list[Example], tasks: list[TaskSpec]) -> tuple[dict, dict]:
    counts: dict[str, collections.Counter] = {t.name: collections.Counter() for t in tasks}
    rows: dict[str, int] = {t.name: 0 for t in tasks}
    kinds = {t.name: t.kind for t in tasks}
    for ex in examples:
        for name, value in ex.labels.items():
            rows[name] += 1
            kind = kinds[name]
            if kind == "classify":
                counts[name][value] += 1
            elif kind == "relation":
                counts[name].update(r[2] for r in value)
            else:
                counts[name].update(value)
    return counts, rows


def _is_up_to_date(target: Path, reader: str, options: dict, rows_per_shard: int) -> Manifest | None:
    if not (target / MANIFEST_NAME).exists():
        return None
    try:
        old = Manifest.load(target)
    except DataError:
        return None
    if old.reader != reader or old.options != options or old.rows_per_shard != rows_per_shard:
        return None
    # Files that vanished or changed since, and every shard present: otherwise rebuild.
    for name, digest in old.sources.items():
        path = Path(old.options.get("_source_dir", "")) / name
        if not path.exists() or sha256_file(path) != digest:
            return None
    # Shards must still match the manifest (a corrupted shard is rebuilt without --force).
    for split in old.splits.values():
        for shard in split.shards:
            path = target / shard.path
            if not path.is_file() or path.stat().st_size != shard.bytes or sha256_file(path) != shard.sha256:
                return None
    return old


def default_name(entry: DatasetEntry, source: Path) -> str:
    """The dataset name when ``--name`` is not given: a registered dataset's own name; for a
    generic reader (no folder) the source directory's name, so two corpora never share shards."""
    return entry.name if entry.folder else Path(source).resolve().name


def prepare(entry: DatasetEntry, source: Path, out_root: Path, *,
            rows_per_shard: int = DEFAULT_ROWS_PER_SHARD, options: Mapping[str, object] | None = None,
            force: bool = False, log: Callable[[str], None] = print, name: str | None = None) -> PrepareResult:
    """Prepare ``entry`` from ``source`` into ``out_root/NAME`` (``name``, else
    :func:`default_name`): the shards directory and the manifest's dataset name; returns the manifest.
    Options are checked against the reader's declarations (an unknown or mistyped one is a ConfigError)."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"source directory of dataset {entry.name!r} not found", file=source)
    out_root = Path(out_root)
    explicit = {k for k, v in dict(options or {}).items() if v is not None and v != declared(entry.options).get(k)}
    name = name or default_name(entry, source)
    check_name(name, key="--name", what="a dataset name", under="the shards root")
    if name != entry.name and name in default_registry():
        raise ConfigError(f"{name!r} is a registered dataset: preparing reader {entry.name} under that name would "
                          "overwrite its shards; pick another --name", key="--name")
    target = out_root / name
    how = overlap(target, source)
    if how is not None:
        raise DataError(f"output directory {target.resolve()} is {how} the source directory {source.resolve()}; "
                        "preparing would replace the raw corpus: pick another --out / RAYMTL_SHARDS_DIR",
                        file=target, field="--out")
    _check_replaceable(target)  # before any work, and again at the swap
    _check_same_reader(target, entry.name)
    opts = declared(entry.options).resolve(options or {}, reader=entry.name)
    # JSON-normalised (int keys -> str), as the manifest stores them, so a re-run compares equal
    opts = json.loads(json.dumps({**opts, "_source_dir": str(source.resolve())}))
    with _lock(out_root / f".{name}.lock"):
        atomic.remove_leftovers(out_root / name)  # of a killed prepare: the lock is held, none is live
        if not force:
            old = _is_up_to_date(target, entry.name, opts, rows_per_shard)
            if old is not None:
                log(f"{name}: up to date ({target}); nothing to do")
                return PrepareResult(target, old, rebuilt=False)
        log(f"{name}: reading {source} (reader {entry.name})")
        result = entry.reader(source, opts)
        splits = {split: list(exs) for split, exs in result.splits.items()}
        notes = list(result.notes)
        # The one dev-carving rule for every reader whose corpus has no dev split
        if "dev" not in splits and "train" in splits and float(opts["dev_fraction"]) > 0:
            splits, note = carve_dev(splits, float(opts["dev_fraction"]), opts["seed"])
            notes.append(note)
        elif "dev" in result.splits and "dev_fraction" in explicit and DEV_FRACTION in declared(entry.options).specs:
            notes.append("option dev_fraction unused: the corpus has its own dev split")
        for split in splits:  # a split becomes a directory under the target
            _check_path_name(split, "split", source)
        for t in result.tasks:  # a task names Arrow columns, TensorBoard tags and run paths
            _check_path_name(t.name, "task", source)
        task_map = {t.name: t for t in result.tasks}
        for split, exs in splits.items():
            for ex in exs:
                try:
                    ex.validate(task_map)
                except ValueError as e:
                    raise DataError(str(e), file=source, field=split) from None
        all_counts = {t.name: collections.Counter() for t in result.tasks}
        per_split = {}
        for split, exs in splits.items():
            counts, rows = _count(exs, result.tasks)
            per_split[split] = (counts, rows)
            for task_name, c in counts.items():
                all_counts[task_name].update(c)
        tasks = []
        empty = [t.name for t in result.tasks if not _has_labels(t, all_counts[t.name])]
        for task in empty:  # e.g. the category layer of a corpus that has none: never train on nothing
            log(f"{name}: warning: task {task} dropped: no example has a label for it")
            notes.append(f"task {task} dropped: no example has a label for it")
            for exs in splits.values():
                for ex in exs:
                    ex.labels.pop(task, None)
            for counts, rows in per_split.values():
                counts.pop(task, None)
                rows.pop(task, None)
        if empty and len(empty) == len(result.tasks):
            raise DataError(f"no task has any label (tasks {', '.join(empty)})", file=source, field="labels")
        for spec in (t for t in result.tasks if t.name not in empty):
            if spec.labels and spec.kind != "tagging":
                unknown = set(all_counts[spec.name]) - set(spec.labels)
                if unknown:
                    raise DataError(f"labels {sorted(unknown)} are not in the task's label set {list(spec.labels)}",
                                    file=source, field=f"labels.{spec.name}")
            tasks.append(TaskSpec(**{**spec.to_dict(), "labels": _order_labels(spec, all_counts[spec.name])}))
        vocab = collections.Counter()
        for ex in splits.get("train", []):
            vocab.update(ex.tokens)
            if ex.text_b:
                vocab.update(ex.text_b)
        out_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out_root))
        try:
            split_infos = {}
            for split, exs in splits.items():
                shards = write_shards(exs, tasks, tmp / split, rel_prefix=split, rows_per_shard=rows_per_shard)
                counts, rows = per_split[split]
                split_infos[split] = SplitInfo(rows=len(exs), shards=shards,
                                               label_counts={k: dict(sorted(v.items())) for k, v in counts.items()},
                                               task_rows=rows)
                log(f"{name}: {split}: {len(exs)} examples in {len(shards)} shard(s)")
            manifest = Manifest(
                name=name, reader=entry.name, tasks=tasks, splits=split_infos,
                vocab=sorted(vocab.items(), key=lambda kv: (-kv[1], kv[0])),
                sources=_source_checksums(result.source_files), options=opts, rows_per_shard=rows_per_shard,
                notes=notes, joint=entry.joint,
                created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            )
            manifest.save(tmp)
            _swap_into_place(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for note in manifest.notes:
            log(f"{name}: note: {note}")
        return PrepareResult(target, manifest, rebuilt=True)


def _has_labels(spec: TaskSpec, counts: Mapping[str, int]) -> bool:
    """Some example carries a label of the task (for tagging: a tag other than ``O``)."""
    return any(n for label, n in counts.items() if not (spec.kind == "tagging" and label == "O"))


def _check_same_reader(target: Path, reader: str) -> None:
    """Shards of another reader are never replaced (a generic corpus named like a dataset)."""
    if not (target / MANIFEST_NAME).is_file():
        return
    try:
        old = Manifest.load(target)
    except DataError:
        return
    if old.reader != reader:
        raise ConfigError(f"{target} holds dataset {old.name!r} prepared by reader {old.reader!r}, not {reader!r}; "
                          "pick another --name (or remove that directory)", key="--name")


def _check_path_name(name: object, what: str, source: Path) -> None:
    try:
        check_name(name, key=what, what=f"a {what} name", under="the dataset's shard directory")
    except ConfigError as e:
        raise DataError(str(e).split(": ", 1)[-1], file=source, field=what) from None


def _check_replaceable(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not (target / MANIFEST_NAME).is_file()):
        raise DataError("exists and is not a raymtl shard directory (no manifest.json); refusing to replace it",
                        file=target, field="--out")


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp`` with renames only (raymtl.atomic.swap_dir), so readers never
    see a mix. Only a directory that carries a raymtl manifest is ever replaced."""
    _check_replaceable(target)
    atomic.swap_dir(tmp, target)  # a killed swap leaves .NAME.old-*: atomic.remove_leftovers
