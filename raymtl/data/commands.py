"""``raymtl data ...`` subcommands (kept apart from the CLI parser so they are easy to test)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
from pathlib import Path

from raymtl import atomic
from raymtl.data.manifest import Manifest
from raymtl.data.options import options_help, parse_cli_options
from raymtl.data.prepare import DEFAULT_ROWS_PER_SHARD, prepare
from raymtl.data.registry import DatasetEntry, default_registry
from raymtl.data.shards import load_manifest, sha256_file, verify_shards
from raymtl.errors import DataError
from raymtl.paths import data_dir, shards_dir


def list_datasets(*, verbose: bool = False) -> int:
    root = data_dir()
    print(f"data dir: {root}  (set RAYMTL_DATA_DIR to change)\n")
    for e in default_registry():
        src = e.source_dir(root) if e.folder else None
        found = "generic (--source)" if src is None else ("found" if src.is_dir() else "not found")
        tasks = ", ".join(f"{t}({k})" for t, k in e.task_kinds.items()) or "(set by options)"
        kind = "joint" if e.joint else "disjoint"
        print(f"{e.name:<24} {kind:<8} {found:<18} {tasks}")
        if e.description:
            print(f"{'':<24} {e.description}")
        if verbose:
            print("\n".join(f"    {line}" for line in options_help(e.name, e.options).splitlines()) + "\n")
    return 0


def prepare_cmd(name: str, source: Path | None, out: str | None, rows_per_shard: int | None,
                options: list[str], force: bool, dataset_name: str | None = None) -> int:
    entry = default_registry().get(name)
    if source is None:
        if not entry.folder:
            raise DataError(f"dataset {name!r} is generic: pass --source DIR", field="--source")
        source = entry.source_dir(data_dir())
    root = Path(out) if out else shards_dir()
    result = prepare(entry, source, root, rows_per_shard=rows_per_shard or DEFAULT_ROWS_PER_SHARD,
                     options=parse_cli_options(options), force=force, name=dataset_name)
    if result.rebuilt:
        print(f"wrote {result.path}")
    _summary(result.manifest, str(result.path))
    return 0


def _summary(m: Manifest, where: str) -> None:
    print(f"\n{m.name}  ({'joint' if m.joint else 'disjoint'}; schema v{m.schema_version}; created {m.created})")
    print(f"location: {where}")
    total = sum(sh.bytes for s in m.splits.values() for sh in s.shards)
    print("splits: " + ", ".join(f"{s} {i.rows} rows/{len(i.shards)} shards" for s, i in m.splits.items())
          + f"  ({total / 1e6:.1f} MB)")
    print(f"vocabulary: {len(m.vocab)} token types (train)")
    for t in m.tasks:
        rows = {s: i.task_rows.get(t.name, 0) for s, i in m.splits.items()}
        labels = ", ".join(t.labels[:10]) + (" …" if len(t.labels) > 10 else "")
        pair = " pairwise" if t.pairwise else ""
        print(f"  task {t.name:<22} {t.kind}{pair:<9} metric {t.default_metric:<4} {len(t.labels)} labels "
              f"[{labels}]  rows {rows}")
    for note in m.notes:
        print(f"note: {note}")


def inspect_cmd(location: str, *, verify: bool = False) -> int:
    m = load_manifest(location)
    _summary(m, location)
    if verify:
        verify_shards(location, m)
        print("all shard checksums match the manifest")
    return 0


def _fetch(url: str, dest: Path) -> str:
    """Stream ``url`` into ``dest``; returns the sha256 of what was written."""
    h = hashlib.sha256()
    with open(dest, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
        while chunk := resp.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def download_file(url: str, dest: Path, sha256: str, member: str | None = None) -> Path:
    """Download ``url`` (or the archive member ``member`` of it, matched by base name) to ``dest``
    through a temporary file, verifying the sha256 of the file before the rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as scratch, \
            atomic.atomic_path(dest) as tmp:  # renamed to dest only if the block raises nothing
        got = Path(scratch) / "download" if member is not None else tmp
        digest = _fetch(url, got)
        if member is not None:
            import zipfile

            try:
                with zipfile.ZipFile(got) as zf:
                    names = [n for n in zf.namelist() if Path(n).name == Path(member).name]
                    if not names:
                        raise DataError(f"archive has no member {member!r}", file=url, field="member")
                    with zf.open(names[0]) as src, open(tmp, "wb") as out:
                        shutil.copyfileobj(src, out)
            except zipfile.BadZipFile:
                raise DataError("not a zip archive", file=url, field="member") from None
            digest = sha256_file(tmp)
        if digest != sha256:
            raise DataError(f"checksum mismatch: got {digest}, expected {sha256}", file=url, field="sha256")
    return dest


def verify_files(entry: DatasetEntry, directory: Path) -> list[str]:
    """Names of the entry's files present in ``directory`` whose sha256 matches (raises on mismatch)."""
    ok = []
    for f in entry.files:
        path = Path(directory) / f.name
        if not path.exists():
            raise DataError(f"missing file of dataset {entry.name!r}", file=path)
        if sha256_file(path) != f.sha256:
            raise DataError("sha256 differs from the registry's", file=path, field="sha256")
        ok.append(f.name)
    return ok


def download_cmd(name: str, to: Path) -> int:
    entry = default_registry().get(name)
    if not entry.files:
        raise DataError(f"dataset {name!r} has no download URLs registered", field="files")
    if entry.license:
        print(f"terms: {entry.license}")
    for f in entry.files:
        dest = Path(to) / f.name
        if dest.exists() and sha256_file(dest) == f.sha256:
            print(f"{f.name}: already present and verified")
            continue
        print(f"{f.name}: downloading {f.url}" + (f" (member {f.member})" if f.member else ""))
        download_file(f.url, dest, f.sha256, f.member)
        print(f"{f.name}: verified sha256 {f.sha256[:12]}…")
    print(f"done: {len(entry.files)} files in {to}; prepare with `raymtl data prepare {name} --source {to}`")
    return 0
