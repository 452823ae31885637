"""Which task's batch comes next: task sampling over disjoint multi-task data.

A :class:`TaskSampler` turns the number of batches each task has on this rank in this epoch into
the epoch's sequence of task keys. The sequence depends only on (counts, strategy, seed, epoch),
so every DDP rank computes the same one and all ranks run the same task at each step (each rank
then takes the next batch of that task from its own partition). BucketBatchSampler gives every
rank the same number of batches per task, which is what makes the counts equal across ranks;
counts that differ between ranks would desynchronise the ranks' sequences.

Strategies:
- ``proportional``: every batch of every task exactly once, shuffled together (tasks appear in
  proportion to their size; the epoch ends when all are used).
- ``uniform``: graph-mtl Algorithm 1: draw a task uniformly at random, then a batch of it;
  the epoch has as many steps as there are batches in total.
- ``temperature``: like uniform with p_i ∝ n_i^(1/T) (T=1: proportional in expectation,
  T→∞: uniform).
- ``round_robin``: the tasks in turn, one batch each (disparate-label-spaces §5: "we alternate
  among the tasks during training"); the epoch has as many steps as there are batches in total, so
  a big task sees only part of its data per epoch and a small one more than one pass.
- ``joint``: one joint dataset (every example carries every task): a single stream, in order.

Under ``uniform``/``temperature``/``round_robin`` a task can run out of batches before the epoch ends; its
iterator is then restarted: pass ``k`` of the task, reshuffled with :func:`pass_epoch` as the
epoch of its batch sampler. Each epoch starts every task at pass 0, so a big task's unseen tail
in one epoch is covered by other shuffles in later epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Mapping, NamedTuple

import numpy as np

Strategy = Literal["proportional", "uniform", "temperature", "joint", "round_robin"]
STRATEGIES: tuple[str, ...] = ("proportional", "uniform", "temperature", "joint", "round_robin")


class Draw(NamedTuple):
    """One step: the task, which pass over its batches, and the batch index within that pass."""

    task: str
    pass_index: int
    batch_index: int


def pass_epoch(epoch: int, pass_index: int) -> int:
    """The epoch to give a task's batch sampler (``set_epoch``) for its ``pass_index``-th pass.

    Pass 0 is the epoch itself (so the first pass is the sampler's plain epoch order); later passes
    get numbers beyond any real epoch count, distinct for every (epoch, pass).
    """
    return epoch if pass_index == 0 else (pass_index << 32) | epoch


@dataclass
class TaskSampler:
    """Deterministic per-epoch sequence of task keys.

    ``batches``: task key -> number of batches of that task on this rank this epoch (equal on all
    ranks). Keys are sorted, so dict order does not matter. ``steps`` overrides the epoch length
    of ``uniform``/``temperature`` (default: the total number of batches).
    """

    batches: Mapping[str, int]
    strategy: Strategy = "proportional"
    seed: int = 0
    temperature: float = 2.0
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown sampling strategy {self.strategy!r}; expected one of {STRATEGIES}")
        if any(n < 0 for n in self.batches.values()):
            raise ValueError(f"negative batch count in {dict(self.batches)}")
        if self.strategy == "joint" and len(self.batches) != 1:
            raise ValueError(f"'joint' sampling reads one joint stream, got {len(self.batches)}: {sorted(self.batches)}")
        if self.strategy == "temperature" and self.temperature <= 0:
            raise ValueError("temperature must be > 0")
        if self.steps is not None and self.steps < 0:
            raise ValueError("steps must be >= 0")
        self.keys = sorted(self.batches)
        self.epoch = 0
        self._position = 0  # draws handed out in this epoch (for mid-epoch resume)
        self._resume = 0

    def set_epoch(self, epoch: int, batches: Mapping[str, int] | None = None) -> None:
        """Start ``epoch``; optionally with new per-task counts (e.g. when they vary by epoch)."""
        self.epoch = epoch
        self._position = self._resume = 0
        if batches is not None:
            self.batches = dict(batches)
            self.__post_init__()
            self.epoch = epoch

    def probabilities(self) -> dict[str, float]:
        """Per-draw task probabilities (``uniform``/``temperature``); tasks without batches get 0."""
        n = np.array([self.batches[k] for k in self.keys], dtype=np.float64)
        if self.strategy == "temperature":
            w = np.where(n > 0, n, 0.0) ** (1.0 / self.temperature)
        elif self.strategy == "uniform":
            w = (n > 0).astype(np.float64)
        else:
            w = n.copy()
        total = w.sum()
        return {k: float(x / total) if total else 0.0 for k, x in zip(self.keys, w)}

    def __len__(self) -> int:
        if self.strategy in ("uniform", "temperature", "round_robin") and self.steps is not None:
            return self.steps if any(self.batches.values()) else 0
        return sum(self.batches.values())

    def plan(self, epoch: int | None = None) -> list[Draw]:
        """The whole epoch's draws (same on every rank)."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, STRATEGIES.index(self.strategy)])
        if self.strategy == "joint":
            return [Draw(self.keys[0], 0, i) for i in range(self.batches[self.keys[0]])]
        if self.strategy == "proportional":
            seq = np.repeat(np.arange(len(self.keys)), [self.batches[k] for k in self.keys])
            seq = seq[rng.permutation(len(seq))]
        elif self.strategy == "round_robin":
            live = np.array([i for i, k in enumerate(self.keys) if self.batches[k] > 0], dtype=np.int64)
            seq = live[np.arange(len(self)) % len(live)] if len(live) else np.zeros(0, dtype=np.int64)
        else:
            probs = self.probabilities()
            p = np.array([probs[k] for k in self.keys])
            seq = rng.choice(len(self.keys), size=len(self), p=p) if len(self) else np.zeros(0, dtype=np.int64)
        used = dict.fromkeys(self.keys, 0)
        out: list[Draw] = []
        for i in seq.tolist():
            k = self.keys[i]
            n = self.batches[k]
            out.append(Draw(k, used[k] // n, used[k] % n))  # past n batches: the next pass
            used[k] += 1
        return out

    def draws(self) -> Iterator[Draw]:
        """Iterate this epoch's draws, resuming after a restored mid-epoch position."""
        plan = self.plan()
        start, self._resume = self._resume, 0
        for i in range(start, len(plan)):
            self._position = i + 1
            yield plan[i]

    def __iter__(self) -> Iterator[str]:
        return (d.task for d in self.draws())

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self._position, "strategy": self.strategy}

    def load_state_dict(self, state: dict) -> None:
        if state.get("strategy", self.strategy) != self.strategy:
            raise ValueError(f"checkpoint used sampling {state['strategy']!r}, this run uses {self.strategy!r}")
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
        self._position = self._resume = int(state.get("position", 0))
