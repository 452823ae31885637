"""Length-bucketed sampler: exact partition across ranks, determinism, padding efficiency; batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raymtl.data.batch import IGNORE, BatchEncoder
from raymtl.data.batching import BucketBatchSampler, padding_efficiency
from raymtl.data.manifest import Manifest
from raymtl.data.shards import open_split
from raymtl.data.vocab import Vocab


@pytest.mark.parametrize("n,batch,world", [(1000, 32, 1), (1001, 32, 2), (97, 10, 3), (5, 4, 4), (64, 64, 2)])
def test_partition_is_exact_across_ranks(n, batch, world):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 80, size=n).tolist()
    for epoch in range(3):
        per_rank = []
        for rank in range(world):
            s = BucketBatchSampler(lengths, batch, rank=rank, world_size=world, seed=7)
            s.set_epoch(epoch)
            per_rank.append(list(s))
        assert len({len(b) for b in per_rank}) == 1  # equal step counts on every rank (DDP)
        seen = [i for batches in per_rank for b in batches for i in b]
        assert sorted(seen) == list(range(n))  # every example exactly once
        assert all(0 < len(b) <= batch for batches in per_rank for b in batches)


def test_deterministic_given_seed_and_epoch():
    lengths = list(range(1, 200))
    a = BucketBatchSampler(lengths, 16, seed=3)
    b = BucketBatchSampler(lengths, 16, seed=3)
    a.set_epoch(2), b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)


def test_buckets_raise_padding_efficiency_on_real_data(prepared):
    path = prepared("semeval14-restaurants")
    table = open_split(path, "train")
    lengths = [len(t) for t in table.column("tokens").to_pylist()]
    bucketed = BucketBatchSampler(lengths, 32, seed=0, bucket=True).all_batches()
    plain = BucketBatchSampler(lengths, 32, seed=0, bucket=False).all_batches()
    eff_b, eff_p = padding_efficiency(lengths, bucketed), padding_efficiency(lengths, plain)
    assert eff_b >= 0.9 > eff_p


def test_padding_efficiency_hand_computed():
    assert padding_efficiency([2, 4, 3, 3], [[0, 1], [2, 3]]) == pytest.approx((2 + 4 + 3 + 3) / (8 + 6))


def test_batch_encoding_of_every_kind(prepared):
    path = prepared("conll04")
    m = Manifest.load(path)
    vocab = Vocab.from_manifests([m])
    table = open_split(path, "train")
    batch = BatchEncoder(vocab, m.tasks).encode(table, [0, 1, 2])
    rows = table.take([0, 1, 2]).to_pylist()
    width = max(len(r["tokens"]) for r in rows)
    assert batch.tokens.shape == (3, width) and batch.mask.sum().item() == sum(len(r["tokens"]) for r in rows)
    ner = batch.targets["ner"]
    assert (ner[~batch.mask] == IGNORE).all() and (ner[batch.mask] >= 0).all()
    rel = batch.targets["re"]
    n_rel = sum(len(r["label:re"]) for r in rows)
    assert rel.shape == (3, width, width, len(m.task("re").labels)) and int(rel.sum()) == n_rel
    for i, r in enumerate(rows):
        for t in r["label:re"]:
            assert rel[i, t["head"], t["tail"], m.task("re").labels.index(t["type"])] == 1


def test_vocab_ids():
    v = Vocab.from_counts([("The", 3), ("cat", 2), ("the", 1), ("rare", 1)], min_freq=2, lowercase=True)
    assert v.itos[:2] == ("<pad>", "<unk>")
    assert v.encode(["THE", "cat", "rare", "dog"]) == [2, 3, 1, 1]
