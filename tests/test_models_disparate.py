"""disparate-label-spaces family: LEL masks (eq. 3–4), output label embeddings (eq. 5), LTN (eq. 6),
semi-supervised MSE (eq. 7), conditional encoding, and every architecture forward/backward + overfitting
on a real stance batch given the stance + Twitter target-sentiment task specs."""

from __future__ import annotations

import pytest
import torch

from raymtl.data.batch import Batch
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.models.architectures import _disparate_common as dc
from raymtl.models.base import StepContext
from raymtl.models.registry import default_registry

ARCHS = ("hps_mtl", "hps_lel", "hps_lel_ltn")
SMALL = {"emb_dim": 12, "hidden": 8, "label_dim": 6, "ltn_hidden": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tasks() -> list[TaskSpec]:
    return [TaskSpec("stance", "classify", ("AGAINST", "FAVOR", "NONE"), pairwise=True),
            TaskSpec("topic5", "classify", ("-2", "-1", "0", "1", "2"), pairwise=True),
            TaskSpec("nli", "classify", ("e", "n"), pairwise=True)]


def _cfg(name: str, **kw) -> dict:
    keys = {"hps_mtl": ("emb_dim", "hidden"), "hps_lel": ("emb_dim", "hidden", "label_dim")}.get(name, tuple(SMALL))
    return {**{k: SMALL[k] for k in keys}, **kw}


def _build(name: str, tasks=None, vocab_size: int = 30, **kw):
    torch.manual_seed(0)
    return default_registry().build(name, _cfg(name, **kw), tasks or _tasks(), vocab_size)


def _batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    b, t, t2 = 6, 5, 3
    tokens = torch.randint(1, 30, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[2, 3:] = False
    tokens[~mask] = 0
    pair = torch.randint(1, 30, (b, t2), generator=g)
    pmask = torch.ones(b, t2, dtype=torch.bool)
    pmask[0, 1:] = False
    pair[~pmask] = 0
    present = {"stance": torch.tensor([1, 1, 0, 0, 0, 0]).bool(), "topic5": torch.tensor([0, 0, 1, 1, 0, 0]).bool()}
    targets = {"stance": torch.tensor([0, 2, -100, -100, -100, -100]),
               "topic5": torch.tensor([-100, -100, 4, 1, -100, -100])}
    words = [[f"w{int(x)}" for x in row[m]] for row, m in zip(tokens, mask)]
    return Batch(ids=list("abcdef"), words=words, tokens=tokens, mask=mask, targets=targets, present=present,
                 pair_words=[["t"] * int(m.sum()) for m in pmask], pair_tokens=pair, pair_mask=pmask)


# ------------------------------------------------------------------------------------ eq. 3–4 (LEL)


def test_lel_task_masks_zero_outside_and_sum_to_one_inside():
    tasks = _tasks()
    lel = dc.LabelEmbeddingLayer(tasks, label_dim=4, in_dim=4)
    h = torch.randn(5, 4)
    scores = lel.scores(h)
    assert scores.shape == (5, 10)
    torch.testing.assert_close(scores, h @ lel.weight.T)  # c(l, h) = l · h for every label
    for t in tasks:
        a, b = lel.offsets[t.name]
        p = lel.task_probs(scores, t.name)
        assert torch.all(p[:, :a] == 0) and torch.all(p[:, b:] == 0)
        torch.testing.assert_close(p[:, a:b].sum(-1), torch.ones(5))
        torch.testing.assert_close(p[:, a:b], torch.softmax(h @ lel.label_matrix(t.name).T, -1))
        torch.testing.assert_close(lel.task_logits(scores, t.name), scores[:, a:b])


def test_lel_pads_when_label_dim_is_smaller():
    lel = dc.LabelEmbeddingLayer(_tasks(), label_dim=2, in_dim=4)
    h = torch.tensor([[1.0, 2.0, 100.0, -100.0]])
    torch.testing.assert_close(lel.scores(h), h[:, :2] @ lel.weight.T)  # L zero-padded to h's width


# ------------------------------------------------------------------------------------ eq. 5–7


def test_output_label_embedding_eq5():
    p = torch.tensor([[0.25, 0.75]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(dc.output_label_embedding(p, labels), torch.tensor([[0.25, 1.5]]))


def test_ltn_eq6_on_fixed_weights():
    ltn = dc.LabelTransferNetwork(in_dim=3, hidden=2, num_labels=2)
    lin1, lin2 = ltn.mlp[0], ltn.mlp[2]
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, -1.0, 0.0]]))
        lin1.bias.copy_(torch.tensor([0.0, 0.5]))
        lin2.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, -1.0]]))
        lin2.bias.copy_(torch.tensor([0.1, 0.0]))
    o1, o2, feats = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]]), None
    out = ltn([o1, o2], feats)  # MLP([o1, o2]) with [1, 2, 3]: hidden = relu([4, -1.5]) = [4, 0]
    torch.testing.assert_close(out, torch.tensor([[4.1, 8.0]]))
    assert ltn([o1], o2).shape == (1, 2)  # features are concatenated after the label embeddings


