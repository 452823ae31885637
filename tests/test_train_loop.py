"""The training loop on real shards, without Ray (the Ray Train path is in test_train_ray.py)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from raymtl.errors import ConfigError
from raymtl.train.config import TrainConfig
from raymtl.train.faults import NonFiniteLossError
from raymtl.train.loop import Runner
from raymtl.train.metrics import classify_metrics
from raymtl.train.reporter import LocalReporter
from raymtl.train.trainer import validate

REPO = Path(__file__).resolve().parent.parent


def tiny(path: str, *overrides: str) -> TrainConfig:
    """A shipped config shrunk to a few hundred examples and tiny sizes."""
    base = ["data.max_train_examples=160", "data.max_eval_examples=80", "data.vectors=", "model.embedding=random",
            "model.emb_dim=16", "model.hidden=16", "train.epochs=3", "train.batch_size=16", "train.patience=0"]
    cfg = TrainConfig.load(REPO / "configs" / path, base + list(overrides))
    if "label_dim" in cfg.model:
        cfg.model["label_dim"] = 16
    return cfg


def run(cfg: TrainConfig, run_dir: Path, reporter=None) -> dict:
    locations = validate(cfg, log=lambda m: None)
    reporter = reporter or LocalReporter(run_dir)
    return Runner(cfg, locations, reporter=reporter, run_dir=run_dir, log=lambda m: None).fit()


@pytest.fixture(autouse=True)
def _shards(shards_root, monkeypatch):
    # Shards prepared once per session (tests/conftest.py) serve every config here.
    root = shards_root("semeval14-restaurants", "conll04", "fudan-mtl-16", "semeval16-stance",
                       "twitter-target-dong14")
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(root))


class Interrupt(Exception):
    pass


class InterruptingReporter(LocalReporter):
    """Stops the run (as a killed process would) right after the n-th epoch's checkpoint."""

    def __init__(self, run_dir: Path, after: int):
        super().__init__(run_dir)
        self.after = after

    def report(self, metrics, checkpoint_dir):
        super().report(metrics, checkpoint_dir)
        if len(self.history) >= self.after:
            raise Interrupt


def test_results_json_and_metrics(tmp_path):
    summary = run(tiny("absa_cmtl.yaml"), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["epochs_run"] == 3 and len(saved["history"]) == 3
    assert {"ate/f1", "acd/f1", "mean/main"} <= set(saved["test"]) and saved["dev"]
    assert saved["config"]["model"]["arch"] == "cmtl"
    assert summary["best_dev_score"] == max(h["dev_score"] for h in saved["history"])
    assert (tmp_path / "tensorboard").is_dir() and (tmp_path / "checkpoints" / "latest" / "state.pt").exists()
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["pid"] == os.getpid() and info["from_epoch"] == 0 and info["world_size"] == 1


def test_relations_report_strict_f1_and_boundaries_beside_it(tmp_path):
    saved = run(tiny("conll04_cmtl.yaml", "train.epochs=1"), tmp_path)
    for split in ("dev", "test"):
        m = saved[split]
        assert {"re/f1", "re/p", "re/f1_boundaries", "re/p_boundaries", "ner/f1"} <= set(m)
        assert m["re/f1"] <= m["re/f1_boundaries"]  # strict also needs both entity spans and types
    assert saved["vocab"]["oov"]["conll04/test"]["tokens"] > 0


def test_resume_after_interrupt_equals_straight_run(tmp_path):
    cfg = tiny("conll04_cmtl.yaml")
    straight = run(cfg, tmp_path / "straight")
    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "resumed", InterruptingReporter(tmp_path / "resumed", after=2))
    resumed = run(cfg, tmp_path / "resumed")  # picks up the epoch-2 checkpoint
    assert resumed["epochs_run"] == straight["epochs_run"] == 3
    for split in ("dev", "test"):
        for k, v in straight[split].items():
            assert resumed[split][k] == pytest.approx(v, abs=1e-6), (split, k)
    assert [h["train/loss"] for h in resumed["history"]] == pytest.approx(
        [h["train/loss"] for h in straight["history"]], rel=1e-5)


