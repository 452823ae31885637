"""The causal-mtl family: equations 1, 2, 7, 8-9 in the model, chains, and every architecture on real data."""

from __future__ import annotations

import math

import pytest
import torch

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.models.base import StepContext
from raymtl.models.registry import default_registry

REG = default_registry()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models: one intra-op thread is fastest and avoids oversubscription when tests run in parallel."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
CAUSAL = [a.name for a in REG if a.family == "causal-mtl"]
SMALL = dict(emb_dim=16, hidden=12, filters=4, rel_dim=8, dropout=0.0)
LT_ARCHS = ("hmtl_lt", "cmtl_indirect", "cmtl_direct", "cmtl")

ABSA = [TaskSpec("ate", "tagging", ("O", "B", "I")), TaskSpec("acd", "multilabel", ("a", "b", "c", "d", "e"))]
JERE = [TaskSpec("ner", "tagging", ("O", "B-P", "I-P", "B-L", "I-L")), TaskSpec("re", "relation", ("r1", "r2"))]
LJP = [TaskSpec("rap", "classify", ("a1", "a2", "a3")), TaskSpec("cp", "classify", ("c1", "c2", "c3", "c4")),
       TaskSpec("ptp", "classify", ("p1", "p2"))]


def build(arch: str, tasks, vocab=30, **cfg):
    values = dict(SMALL)
    if arch in LT_ARCHS:
        values["label_dim"] = 6
    values.update(cfg)
    return REG.build(arch, values, tasks, vocab)


def synthetic_batch(tasks, lengths=(7, 5, 6, 3), vocab=30, seed=0, pair=False):
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    mask = torch.arange(t)[None] < torch.tensor(lengths)[:, None]
    tokens = torch.randint(2, vocab, (b, t), generator=g) * mask
    targets, present = {}, {}
    for task in tasks:
        n = task.num_labels
        if task.kind == "tagging":
            y = torch.randint(0, n, (b, t), generator=g)
            y[~mask] = IGNORE
        elif task.kind == "classify":
            y = torch.randint(0, n, (b,), generator=g)
        elif task.kind == "multilabel":
            y = (torch.rand(b, n, generator=g) > 0.5).float()
        else:
            y = torch.zeros(b, t, t, n)
            y[0, 1, 2, 0] = 1
            y[1, 3, 0, n - 1] = 1
        targets[task.name], present[task.name] = y, torch.ones(b, dtype=torch.bool)
    batch = Batch(ids=[str(i) for i in range(b)], words=[["w"] * n for n in lengths], tokens=tokens, mask=mask,
                  targets=targets, present=present)
    if pair:
        batch.pair_tokens = torch.randint(2, vocab, (b, 2), generator=g)
        batch.pair_mask = torch.ones(b, 2, dtype=torch.bool)
        batch.pair_words = [["x", "y"]] * b
    return batch


# ------------------------------------------------------------------------------------------ registry
def test_registered_causal_architectures():
    assert set(CAUSAL) == {"stl_bilstm", "stl_cnn", "fsmtl", "spmtl", "hmtl", "hmtl_lt", "cmtl_indirect",
                           "cmtl_direct", "cmtl"}
    for arch in REG:
        if arch.family != "causal-mtl":
            continue
        cls = arch.model_cls
        assert cls.name == arch.name and cls.paper == "causal-mtl" and cls.equations and arch.summary
        assert cls.find_unused_parameters
    with pytest.raises(ConfigError, match="label_dim"):
        REG.build("hmtl", {"label_dim": 3}, ABSA, 30)
    with pytest.raises(ConfigError, match="chain"):
        build("cmtl", ABSA, chain=["ate", "nope"])
    with pytest.raises(ConfigError, match="chain"):
        build("cmtl", ABSA, chain="ate,acd")
    with pytest.raises(ConfigError, match="encoder"):
        build("cmtl", ABSA, encoder="transformer")


# --------------------------------------------------------------------------------- eq. 1 and eq. 2
def test_eq1_label_embedding_lookup():
    model = build("cmtl", ABSA)
    w = model.label_emb["ate"].weight  # [d_l, |C|]
    y = torch.nn.functional.one_hot(torch.tensor([2, 0]), 3).float()
    assert torch.allclose(model.label_emb["ate"](y), w[:, [2, 0]].t())  # le = W y (causal-mtl eq. 1)
    names = model.label_embeddings()
    assert set(names) == {"ate"} and names["ate"][0].shape == (3, 6) and names["ate"][1] == ["O", "B", "I"]


def _lstm_by_hand(x: float, h: float, c: float, wi: float, wh: float) -> tuple[float, float]:
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    z = wi * x + wh * h  # identical for the four gates (all weights equal, biases 0)
    i, f, g, o = s(z), s(z), math.tanh(z), s(z)
    c2 = f * c + i * g
    return o * math.tanh(c2), c2