def test_pseudo_label_mse_eq7():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    z = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert dc.pseudo_label_mse(p, z).item() == pytest.approx(0.5)  # (0.25 + 0.25) per example, mean
    assert dc.pseudo_label_mse(p[:0], z[:0]).item() == 0.0


def test_ltn_losses_apply_to_the_right_examples_and_are_gated():
    batch = _batch()
    model = _build("hps_lel_ltn", pseudo_weight=2.0, ltn_weight=0.5).eval()
    out = model(batch, StepContext(ltn_active=True))
    assert set(out.extra_losses) == {"ltn", "pseudo"}
    with torch.no_grad():
        h = model.encode(batch)
        logits = model.task_scores(h)
        z_logits = model.ltn_logits(batch, h, logits)
    z = torch.softmax(z_logits, -1)
    torch.testing.assert_close(out.extras["ltn_probs"], z)
    main = batch.present["stance"]
    # eq. 7 on the examples without a stance label (auxiliary-task and unlabelled examples)
    p = torch.softmax(logits["stance"][~main], -1)
    expected = 2.0 * ((p - z[~main]) ** 2).sum(-1).mean()
    torch.testing.assert_close(out.extra_losses["pseudo"], expected)
    nll = torch.nn.functional.cross_entropy(z_logits[main], batch.targets["stance"][main])
    torch.testing.assert_close(out.extra_losses["ltn"], 0.5 * nll)
    assert model(batch, StepContext(ltn_active=False)).extra_losses == {}
    # the LTN input is the auxiliary tasks' output label embeddings (eq. 5) + 5 diversity features
    assert model.ltn.mlp[0].in_features == 2 * 6 + dc.DIVERSITY_DIM
    # pseudo-labels are targets: eq. 7 sends no gradient into the LTN
    model.train()
    model.zero_grad()
    model(batch, StepContext(ltn_active=True)).extra_losses["pseudo"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.ltn.parameters())


def test_predict_with_ltn_and_main_task_choice():
    batch = _batch()
    model = _build("hps_lel_ltn", predict_with="ltn", main_task="topic5").eval()
    out = model(batch)
    assert model.aux_tasks == ["stance", "nli"]
    torch.testing.assert_close(out.predictions["topic5"], out.extras["ltn_probs"].argmax(-1))
    with pytest.raises(ConfigError):
        _build("hps_lel_ltn", main_task="nope")
    with pytest.raises(ConfigError):
        _build("hps_lel_ltn", tasks=_tasks()[:1])


# ------------------------------------------------------------------------------------ model contract


def test_conditional_encoding_depends_on_the_target():
    model = _build("hps_mtl").eval()
    batch = _batch()
    with torch.no_grad():
        h1 = model.encode(batch)
        batch.pair_tokens = (batch.pair_tokens % 29) + 1
        h2 = model.encode(batch)
        batch.pair_tokens = batch.pair_mask = batch.pair_words = None  # no text_b: starts from zeros
        h3 = model.encode(batch)
    assert not torch.allclose(h1, h2) and not torch.allclose(h1, h3) and h3.shape == h1.shape


@pytest.mark.parametrize("name", ARCHS)
def test_every_task_predicted_losses_for_present_only(name):
    batch = _batch()
    out = _build(name).eval()(batch)
    assert set(out.losses) == {"stance", "topic5"}
    assert {k: v.shape for k, v in out.predictions.items()} == {t.name: (6,) for t in _tasks()}
    assert out.predictions["topic5"].max() < 5 and out.predictions["nli"].max() < 2


def test_label_embeddings_exported():
    emb = _build("hps_lel").label_embeddings()
    assert emb["topic5"][0].shape == (5, 6) and emb["topic5"][1] == ["-2", "-1", "0", "1", "2"]


# ------------------------------------------------------------------------------------ real data


@pytest.mark.parametrize("name", ARCHS)
def test_real_batch_forward_backward_and_overfit(real_batch, prepared, name):
    from raymtl.data.manifest import Manifest

    batch, specs, vocab = real_batch("semeval16-stance", n=16)
    twitter = Manifest.load(prepared("twitter-target-dong14")).tasks  # a second label space, absent from the batch
    tasks = list(specs) + list(twitter)
    assert batch.pair_tokens is not None and [t.name for t in tasks] == ["stance", "sentiment"]
    torch.manual_seed(0)
    sizes = {"hidden": 16, "emb_dim": 16, **({} if name == "hps_mtl" else {"label_dim": 16})}
    model = default_registry().build(name, _cfg(name, **sizes), tasks, len(vocab))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ctx = StepContext(ltn_active=True)
    first = last = None
    for step in range(40):
        out = model(batch, ctx)
        assert set(out.losses) == {"stance"} and set(out.predictions) == {"stance", "sentiment"}
        loss = out.losses["stance"] + sum(out.extra_losses.values())
        opt.zero_grad()
        loss.backward()
        if step == 0:
            first = float(out.losses["stance"].detach())
            if name == "hps_lel_ltn":
                assert set(out.extra_losses) == {"ltn"}  # every example is labelled with the main task
        opt.step()
        last = float(out.losses["stance"].detach())
    assert last < 0.5 * first, (name, first, last)
