"""How a search driver starts and ends: quiet Ray loggers, stop signals, the exit code."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from raymtl.search.outcome import FAILED


@dataclass
class Interrupt:
    """Which stop signal ended the search (SIGTERM is turned into Tune's graceful SIGINT stop)."""

    signal: str = ""

    def install(self) -> None:
        def on_term(signum, frame):  # noqa: ARG001
            self.signal = "SIGTERM"
            signal.raise_signal(signal.SIGINT)  # Tune ends trials and saves its state on SIGINT

        if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
            signal.signal(signal.SIGTERM, on_term)

    @property
    def exit_code(self) -> int:
        return 143 if self.signal == "SIGTERM" else 130


def quiet_ray() -> None:
    """Ray's helper tracebacks and hints (its own TensorBoard/restore advice) stay in Ray's logs;
    raymtl prints one line per trial event instead (raymtl.search.progress)."""
    import logging

    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for name in ("ray.tune", "ray.train", "ray.air", "ray.util"):
        logging.getLogger(name).setLevel(logging.ERROR)


def exit_status(summary: dict[str, Any], interrupt: Interrupt, *, allow_failures: bool) -> int:
    if summary.get("placement_timeout"):
        return 1
    if summary.get("interrupted"):
        return interrupt.exit_code
    if summary.get("statuses", {}).get(FAILED, 0) and not allow_failures:
        return 1
    return 0
