"""Loss weighting methods (raymtl/train/weighting/) against hand computations on a 2-task toy problem.

The toy: a shared parameter θ ∈ R² and one head parameter per task; task k's loss is
L_k = a_k·θ + h_k² (so ∇_θ L_k = a_k exactly), which makes every method's result computable by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from raymtl.train.config import TrainConfig, WeightingConfig
from raymtl.train.weighting import METHODS, WeightingStep, build_weighting, split_parameters
from raymtl.train.weighting.cagrad import cagrad_weights, project_simplex
from raymtl.train.weighting.pcgrad import project_conflicts

REPO = Path(__file__).resolve().parent.parent
TASKS = ["a", "b"]


class Toy(nn.Module):
    def __init__(self, a1=(1.0, 0.0), a2=(-1.0, 1.0)):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(2))
        self.heads = nn.ParameterDict({"a": nn.Parameter(torch.tensor(1.0)), "b": nn.Parameter(torch.tensor(2.0))})
        self.a = {"a": torch.tensor(a1), "b": torch.tensor(a2)}
        self.offset = {"a": 0.0, "b": 0.0}

    def losses(self) -> dict[str, torch.Tensor]:
        return {k: self.a[k] @ self.theta + self.heads[k] ** 2 + self.offset[k] for k in TASKS}


def step_of(model: Toy) -> WeightingStep:
    return WeightingStep(*split_parameters(model, [model.theta]))


def method(name: str, lambdas=None, **cfg):
    return build_weighting(WeightingConfig(method=name, **cfg), TASKS, lambdas or {"a": 1.0, "b": 1.0})


def test_split_parameters_falls_back_to_all_when_none_shared():
    m = Toy()
    shared, rest = split_parameters(m, [m.theta])
    assert [id(p) for p in shared] == [id(m.theta)] and len(rest) == 2
    shared, rest = split_parameters(m, [])
    assert len(shared) == 3 and rest == []


def test_fixed_is_lambda_weighted_sum_and_equal_ignores_lambda():
    m = Toy()
    w = method("fixed", {"a": 0.5, "b": 2.0}).backward(m.losses(), {}, step_of(m))
    assert w == {"a": 0.5, "b": 2.0}
    # ∇θ = 0.5·(1,0) + 2·(-1,1) = (-1.5, 2); ∇h_a = 0.5·2·1 = 1, ∇h_b = 2·2·2 = 8
    assert m.theta.grad.tolist() == pytest.approx([-1.5, 2.0])
    assert float(m.heads["a"].grad) == pytest.approx(1.0) and float(m.heads["b"].grad) == pytest.approx(8.0)
    m = Toy()
    assert method("equal", {"a": 0.5, "b": 2.0}).backward(m.losses(), {}, step_of(m)) == {"a": 1.0, "b": 1.0}
    assert m.theta.grad.tolist() == pytest.approx([0.0, 1.0])


def test_extra_losses_reach_the_shared_parameters():
    m = Toy()
    for name in ("fixed", "pcgrad"):
        m.theta.grad = None
        extra = {"reg": (m.theta ** 2).sum() + 3 * m.theta[0]}  # ∇θ at θ=0: (3, 0)
        method(name).backward(m.losses(), extra, step_of(m))
        fixed_part = [0.0, 1.0] if name == "fixed" else [0.5, 1.5]  # PCGrad's projected sum below
        assert m.theta.grad.tolist() == pytest.approx([fixed_part[0] + 3, fixed_part[1]]), name


def test_uw_weights_after_one_sgd_step():
    # L = Σ exp(-s_k) λ_k L_k + s_k/2; at s=0: ∂L/∂s_k = 1/2 - λ_k L_k.
    m = Toy()
    m.offset = {"a": 1.0, "b": -3.0}  # L_a = 0 + 1 + 1 = 2, L_b = 0 + 4 - 3 = 1
    uw = method("uw", {"a": 1.0, "b": 0.5})
    w0 = uw.backward(m.losses(), {}, step_of(m))
    assert w0 == pytest.approx({"a": 1.0, "b": 0.5})
    assert uw.log_vars.grad.tolist() == pytest.approx([0.5 - 2.0, 0.5 - 0.5])
    torch.optim.SGD(uw.parameters(), lr=0.1).step()  # s = (0.15, 0)
    m.theta.grad = None
    w1 = uw.backward(m.losses(), {}, step_of(m))
    assert w1["a"] == pytest.approx(math.exp(-0.15)) and w1["b"] == pytest.approx(0.5)


def test_dwa_weights_from_two_epochs_of_losses():
    dwa = method("dwa", {"a": 1.0, "b": 3.0}, dwa_temperature=2.0)
    m = Toy()
    for epoch, (la, lb) in enumerate([(2.0, 1.0), (1.0, 0.9)]):
        m.offset = {"a": la - 1.0, "b": lb - 4.0}  # θ=0, h=(1,2): L = offset + h²
        for _ in range(3):
            w = dwa.backward(m.losses(), {}, step_of(m))
            assert w == pytest.approx({"a": 1.0, "b": 3.0})  # weights 1 (x λ) for the first two epochs
        means = dwa.end_epoch(epoch)
        assert means == pytest.approx({"weighting/a": 1.0, "weighting/b": 3.0})
    # w = (1/2, 0.9/1) ; λ_k = 2 exp(w_k/2) / Σ exp(w_i/2)
    ea, eb = math.exp(0.25), math.exp(0.45)
    want = {"a": 2 * ea / (ea + eb), "b": 3.0 * 2 * eb / (ea + eb)}
    assert dwa.backward(m.losses(), {}, step_of(m)) == pytest.approx(want)
    restored = method("dwa", {"a": 1.0, "b": 3.0})
    restored.load_state_dict(dwa.state_dict())
    assert restored.coefs() == pytest.approx(want)


def test_gradnorm_weights_after_one_step():
    # g_a = (1, 0), g_b = (-1, 1)·λ_b with λ_b = 2: ||g_a|| = 1, ||g_b|| = 2√2.
    m = Toy()
    gn = method("gradnorm", {"a": 1.0, "b": 2.0}, gradnorm_alpha=1.0, gradnorm_lr=0.1)
    used = gn.backward(m.losses(), {}, step_of(m))
    assert used == pytest.approx({"a": 1.0, "b": 2.0})
    assert m.theta.grad.tolist() == pytest.approx([1.0 - 2.0, 2.0])  # Σ w_k ∇λ_k L_k with w = 1
    # First step: L̃ = 1, r = 1, target = Ḡ = (1 + 2√2)/2; G_a < Ḡ < G_b.
    # w_a = 1 + 0.1·1, w_b = 1 - 0.1·2√2, then renormalised to sum 2.
    wa, wb = 1.1, 1 - 0.2 * math.sqrt(2)
    assert gn.w.tolist() == pytest.approx([2 * wa / (wa + wb), 2 * wb / (wa + wb)])
    # Second step with task a's loss doubled: L̃ = (2, 1) x (L(0) ratio) -> r = (4/3, 2/3).
    m2 = Toy()
    m2.offset = {"a": 1.0, "b": 0.0}  # L_a(1) = 2 = 2 L_a(0), L_b = 4 = L_b(0)
    w = gn.w.clone()
    gn.backward(m2.losses(), {}, step_of(m2))
    g = w * torch.tensor([1.0, 2 * math.sqrt(2)], dtype=torch.float64)
    target = g.mean() * torch.tensor([4 / 3, 2 / 3], dtype=torch.float64)
    nw = w - 0.1 * torch.sign(g - target) * torch.tensor([1.0, 2 * math.sqrt(2)], dtype=torch.float64)
    assert gn.w.tolist() == pytest.approx((nw * 2 / nw.sum()).tolist())
    # the head of task b got w_b·λ_b·∂L_b/∂h_b from the weights used at that step
    assert float(m2.heads["b"].grad) == pytest.approx(float(w[1]) * 2.0 * 4.0)


def test_pcgrad_projects_conflicting_gradients():
    # g1 = (1, 0), g2 = (-1, 1): g1·g2 = -1 < 0.
    # g1' = g1 - (-1/2) g2 = (0.5, 0.5); g2' = g2 - (-1/1) g1 = (0, 1); sum (0.5, 1.5).
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    pc = project_conflicts(g, [[1], [0]])
    assert pc.tolist() == [[0.5, 0.5], [0.0, 1.0]]
    m = Toy()
    assert method("pcgrad").backward(m.losses(), {}, step_of(m)) == {"a": 1.0, "b": 1.0}
    assert m.theta.grad.tolist() == pytest.approx([0.5, 1.5])
    assert float(m.heads["b"].grad) == pytest.approx(4.0)  # heads keep their own gradient
    # no conflict: nothing projected, the plain sum
    assert project_conflicts(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), [[1], [0]]).sum(0).tolist() == [2.0, 1.0]


def test_cagrad_symmetric_case_by_hand():
    # g1 = (1, 0), g2 = (0, 1): by symmetry w = (1/2, 1/2); g0 = (1/2, 1/2), ||g0|| = ||g_w|| = 1/√2;
    # d = g0 + c ||g0|| g_w/||g_w|| = (1 + c) g0; the update K d = (1 + c)(1, 1).
    m = Toy(a1=(1.0, 0.0), a2=(0.0, 1.0))
    w = method("cagrad", cagrad_c=0.5).backward(m.losses(), {}, step_of(m))
    assert m.theta.grad.tolist() == pytest.approx([1.5, 1.5])
    assert w == pytest.approx({"a": 1.5, "b": 1.5})
    m = Toy(a1=(1.0, 0.0), a2=(0.0, 1.0))
    method("cagrad", cagrad_c=0.0).backward(m.losses(), {}, step_of(m))
    assert m.theta.grad.tolist() == pytest.approx([1.0, 1.0])  # c = 0: fixed λ's gradient


def test_cagrad_dual_matches_a_grid_search():
    g = np.array([[1.0, 0.0], [-1.0, 1.0]])
    gram, c = g @ g.T, 0.4
    g0 = g.mean(0)
    ts = np.linspace(0, 1, 200001)
    gw = ts[:, None] * g[0] + (1 - ts[:, None]) * g[1]
    obj = gw @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gw, axis=1)
    t = ts[obj.argmin()]
    assert cagrad_weights(gram, c) == pytest.approx([t, 1 - t], abs=1e-4)
    # the worst task's improvement min_k g_k·d beats plain averaging (CAGrad's point)
    w = cagrad_weights(gram, c)
    gw = w @ g
    d = g0 + c * np.linalg.norm(g0) * gw / np.linalg.norm(gw)
    assert np.linalg.norm(d - g0) <= c * np.linalg.norm(g0) + 1e-9
    assert min(g @ d) > min(g @ g0)
    assert project_simplex(np.array([0.3, 2.0, -1.0])).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_absent_task_in_a_batch():
    m = Toy()
    for name in METHODS:
        m.theta.grad = None
        w = method(name).backward({"a": m.losses()["a"]}, {}, step_of(m))
        assert set(w) == {"a"}, name
        assert m.theta.grad.tolist() == pytest.approx([1.0, 0.0]) if name != "cagrad" else \
            m.theta.grad.tolist() == pytest.approx([1.5, 0.0]), name  # one task: ||g0|| c adds along g


def test_config_and_mixed_precision_errors():
    from raymtl.errors import ConfigError

    with pytest.raises(ConfigError, match="mixed precision"):
        build_weighting(WeightingConfig(method="pcgrad"), TASKS, {}, mixed_precision=True)
    with pytest.raises(ConfigError) as e:
        TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", ["train.weighting.dwa_temperature=0"])
    assert e.value.key == "train.weighting.dwa_temperature"
    with pytest.raises(ConfigError) as e:
        TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", ["train.weighting.method=mgda"])
    assert e.value.key == "train.weighting.method"


# ---- in the training loop, on real shards ---------------------------------------------------------
def tiny(path: str, *overrides: str, acd: float = 1.0) -> TrainConfig:
    base = ["data.max_train_examples=96", "data.max_eval_examples=48", "data.vectors=", "model.embedding=random",
            "model.emb_dim=16", "model.hidden=16", "train.epochs=3", "train.batch_size=16", "train.patience=0"]
    cfg = TrainConfig.load(REPO / "configs" / path, base + list(overrides))
    if "label_dim" in cfg.model:
        cfg.model["label_dim"] = 16
    for t in cfg.tasks:
        t.weight = acd if t.name == "acd" else t.weight
    return cfg


def fit(cfg: TrainConfig, run_dir: Path, reporter=None) -> dict:
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    locations = validate(cfg, log=lambda m: None)
    return Runner(cfg, locations, reporter=reporter or LocalReporter(run_dir), run_dir=run_dir,
                  log=lambda m: None).fit()


@pytest.fixture
def shards(shards_root, monkeypatch):
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants", "fudan-mtl-16")))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_trains_absa_and_logs_weights_per_epoch(name, shards, tmp_path):
    summary = fit(tiny("absa_cmtl.yaml", f"train.weighting.method={name}", acd=0.5), tmp_path)
    hist = summary["history"]
    assert len(hist) == 3 and all(math.isfinite(h["train/loss"]) for h in hist)
    for h in hist:
        assert {"weighting/ate", "weighting/acd"} <= set(h), name
        assert all(h[f"weighting/{t}"] > 0 for t in ("ate", "acd"))
    if name == "fixed":
        assert [h["weighting/acd"] for h in hist] == [0.5] * 3
    if name in ("uw", "gradnorm"):  # learned weights move
        assert hist[-1]["weighting/ate"] != hist[0]["weighting/ate"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("weighting/acd")] == [1, 2, 3]


def test_fixed_with_unit_lambdas_is_equal_and_lambda_matters(shards, tmp_path):
    a = fit(tiny("absa_cmtl.yaml"), tmp_path / "a")  # the default: fixed
    b = fit(tiny("absa_cmtl.yaml", "train.weighting.method=equal"), tmp_path / "b")
    c = fit(tiny("absa_cmtl.yaml", acd=0.5), tmp_path / "c")
    assert a["config"]["train"]["weighting"]["method"] == "fixed"
    assert [h["train/loss"] for h in a["history"]] == [h["train/loss"] for h in b["history"]]
    assert [h["train/loss/acd"] for h in a["history"]] != [h["train/loss/acd"] for h in c["history"]]


@pytest.mark.parametrize("name", ["uw", "dwa", "gradnorm"])
def test_method_state_resumes(name, shards, tmp_path):
    from raymtl.train.reporter import LocalReporter

    class Stop(Exception):
        pass

    class StopAfter(LocalReporter):
        def report(self, metrics, checkpoint_dir):
            super().report(metrics, checkpoint_dir)
            if len(self.history) >= 2:
                raise Stop

    cfg = tiny("absa_cmtl.yaml", f"train.weighting.method={name}", "train.epochs=4")
    straight = fit(cfg, tmp_path / "straight")
    with pytest.raises(Stop):
        fit(cfg, tmp_path / "resumed", StopAfter(tmp_path / "resumed"))
    resumed = fit(cfg, tmp_path / "resumed")
    for key in ("weighting/ate", "weighting/acd", "train/loss"):
        assert [h[key] for h in resumed["history"]] == pytest.approx([h[key] for h in straight["history"]],
                                                                      rel=1e-6), key


def test_gradient_method_on_disjoint_tasks(shards, tmp_path):
    """Graph MTL over review domains: one task per batch, the shared LSTM declared by the architecture."""
    cfg = tiny("fudan16_graph.yaml", "train.weighting.method=cagrad", "train.epochs=1", "train.max_steps_per_epoch=6")
    summary = fit(cfg, tmp_path)
    assert math.isfinite(summary["history"][0]["train/loss"])
    assert sum(k.startswith("weighting/") for k in summary["history"][0]) >= 2
