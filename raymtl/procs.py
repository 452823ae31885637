"""Stopping processes we started, by PID only.

Only by PID, never by a process name or a command that matches every Ray of the user: on a
shared host those would stop other people's Ray instances and jobs too. Imports nothing of raymtl,
so every layer, the tests and bench/ may use it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterable

__all__ = ["alive", "pids_using", "stop_pids", "stop_using"]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pids_using(path: str | Path) -> list[int]:
    """PIDs of the processes (other than this one) whose command line names ``path``, or whose working
    directory or an open file lies under it (Linux ``/proc``). For a ``ray start --temp-dir DIR``
    instance that is every one of its processes: some (the client server, the dashboard and runtime-env
    agents) name no part of DIR on their command line, but all write their logs below it."""
    root = os.path.realpath(path)
    below = root.rstrip("/") + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            links = [os.readlink(entry / "cwd")] + [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone, or another user's
            continue
        if str(path) in cmd or root in cmd or any(x == root or x.startswith(below) for x in links):
            found.append(int(entry.name))
    return sorted(found)


def stop_pids(pids: Iterable[int], *, grace: float = 10.0) -> list[int]:
    """SIGTERM each of ``pids``, wait up to ``grace`` s for them to exit, then SIGKILL the rest;
    returns the PIDs that were still alive after the SIGKILL's grace (normally none)."""
    pids = [int(p) for p in pids]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.2)
    return [p for p in pids if alive(p)]


def stop_using(path: str | Path, pids: Iterable[int] = (), *, rounds: int = 3) -> list[int]:
    """Stop ``pids`` and every process :func:`pids_using` ``path``, again while new ones appear (a
    dying raylet may still start a worker); returns those still alive after ``rounds`` (normally none)."""
    todo = set(int(p) for p in pids) | set(pids_using(path))
    for _ in range(rounds):
        left = stop_pids(sorted(todo))
        todo = set(left) | set(pids_using(path))
        if not todo:
            return []
    return sorted(todo)
