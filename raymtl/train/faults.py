"""What stops a run: non-finite losses, divergence, empty batches; and the fault-injection hook.

The loop raises these; Tune/Train and the CLI turn them into a failed trial with a reason
(:func:`raymtl.train.tune_trial.is_deterministic_failure` does not retry them).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from raymtl.errors import RaymtlError


class NonFiniteLossError(RaymtlError):
    """The loss or the gradients became NaN/inf (the run stops; the last good checkpoint stays)."""


class DivergenceError(NonFiniteLossError):
    """The training loss grew past ``train.diverge_factor`` times its start, or every batch of an epoch
    was skipped: the run failed (it is not reported as a success with a meaningless score)."""


class EmptyBatchError(RaymtlError):
    """A training batch had no examples or no tokens (the run stops unless told to skip such batches)."""


CHAOS_DIR_ENV = "RAYMTL_CHAOS_DIR"  # fault-injection tests/bench only: where workers write heartbeats
CHAOS_DELAY_ENV = "RAYMTL_CHAOS_STEP_DELAY"  # ... and seconds to sleep per step (to be killed mid-epoch)


def chaos_beat(run_dir: Path, rank: int, event: str, **fields: Any) -> None:
    """Append a heartbeat (pid, event, epoch/step) to ``$RAYMTL_CHAOS_DIR``; a no-op when it is unset.

    Lets tests/bench/chaos.py find a live worker's pid and kill it mid-epoch (tests/test_chaos.py).
    """
    where = os.environ.get(CHAOS_DIR_ENV)
    if not where:
        return
    rec = {"event": event, "pid": os.getpid(), "rank": rank, "run": Path(run_dir).name, "time": time.time(),
           **fields}
    with open(Path(where) / f"{Path(run_dir).name}-rank{rank}.jsonl", "a") as f:
        f.write(json.dumps(rec, default=str) + "\n")
    delay = float(os.environ.get(CHAOS_DELAY_ENV) or 0)
    if event == "step" and delay > 0:
        time.sleep(delay)
