"""disparate-label-spaces as printed (issue 19 item 4): skip-connections (§3.6), diversity features
over each task's term distribution (§3.5), the stance training data kept whole (Table 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raymtl.analysis.diversity import feature_matrix, term_distribution
from raymtl.data.batch import Batch
from raymtl.data.manifest import Manifest
from raymtl.data.schema import TaskSpec
from raymtl.models.registry import default_registry
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData

REG = default_registry()
REPO = Path(__file__).resolve().parent.parent
TASKS = [TaskSpec("stance", "classify", ("against", "favor", "none")), TaskSpec("topic", "classify", ("neg", "pos"))]


def _batch() -> Batch:
    mask = torch.tensor([[True, True, True], [True, True, False]])
    return Batch(ids=["0", "1"], words=[["a", "b", "a"], ["c", "a"]], tokens=torch.tensor([[2, 3, 2], [4, 2, 0]]),
                 mask=mask, targets={"stance": torch.tensor([1, -100]), "topic": torch.tensor([-100, 0])},
                 present={"stance": torch.tensor([True, False]), "topic": torch.tensor([False, True])})


@torch.no_grad()
def test_skip_connection_around_the_task_layer_by_hand():
    torch.manual_seed(0)
    model = REG.build("hps_mtl", {"emb_dim": 4, "hidden": 2, "task_layer_dim": 3, "skip_connections": True},
                      TASKS, 10).eval()
    h = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    layer, proj = model.task_layers[0], model.skips[0]
    expected = torch.relu(h @ layer.weight.t() + layer.bias) + h @ proj.weight.t()  # ReLU(W h + b) + P h
    assert torch.allclose(model.task_features(h, 0), expected, atol=1e-6)
    same = REG.build("hps_mtl", {"emb_dim": 4, "hidden": 2, "skip_connections": True}, TASKS, 10).eval()
    assert isinstance(same.skips[0], torch.nn.Identity)  # widths agree: the identity
    assert torch.allclose(same.task_features(h, 1), torch.relu(same.task_layers[1](h)) + h)
    plain = REG.build("hps_mtl", {"emb_dim": 4, "hidden": 2}, TASKS, 10)
    assert plain.skips is None


def test_diversity_features_use_each_example_task_term_distribution():
    model = REG.build("hps_lel_ltn", {"emb_dim": 4, "hidden": 2, "label_dim": 2, "ltn_hidden": 2,
                                      "main_task": "stance"}, TASKS, 10)
    dists = {"stance": term_distribution([["a", "a", "b"]]), "topic": term_distribution([["c", "c", "c", "a"]])}
    model.set_task_term_distributions(dists)
    feats = model.diversity(_batch(), "cpu")
    own = torch.tensor(feature_matrix([["a", "b", "a"]], dists["stance"]), dtype=torch.float32)[0]
    other = torch.tensor(feature_matrix([["c", "a"]], dists["topic"]), dtype=torch.float32)[0]
    own[0], other[0] = torch.log1p(own[0]), torch.log1p(other[0])
    assert torch.allclose(feats[0], own) and torch.allclose(feats[1], other)
    # entropy of example 1 under the topic distribution by hand: -(0.75 ln 0.75 + 0.25 ln 0.25)
    import math

    assert feats[1, 2].item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), rel=1e-5)


def test_stance_trains_on_the_whole_subtask_a_file_and_the_loop_sets_term_distributions(shards_root):
    root = shards_root("semeval16-stance", "twitter-target-dong14", "semeval16-absa-rest")
    cfg = TrainConfig.load(REPO / "configs" / "disparate_stance.yaml", [f"data.shards={root}"])
    protocol = (cfg.train.sampling, cfg.schedule.ltn_start_patience, cfg.model["skip_connections"])
    assert protocol == ("round_robin", 2, True)
    assert {t.weight for t in cfg.tasks} == {1.0}  # eq. 2 as printed: equal weights
    locs = {ds: str(root / ds) for ds in cfg.data.datasets}
    data = TrainData(cfg, locs)
    m = Manifest.load(root / "semeval16-stance")
    train = {s.name: len(s.indices) for s in data.streams("train", per_dataset=cfg.data.train_splits)}
    dev = {s.name: len(s.indices) for s in data.streams("dev", per_dataset=cfg.data.dev_splits)}
    assert train["semeval16-stance:stance"] == m.splits["train"].rows + m.splits["dev"].rows == 2814
    assert dev["semeval16-stance:stance"] == m.splits["test"].rows == 1249
    # the tweets moved from dev into training are in the (random-embedding) vocabulary
    dev_words = {w.lower() for w, _ in data.split_counts("semeval16-stance", "dev")}
    assert all(data.vocab.id(w) > 1 for w in dev_words)
    from raymtl.train.build import build_model

    model = build_model(cfg, data, log=lambda _m: None)
    dists = model.task_term_dists
    assert set(dists) == {t.name for t in cfg.tasks}
    assert sum(dists["semeval16-stance:stance"].values()) == pytest.approx(1.0)
    assert dists["semeval16-stance:stance"] != dists["twitter-target-dong14:sentiment"]