def test_eq2_label_transfer_lstm_fixed_weights():
    model = build("cmtl", LJP, label_dim=1)
    cell = model.lt_cell
    with torch.no_grad():
        cell.weight_ih.fill_(0.5)
        cell.weight_hh.fill_(-0.3)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    mask = torch.ones(2, 3, dtype=torch.bool)
    le1 = torch.tensor([[1.0], [2.0]])  # sentence-level label embeddings (i = 0)
    th1, state = model._lt_step(le1, None, mask)
    assert th1.shape == (2, 1)
    h, c = _lstm_by_hand(1.0, 0.0, 0.0, 0.5, -0.3)
    assert th1[0, 0].item() == pytest.approx(h, rel=1e-5)
    le2 = torch.tensor([[-1.0], [0.5]])
    th2, _ = model._lt_step(le2, state, mask)  # th^k = LSTM(le^{k-1}, th^{k-1}) (causal-mtl eq. 2)
    h2, _ = _lstm_by_hand(-1.0, h, c, 0.5, -0.3)
    assert th2[0, 0].item() == pytest.approx(h2, rel=1e-5)
    # token-level label embeddings after a sentence-level state: the state is broadcast over tokens
    le_tok = torch.tensor([[[1.0], [0.0], [3.0]], [[0.0], [0.0], [0.0]]])
    th_tok, (ht, ct) = model._lt_step(le_tok, state, mask)
    assert th_tok.shape == (2, 3, 1) and ht.shape == (2, 3, 1)
    h3, _ = _lstm_by_hand(3.0, h, c, 0.5, -0.3)
    assert th_tok[0, 2, 0].item() == pytest.approx(h3, rel=1e-5)


# ------------------------------------------------------------------------------------ eq. 7 and 8-9
def _forced_change(arch: str, tasks, lower: str, upper: str) -> float:
    torch.manual_seed(0)
    model = build(arch, tasks).eval()
    batch = synthetic_batch(tasks)
    ctx = StepContext(training=False)
    n = model.tasks[lower].num_labels
    shape = (batch.size, n) if tasks[0].kind != "tagging" else (batch.size, batch.tokens.shape[1], n)
    a = torch.zeros(shape)
    a[..., 0] = 1
    b = torch.zeros(shape)
    b[..., n - 1] = 1
    with torch.no_grad():
        la = model.run(batch, ctx, forced={lower: a})[upper]
        lb = model.run(batch, ctx, forced={lower: b})[upper]
    return (la - lb).abs().max().item()


@pytest.mark.parametrize("arch", ["cmtl_direct", "cmtl_indirect", "cmtl", "hmtl_lt"])
def test_eq7_prediction_follows_the_transferred_label(arch):
    assert _forced_change(arch, LJP, "rap", "cp") > 1e-4
    assert _forced_change(arch, ABSA, "ate", "acd") > 1e-4


def test_eq7_direct_path_alone():
    """CMTL(Direct): the encoders do not see TH, the predictor does (causal-mtl eq. 7)."""
    model = build("cmtl_direct", LJP)
    assert model.encoders["cp"].lstm.input_size == SMALL["emb_dim"] + model.encoders["rap"].out_dim
    assert model.heads["cp"].proj.in_features == model.encoders["cp"].out_dim + 6
    ind = build("cmtl_indirect", LJP)
    assert ind.encoders["cp"].lstm.input_size == SMALL["emb_dim"] + ind.encoders["rap"].out_dim + 6
    assert ind.heads["cp"].proj.in_features == ind.encoders["cp"].out_dim


def test_transferred_label_modes():
    torch.manual_seed(0)
    model = build("cmtl", LJP)
    batch = synthetic_batch(LJP)
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    gold = torch.nn.functional.one_hot(batch.targets["rap"], 3).float()
    model.train()
    y = model.transfer_label("rap", logits, batch, StepContext(tau=1e-4))  # Gumbel sample, tau -> 0: one-hot
    assert torch.allclose(y.sum(-1), torch.ones(4)) and torch.allclose(y.max(-1).values, torch.ones(4), atol=1e-4)
    y = model.transfer_label("rap", logits, batch, StepContext(tau=0.5, gold_labels=True))
    assert torch.equal(y, gold)
    batch.present["rap"][1] = False  # no gold label: falls back to the (sampled) prediction
    y = model.transfer_label("rap", logits, batch, StepContext(tau=1e-4, gold_labels=True))
    assert torch.equal(y[0], gold[0]) and y[1].argmax().item() in (0, 1, 2)
    model.eval()
    y = model.transfer_label("rap", logits, batch, StepContext(training=False))
    assert y.argmax(-1).tolist() == [0, 2, 1, 0] and torch.equal(y.sum(-1), torch.ones(4))
    # HMTL+LT: gold labels in training, predictions in evaluation, no sampling
    lt = build("hmtl_lt", LJP).train()
    batch.present["rap"][1] = True
    assert torch.equal(lt.transfer_label("rap", logits, batch, StepContext()), gold)
    # the Gumbel relaxation lets the upper loss reach the lower predictor (eq. 9 gradients)
    model.train()
    lg = logits.clone().requires_grad_(True)
    model.transfer_label("rap", lg, batch, StepContext(tau=0.5)).pow(2).sum().backward()
    assert lg.grad.abs().sum() > 0


