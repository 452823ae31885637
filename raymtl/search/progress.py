"""What a search prints while it runs, and the bound on how long trials may wait to be placed.

Tune's own status table and Ray's helper logs bury the lines a user needs; :class:`Progress`
prints one line per trial event and epoch, with an ETA for the whole search. :class:`PlacementWatchdog`
ends a search whose pending trials could not be placed for ``timeout_s`` (no trial running), so a
cluster too small or busy for one trial is an error with the reason, never an endless PENDING.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from ray.tune import Callback
from ray.tune.stopper import Stopper


def _short(params: dict[str, Any], limit: int = 4) -> str:
    items = []
    for k, v in list(params.items())[:limit]:
        v = f"{v:.3g}" if isinstance(v, float) else v
        items.append(f"{k.rsplit('.', 1)[-1] if len(k) > 24 else k}={v}")
    more = len(params) - limit
    return ", ".join(items) + (f", +{more}" if more > 0 else "")


def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress(Callback):
    """One line per trial start, epoch, stop and failure, with the search's ETA."""

    def __init__(self, num_samples: int, epochs: int, concurrency: int, metric: str,
                 out: Callable[[str], None] | None = None):
        self.num_samples, self.epochs, self.concurrency, self.metric = num_samples, epochs, concurrency, metric
        self.out = out
        self._reset()

    def _reset(self) -> None:
        self.started = time.time()
        self.first_epoch_s: float | None = None
        self.epoch_times: list[float] = []
        self.last_seen: dict[str, float] = {}
        self.done: dict[str, str] = {}
        self.n_started = 0
        self.started_ids: set[str] = set()  # trials Tune started in this run (they are not "not started")

    def setup(self, **info: Any) -> None:  # also after a restore: start the clock anew
        self._reset()

    def _print(self, msg: str) -> None:
        line = f"[{_fmt_s(time.time() - self.started):>6}] {msg}"
        if self.out is not None:
            self.out(line)
        else:
            print(line, flush=True)

    def eta(self, trials: list) -> str:
        if not self.epoch_times:
            return "ETA -"
        per_epoch = sum(self.epoch_times) / len(self.epoch_times)
        left = 0.0
        for t in trials:
            if t.status in ("TERMINATED", "ERROR"):
                continue
            left += (self.epochs - int((t.last_result or {}).get("training_iteration", 0) or 0)) * per_epoch
        left += max(0, self.num_samples - len(trials)) * self.epochs * per_epoch
        return f"ETA {_fmt_s(left / max(self.concurrency, 1))}"

    def on_trial_start(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self.last_seen[trial.trial_id] = time.time()
        if not self.n_started:  # after --resume: the trials an earlier run finished count as started and done
            for t in trials:
                if t.status == "TERMINATED":
                    self.done[t.trial_id] = "finished"
            self.n_started = len(self.done)
        self.n_started += 1
        self.started_ids.add(trial.trial_id)
        self._print(f"trial {trial.trial_id} started ({self.n_started}/{self.num_samples}): "
                    f"{_short(trial.config or {})}")

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        now = time.time()
        if result.get("final"):
            return  # the closing report with test metrics; on_trial_complete says it
        self.epoch_times.append(now - self.last_seen.get(trial.trial_id, now))
        self.last_seen[trial.trial_id] = now
        if self.first_epoch_s is None:
            self.first_epoch_s = now - self.started
        score, best = result.get(self.metric), result.get("best_dev_score")
        running = sum(t.status == "RUNNING" for t in trials)
        shown = f"{score:.4f}" if isinstance(score, (int, float)) else "-"
        if isinstance(best, (int, float)):
            shown += f" (best {best:.4f})"
        self._print(f"trial {trial.trial_id} epoch {result.get('epoch', '?')}/{self.epochs} {self.metric} {shown}"
                    f" | {len(self.done)} done, {running} running | {self.eta(trials)}")

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        last = trial.last_result or {}
        if last.get("final"):
            self.done[trial.trial_id] = "finished"
            self._print(f"trial {trial.trial_id} finished: best {self.metric} {last.get('best_dev_score', float('nan')):.4f}"
                        f" at epoch {last.get('best_epoch', '?')}")
        elif last:
            self.done[trial.trial_id] = "stopped early"
            self._print(f"trial {trial.trial_id} stopped early by the scheduler after epoch {last.get('epoch', '?')}")

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        from raymtl.search.outcome import trial_error_reason

        self.done[trial.trial_id] = "failed"
        self._print(f"trial {trial.trial_id} FAILED: {trial_error_reason(trial)}")


class PlacementWatchdog(Callback, Stopper):
    """Stops the search when trials have waited ``timeout_s`` with none running (nothing fits)."""

    def __init__(self, timeout_s: float, need: str):
        self.timeout_s, self.need = timeout_s, need
        self.since: float | None = None
        self.expired = False

    def setup(self, **info: Any) -> None:
        self.since, self.expired = None, False

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        waiting = any(t.status == "PENDING" for t in trials)
        running = any(t.status == "RUNNING" for t in trials)
        if running or not waiting:
            self.since = None
            return
        self.since = self.since or time.time()
        if time.time() - self.since > self.timeout_s and not self.expired:
            self.expired = True
            print(f"raymtl: no trial could be placed for {self.timeout_s:.0f}s: {self.reason()}", file=sys.stderr)

    def reason(self) -> str:
        import ray

        free = ray.available_resources()
        return (f"one trial needs {self.need}; the cluster has {free.get('CPU', 0):g} CPUs / "
                f"{free.get('GPU', 0):g} GPUs free")

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.expired
