"""Length-bucketed batches, partitioned across DDP ranks.

Deterministic given (seed, epoch); across all ranks every example appears exactly once per epoch;
every rank gets the same number of batches (DDP needs equal step counts), which is arranged by
splitting the largest batches rather than by dropping or repeating examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np


@dataclass
class BucketBatchSampler:
    """Batches of example indices of similar length.

    Examples are shuffled, cut into pools of ``batch_size * pool_batches``, sorted by length
    inside each pool and cut into batches; the batches are shuffled and dealt round-robin to the
    ranks. ``bucket=False`` gives plain shuffled batches (for comparison).
    """

    lengths: Sequence[int]
    batch_size: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    shuffle: bool = True
    bucket: bool = True
    pool_batches: int = 50

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world size {self.world_size}")
        if len(self.lengths) < self.world_size:
            raise ValueError(f"{len(self.lengths)} examples cannot be split over {self.world_size} ranks")
        self._lengths = np.asarray(self.lengths, dtype=np.int64)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def all_batches(self, epoch: int | None = None) -> list[list[int]]:
        """Every rank's batches in global order (batch k goes to rank k % world_size)."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self._lengths)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches: list[list[int]] = []
        if self.bucket:
            pool = self.batch_size * self.pool_batches
            for start in range(0, n, pool):
                chunk = order[start:start + pool]
                chunk = chunk[np.argsort(self._lengths[chunk], kind="stable")]
                batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        else:
            batches = [order[i:i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        # Equal batch counts per rank: split the largest batches until divisible.
        while len(batches) % self.world_size:
            k = max(range(len(batches)), key=lambda i: len(batches[i]))
            big = batches.pop(k)
            half = len(big) // 2
            batches += [big[:half], big[half:]]
        if self.shuffle:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.all_batches()[self.rank::self.world_size])

    def __len__(self) -> int:
        return len(self.all_batches()) // self.world_size

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / padded tokens over ``batches``."""
    lengths = np.asarray(lengths)
    real = padded = 0
    for b in batches:
        ls = lengths[np.asarray(b, dtype=np.int64)]
        real += int(ls.sum())
        padded += int(ls.max()) * len(ls)
    return real / padded if padded else 1.0
