"""How each trial of a search ended, told apart honestly, and why a failed one failed.

``terminated``: ran to its last epoch (or its own early stop); ``stopped_early``: the scheduler
stopped it; ``failed``: it raised; ``interrupted``: the search was stopped (Ctrl-C, SIGTERM, a
placement timeout) while it ran, also before its first epoch; ``not_started``: it never started.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

TERMINATED, STOPPED_EARLY, FAILED, INTERRUPTED, NOT_STARTED = (
    "terminated", "stopped_early", "failed", "interrupted", "not_started")
STATUSES = (TERMINATED, STOPPED_EARLY, FAILED, INTERRUPTED, NOT_STARTED)


def error_reason(error: BaseException | str) -> str:
    """The innermost ``SomeError: message`` line of a (Ray-wrapped) trial error, for results.csv."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.findall(r"^\s*([\w.]*(?:Error|Exception)): (.+)$", text, flags=re.M)
    found = [(k, m) for k, m in found if not k.endswith(("RayTaskError", "TrainingFailedError"))]
    if found:
        kind, message = found[-1]
        return f"{kind.rsplit('.', 1)[-1]}: {message.strip()}"[:500]
    if text.strip():
        return text.strip().splitlines()[-1][:500]
    return type(error).__name__ if isinstance(error, BaseException) else "unknown error"


def trial_error_reason(trial: Any) -> str:
    """A Tune Trial's failure reason, from its error file (Tune writes one per failed trial)."""
    path = getattr(trial, "error_file", None)
    try:
        if path and Path(path).exists():
            return error_reason(Path(path).read_text(errors="replace"))
    except OSError:
        pass
    return error_reason(getattr(trial, "error_msg", None) or "unknown error")


def terminated_trials(exp_dir: Path) -> dict[str, Path]:
    """Trials that Tune's last saved experiment state records as TERMINATED: trial id -> its directory."""
    states = sorted(Path(exp_dir).glob("experiment_state-*.json"))
    if not states:
        return {}
    try:
        state = json.loads(states[-1].read_text())
    except (OSError, json.JSONDecodeError):  # being replaced right now
        return {}
    out: dict[str, Path] = {}
    for entry in state.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        if trial.get("status") == "TERMINATED":
            out[trial["trial_id"]] = next(Path(exp_dir).glob(f"*_{trial['trial_id']}_*"), Path(exp_dir))
    return out


def classify(metrics: dict[str, Any] | None, error: BaseException | None, *, terminated: bool,
             started: bool = False) -> str:
    """The status of one trial from its last result, its error, whether Tune ended it and whether it
    was started (a trial stopped before its first epoch was still started: it is interrupted)."""
    if error is not None:
        return FAILED
    metrics = metrics or {}
    if not metrics.get("training_iteration") and not metrics.get("epoch"):
        return INTERRUPTED if started and not terminated else NOT_STARTED
    if metrics.get("final"):
        return TERMINATED
    return STOPPED_EARLY if terminated else INTERRUPTED
