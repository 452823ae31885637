"""Divergence is a failure (issue 17, point 5): a loss that grows past ``train.diverge_factor`` times
its start, or an epoch whose every batch was skipped, ends the run with DivergenceError (a
NonFiniteLossError) instead of a "successful" run with a meaningless dev score. Real Runner on
real shards, no Ray; the fault is injected into the loss as in test_numerical_faults.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from raymtl.train.config import TrainConfig
from raymtl.train.faults import DivergenceError, NonFiniteLossError
from raymtl.train.loop import Runner
from raymtl.train.reporter import LocalReporter
from raymtl.train.trainer import validate

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _shards(shards_root, monkeypatch):
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))


def runner(tmp_path: Path, *overrides: str) -> Runner:
    base = ["data.max_train_examples=96", "data.max_eval_examples=32", "data.vectors=", "model.embedding=random",
            "model.emb_dim=16", "model.hidden=16", "model.label_dim=16", "train.epochs=2", "train.batch_size=16",
            "train.patience=0", "train.eval_test=false"]
    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", base + list(overrides))
    return Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(tmp_path), run_dir=tmp_path,
                  log=lambda m: None)


def scale_loss(r: Runner, factor_at) -> list[float]:
    """Multiply the loss of step k by ``factor_at(k)``; returns the unscaled losses seen."""
    seen: list[float] = []
    orig = r._loss

    def loss(out, batch):
        total, parts = orig(out, batch)
        seen.append(float(total.detach()))
        return total * factor_at(len(seen) - 1), parts

    r._loss = loss  # type: ignore[method-assign]
    return seen


def test_a_healthy_run_records_its_reference_and_passes(tmp_path):
    r = runner(tmp_path)
    seen = scale_loss(r, lambda k: 1.0)
    summary = r.fit()
    first = r.history[0]
    # The reference is the first batch's loss of the run (one stream: ABSA is joint).
    (key,) = [k for k in first if k.startswith("train/loss_start/")]
    assert first[key] == pytest.approx(seen[0])
    assert summary["epochs_run"] == 2
    # Length buckets spread batch losses (here a few x), far below the default factor.
    assert 1.0 <= r.loss_growth < r.cfg.train.diverge_factor / 10


def test_a_loss_that_grows_past_the_factor_fails_the_run(tmp_path):
    r = runner(tmp_path, "train.diverge_factor=50")
    scale_loss(r, lambda k: 1.0 if k < 2 else 1e3)  # finite, so the non-finite check cannot see it
    with pytest.raises(DivergenceError, match=r"diverged at epoch 1: a batch loss reached .*x its stream's "
                                              r"first-batch loss \(train.diverge_factor 50\)"):
        r.fit()
    assert isinstance(DivergenceError("x"), NonFiniteLossError)
    assert not (tmp_path / "results.json").exists()  # no "successful" summary was written


def test_growth_is_measured_against_the_first_batch(tmp_path):
    # Hand computation: batch losses L0, 30*L1, ... -> growth = max(30*L1, L2, ...)/L0 (below 1000: no failure).
    r = runner(tmp_path, "train.epochs=1")
    seen = scale_loss(r, lambda k: 30.0 if k == 1 else 1.0)
    r.fit()
    assert r.loss_growth == pytest.approx(max(30 * seen[1], *seen[2:]) / seen[0], rel=1e-6)


def test_diverge_factor_null_turns_the_check_off(tmp_path):
    r = runner(tmp_path, "train.diverge_factor=null", "train.epochs=1")
    scale_loss(r, lambda k: 1.0 if k < 2 else 1e3)
    assert r.fit()["epochs_run"] == 1


def test_an_epoch_whose_every_batch_was_skipped_fails(tmp_path):
    r = runner(tmp_path, "train.nonfinite=skip_batch")
    scale_loss(r, lambda k: math.inf)  # what lr=inf does: every step non-finite, every batch skipped
    with pytest.raises(DivergenceError, match=r"all \d+ batches of the epoch were skipped"):
        r.fit()
    assert r.skipped_batches > 0


def test_the_mean_loss_against_the_first_epoch(tmp_path):
    # Hand computation: first epoch mean 2.0, factor 100: a mean of 250 (> 200) fails, 150 does not.
    r = runner(tmp_path, "train.diverge_factor=100")
    r.history = [{"epoch": 1, "train/loss": 2.0}]
    r.loss_growth = 0.0
    r.check_divergence(1, {"train/loss": 150.0, "train/steps": 5}, skipped=0)
    with pytest.raises(DivergenceError, match=r"diverged at epoch 2: mean loss 250 > 100 x the first epoch's 2"):
        r.check_divergence(1, {"train/loss": 250.0, "train/steps": 5}, skipped=0)
    with pytest.raises(DivergenceError, match=r"all 3 batches of the epoch were skipped"):
        r.check_divergence(1, {"train/loss": 0.0, "train/steps": 0}, skipped=3)


@pytest.mark.parametrize("policy", ["fail", "skip_batch", "lower_lr"])
@pytest.mark.parametrize("lr", ["1e6", "1e38"])
def test_a_huge_learning_rate_is_a_failed_run_not_a_success(tmp_path, policy, lr):
    # No injection: what `--set optim.lr=1e6` did (a "successful" run at loss 4.9e7, or every batch
    # skipped and dev 0.0 reported) is a NonFiniteLossError (DivergenceError is one) under every policy.
    r = runner(tmp_path, "optim.name=sgd", f"optim.lr={lr}", "optim.clip=0", f"train.nonfinite={policy}")
    with pytest.raises(NonFiniteLossError):
        r.fit()
    assert not (tmp_path / "results.json").exists()


def _rank_verdict(rank: int, world: int, init: str, out: str) -> None:
    """One DDP rank (gloo, no Ray): rank 0 diverged, rank 1 did not; both must fail together."""
    import types

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        me = types.SimpleNamespace(cfg=types.SimpleNamespace(train=types.SimpleNamespace(diverge_factor=100.0)),
                                   history=[{"train/loss": 2.0}], loss_growth=500.0 if rank == 0 else 1.0,
                                   world=world, device=torch.device("cpu"))
        try:
            Runner.check_divergence(me, 0, {"train/loss": 2.0, "train/steps": 5}, skipped=0)
            verdict = "ok"
        except DivergenceError as e:
            verdict = str(e)
        Path(out, f"rank{rank}").write_text(verdict)
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_agree_on_divergence(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'store'}"
    mp.spawn(_rank_verdict, args=(2, init, str(tmp_path)), nprocs=2, join=True)
    v0, v1 = (tmp_path / "rank0").read_text(), (tmp_path / "rank1").read_text()
    assert "500x its stream's first-batch loss" in v0
    assert "another rank diverged" in v1  # rank 1 stops too: no rank waits alone in the next all-reduce
