"""graph-mtl family: message weights (eq. 3–8), LSTM† fusion gate (eq. 9–11), SP-MTL pieces, and every
architecture forward/backward + overfitting on a real FDU-MTL batch of several domains."""

from __future__ import annotations

import pytest
import torch

from raymtl.data.batch import Batch, BatchEncoder
from raymtl.data.schema import TaskSpec, label_column
from raymtl.models.architectures import _graph_common as gc
from raymtl.models.architectures._graph_recurrence import Sources
from raymtl.models.base import StepContext
from raymtl.models.registry import default_registry

GRAPH_ARCHS = ("cg_mtl", "sg_mtl", "single_lstm", "mt_cnn", "fs_mtl", "sp_mtl")
SMALL = {"emb_dim": 12, "hidden": 10}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    yield
    torch.set_num_threads(n)


def _tasks(k: int = 3) -> list[TaskSpec]:
    return [TaskSpec(f"t{i}", "classify", ("neg", "pos")) for i in range(k)]


def _synthetic_batch(k: int = 3) -> Batch:
    g = torch.Generator().manual_seed(0)
    b, t = 6, 7
    tokens = torch.randint(1, 40, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 4:] = False
    mask[4, 2:] = False
    tokens[~mask] = 0
    owner = torch.tensor([0, 0, 1, 1, 2, 2]) % k
    present = {f"t{i}": owner == i for i in range(k)}
    targets = {n: torch.where(p, torch.randint(0, 2, (b,), generator=g), torch.full((b,), -100))
               for n, p in present.items()}
    return Batch(ids=[str(i) for i in range(b)], words=[["w"] * int(m.sum()) for m in mask], tokens=tokens, mask=mask,
                 targets=targets, present=present)


def _build(name: str, tasks, vocab_size: int = 40, **cfg):
    torch.manual_seed(0)
    return default_registry().build(name, {**SMALL, **cfg}, tasks, vocab_size)


# ------------------------------------------------------------------------------------ eq. 3–6 (α)


def test_alpha_is_a_distribution_over_other_tasks_and_matches_eq5_at_t0():
    batch = _synthetic_batch()
    model = _build("cg_mtl", _tasks()).eval()
    out = model(batch)
    alpha, rows_ex, rows_task = out.extras["alpha"], out.extras["row_example"], out.extras["row_task"]
    assert alpha.shape == (6, 7, 3)
    assert rows_ex.tolist() == list(range(6)) and rows_task.tolist() == [0, 0, 1, 1, 2, 2]
    real = batch.mask[rows_ex]
    own = alpha.gather(2, rows_task.view(-1, 1, 1).expand(-1, 7, 1)).squeeze(-1)
    assert torch.all(own == 0)  # no message from a task to itself
    torch.testing.assert_close(alpha.sum(-1)[real], torch.ones(int(real.sum())))  # eq. 6: sums to 1 over i ≠ k
    assert torch.all(alpha[~real] == 0)  # padding
    # eq. 5 by hand at t = 0 (h_{-1}^(k) = 0): s^(i→k) = u tanh(W_x x_0 + W_h 0 + W_s h_0^(i))
    with torch.no_grad():
        x = model.embedder.embed(batch)
        hs = model.nodes.plain(x)  # [K, B, T, H]
        sc = model.scorer
        for n in range(6):
            k = int(rows_task[n])
            s = torch.stack([sc.u(torch.tanh(sc.W_x(x[n, 0]) + sc.W_h(torch.zeros(10)) + sc.W_s(hs[i, n, 0])))[0]
                             for i in range(3)])
            s[k] = float("-inf")
            torch.testing.assert_close(alpha[n, 0], torch.softmax(s, 0))


def test_cg_with_one_task_has_no_messages():
    tasks = _tasks(1)
    batch = _synthetic_batch(1)
    out = _build("cg_mtl", tasks)(batch)
    assert torch.all(out.extras["alpha"] == 0) and "t0" in out.losses


# ------------------------------------------------------------------------------------ eq. 7–8 (β)


