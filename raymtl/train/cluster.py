"""Which Ray raymtl runs on: its own private local instance, unless a cluster is asked for.

``--address auto|HOST:PORT`` or ``RAY_ADDRESS`` join a cluster (our cluster configs export
``RAY_ADDRESS`` on their nodes, so ``ray submit`` and ``ray job submit`` join the cluster they were
sent to); ``--address local`` or nothing starts a new local instance, whatever else runs on the host.
A shared host often runs other people's Ray: joining one silently, or letting Ray's own helpers
resolve "auto" to it, starves or breaks a search. So a started instance is pinned for every
process it spawns (see :func:`start_local`), and a Ray found running is only mentioned.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Callable

from raymtl.errors import ConfigError

LOCAL = "local"


@dataclass
class ClusterInfo:
    """What the search or run is on: shown as the first line of output."""

    joined: bool
    address: str
    cpus: float
    gpus: float
    free_cpus: float
    free_gpus: float
    started_s: float
    log_dir: str | None = None

    def describe(self) -> str:
        what = f"joined the Ray cluster at {self.address}" if self.joined else \
            f"started a private local Ray ({self.address})"
        return (f"Ray: {what} in {self.started_s:.1f}s; {self.cpus:g} CPUs / {self.gpus:g} GPUs, "
                f"{self.free_cpus:g} CPUs / {self.free_gpus:g} GPUs free")


def requested_address(address: str | None) -> str | None:
    """The cluster to join (``None``: start a local one). ``--address`` wins over ``RAY_ADDRESS``."""
    address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if address in (None, "", LOCAL):
        return None
    return address


def running_clusters() -> set[str]:
    """GCS addresses of Ray instances running on this host (someone else's, or a ``ray start``)."""
    try:
        from ray._private.services import find_gcs_addresses

        find_gcs_addresses.cache_clear()
        return set(find_gcs_addresses())
    except Exception:  # a Ray version without this helper: nothing to mention
        return set()


def use_token_if_present() -> bool:
    """Ray 2.60 sends its auth token to an explicitly named cluster only under ``RAY_AUTH_MODE=token``;
    when the mode is unset and a token is at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``,
    ``~/.ray/auth_token``), use it, as Ray itself does for a cluster it finds on its own."""
    if "RAY_AUTH_MODE" in os.environ:
        return os.environ["RAY_AUTH_MODE"].lower() == "token"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"
        return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Read in each trial's process: a reused Tune actor waits this long for the last trial's thread
# to end (Tune's default, 2 s, is shorter than writing a trial's review figures).
WORKER_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "60"}


def start_local(num_cpus: int | None, *, dashboard: bool, log_to_driver: bool) -> str:
    """A new local instance, every process of which resolves Ray's "auto" lookups to it.

    Ray Train V2's placement-group cleaner and state actor ask the State API for the cluster with
    no address; with two instances on the host that lookup fails ("Found multiple active Ray
    instances") and finished trials' placement groups are never freed. The State API client
    prefers ``RAY_API_SERVER_ADDRESS``: set before ``ray.init``, it is inherited by the raylet and
    so by every worker of this instance.
    """
    import ray

    # Inherited by every process of the instance: a laptop's workers are not preempted (the watcher
    # only logs a Ray-internal warning there).
    os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
    kwargs: dict = {}
    if dashboard:  # the State API server (Ray Train V2 needs it to free placement groups)
        port = _free_port()
        os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{port}"
        kwargs.update(include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=port)
    else:
        os.environ.pop("RAY_API_SERVER_ADDRESS", None)  # a stale one from an earlier instance
        kwargs.update(include_dashboard=False)
    import logging

    # Said once in docs/security.md; on every start it would push our first line down.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(address=LOCAL, num_cpus=num_cpus, log_to_driver=log_to_driver, logging_level=logging.WARNING,
             runtime_env={"env_vars": dict(WORKER_ENV)}, **kwargs)
    return ray.get_runtime_context().gcs_address


def connect(address: str | None = None, *, num_cpus: int | None = None, dashboard: bool = True,
            log_to_driver: bool = False, log: Callable[[str], None] = print) -> ClusterInfo:
    """Join the cluster asked for, else start a private local Ray; logs one line saying which."""
    started = time.perf_counter()
    if not sys.stdout.isatty():  # worker lines in a log file or a pipe: no colour codes around "(pid=…)"
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    target = requested_address(address)
    if target is not None:
        use_token_if_present()  # read when Ray is first imported
    import ray

    others: set[str] = set()
    if ray.is_initialized():  # an instance this process started earlier (its head node) or joined
        where = ray.get_runtime_context().gcs_address
        node = getattr(ray._private.worker, "_global_node", None)  # type: ignore[attr-defined]
        joined = not bool(getattr(node, "head", False))
    elif target is not None:
        if num_cpus is not None:
            raise ConfigError("--num-cpus sizes a local Ray; it cannot change a joined cluster", key="--num-cpus")
        try:
            # No runtime_env here: it would replace a `ray job submit` job's own (its working_dir).
            import logging

            ray.init(address=target, log_to_driver=log_to_driver, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            source = "--address" if address else "RAY_ADDRESS"
            raise ConfigError(f"cannot join the Ray cluster at {target!r}: {e}", key=source) from e
        joined, where = True, ray.get_runtime_context().gcs_address
    else:
        others = running_clusters()
        where = start_local(num_cpus, dashboard=dashboard, log_to_driver=log_to_driver)
        joined = False
        others.discard(where)
    total, free = ray.cluster_resources(), ray.available_resources()
    try:
        log_dir = ray._private.worker.global_worker.node.get_logs_dir_path()  # type: ignore[attr-defined]
    except Exception:
        log_dir = None
    info = ClusterInfo(joined=joined, address=where, cpus=total.get("CPU", 0.0), gpus=total.get("GPU", 0.0),
                       free_cpus=free.get("CPU", 0.0), free_gpus=free.get("GPU", 0.0),
                       started_s=time.perf_counter() - started, log_dir=log_dir)
    log(info.describe())
    if not joined and others:
        log(f"note: another Ray is running on this host ({', '.join(sorted(others))}); this run uses its own. "
            "To run on that one instead: --address HOST:PORT (or --address auto).")
    return info