def test_relation_and_multilabel_lower_tasks_transfer():
    tasks = [TaskSpec("re", "relation", ("r1", "r2")), TaskSpec("acd", "multilabel", ("a", "b", "c"))]
    model = build("cmtl", tasks).train()
    batch = synthetic_batch([tasks[0]] + [TaskSpec("acd", "multilabel", ("a", "b", "c"))])
    out = model(batch, StepContext(tau=0.3))
    assert set(out.losses) == {"re", "acd"}
    sum(out.losses.values()).backward()
    gold = model.transfer_label("re", torch.zeros(4, 7, 7, 2), batch, StepContext(gold_labels=True))
    assert gold.shape == (4, 7, 2) and gold[0, 1, 0] == 1 and gold[1, 3, 1] == 1 and gold.sum() == 2


# ------------------------------------------------------------------------------------------- chains
def test_chain_order_and_three_levels():
    model = build("cmtl", LJP, chain=["cp", "rap", "ptp"])
    assert model.chain == ["cp", "rap", "ptp"] and set(model.label_emb) == {"cp", "rap"}
    assert model.label_emb["cp"].in_features == 4


@pytest.mark.parametrize("encoder", ["bilstm", "cnn"])
@pytest.mark.parametrize("arch", ["hmtl", "cmtl", "spmtl", "fsmtl"])
def test_three_level_synthetic_chain_learns(arch, encoder):
    torch.manual_seed(0)
    model = build(arch, LJP, encoder=encoder, hidden=16, filters=8).train()
    batch = synthetic_batch(LJP)
    assert _overfits(model, batch, StepContext(tau=0.5), steps=60, lr=2e-2)


def test_sentence_level_lower_to_token_level_upper():
    tasks = [TaskSpec("doc", "classify", ("x", "y")), TaskSpec("tag", "tagging", ("O", "B", "I"))]
    model = build("cmtl", tasks).train()
    batch = synthetic_batch(tasks)
    out = model(batch, StepContext(tau=0.5))
    assert out.predictions["tag"].shape == (4, 7) and out.predictions["doc"].shape == (4,)
    sum(out.losses.values()).backward()


def test_pairwise_task():
    tasks = [TaskSpec("a", "tagging", ("O", "B")), TaskSpec("stance", "classify", ("f", "g"), pairwise=True)]
    model = build("cmtl", tasks).train()
    batch = synthetic_batch(tasks, pair=True)
    out = model(batch, StepContext(tau=0.5))
    sum(out.losses.values()).backward()
    assert model.pair_encoder.lstm.weight_ih_l0.grad is not None


def test_absent_tasks_have_no_loss_but_predictions():
    model = build("cmtl", ABSA).eval()
    batch = synthetic_batch(ABSA)
    del batch.targets["acd"], batch.present["acd"]
    out = model(batch, StepContext(training=False))
    assert set(out.losses) == {"ate"} and set(out.predictions) == {"ate", "acd"}
    assert out.predictions["acd"].dtype == torch.bool and out.predictions["acd"].shape == (4, 5)


# ---------------------------------------------------------------------------------- real data
def _overfits(model, batch, ctx, steps=50, lr=1e-2) -> bool:
    """The summed loss halves within ``steps`` Adam steps and every task's loss falls."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = None
    for _ in range(steps):
        losses = model(batch, ctx).losses
        loss = sum(losses.values())
        if first is None:
            first = {k: v.item() for k, v in losses.items()}
        elif loss.item() <= 0.5 * sum(first.values()) and all(v.item() < first[k] for k, v in losses.items()):
            return True
        opt.zero_grad()
        loss.backward()
        opt.step()
    return False


@pytest.mark.parametrize("dataset,tasks", [("semeval14-restaurants", ["ate", "acd"]), ("conll04", ["ner", "re"])])
@pytest.mark.parametrize("arch", CAUSAL)
def test_real_batch_forward_backward_overfit(real_batch, arch, dataset, tasks):
    batch, specs, vocab = real_batch(dataset, n=8, tasks=tasks)
    specs = sorted(specs, key=lambda t: tasks.index(t.name))
    assert [t.name for t in specs] == tasks
    torch.manual_seed(0)
    model = REG.build(arch, dict(SMALL, emb_dim=24, hidden=24, filters=8, rel_dim=16,
                                 **({"label_dim": 8} if arch in LT_ARCHS else {})), specs, len(vocab)).train()
    ctx = StepContext(tau=0.5)
    out = model(batch, ctx)
    assert set(out.losses) == set(tasks)
    sum(out.losses.values()).backward()
    assert all(torch.isfinite(v) for v in out.losses.values())
    for name, spec in zip(tasks, specs):
        pred = out.predictions[name]
        if spec.kind == "tagging":
            assert pred.shape == batch.tokens.shape
        elif spec.kind == "relation":
            assert pred.shape == batch.targets[name].shape and pred.dtype == torch.bool
        else:
            assert pred.shape == (batch.size, spec.num_labels)
    model.zero_grad()
    assert _overfits(model, batch, ctx, steps=50, lr=1e-2), f"{arch} did not halve its loss on {dataset}"