def test_beta_is_a_distribution_over_real_positions():
    batch = _synthetic_batch()
    model = _build("sg_mtl", _tasks()).eval()
    beta = model(batch).extras["beta"]  # [N, T, T]
    assert beta.shape == (6, 7, 7)
    m = batch.mask
    torch.testing.assert_close(beta.sum(-1)[m], torch.ones(int(m.sum())))  # over positions i
    assert torch.all(beta.masked_select(~m.unsqueeze(1).expand(-1, 7, -1)) == 0)  # padded sources get 0
    assert torch.all(beta[~m] == 0)  # padded steps
    with torch.no_grad():  # eq. 8 weights by hand at t = 0 for example 1 (length 4)
        x = model.embedder.embed(batch)
        hs = model.shared(x)[0]
        sc = model.scorer
        s = sc.u(torch.tanh(sc.W_x(x[1, 0]) + sc.W_s(hs[1, :4]))).squeeze(-1)
        torch.testing.assert_close(beta[1, 0, :4], torch.softmax(s, 0))


def test_sg_checkpointing_gives_the_same_gradients():
    batch = _synthetic_batch()
    grads = []
    for ckpt in (True, False):
        model = _build("sg_mtl", _tasks(), checkpoint_attention=ckpt)
        sum(model(batch).losses.values()).backward()
        grads.append(model.scorer.u.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


# ------------------------------------------------------------------------------------ eq. 9–11 (LSTM†)


@pytest.mark.parametrize("w_r, gate", [(-100.0, 0.0), (100.0, 1.0), (0.0, 0.5)])
def test_fusion_gate_interpolates_as_eq_11(w_r, gate):
    fg = gc.FusionGate(hidden_size=2, message_size=2)
    with torch.no_grad():
        fg.W_f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        fg.W_r.weight.copy_(w_r * torch.eye(2))
        fg.W_c.weight.zero_()
    o = torch.tensor([[0.5, 0.9]])
    c = torch.tensor([[0.3, -0.2]])
    r = torch.tensor([[1.0, 1.0]])
    h, g = fg(o, c, r)
    torch.testing.assert_close(g, torch.full((1, 2), gate), atol=1e-6, rtol=0)
    expected = o * torch.tanh(c + gate * torch.tensor([[1.0, 2.0]]))  # eq. 10 with W_f r = (1, 2)
    torch.testing.assert_close(h, expected, atol=1e-6, rtol=0)
    if gate == 0.0:
        torch.testing.assert_close(h, o * torch.tanh(c), atol=1e-6, rtol=0)  # plain LSTM output (eq. 2)


def test_fusion_gate_uses_the_memory_cell():
    fg = gc.FusionGate(1, 1)
    with torch.no_grad():
        fg.W_f.weight.fill_(1.0)
        fg.W_r.weight.fill_(0.0)
        fg.W_c.weight.fill_(2.0)
    c = torch.tensor([[0.25]])
    h, g = fg(torch.ones(1, 1), c, torch.ones(1, 1))
    torch.testing.assert_close(g, torch.sigmoid(torch.tensor([[0.5]])))  # σ(W_r r + W_c c)
    torch.testing.assert_close(h, torch.tanh(c + g))


def test_lstm_dagger_step_by_hand():
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(3, 2, batch_first=True)
    fg = gc.FusionGate(2, 2)
    x = torch.randn(1, 2, 3)
    r = torch.tensor([[0.3, -0.7]])
    mask = torch.tensor([[True, False]])
    w_ih, w_hh, b = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0
    # one message source holding r: its weight is 1 whatever the score, so r_t = r at every step
    one = Sources(torch.zeros(1, 1, 4), r.view(1, 1, 2), torch.zeros(1, 1, dtype=torch.bool), torch.ones(4))
    w_h, qx = torch.zeros(4, 2), torch.zeros(1, 2, 4)
    seq, last, w = gc.lstm_dagger(x @ w_ih.T + b, w_hh.unsqueeze(0), mask, fg, w_h, qx, one)
    two = Sources(*(v.expand(2, *v.shape[1:]) for v in (one.src, one.val, one.exclude)), one.u)
    seq2, _, _ = gc.lstm_dagger((x @ w_ih.T + b).expand(2, -1, -1), torch.stack([2 * w_hh, w_hh]), mask.expand(2, -1),
                                fg, w_h, qx.expand(2, -1, -1), two, which=torch.tensor([1, 0]))
    torch.testing.assert_close(seq2[:1], seq)  # rows pick their own task's W_hh
    i, f, gg, o = (x[0, 0] @ w_ih.T + b).chunk(4)
    c1 = torch.sigmoid(i) * torch.tanh(gg)
    h1 = torch.sigmoid(o) * torch.tanh(c1 + torch.sigmoid(fg.W_r(r) + fg.W_c(c1)) * fg.W_f(r))
    torch.testing.assert_close(seq[:, 0], h1)
    torch.testing.assert_close(last, h1)  # the padded step keeps the state
    assert torch.all(seq[:, 1] == 0) and w[0, 1].item() == 0


# ------------------------------------------------------------------------------------ SP-MTL pieces


def test_gradient_reversal_flips_and_scales():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 1.0, -4.0])
    y = gc.grad_reverse(x, 0.3)
    torch.testing.assert_close(y, x.detach())
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * w)


