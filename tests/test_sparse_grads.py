"""Row-sparse embedding gradients (issue 20): the lazy Adadelta and the clipping give what their dense
forms give, and the loop uses them only where that holds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from raymtl.train.fused_adadelta import Adadelta
from raymtl.train.data import TrainData
from raymtl.train.loop import Runner
from raymtl.train.reporter import LocalReporter
from raymtl.train.sparse_grads import clip_grad_norm, enable_sparse_embeddings
from raymtl.train.trainer import validate
from test_train_loop import Interrupt, InterruptingReporter, tiny


@pytest.fixture(autouse=True)
def _shards(shards_root, monkeypatch):
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("fudan-mtl-16")))


def _pair(sparse: bool, seed: int = 0):
    torch.manual_seed(seed)
    emb = nn.Embedding(12, 3, padding_idx=0, sparse=sparse)
    lin = nn.Linear(3, 2)
    return emb, lin


# token batches: rows 5-11 go untouched for several steps in between, rows repeat within a batch
BATCHES = [[1, 2, 2, 3], [1, 4], [7, 7, 8, 1], [2], [1, 2, 3, 4], [9, 10, 11, 11], [3], [5, 6, 1, 0]]


def _loss(emb, lin, tokens):
    x = emb(torch.tensor([tokens]))
    return (lin(x).tanh() ** 2).sum()


def test_lazy_adadelta_on_row_sparse_gradients_equals_torchs_dense_update():
    (e1, l1), (e2, l2) = _pair(True), _pair(False)
    lazy = Adadelta(list(e1.parameters()) + list(l1.parameters()), lr=0.9, rho=0.7, eps=1e-4)
    dense = torch.optim.Adadelta(list(e2.parameters()) + list(l2.parameters()), lr=0.9, rho=0.7, eps=1e-4)
    for i, tokens in enumerate(BATCHES):
        for (e, lin), opt in (((e1, l1), lazy), ((e2, l2), dense)):
            opt.zero_grad(set_to_none=True)
            _loss(e, lin, tokens).backward()
            if opt is lazy:
                assert e.weight.grad.is_sparse
            opt.step()
        if i == 3:  # a checkpoint mid-way: the state is the dense one, and training goes on the same
            state = lazy.state_dict()["state"][0]
            torch.testing.assert_close(state["square_avg"], dense.state[e2.weight]["square_avg"], rtol=1e-5,
                                       atol=1e-9)
    torch.testing.assert_close(e1.weight, e2.weight, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(l1.weight, l2.weight, rtol=1e-5, atol=1e-7)
    assert not torch.equal(e1.weight[11], _pair(False)[0].weight[11])  # row 11 did move
    lazy.catch_up()
    for key in ("square_avg", "acc_delta"):  # rows 9-11 last touched 3 steps before the end
        torch.testing.assert_close(lazy.state[e1.weight][key], dense.state[e2.weight][key], rtol=1e-5, atol=1e-9)
    # and it loads into torch's optimiser, which continues identically
    again = torch.optim.Adadelta(list(e1.parameters()) + list(l1.parameters()), lr=0.9, rho=0.7, eps=1e-4)
    again.load_state_dict(lazy.state_dict())
    assert float(again.state[e1.weight]["step"]) == len(BATCHES)


def test_hand_computed_lazy_decay_of_a_row_untouched_for_two_steps():
    # Adadelta's E[g²]_t = ρ E[g²]_{t-1} + (1 - ρ) g_t² (Zeiler 2012 eq. 8, as torch computes it), ρ = 0.5,
    # g = 2 on the touched row, 0 elsewhere. Row 1, touched at steps 1 and 4: 0.5·4 = 2, then 1 and 0.5
    # (steps 2-3 untouched), then 0.5·0.5 + 0.5·4 = 2.25. Row 2, touched at 2 and 3: 2, 0.5·2 + 2 = 3, 1.5.
    p = nn.Parameter(torch.zeros(3, 1))
    opt = Adadelta([p], lr=1.0, rho=0.5, eps=1e-8)
    for rows in ([1], [2], [2], [1]):
        p.grad = torch.sparse_coo_tensor(torch.tensor([rows]), torch.full((len(rows), 1), 2.0), (3, 1),
                                         check_invariants=True)
        opt.step()
    sq = opt.state[p]["square_avg"]
    assert float(sq[1]) == pytest.approx(2.25, rel=1e-6)
    assert float(opt.state_dict()["state"][0]["square_avg"][2]) == pytest.approx(1.5, rel=1e-6)


def test_lazy_adadelta_with_weight_decay_falls_back_to_the_dense_update():
    (e1, l1), (e2, l2) = _pair(True, 3), _pair(False, 3)
    lazy = Adadelta(e1.parameters(), lr=1.0, weight_decay=0.1)
    dense = torch.optim.Adadelta(e2.parameters(), lr=1.0, weight_decay=0.1)
    for tokens in BATCHES[:4]:
        for e, lin, opt in ((e1, l1, lazy), (e2, l2, dense)):
            opt.zero_grad(set_to_none=True)
            _loss(e, lin, tokens).backward()
            opt.step()
    torch.testing.assert_close(e1.weight, e2.weight, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("max_norm", [0.05, 100.0])  # clipped, and left alone
def test_clip_grad_norm_with_sparse_gradients_equals_torchs_on_the_dense_form(max_norm):
    (e1, l1), (e2, l2) = _pair(True, 1), _pair(False, 1)
    for e, lin in ((e1, l1), (e2, l2)):
        _loss(e, lin, [1, 2, 2, 3, 7]).backward()
    assert not e1.weight.grad.is_coalesced()  # duplicates (row 2) must be summed before the norm
    n1 = clip_grad_norm(list(e1.parameters()) + list(l1.parameters()), max_norm)
    n2 = torch.nn.utils.clip_grad_norm_(list(e2.parameters()) + list(l2.parameters()), max_norm)
    torch.testing.assert_close(n1, n2)
    torch.testing.assert_close(e1.weight.grad.to_dense(), e2.weight.grad)
    torch.testing.assert_close(l1.weight.grad, l2.weight.grad)


def test_sparse_embeddings_only_where_the_update_stays_exact():
    def names(opt_cls=Adadelta, wd=0.0, **kw):
        model = nn.Sequential(nn.Embedding(5, 2), nn.Embedding.from_pretrained(torch.zeros(4, 2)))  # 2nd frozen
        args = dict(device=torch.device("cpu"), world=1, mixed_precision=False, gradient_weighting=False) | kw
        return enable_sparse_embeddings(model, opt_cls(model.parameters(), lr=1.0, weight_decay=wd), **args)

    assert names() == ["0"]
    assert names(torch.optim.Adam) == [] and names(wd=1e-5) == []
    assert names(world=2) == [] and names(gradient_weighting=True) == [] and names(mixed_precision=True) == []
    assert names(device=torch.device("meta")) == []


def _run(cfg, run_dir, data, reporter=None, logs=None):
    return Runner(cfg, validate(cfg, log=lambda m: None), reporter=reporter or LocalReporter(run_dir),
                  run_dir=run_dir, log=(logs.append if logs is not None else lambda m: None), data=data).fit()


GRAPH = ("fudan16_graph.yaml", "model.arch=fs_mtl", "data.max_train_examples=24", "data.max_eval_examples=8",
         "train.batch_size=8", "train.epochs=2", "train.max_steps_per_epoch=6")


def test_the_loop_trains_the_same_with_sparse_and_dense_embedding_gradients(tmp_path):
    logs: list[str] = []
    cfg = tiny(*GRAPH)
    data = TrainData(cfg, validate(cfg, log=lambda m: None))  # one vocabulary for the four runs
    sparse = _run(cfg, tmp_path / "sparse", data, logs=logs)
    dense = _run(tiny(*GRAPH, "optim.sparse_embeddings=false"), tmp_path / "dense", data)
    assert any(m.startswith("row-sparse embedding gradients: ") for m in logs)
    assert [h["train/loss"] for h in sparse["history"]] == pytest.approx(
        [h["train/loss"] for h in dense["history"]], rel=1e-4)
    for k, v in dense["test"].items():
        assert sparse["test"][k] == pytest.approx(v, abs=1e-6), k
    # a resumed sparse run (its checkpoint's optimiser state caught up) ends where the straight one does
    with pytest.raises(Interrupt):
        _run(cfg, tmp_path / "resumed", data, InterruptingReporter(tmp_path / "resumed", after=1))
    resumed = _run(cfg, tmp_path / "resumed", data)
    assert [h["train/loss"] for h in resumed["history"]] == pytest.approx(
        [h["train/loss"] for h in sparse["history"]], rel=1e-5)
