"""Arrow IPC *stream* shards: writing them, memory-mapping them, and caching remote ones.

Shards use the IPC streaming format because ``datasets.Dataset.from_file`` memory-maps exactly
that format, so users can open them with the tools they know. A shard read from a remote
filesystem (``s3://``, ``gs://``, any ``pyarrow.fs`` URI) is copied once per node into a local
cache keyed by its sha256 and verified.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.fs as pafs

from raymtl import atomic
from raymtl.data.manifest import Manifest, ShardInfo
from raymtl.data.schema import Example, TaskSpec, arrow_schema, label_column, label_from_arrow, to_row
from raymtl.errors import DataError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_shards(examples: Iterable[Example], tasks: list[TaskSpec], split_dir: Path, *, rel_prefix: str,
                 rows_per_shard: int) -> list[ShardInfo]:
    """Write ``examples`` as ``part-NNNNN.arrow`` files of at most ``rows_per_shard`` rows."""
    if rows_per_shard < 1:
        raise ValueError("rows_per_shard must be >= 1")
    split_dir.mkdir(parents=True, exist_ok=True)
    schema = arrow_schema(tasks)
    shards: list[ShardInfo] = []
    buf: list[dict] = []

    def flush() -> None:
        name = f"part-{len(shards):05d}.arrow"
        path = split_dir / name
        table = pa.Table.from_pylist(buf, schema=schema)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            writer.write_table(table)
        shards.append(ShardInfo(path=f"{rel_prefix}/{name}", rows=len(buf), bytes=path.stat().st_size,
                                sha256=sha256_file(path)))
        buf.clear()

    for ex in examples:
        buf.append(to_row(ex, tasks))
        if len(buf) >= rows_per_shard:
            flush()
    if buf or not shards:
        flush()  # an empty split still gets one (empty) shard so its schema is readable
    return shards


def _open_local(path: Path) -> pa.Table:
    source = pa.memory_map(str(path), "r")
    return pa.ipc.open_stream(source).read_all()


def _is_uri(location: str) -> bool:
    """Any URI (``s3://``, ``gs://``, ``file://`` on a shared filesystem...) is read through the cache;
    a plain path is memory-mapped in place."""
    return "://" in location


def cache_dir() -> Path:
    return Path(os.environ.get("RAYMTL_CACHE_DIR", Path.home() / ".cache" / "raymtl")) / "shard-cache"


def fetch_to_cache(uri: str, sha256: str) -> Path:
    """Copy a remote shard into this node's cache once, verifying its sha256."""
    target = cache_dir() / f"{sha256}.arrow"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fs, path = pafs.FileSystem.from_uri(uri)
    with atomic.atomic_path(target) as tmp:  # a wrong checksum raises inside: nothing is renamed
        h = hashlib.sha256()
        with open(tmp, "wb") as out, fs.open_input_stream(path) as src:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise DataError(f"checksum mismatch: got {h.hexdigest()[:12]}…, manifest says {sha256[:12]}…",
                            file=uri, field="sha256")
    return target


def load_manifest(location: str | Path) -> Manifest:
    """Load a manifest from a local directory or a ``pyarrow.fs`` URI."""
    location = str(location)
    if not _is_uri(location):
        return Manifest.load(location)
    import json

    fs, path = pafs.FileSystem.from_uri(location.rstrip("/") + "/manifest.json")
    with fs.open_input_stream(path) as f:
        return Manifest.from_dict(json.loads(f.read().decode("utf-8")), file=location)


def open_split(location: str | Path, split: str, *, manifest: Manifest | None = None,
               verify: bool = False) -> pa.Table:
    """The whole split as one memory-mapped Arrow table (zero-copy for local shards).

    ``verify``: check each shard's sha256 against the manifest first (always done for remote
    shards when they are cached).
    """
    location = str(location)
    manifest = manifest or load_manifest(location)
    if split not in manifest.splits:
        raise DataError(f"dataset {manifest.name!r} has no split {split!r}; splits: {', '.join(manifest.splits)}",
                        file=location, field="split")
    tables = []
    for shard in manifest.splits[split].shards:
        if _is_uri(location):
            path = fetch_to_cache(location.rstrip("/") + "/" + shard.path, shard.sha256)
        else:
            path = Path(location) / shard.path
            if not path.exists():
                raise DataError("shard listed in the manifest is missing; re-run `raymtl data prepare`",
                                file=path)
            if verify and sha256_file(path) != shard.sha256:
                raise DataError("shard bytes do not match the manifest's sha256 (corrupted?); re-run "
                                "`raymtl data prepare`", file=path, field="sha256")
        tables.append(_open_local(path))
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def verify_shards(location: str | Path, manifest: Manifest | None = None) -> None:
    """Raise DataError if any shard's bytes differ from the manifest (run before training)."""
    manifest = manifest or load_manifest(location)
    for split in manifest.splits:
        open_split(location, split, manifest=manifest, verify=True)


def iter_examples(table: pa.Table, tasks: list[TaskSpec]) -> Iterator[Example]:
    """Examples of ``table`` in order, converted a record batch at a time."""
    names = set(table.column_names)
    label_cols = [(t.name, t.kind, label_column(t.name)) for t in tasks if label_column(t.name) in names]
    for batch in table.to_batches():
        yield from _batch_examples(batch, names, label_cols)


def _batch_examples(batch: pa.RecordBatch, names: set[str], label_cols: list[tuple[str, str, str]]) -> list[Example]:
    """Column by column (one Python list per column, then zip): several times faster than a dict
    per row. The cyclic GC is paused meanwhile: the millions of fresh token strings and lists
    would otherwise trigger full collections that cost more than the conversion itself."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        n = batch.num_rows
        ids, tokens = batch.column("id").to_pylist(), batch.column("tokens").to_pylist()
        text_b = _repeated_lists(batch.column("text_b")) if "text_b" in names else [None] * n
        offsets = _offset_pairs(batch.column("offsets")) if "offsets" in names else [None] * n
        labels = [(task, kind, batch.column(c).to_pylist()) for task, kind, c in label_cols]
        out = []
        for i in range(n):
            ex_labels = {}
            for task, kind, values in labels:
                if values[i] is not None:
                    ex_labels[task] = label_from_arrow(kind, values[i])
            out.append(Example(id=ids[i], tokens=tokens[i], text_b=text_b[i], offsets=offsets[i], labels=ex_labels))
        return out
    finally:
        if paused:
            gc.enable()


def _repeated_lists(column: pa.Array) -> list[list[str] | None]:
    """A list<string> column whose values repeat (second texts: a stance target, an FNC-1 body
    shared by dozens of headlines) as Python lists, converting each distinct value once. A row's
    key is its raw UTF-8 bytes plus its string boundaries (relative to the row), so equal keys
    mean equal lists; each row still gets its own list object."""
    import numpy as np

    strings = column.values
    if strings.type != pa.string() or column.null_count == len(column):
        return column.to_pylist()
    _, str_offsets, data = strings.buffers()[:3]
    bounds = column.offsets.to_numpy()  # row i holds strings bounds[i]:bounds[i+1]
    str_off = np.frombuffer(str_offsets, dtype=np.int32)[strings.offset:strings.offset + len(strings) + 1]
    row_start = str_off[bounds]  # byte offset where each row's text starts (and the last one ends)
    counts = np.diff(bounds)
    first, last = int(bounds[0]), int(bounds[-1])
    rel = (str_off[first:last] - np.repeat(row_start[:-1], counts)).astype(np.int32).tobytes()
    raw = bytes(memoryview(data)[int(row_start[0]):int(row_start[-1])]) if data is not None else b""
    byte_at = (row_start - row_start[0]).tolist()
    idx = (bounds - first).tolist()
    valid = column.is_valid().to_pylist() if column.null_count else None
    seen: dict[tuple[bytes, bytes], list[str]] = {}
    out: list[list[str] | None] = []
    for i in range(len(column)):
        if valid is not None and not valid[i]:
            out.append(None)
            continue
        key = (raw[byte_at[i]:byte_at[i + 1]], rel[4 * idx[i]:4 * idx[i + 1]])
        cached = seen.get(key)
        if cached is None:
            cached = seen[key] = column[i].as_py()
        out.append(list(cached))
    return out


def _offset_pairs(column: pa.Array) -> list[list[tuple[int, int]] | None]:
    """A list<fixed_size_list<int32, 2>> column as lists of (start, end) tuples: one flat
    conversion instead of a Python list per pair (the slowest column by far otherwise)."""
    flat = column.values.flatten().to_pylist()  # every row's pairs, flattened
    bounds = column.offsets.to_pylist()
    valid = column.is_valid().to_pylist() if column.null_count else None
    out: list[list[tuple[int, int]] | None] = []
    for i in range(len(column)):
        if valid is not None and not valid[i]:
            out.append(None)
            continue
        row = flat[2 * bounds[i]:2 * bounds[i + 1]]
        out.append(list(zip(row[0::2], row[1::2])))
    return out
