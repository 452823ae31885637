"""Ray Train: 2-worker DDP (gloo) runs on real shards, one architecture of each paper family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raymtl.train.config import TrainConfig
from raymtl.train.run import run_train
from raymtl.train.cluster import start_local  # Ray Train's helpers find it beside other Rays

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local(shards_root):
    import os

    import ray

    root = shards_root("semeval14-restaurants", "fudan-mtl-16", "semeval16-stance", "twitter-target-dong14")
    os.environ["RAYMTL_SHARDS_DIR"] = str(root)  # inherited by the Ray workers started below
    start_local(4, dashboard=True, log_to_driver=False)
    yield root
    ray.shutdown()


def tiny(path: str, *overrides: str) -> TrainConfig:
    base = ["data.max_train_examples=200", "data.max_eval_examples=80", "data.vectors=", "model.embedding=random",
            "model.emb_dim=16", "model.hidden=16", "train.epochs=2", "train.batch_size=16", "train.patience=0"]
    cfg = TrainConfig.load(REPO / "configs" / path, base + list(overrides))
    if "label_dim" in cfg.model:
        cfg.model["label_dim"] = 16
    return cfg


def _check(summary: dict, run_dir: Path, tasks: list[str]) -> None:
    assert summary["world_size"] == 2 and summary["epochs_run"] == 2
    saved = json.loads((run_dir / "results.json").read_text())
    for t in tasks:
        assert any(k.startswith(f"{t}/") for k in saved["test"]), (t, saved["test"].keys())
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    assert list(run_dir.glob("checkpoint_*")), "Ray Train kept no checkpoint"


def test_causal_family_cmtl_ddp(ray_local, tmp_path):
    s = run_train(tiny("absa_cmtl.yaml", "schedule.gold_epochs=1"), workers=2, storage=str(tmp_path), name="cmtl",
                  quiet=True)
    _check(s, tmp_path / "cmtl", ["ate", "acd"])
    assert [h["schedule/gold_labels"] for h in s["history"]] == [1.0, 0.0]


def test_graph_family_sg_mtl_ddp(ray_local, tmp_path):
    cfg = tiny("fudan16_graph.yaml", "data.max_train_examples=48", "train.batch_size=8")
    cfg.tasks = cfg.tasks[:3]
    s = run_train(cfg, workers=2, storage=str(tmp_path), name="sg", quiet=True)
    _check(s, tmp_path / "sg", [t.name for t in cfg.tasks])


def test_disparate_family_lel_ltn_ddp(ray_local, tmp_path):
    cfg = tiny("disparate_stance.yaml")
    cfg.data.datasets, cfg.tasks = cfg.data.datasets[:2], cfg.tasks[:2]
    s = run_train(cfg, workers=2, storage=str(tmp_path), name="lel", quiet=True)
    _check(s, tmp_path / "lel", ["semeval16-stance:stance", "twitter-target-dong14:sentiment"])
