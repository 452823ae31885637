"""Loading checkpoint files safely, with one clear error naming the file.

Every checkpoint tensor file is read with ``torch.load(weights_only=True)``: a pickled object in
``state.pt`` / ``best_model.pt`` runs nothing. A file that does not load (tampered, truncated, not
a raymtl checkpoint) is a :class:`CheckpointError` naming it, raised once: the driver checks the
checkpoints a run would resume from (:func:`check_resume_checkpoints`) before any worker starts,
so Ray Train's worker retries never see it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from raymtl.errors import RaymtlError
from raymtl.safety import sweep_stale

STATE_FILE = "state.pt"
BEST_FILE = "best_model.pt"
RESTORE_PREFIX = "raymtl-restore-"  # + "<pid>-": local copies of a checkpoint being resumed
STAGING_PREFIX = "raymtl-ckpt-"  # + "<pid>-": an epoch's checkpoint before it is reported


class CheckpointError(RaymtlError):
    """A checkpoint file could not be loaded (the message names the file)."""


def load_tensors(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, any failure a one-line CheckpointError naming ``path``."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # UnpicklingError (pickled code), RuntimeError/EOFError (truncated), OSError...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if "Weights only load failed" in first:
            first = "it holds pickled Python objects, not only tensors (tampered?); nothing from it was run"
        raise CheckpointError(f"{path}: cannot load checkpoint: {first[:300]}") from None


def check_checkpoint_dir(directory: str | Path) -> None:
    """Load every tensor file of one checkpoint directory (CheckpointError on the first that fails)."""
    for name in (STATE_FILE, BEST_FILE):
        if (Path(directory) / name).is_file():
            load_tensors(Path(directory) / name)


def check_resume_checkpoints(run_dir: str | Path, *, recursive: bool = False) -> int:
    """Check the checkpoints Ray Train would resume ``run_dir`` from (``checkpoint_*`` directories;
    ``recursive``: at any depth, e.g. every trial of a Tune experiment); returns how many were
    checked. Remote storage is not checked here (its workers still refuse a bad file)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return 0
    found = run_dir.rglob("checkpoint_*") if recursive else run_dir.glob("checkpoint_*")
    dirs = sorted(p for p in found if p.is_dir())
    for d in dirs:
        check_checkpoint_dir(d)
    return len(dirs)


@contextmanager
def staging_dir() -> Iterator[Path]:
    """A temporary directory to write an epoch's checkpoint in, removed afterwards (also on error);
    ones left by a killed process are removed first."""
    tmp = Path(tempfile.gettempdir())
    sweep_stale(tmp, STAGING_PREFIX)
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=tmp) as d:
        yield Path(d)


def restore_copy_dir() -> Path:
    """A fresh local directory for a checkpoint being resumed; copies left by killed processes are
    removed first (their owner PID is in the name)."""
    tmp = Path(tempfile.gettempdir())
    sweep_stale(tmp, RESTORE_PREFIX)
    return Path(tempfile.mkdtemp(prefix=f"{RESTORE_PREFIX}{os.getpid()}-", dir=tmp))


def remove_restore_copy(path: str | Path | None) -> None:
    """Remove a restore copy made by :func:`restore_copy_dir` (only such directories)."""
    if path is None:
        return
    path = Path(path)
    tmp = Path(tempfile.gettempdir()).resolve()
    top = next((p for p in [path, *path.parents] if p.parent.resolve() == tmp), None)
    if top is not None and top.name.startswith(RESTORE_PREFIX) and not top.is_symlink():
        shutil.rmtree(top, ignore_errors=True)
