"""Where things live: the shared data directory and the default shard cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Raw corpora: ``$RAYMTL_DATA_DIR``, else ``../shared/data`` beside the repository root."""
    env = os.environ.get("RAYMTL_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def shards_dir() -> Path:
    """Prepared Arrow shards: ``$RAYMTL_SHARDS_DIR``, else ``~/.cache/raymtl/shards``."""
    env = os.environ.get("RAYMTL_SHARDS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "raymtl" / "shards"