def test_same_seed_same_metrics(tmp_path):
    cfg = tiny("absa_cmtl.yaml", "train.epochs=2")
    a, b = run(cfg, tmp_path / "a"), run(cfg, tmp_path / "b")
    assert a["test"] == b["test"] and a["history"][-1]["train/loss"] == b["history"][-1]["train/loss"]


def test_early_stopping_stops(tmp_path):
    # lr 1e-12 (lr must be > 0): the dev score never improves after the first epoch, so patience 1
    # stops at epoch 2.
    summary = run(tiny("absa_cmtl.yaml", "train.epochs=6", "train.patience=1", "optim.lr=1e-12"), tmp_path)
    assert summary["stopped_early"] and summary["epochs_run"] == 2 and summary["best_epoch"] == 1


def test_select_last_tests_the_last_epoch_not_the_best_dev_one(tmp_path):
    # The same never-improving run as above: "best" keeps epoch 1's weights, a refit ("last") epoch 3's.
    args = ("train.epochs=3", "train.patience=0", "optim.lr=1e-12")
    best = run(tiny("absa_cmtl.yaml", *args), tmp_path / "best")
    last = run(tiny("absa_cmtl.yaml", *args, "train.select=last"), tmp_path / "last")
    assert best["best_epoch"] == 1 and last["best_epoch"] == 3 and last["epochs_run"] == 3
    assert not last["stopped_early"] and last["dev"] == {k[4:]: v for k, v in last["history"][-1].items()
                                                         if k.startswith("dev/")}
    with pytest.raises(ConfigError, match="train.patience"):
        tiny("absa_cmtl.yaml", "train.select=last", "train.patience=2")


def test_gold_label_pretraining_switches_to_gumbel_at_configured_epoch(tmp_path):
    summary = run(tiny("absa_cmtl.yaml", "train.epochs=4", "schedule.gold_epochs=2"), tmp_path)
    gold = [h["schedule/gold_labels"] for h in summary["history"]]
    assert gold == [1.0, 1.0, 0.0, 0.0]


def test_tau_annealing_is_logged(tmp_path):
    summary = run(tiny("absa_cmtl.yaml", "train.epochs=3", "schedule.tau.tau_start=1.0", "schedule.tau.tau_end=0.25",
                       "schedule.tau.tau_decay=linear"), tmp_path)
    taus = [h["schedule/tau"] for h in summary["history"]]
    assert taus[0] == pytest.approx(1.0) and taus[-1] == pytest.approx(0.25) and taus[0] > taus[1] > taus[2]


def test_disjoint_tasks_with_uniform_sampling(tmp_path):
    cfg = tiny("fudan16_graph.yaml", "train.epochs=1", "data.max_train_examples=48", "data.max_eval_examples=24",
               "train.batch_size=8")
    cfg.tasks = cfg.tasks[:3]
    summary = run(cfg, tmp_path)
    names = [t.name for t in cfg.tasks]
    assert all(f"{n}/acc" in summary["test"] for n in names)
    assert summary["history"][0]["train/steps"] == 3 * 48 // 8


def test_nan_loss_stops_with_clear_message_and_keeps_checkpoint(tmp_path):
    cfg = tiny("absa_cmtl.yaml", "train.epochs=3", "optim.name=sgd", "optim.clip=0.0")
    reporter = LocalReporter(tmp_path)
    locations = validate(cfg, log=lambda m: None)
    runner = Runner(cfg, locations, reporter=reporter, run_dir=tmp_path, log=lambda m: None)
    runner.train_epoch(0)
    runner._report({"epoch": 1, "dev_score": 0.0})
    good = (tmp_path / "checkpoints" / "latest" / "state.pt").read_bytes()
    with __import__("torch").no_grad():  # corrupt the weights, as a diverged step would
        next(iter(runner.core.parameters())).fill_(math.nan)
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        runner.train_epoch(1)
    assert (tmp_path / "checkpoints" / "latest" / "state.pt").read_bytes() == good


def test_skip_batch_policy_keeps_going(tmp_path):
    cfg = tiny("absa_cmtl.yaml", "train.epochs=1", "train.nonfinite=skip_batch")
    locations = validate(cfg, log=lambda m: None)
    runner = Runner(cfg, locations, reporter=LocalReporter(tmp_path), run_dir=tmp_path, log=lambda m: None)
    with __import__("torch").no_grad():
        next(iter(runner.core.parameters())).fill_(math.nan)
    stats = runner.train_epoch(0)
    assert runner.skipped_batches > 0 and stats["train/steps"] == 0


