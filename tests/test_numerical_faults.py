"""Numerical faults in the training loop (no Ray): inf loss, exploding gradients and empty batches are
detected; the run fails with a reason, or recovers as the user asked (``train.nonfinite``).

NaN weights under ``fail``/``skip_batch`` are in test_train_loop.py; a diverging trial that fails
while the search goes on is in test_tune.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from raymtl.train.config import TrainConfig
from raymtl.train.faults import EmptyBatchError, NonFiniteLossError
from raymtl.train.loop import Runner
from raymtl.train.reporter import LocalReporter
from raymtl.train.trainer import validate

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _shards(shards_root, monkeypatch):
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))


def runner(tmp_path: Path, *overrides: str) -> Runner:
    base = ["data.max_train_examples=96", "data.max_eval_examples=32", "data.vectors=", "model.embedding=random",
            "model.emb_dim=16", "model.hidden=16", "model.label_dim=16", "train.epochs=1", "train.batch_size=16",
            "train.patience=0"]
    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", base + list(overrides))
    locations = validate(cfg, log=lambda m: None)
    return Runner(cfg, locations, reporter=LocalReporter(tmp_path), run_dir=tmp_path, log=lambda m: None)


def fault_at(r: Runner, steps: set[int], fault) -> list[int]:
    """Make the loss of the given (0-based) training steps pass through ``fault``; returns a call log."""
    calls: list[int] = []
    orig = r._loss

    def loss(out, batch):
        total, parts = orig(out, batch)
        k = len(calls)
        calls.append(k)
        return (fault(total) if k in steps else total), parts

    r._loss = loss  # type: ignore[method-assign]
    return calls


def test_inf_loss_fails_with_reason(tmp_path):
    r = runner(tmp_path)
    fault_at(r, {2}, lambda t: t * math.inf)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss or gradient at epoch 0, step 2 .*train.nonfinite"):
        r.train_epoch(0)


def test_exploding_gradients_are_detected(tmp_path):
    # A finite loss (~1e38) whose gradients overflow: the gradient norm is inf, so the step is refused.
    r = runner(tmp_path, "optim.clip=0.0")
    fault_at(r, {0}, lambda t: t * 1e38)
    before = [p.detach().clone() for p in r.core.parameters()]
    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradient"):
        r.train_epoch(0)
    assert all(torch.equal(a, b) for a, b in zip(before, r.core.parameters()))  # no update was applied


def test_lower_lr_policy_halves_lr_skips_the_batch_and_goes_on(tmp_path):
    clean = runner(tmp_path / "clean", "train.nonfinite=lower_lr")
    clean_stats = clean.train_epoch(0)
    r = runner(tmp_path / "faulty", "train.nonfinite=lower_lr")
    fault_at(r, {1}, lambda t: t * math.nan)
    stats = r.train_epoch(0)
    assert r.skipped_batches == 1
    assert stats["train/steps"] == clean_stats["train/steps"] - 1
    assert math.isfinite(stats["train/loss"])
    assert stats["lr"] == pytest.approx(clean_stats["lr"] * 0.5)  # halved, and kept by the lr schedule
    assert r.lr_scheduler.base_lrs == pytest.approx([b * 0.5 for b in clean.lr_scheduler.base_lrs])
    assert all(torch.isfinite(p).all() for p in r.core.parameters())


def test_lower_lr_twice_quarters_lr(tmp_path):
    r = runner(tmp_path, "train.nonfinite=lower_lr")
    lr0 = r.optimizer.param_groups[0]["lr"]
    fault_at(r, {0, 3}, lambda t: t * math.inf)
    r.train_epoch(0)
    assert r.skipped_batches == 2 and r.optimizer.param_groups[0]["lr"] == pytest.approx(lr0 * 0.25, rel=1e-6)


def _with_empty_batch(r: Runner, at: int = 1, tokens: bool = False) -> None:
    orig = r._epoch_batches

    def batches(epoch):
        for k, (name, positions) in enumerate(orig(epoch)):
            if k == at:
                yield name, []
            yield name, positions

    r._epoch_batches = batches  # type: ignore[method-assign]


def test_empty_batch_fails_with_reason(tmp_path):
    r = runner(tmp_path)
    _with_empty_batch(r)
    with pytest.raises(EmptyBatchError, match=r"empty training batch \(no examples\) of semeval14-restaurants "
                                              r"at epoch 0, step 1.*train.nonfinite=skip_batch"):
        r.train_epoch(0)


def test_empty_batch_is_skipped_when_asked(tmp_path):
    clean = runner(tmp_path / "clean").train_epoch(0)
    r = runner(tmp_path / "skip", "train.nonfinite=skip_batch")
    _with_empty_batch(r)
    stats = r.train_epoch(0)
    assert r.skipped_batches == 1 and stats["train/steps"] == clean["train/steps"]
    assert stats["train/loss"] == pytest.approx(clean["train/loss"], rel=1e-5)  # the same batches trained


def test_rows_without_tokens_count_as_empty(tmp_path):
    r = runner(tmp_path)
    stream = r.train_streams[0]
    stream.lengths = stream.lengths.copy()
    stream.lengths[:] = 0  # as if every row had lost its tokens
    with pytest.raises(EmptyBatchError, match="examples without tokens"):
        r.train_epoch(0)
