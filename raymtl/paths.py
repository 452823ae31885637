"""Where things live: the shared data directory, the default shard cache, the compiled-kernel cache."""

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


def kernels_dir() -> Path:
    """Compiled CPU kernels (one file per source, compiler and CPU): ``$RAYMTL_KERNELS_DIR``, else
    ``~/.cache/raymtl/kernels``."""
    env = os.environ.get("RAYMTL_KERNELS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "raymtl" / "kernels"


def resolve_input(path: str | Path) -> tuple[Path, str | None]:
    """A user-given input file (a search space, a train config): as given when it exists in the
    working directory or is absolute; otherwise a relative path is looked up under ``REPO_ROOT``,
    the repository of the installed raymtl. ``ray submit`` runs the script from ``~`` while the
    repository is the cluster's file mount ``~/src/raymtl``, so the documented relative paths need this.
    Returns the path and, when the repository's copy is used, a line saying so (print it first)."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given, None
    candidate = REPO_ROOT / given
    if candidate.exists():
        return candidate, (f"{path}: not found in {Path.cwd()}; using {candidate} "
                           f"(the repository of the installed raymtl)")
    return given, None


RUNS_DIR_ENV = "RAYMTL_RUNS_DIR"
# Set by Ray's job supervisor in the environment of a `ray job submit` entrypoint.
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def in_ray_job_working_dir() -> bool:
    """True in a ``ray job submit --working-dir`` entrypoint: the cwd is Ray's cache of the uploaded
    directory under the session dir, which is deleted with the cluster."""
    return RAY_JOB_ENV in os.environ and "runtime_resources" in Path.cwd().resolve().parts


def default_storage(storage: str | None, kind: str = "tune") -> str:
    """``--storage`` when given; else ``runs/KIND`` (``tune``, ``train``, ``aux``: searches and runs
    never share a root) in the working directory, except inside a Ray job's uploaded working dir,
    where it is ``$RAYMTL_RUNS_DIR/KIND`` or ``~/raymtl-runs/KIND`` (durable)."""
    if storage:
        return storage
    if not in_ray_job_working_dir():
        return f"runs/{kind}"
    env = os.environ.get(RUNS_DIR_ENV)
    return str((Path(env).expanduser().resolve() if env else Path.home() / "raymtl-runs") / kind)