def test_orthogonality_penalty_is_squared_frobenius_of_StP():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
    # S^T P = [[1, 3], [3, 5]] -> 1 + 9 + 9 + 25
    assert gc.orthogonality_penalty(s, p).item() == pytest.approx(44.0)


def test_sp_mtl_extra_losses_follow_weights():
    batch = _synthetic_batch()
    model = _build("sp_mtl", _tasks(), orth_weight=0.5).eval()
    a = model(batch, StepContext(adv_weight=0.1)).extra_losses
    b = model(batch, StepContext(adv_weight=0.2)).extra_losses
    assert set(a) == {"adversarial", "orthogonality"}
    torch.testing.assert_close(2 * a["adversarial"], b["adversarial"])
    assert model(batch, StepContext(adv_weight=0.0)).extra_losses["adversarial"].item() == 0.0
    # the discriminator descends the adversarial loss, the shared LSTM ascends it (gradient reversal)
    model.zero_grad()
    model(batch, StepContext(adv_weight=1.0)).extra_losses["adversarial"].backward()
    assert model.discriminator.weight.grad.abs().sum() > 0 and model.shared.lstm.weight_ih_l0.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.private.parameters())


# ------------------------------------------------------------------------------------ contract


@pytest.mark.parametrize("name", GRAPH_ARCHS)
def test_predictions_losses_and_absent_tasks(name):
    batch = _synthetic_batch()
    batch.present["t2"] = torch.zeros(6, dtype=torch.bool)  # t2 absent from the batch
    batch.targets["t2"] = torch.full((6,), -100)
    model = _build(name, _tasks()).eval()
    out = model(batch)
    assert set(out.losses) == {"t0", "t1"}
    assert set(out.predictions) == {"t0", "t1", "t2"}
    assert torch.all(out.predictions["t2"] == -100)
    assert torch.all(out.predictions["t0"][:2] >= 0) and torch.all(out.predictions["t0"][2:] == -100)
    full = _build(name, _tasks(), predict_all_tasks=True).eval()(batch)
    assert all(torch.all(p >= 0) for p in full.predictions.values())


def test_freeze_shared_for_leave_one_task_out():
    model = _build("sg_mtl", _tasks())
    shared = {id(p) for p in model.shared_parameters()}
    assert shared == {id(p) for p in model.shared.parameters()}
    model.freeze_shared()
    assert all(not p.requires_grad for p in model.shared.parameters())
    assert all(p.requires_grad for p in model.nodes.parameters())
    for name in ("sp_mtl", "fs_mtl", "mt_cnn", "cg_mtl"):
        assert _build(name, _tasks()).shared_parameters()
    assert _build("single_lstm", _tasks()).shared_parameters() == []


def test_tagging_tasks_use_token_states():
    tasks = [TaskSpec("tag", "tagging", ("O", "B", "I")), TaskSpec("cls", "classify", ("a", "b"))]
    batch = _synthetic_batch(2)
    batch.present = {"tag": batch.present.pop("t0"), "cls": batch.present.pop("t1")}
    batch.targets = {"tag": torch.where(batch.mask & batch.present["tag"].unsqueeze(1), 1, -100),
                     "cls": batch.targets.pop("t1")}
    for name in ("cg_mtl", "sg_mtl"):
        out = _build(name, tasks)(batch)
        assert set(out.losses) == {"tag", "cls"} and out.predictions["tag"].shape == batch.tokens.shape
        sum(out.losses.values()).backward()