@pytest.mark.parametrize("override,key", [
    ("train.epochs=three", "train.epochs"),
    ("train.bogus=1", "train.bogus"),
    ("model.bogus=1", "model.bogus"),
    ("model.arch=nope", "model.arch"),
])
def test_bad_config_fails_naming_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        validate(tiny("absa_cmtl.yaml", override), log=lambda m: None)
    assert key in str(e.value)


def test_task_missing_from_dataset_and_missing_shards(tmp_path, monkeypatch):
    cfg = tiny("absa_cmtl.yaml")
    cfg.tasks[1].name = "sentiment"
    with pytest.raises(ConfigError, match="no task 'sentiment'"):
        validate(cfg, log=lambda m: None)
    cfg = tiny("absa_cmtl.yaml", f"data.shards={tmp_path / 'none'}", "data.prepare=false")
    with pytest.raises(ConfigError, match="no prepared shards"):
        validate(cfg, log=lambda m: None)


def test_per_dataset_test_split(tmp_path):
    cfg = tiny("disparate_stance.yaml", "data.datasets=[semeval16-stance,twitter-target-dong14]",
               'tasks=[{"name":"semeval16-stance:stance","main":true},{"name":"twitter-target-dong14:sentiment"}]')
    assert cfg.data.test_splits == {"semeval16-stance": "test_b"}  # the paper's subtask B
    runner = Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(tmp_path), run_dir=tmp_path,
                    log=lambda m: None)
    targets = {}
    for s in runner.test_streams:
        col = s.table.column("text_b").to_pylist()
        targets[s.dataset] = {" ".join(col[i]).lower() for i in s.indices}
    assert targets["semeval16-stance"] == {"donald trump"}  # subtask B: one target, unseen in training
    assert len(targets["twitter-target-dong14"]) > 1  # its own "test" split
    cfg.data.test_splits = {"semeval16-stance": "test_c"}
    with pytest.raises(ConfigError, match="no split 'test_c'") as e:
        validate(cfg, log=lambda m: None)
    assert "data.test_splits.semeval16-stance" in str(e.value)


@torch.no_grad()
def test_stance_reports_f1_fa_without_none_beside_f1_fa(tmp_path):
    cfg = tiny("disparate_stance.yaml", "data.datasets=[semeval16-stance,twitter-target-dong14]",
               'tasks=[{"name":"semeval16-stance:stance","main":true},{"name":"twitter-target-dong14:sentiment"}]')
    runner = Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(tmp_path), run_dir=tmp_path,
                    log=lambda m: None)
    key = "semeval16-stance:stance"
    m = runner.evaluate(runner.test_streams, 0)
    # by hand: the model's logits with NONE masked, argmax, confusion, F1 of FAVOR and AGAINST
    spec = runner.data.spec(key)
    none = [lab.lower() for lab in spec.labels].index("none")
    cm = [[0] * spec.num_labels for _ in range(spec.num_labels)]
    runner.model.eval()
    for s in runner.test_streams:
        if key not in s.tasks:
            continue
        batch = s.batch(list(range(len(s.indices))))
        logits = runner.core(batch, runner.schedule.eval_context(0)).scores[key].clone()
        logits[:, none] = float("-inf")
        for g, p in zip(batch.targets[key].tolist(), logits.argmax(-1).tolist()):
            cm[g][p] += 1
    assert sum(map(sum, cm)) == sum(len(s.indices) for s in runner.test_streams if key in s.tasks) > 0
    assert m[f"{key}/f1_fa_no_none"] == pytest.approx(classify_metrics(cm, spec.labels)["f1_fa"])
    assert f"{key}/f1_fa" in m and m[f"{key}/main"] == m[f"{key}/f1_fa"]


def test_architecture_that_cannot_serve_a_task_kind():
    cfg = tiny("conll04_cmtl.yaml")
    cfg.model = {"arch": "sg_mtl"}  # graph-mtl has no relation head
    with pytest.raises(ConfigError, match="cannot serve task 're' of kind 'relation'"):
        validate(cfg, log=lambda m: None)
