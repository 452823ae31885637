"""The Optuna study of a search in an RDB storage, for Optuna's own tools (optuna-dashboard, optuna.visualization).

By default a SQLite file ``optuna.db`` in the experiment directory (study name = experiment name);
``--optuna-storage URL`` names another database (``postgresql://...``, ``mysql+pymysql://...``, as
SQLAlchemy/Optuna accept them). The Tune driver is the only writer, which is what SQLite can take.

What reaches the study (intermediate values, states) is decided in raymtl/search/optuna_search.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raymtl.errors import ConfigError, RaymtlError

DB_FILE = "optuna.db"


def storage_url(exp_dir: Path, url: str | None = None) -> str:
    """``url``, or the SQLite file ``optuna.db`` in the experiment directory."""
    if url:
        if "://" not in url:
            raise ConfigError("expected a database URL such as sqlite:///PATH/optuna.db or "
                              "postgresql://USER:PASS@HOST/DB", key="--optuna-storage")
        return url
    return f"sqlite:///{(Path(exp_dir) / DB_FILE).resolve()}"


def open_storage(url: str):
    """An ``optuna.storages.RDBStorage`` on ``url`` (SQLite: its directory is created; busy timeout 60 s)."""
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as e:  # a wrong driver, host or password: one line naming the option
        raise ConfigError(f"cannot open Optuna storage {url.split('@')[-1]}: {type(e).__name__}: {e}",
                          key="--optuna-storage") from None


def prepare_storage(url: str, study_name: str, *, resume: bool, explicit: bool):
    """The storage for a new (``resume=False``) or continued search of ``study_name``.

    A new search over the experiment directory's own ``optuna.db`` replaces that study (the
    directory's other outputs are rewritten too); in a database named by ``--optuna-storage`` an
    existing study of that name is never deleted: the search stops before it starts instead.
    """
    import optuna

    storage = open_storage(url)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if resume:
        return storage
    if study_name in names:
        if explicit:
            raise ConfigError(f"study {study_name!r} already exists in {url.split('@')[-1]}: continue it with "
                              "--resume, or name a new search with --name", key="--optuna-storage")
        optuna.delete_study(study_name=study_name, storage=storage)
    return storage


def make_searcher(space, metric, mode, *, storage, study_name: str):
    """A :class:`~raymtl.search.optuna_search.StudySearch` over the space's define-by-run function
    and sampler, writing to ``storage`` (Ray is imported only here, by searches)."""
    from raymtl.search.optuna_search import StudySearch

    return StudySearch(space=space.define_by_run, metric=metric, mode=mode, sampler=space.sampler(),
                       storage=storage, study_name=study_name)


def dashboard_cmd(target: str | Path, *, port: int = 8080, host: str = "127.0.0.1") -> int:
    """``optuna-dashboard`` on an experiment directory's ``optuna.db`` (or a storage URL), bound to ``host``."""
    import shutil
    import signal
    import subprocess
    import sys

    url = str(target) if "://" in str(target) else None
    if url is None:
        db = Path(target).expanduser() / DB_FILE
        if not db.is_file():
            raise RaymtlError(f"{db}: no Optuna study there (run `raymtl tune` first, or pass the storage URL)")
        url = f"sqlite:///{db.resolve()}"
    exe = shutil.which("optuna-dashboard")
    if exe is None:
        raise RaymtlError("optuna-dashboard is not installed: pip install 'raymtl[dashboard]' "
                          "(or pip install optuna-dashboard)")
    print(f"optuna-dashboard on {url.split('@')[-1]} at http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    proc = subprocess.Popen([exe, url, "--host", host, "--port", str(port)])

    def stop(signum, _frame):  # SIGTERM / SIGHUP: stop the dashboard with us
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread
            pass
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("raymtl board: interrupted: optuna-dashboard stopped", file=sys.stderr)
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
