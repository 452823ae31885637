"""How the loop reports: each epoch's metrics and, now and then, a checkpoint directory.

Ray Tune/Train supply their own :class:`Reporter` (:mod:`raymtl.train.tune_trial`); runs without
Ray (benchmarks, tests) use :class:`LocalReporter`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from raymtl import atomic
from raymtl.train.checkpoint import STATE_FILE


class Reporter(Protocol):
    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None: ...

    def latest_checkpoint(self) -> Path | None: ...


@dataclass
class LocalReporter:
    """Keeps the latest checkpoint under ``run_dir/checkpoints`` and the metric history in memory."""

    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.history.append(dict(metrics))
        if checkpoint_dir is not None:
            target = self.run_dir / "checkpoints" / "latest"
            with atomic.new_dir(target) as tmp:
                shutil.copytree(checkpoint_dir, tmp, dirs_exist_ok=True)
            # Only now that the new one is in place: what a writer killed mid-swap left (a moved-aside
            # previous checkpoint may have been the only whole one until this swap). One writer per run.
            atomic.remove_leftovers(target)

    def latest_checkpoint(self) -> Path | None:
        p = self.run_dir / "checkpoints" / "latest"
        if (p / STATE_FILE).exists():
            return p
        # Killed between the two renames of the swap: the previous checkpoint is whole, moved aside.
        return next((old for old in atomic.leftovers(p, "old") if (old / STATE_FILE).exists()), None)