# ------------------------------------------------------------------------------------ real data


DOMAINS = ["apparel", "books", "kitchen_housewares"]


@pytest.fixture(scope="module")
def fudan_batch(prepared):
    """4 training reviews of each of 3 domains (one task per example), cut to 30 tokens."""
    from raymtl.data.manifest import Manifest
    from raymtl.data.shards import open_split
    from raymtl.data.vocab import Vocab

    path = prepared("fudan-mtl-16", domains=DOMAINS, unlabeled=False)
    manifest = Manifest.load(path)
    table = open_split(path, "train", manifest=manifest)
    idx = []
    for t in manifest.tasks:
        valid = table.column(label_column(t.name)).is_valid().to_pylist()
        idx += [i for i, v in enumerate(valid) if v][:4]
    vocab = Vocab.from_manifests([manifest])
    batch = BatchEncoder(vocab, manifest.tasks, max_len=30).encode(table, idx)
    return batch, list(manifest.tasks), len(vocab)


@pytest.mark.parametrize("name", GRAPH_ARCHS)
def test_real_batch_forward_backward_and_overfit(fudan_batch, name):
    batch, tasks, vocab_size = fudan_batch
    assert sorted(batch.tasks) == sorted(DOMAINS)
    model = _build(name, tasks, vocab_size, emb_dim=16, hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ctx = StepContext(adv_weight=0.05)
    first = last = None
    for step in range(40):
        out = model(batch, ctx)
        assert set(out.losses) == set(DOMAINS)
        task_loss = sum(out.losses.values())
        loss = task_loss + sum(out.extra_losses.values())
        opt.zero_grad()
        loss.backward()
        if step == 0:
            first = float(task_loss.detach())
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        last = float(task_loss.detach())
    assert last < 0.5 * first, (name, first, last)
    if name == "cg_mtl":
        assert out.extras["alpha"].shape == (12, batch.tokens.shape[1], 3)
    if name == "sg_mtl":
        assert out.extras["beta"].shape == (12, batch.tokens.shape[1], batch.tokens.shape[1])


def test_absent_tasks_get_no_gradient_and_cg_messages_reach_every_node():
    batch = _synthetic_batch()
    for k in ("t1", "t2"):
        batch.present[k] = torch.zeros(6, dtype=torch.bool)
    sg = _build("sg_mtl", _tasks())
    sum(sg(batch).losses.values()).backward()
    assert sg.nodes.lstms[0].weight_hh_l0.grad is not None and sg.shared.weight_hh_l0.grad is not None
    assert all(p.grad is None for k in (1, 2) for p in [*sg.nodes.lstms[k].parameters(), *sg.heads[k].parameters()])
    cg = _build("cg_mtl", _tasks())
    sum(cg(batch).losses.values()).backward()
    assert all(cg.nodes.lstms[k].weight_ih_l0.grad.abs().sum() > 0 for k in range(3))  # senders learn too
    assert all(p.grad is None for k in (1, 2) for p in cg.heads[k].parameters())


def test_leave_one_task_out_transfer_of_the_shared_layer():
    source = _build("sg_mtl", _tasks(3))
    target = _build("sg_mtl", [TaskSpec("new", "classify", ("a", "b", "c"))])
    with torch.no_grad():
        source.shared.weight_hh_l0.add_(1.0)
    state = source.shared_state_dict()
    assert set(state) == {n for n, _ in source.shared.named_parameters(prefix="shared")}
    target.load_shared_state_dict(state)
    torch.testing.assert_close(target.shared.weight_hh_l0, source.shared.weight_hh_l0)
    assert not target.shared.weight_hh_l0.requires_grad and target.heads[0].proj.weight.requires_grad
    with pytest.raises(Exception):
        _build("fs_mtl", _tasks()).load_shared_state_dict(state)
