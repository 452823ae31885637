"""Input hygiene for names and paths that come from configs, search spaces and the command line.

A run or experiment *name* becomes one directory under ``--storage``; it must be exactly one
path component, so ``--name ../../etc`` or ``--name /tmp/x`` cannot write outside the storage
root. The same rule holds for dataset, split and task names. :func:`check_name` validates a name,
:func:`inside` checks that a joined path stays below its root (symlinks resolved). Both raise
:class:`~raymtl.errors.ConfigError` naming the key. :func:`overlap` tells whether two directories
are the same or nested (prepare's output vs its source); :func:`sweep_stale` removes temporaries
whose creating process is gone.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

from raymtl.errors import ConfigError

# Letters, digits, '.', '_', '-', '+', '=', ',', '@' (Tune trial names use some of them); no separators.
_NAME_RE = re.compile(r"[A-Za-z0-9._+=,@-]+")
MAX_NAME = 200


def check_name(name: object, *, key: str = "name", file: str | Path | None = None,
               what: str = "a run/experiment name", under: str = "--storage") -> str:
    """``name`` if it is a safe single directory name, else ConfigError naming ``key``.

    The one rule for every name that becomes a path: runs, experiments, datasets, splits, tasks."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"expected a non-empty name, got {name!r}", file=file, key=key)
    problem = None
    if "\x00" in name:
        problem = "contains a NUL byte"
    elif os.path.isabs(name) or name.startswith(("/", "\\", "~")):
        problem = "is an absolute path"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        problem = "contains a path separator"
    elif name in (".", "..") or name.startswith(".."):
        problem = "refers to a parent or the current directory"
    elif len(name) > MAX_NAME:
        problem = f"is longer than {MAX_NAME} characters"
    elif not _NAME_RE.fullmatch(name):
        bad = sorted({c for c in name if not _NAME_RE.fullmatch(c)})
        problem = f"contains characters outside [A-Za-z0-9._+=,@-]: {''.join(bad)!r}"
    if problem:
        raise ConfigError(f"name {name!r} {problem}; {what} must be one directory name "
                          f"(it is created under {under})", file=file, key=key)
    return name


def inside(root: str | Path, path: str | Path, *, key: str = "path", file: str | Path | None = None) -> Path:
    """``path`` (relative paths are taken under ``root``) if it resolves below ``root``, else ConfigError."""
    root_r = Path(root).expanduser().resolve()
    p = Path(path).expanduser()
    target = (p if p.is_absolute() else root_r / p).resolve()
    if target != root_r and root_r not in target.parents:
        raise ConfigError(f"{str(path)!r} resolves to {target}, outside {root_r}", file=file, key=key)
    return target


def overlap(a: str | Path, b: str | Path) -> str | None:
    """How resolved paths ``a`` and ``b`` overlap ("equal to", "inside", "containing"), or None."""
    ra, rb = Path(a).expanduser().resolve(), Path(b).expanduser().resolve()
    if ra == rb:
        return "equal to"
    if rb in ra.parents:
        return "inside"
    if ra in rb.parents:
        return "containing"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale(directory: str | Path, prefix: str) -> list[Path]:
    """Remove ``directory/PREFIX<pid>-*`` entries whose creating process is gone (left by a kill)."""
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for entry in directory.glob(f"{glob.escape(prefix)}*"):
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and not entry.is_symlink():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def run_dir(storage: str | Path, name: str, *, key: str = "--name") -> Path:
    """``storage/name`` for a checked ``name`` (and checked to stay below ``storage``)."""
    check_name(name, key=key)
    return inside(storage, name, key=key)
