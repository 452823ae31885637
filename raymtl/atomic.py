"""Atomic writes, in one place: a reader sees the old file (or directory) or the new one, never half.

Everything is written to a temporary sibling (same directory, so the final ``os.replace`` is a
rename on one file system), flushed and fsynced, then renamed over the target. A failure removes
the temporary and leaves the target as it was. Imports nothing of raymtl, so every layer may use it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from glob import escape
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "leftovers", "new_dir", "remove_leftovers", "swap_dir", "write_bytes", "write_json",
           "write_text", "write_yaml"]


def _tmp_sibling(path: Path, suffix: str = "", stem: str | None = None) -> Path:
    # A dot name unique per process and call: concurrent writers of one target never share a temporary.
    return path.with_name(f".{stem or path.stem}.{os.getpid()}-{secrets.token_hex(3)}.tmp{suffix or path.suffix}")


@contextmanager
def atomic_path(path: str | Path, *, suffix: str = "", stem: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (``DataFrame.to_csv``,
    ``fig.savefig``, a pyarrow writer); renamed to ``path`` when the block ends without error.

    The temporary keeps ``path``'s suffix (or ``suffix``) so writers that infer the format from
    the name still do; ``stem`` replaces the target's stem in it, for a directory watched by name
    (TensorBoard reads every file whose name holds ``tfevents``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, suffix, stem)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        # O_EXCL: the name is ours alone; mode 0o666 lets the umask decide (mkstemp would force 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return path


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: str | Path, data: Any, *, indent: int | None = 1, default: Callable[[Any], Any] | None = None,
               ensure_ascii: bool = True, sort_keys: bool = False, newline: bool = False) -> Path:
    """``json.dumps(data, ...)`` written atomically (``newline``: end the file with one)."""
    text = json.dumps(data, indent=indent, default=default, ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    return write_text(path, text + ("\n" if newline else ""))


def write_yaml(path: str | Path, data: Any, *, sort_keys: bool = False) -> Path:
    """``yaml.safe_dump(data)`` written atomically."""
    import yaml

    return write_text(path, yaml.safe_dump(data, sort_keys=sort_keys, allow_unicode=True))


def swap_dir(tmp: str | Path, target: str | Path) -> Path:
    """Put the finished directory ``tmp`` in place of ``target`` with renames only.

    Two renames (target -> old, tmp -> target): between them ``target`` is briefly missing, never
    a mix of old and new files. The old directory is removed afterwards. ``tmp`` must be on the
    same file system as ``target`` (make it a sibling, as :func:`new_dir` does).
    """
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(3)}")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the old one back: a failed swap changes nothing
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


@contextmanager
def new_dir(target: str | Path) -> Iterator[Path]:
    """A fresh temporary directory beside ``target`` to fill; swapped in place of ``target`` when
    the block ends without error, removed otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    tmp.mkdir()
    try:
        yield tmp
        swap_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def leftovers(target: str | Path, kind: str = "*") -> list[Path]:
    """The siblings :func:`new_dir` and :func:`swap_dir` leave behind when their process dies mid-way,
    newest first: temporaries (``kind="tmp"``, ``.NAME.tmp-*``) and old copies moved aside but not yet
    removed (``kind="old"``, ``.NAME.old-*``; a whole previous version); ``"*"`` for both."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    kinds = ("tmp", "old") if kind == "*" else (kind,)
    # escaped: a name with glob characters must match only itself
    found = [p for k in kinds for p in target.parent.glob(f".{escape(target.name)}.{k}-*")
             if p.is_dir() and not p.is_symlink()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def remove_leftovers(target: str | Path) -> None:
    """Remove :func:`leftovers` of ``target``; call it only while no other writer of ``target`` runs."""
    for p in leftovers(target):
        shutil.rmtree(p, ignore_errors=True)
