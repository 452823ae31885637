"""Numeric checks of the papers' equations inside the models, against hand computations on tiny
cases (issue 19 item 6): causal-mtl eq. 3-4, 5-6, 7, 8-9 at τ = 0.05, the relation and multi-label
transfer formats, eq. 21 (Σ λ_k L_k in the loop)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.models.base import StepContext
from raymtl.models.encoders import pool
from raymtl.models.gumbel import sample_gumbel
from raymtl.models.registry import default_registry

REG = default_registry()
SMALL = dict(emb_dim=4, hidden=3, filters=2, kernel_sizes=[2], rel_dim=3, dropout=0.0, label_dim=2)
JERE = [TaskSpec("ner", "tagging", ("O", "B-P", "I-P")), TaskSpec("re", "relation", ("r1", "r2"))]
ABSA = [TaskSpec("ate", "tagging", ("O", "B", "I")), TaskSpec("acd", "multilabel", ("a", "b", "c"))]
LJP = [TaskSpec("rap", "classify", ("a1", "a2", "a3")), TaskSpec("cp", "classify", ("c1", "c2"))]


def build(arch: str, tasks, **cfg):
    torch.manual_seed(0)
    return REG.build(arch, {**SMALL, **cfg}, tasks, 12)


def batch_of(tasks, lengths=(4, 3)) -> Batch:
    g = torch.Generator().manual_seed(1)
    b, t = len(lengths), max(lengths)
    mask = torch.arange(t)[None] < torch.tensor(lengths)[:, None]
    tokens = torch.randint(2, 12, (b, t), generator=g) * mask
    targets, present = {}, {}
    for task in tasks:
        if task.kind == "tagging":
            y = torch.randint(0, task.num_labels, (b, t), generator=g).masked_fill(~mask, IGNORE)
        elif task.kind == "relation":
            y = torch.zeros(b, t, t, task.num_labels)
            y[0, 1, 2, 0] = 1
        elif task.kind == "multilabel":
            y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        else:
            y = torch.randint(0, task.num_labels, (b,), generator=g)
        targets[task.name], present[task.name] = y, torch.ones(b, dtype=torch.bool)
    return Batch(ids=["0", "1"], words=[["w"] * n for n in lengths], tokens=tokens, mask=mask, targets=targets,
                 present=present)


def capture(module: torch.nn.Module, store: list) -> None:
    module.register_forward_hook(lambda _m, args, out: store.append((args, out)))


def lstm_cell_by_hand(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, cell: torch.nn.LSTMCell):
    """One LSTM step written out: gates i, f, g, o from W_ih x + W_hh h + b (PyTorch's gate order)."""
    z = x @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh
    i, f, g, o = z.chunk(4, -1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


@torch.no_grad()
def test_causal_eq3_4_encoder_reads_tokens_transferred_label_and_lower_encoder():
    model = build("cmtl", JERE).eval()
    batch = batch_of(JERE)
    enc_in, ner_out = [], []
    capture(model.encoders["re"].lstm, enc_in)
    capture(model.heads["ner"], ner_out)
    model.run(batch, StepContext(training=False))
    mask = batch.mask
    e = model.embedders["shared"].embed(batch)  # E
    h1 = model.encoders["ner"](e, mask)  # H^1
    # evaluation: the transferred label is the one-hot of the predicted tag, 0 at padding
    y = torch.nn.functional.one_hot(ner_out[0][1].argmax(-1), 3).float() * mask.unsqueeze(-1)
    le = y @ model.label_emb["ner"].weight.t()  # eq. 1
    zeros = torch.zeros(*mask.shape, 2)
    th, _ = lstm_cell_by_hand(le, zeros, zeros, model.lt_cell)  # eq. 2, first level: zero state
    th = th * mask.unsqueeze(-1)
    expected = torch.cat([e, h1, th], -1)  # eq. 4: E ⊕ H^{k-1} ⊕ TH^{k-1} (order of ⊕ is immaterial)
    packed = enc_in[0][0][0]  # the packed sequence the LSTM of encoder 2 got
    from torch.nn.utils.rnn import pad_packed_sequence

    got, lengths = pad_packed_sequence(packed, batch_first=True, total_length=mask.shape[1])
    assert lengths.tolist() == [4, 3]
    assert torch.allclose(got * mask.unsqueeze(-1), expected, atol=1e-6)


@torch.no_grad()
def test_causal_eq5_6_cnn_then_level_lstm_over_tasks():
    model = build("cmtl", LJP, encoder="cnn").eval()
    batch = batch_of(LJP)
    cell_in, rap_out = [], []
    capture(model.level_cell, cell_in)
    capture(model.heads["rap"], rap_out)
    model.run(batch, StepContext(training=False))
    mask = batch.mask
    e = model.embedders["shared"].embed(batch)
    h_init = [model.encoders[n](e, mask)[1] for n in ("rap", "cp")]  # eq. 5: pool(CNN^k(E))
    # eq. 5 by hand for the kernel size 2 ("same" padding one on the right), ReLU, max over tokens
    conv = model.encoders["rap"].convs[0]
    x = torch.nn.functional.pad((e * mask.unsqueeze(-1)).transpose(1, 2), (0, 1))
    manual = torch.relu(torch.stack([x[:, :, i:i + 2].reshape(2, -1) @ conv.weight.reshape(2, -1).t() + conv.bias
                                     for i in range(mask.shape[1])], 1))
    assert torch.allclose(h_init[0], pool(manual, mask, "max"), atol=1e-6)
    hidden = model.level_cell.hidden_size
    zeros_l, zeros_h = torch.zeros(2, 2), torch.zeros(2, hidden)
    # level 1: no lower label yet (th^0 = 0), zero state
    assert torch.allclose(cell_in[0][0][0], torch.cat([h_init[0], zeros_l], -1), atol=1e-6)
    h0_1, c0_1 = lstm_cell_by_hand(torch.cat([h_init[0], zeros_l], -1), zeros_h, zeros_h, model.level_cell)
    # level 2: h^2_0 = LSTM^(s)(h^2_init ⊕ th^1_0, h^1_0) (eq. 6)
    y = torch.nn.functional.one_hot(rap_out[0][1].argmax(-1), 3).float()
    th1, _ = lstm_cell_by_hand(y @ model.label_emb["rap"].weight.t(), zeros_l, zeros_l, model.lt_cell)
    x2 = torch.cat([h_init[1], th1], -1)
    assert torch.allclose(cell_in[1][0][0], x2, atol=1e-6)
    h0_2, _ = lstm_cell_by_hand(x2, h0_1, c0_1, model.level_cell)
    assert torch.allclose(cell_in[1][1][0], h0_2, atol=1e-6)


@torch.no_grad()
def test_causal_eq7_predictor_reads_encoder_and_transferred_label():
    model = build("cmtl", ABSA).eval()
    batch = batch_of(ABSA)
    head_in, ate_out, lt_out = [], [], []
    capture(model.heads["acd"].proj if hasattr(model.heads["acd"], "proj") else model.heads["acd"], head_in)
    capture(model.heads["ate"], ate_out)
    capture(model.lt_cell, lt_out)
    enc_out = []
    capture(model.encoders["acd"], enc_out)
    model.run(batch, StepContext(training=False))
    mask = batch.mask
    h2 = enc_out[0][1]
    th = lt_out[0][1][0].view(*mask.shape, -1) * mask.unsqueeze(-1)
    # i = 0 (a sentence-level upper task): max-pooled H^k (eq. 16) ⊕ pooled TH^{k-1} (eq. 7)
    expected = torch.cat([pool(h2, mask, "max"), pool(th, mask, "max")], -1)
    assert torch.allclose(head_in[0][0][0], expected, atol=1e-6)
    # the predictor's logits are then W (h ⊕ th) + b
    proj = model.heads["acd"].proj
    assert torch.allclose(head_in[0][1], expected @ proj.weight.t() + proj.bias, atol=1e-6)


def test_causal_eq8_9_gumbel_label_inside_the_model_at_tau_005():
    model = build("cmtl", ABSA).train()
    batch = batch_of(ABSA)
    ate_out, le_in = [], []
    capture(model.heads["ate"], ate_out)
    capture(model.label_emb["ate"], le_in)
    ctx = StepContext(tau=0.05)
    torch.manual_seed(7)
    model.run(batch, ctx)
    o = ate_out[0][1].detach()
    # the same draw again: the model's only random numbers are the Gumbel noise (dropout is 0)
    torch.manual_seed(7)
    g = sample_gumbel(o.shape, like=o)
    y = le_in[0][0][0].detach()
    mask = batch.mask
    for b, i in ((0, 0), (0, 3), (1, 2)):  # eq. 9 written out: exp((o_c + g_c)/τ) / Σ_c' exp((o_c' + g_c')/τ)
        z = [(o[b, i, c].item() + g[b, i, c].item()) / 0.05 for c in range(3)]
        top = max(z)
        hand = [math.exp(v - top) / sum(math.exp(w - top) for w in z) for v in z]
        assert y[b, i].tolist() == pytest.approx(hand, abs=1e-5)
    assert (y[1, 3] == 0).all() and not mask[1, 3]  # padding transfers nothing
    assert y[mask].sum(-1).allclose(torch.ones(int(mask.sum())))


def test_relation_and_multilabel_transfer_formats_by_hand():
    model = build("cmtl", JERE).eval()
    batch = batch_of(JERE)
    logits = torch.full((2, 4, 4, 2), -3.0)
    logits[0, 1, 2, 0] = 2.0  # token 1 heads a r1 relation to token 2
    logits[0, 1, 0, 1] = 1.0  # ... and a r2 relation to token 0
    logits[1, 0, 3, 0] = 5.0  # token 3 of example 1 is padding: no relation
    y = model.transfer_label("re", logits, batch, StepContext(training=False))
    expected = torch.zeros(2, 4, 2)
    expected[0, 1] = torch.tensor([1.0, 1.0])  # per head token: multi-hot of the types it heads
    assert torch.equal(y, expected)
    gold = model.transfer_label("re", logits, batch, StepContext(training=False, gold_labels=True))
    assert gold[0, 1].tolist() == [1.0, 0.0] and gold.sum() == 1  # the gold triple (0, 1, 2, r1)
    # multi-label lower task: le = W y is the sum of the on labels' embeddings (eq. 1)
    ml = build("cmtl", [ABSA[1], TaskSpec("cp", "classify", ("x", "y"))]).eval()
    w = ml.label_emb["acd"].weight  # [d_l, |C|]
    y = ml.transfer_label("acd", torch.tensor([[2.0, -1.0, 0.5], [-2.0, -0.1, 3.0]]),
                          batch_of([ABSA[1], TaskSpec("cp", "classify", ("x", "y"))]), StepContext(training=False))
    assert y.tolist() == [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    assert torch.allclose(ml.label_emb["acd"](y)[0], w[:, 0] + w[:, 2])


REPO = Path(__file__).resolve().parent.parent


def test_causal_eq21_loop_loss_is_the_lambda_weighted_sum(shards_root, tmp_path, monkeypatch):
    """L_MT = Σ_k λ_k L_k (causal-mtl eq. 21; graph-mtl eq. 14): the loop's train/loss is that sum
    of its per-task losses, epoch means being linear in the per-step values."""
    from raymtl.train.config import TrainConfig
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))
    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", [
        "data.max_train_examples=64", "data.max_eval_examples=16", "data.vectors=", "model.embedding=random",
        "model.emb_dim=8", "model.hidden=8", "model.label_dim=8", "train.epochs=1", "train.batch_size=16",
        "train.eval_test=false"])
    cfg.tasks[0].weight, cfg.tasks[1].weight = 0.3, 1.7
    runner = Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(tmp_path), run_dir=tmp_path,
                    log=lambda m: None)
    h = runner.fit()["history"][0]
    extra = sum(v for k, v in h.items() if k.startswith("train/loss/extra/"))
    assert h["train/loss/ate"] > 0 and h["train/loss/acd"] > 0
    assert h["train/loss"] == pytest.approx(0.3 * h["train/loss/ate"] + 1.7 * h["train/loss/acd"] + extra, rel=1e-6)


# ------------------------------------------------------------------------------ disparate-label-spaces
def lstm_run_by_hand(x: torch.Tensor, lstm: torch.nn.LSTM, suffix: str, h: torch.Tensor, c: torch.Tensor):
    """One direction of a 1-layer nn.LSTM over ``x`` [T, D] from (h, c), written out step by step."""
    from types import SimpleNamespace

    cell = SimpleNamespace(**{f"{k}": getattr(lstm, f"{k}_l0{suffix}")
                              for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    for t in range(x.shape[0]):
        h, c = lstm_cell_by_hand(x[t], h, c, cell)
    return h, c


@torch.no_grad()
def test_disparate_conditional_encoding_by_hand():
    """Augenstein et al. 2016 (disparate-label-spaces §4.2): the text BiLSTM of each direction starts
    from the final state of the target BiLSTM's same direction; h = forward h_T ⊕ backward h_1."""
    from raymtl.models.architectures._disparate_common import ConditionalEncoder

    torch.manual_seed(3)
    enc = ConditionalEncoder(2, 2)
    x = torch.randn(2, 3, 2)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    target = torch.randn(2, 2, 2)
    tmask = torch.tensor([[True, True], [True, False]])
    got = enc(x, mask, target, tmask)
    for b in range(2):
        tx, xx = target[b, :int(tmask[b].sum())], x[b, :int(mask[b].sum())]
        z = torch.zeros(2)
        hf, cf = lstm_run_by_hand(tx, enc.target_lstm.lstm, "", z, z)
        hb, cb = lstm_run_by_hand(tx.flip(0), enc.target_lstm.lstm, "_reverse", z, z)
        text_f, _ = lstm_run_by_hand(xx, enc.text_lstm.lstm, "", hf, cf)
        text_b, _ = lstm_run_by_hand(xx.flip(0), enc.text_lstm.lstm, "_reverse", hb, cb)
        assert torch.allclose(got[b], torch.cat([text_f, text_b]), atol=1e-6)
    # without a target the text BiLSTM starts from zeros: a different h
    assert not torch.allclose(enc(x, mask), got)


def test_disparate_eq1_2_softmax_output_and_task_losses_by_hand():
    """p^{T_i} = softmax(W h + b) (eq. 1); L_i = -1/N Σ_n log p_{y_n} over T_i's labelled examples,
    summed with λ_i by the loop (eq. 2, checked through the loop by the eq. 21 test above)."""
    tasks = [TaskSpec("stance", "classify", ("against", "favor", "none"), pairwise=True),
             TaskSpec("topic", "classify", ("neg", "pos"))]
    torch.manual_seed(0)
    model = REG.build("hps_mtl", {"emb_dim": 4, "hidden": 2, "task_layer": False}, tasks, 12).eval()
    batch = batch_of(tasks)
    batch.pair_tokens = torch.tensor([[3, 4], [5, 0]])
    batch.pair_mask = batch.pair_tokens > 0
    batch.pair_words = [["a", "b"], ["c"]]
    batch.targets["stance"] = torch.tensor([2, 0])
    batch.targets["topic"] = torch.tensor([1, IGNORE])  # example 1 has no topic label
    out = model(batch)
    h = model.encode(batch)
    for k, name in enumerate(("stance", "topic")):
        head = model.heads[k]
        lin = head.proj if hasattr(head, "proj") else next(m for m in head.modules() if isinstance(m, torch.nn.Linear))
        logits = h @ lin.weight.t() + lin.bias
        ys = batch.targets[name].tolist()
        nll = [-math.log(math.exp(logits[n, y].item()) / sum(math.exp(v) for v in logits[n].tolist()))
               for n, y in enumerate(ys) if y != IGNORE]
        assert out.losses[name].item() == pytest.approx(sum(nll) / len(nll), rel=1e-5)


# ------------------------------------------------------------------------------------------ graph-mtl
@torch.no_grad()
def test_graph_eq3_message_aggregation_in_cg_mtl_by_hand():
    """CG-MTL, 3 tasks, a 2-token sentence of task 0: r_t = Σ_{i≠0} α_t^(i→0) h_t^(i) (eq. 3) with
    α = softmax_i(u tanh(W_x x_t + W_h h_{t-1}^(0) + W_s h_t^(i))) (eq. 4-6), fused by LSTM† (eq. 9-11);
    the head must read h_T^(0) as computed here step by step."""
    from types import SimpleNamespace

    tasks = [TaskSpec(n, "classify", ("x", "y")) for n in ("t0", "t1", "t2")]
    torch.manual_seed(4)
    model = REG.build("cg_mtl", {"emb_dim": 3, "hidden": 2, "attn_size": 2, "crf": False}, tasks, 12).eval()
    mask = torch.ones(1, 2, dtype=torch.bool)
    batch = Batch(ids=["0"], words=[["a", "b"]], tokens=torch.tensor([[3, 5]]), mask=mask,
                  targets={"t0": torch.tensor([1])}, present={"t0": torch.tensor([True])})
    head_in = []
    capture(model.heads[0], head_in)
    out = model(batch)
    x = model.embedder.embed(batch)[0]  # [T, D]
    cells = [SimpleNamespace(weight_ih=m.weight_ih_l0, weight_hh=m.weight_hh_l0, bias_ih=m.bias_ih_l0,
                             bias_hh=m.bias_hh_l0) for m in model.nodes.lstms]
    zero = torch.zeros(2)
    plain = [[zero, zero] for _ in range(3)]  # (h, c) of each task LSTM sending messages (eq. 2)
    h, c = zero, zero  # task 0's LSTM† state
    sc, fu = model.scorer, model.fusion
    alphas = []
    for t in range(2):
        msgs = []
        for i in range(3):
            plain[i] = list(lstm_cell_by_hand(x[t], *plain[i], cells[i]))
            msgs.append(plain[i][0])
        q = sc.W_x.weight @ x[t] + sc.W_h.weight @ h
        s = torch.stack([sc.u.weight[0] @ torch.tanh(q + sc.W_s.weight @ msgs[i]) for i in (1, 2)])
        alpha = torch.softmax(s, 0)  # eq. 6, over the other tasks
        alphas.append(alpha)
        r = alpha[0] * msgs[1] + alpha[1] * msgs[2]  # eq. 3
        z = cells[0].weight_ih @ x[t] + cells[0].bias_ih + cells[0].weight_hh @ h + cells[0].bias_hh
        i_g, f_g, g_g, o_g = z.chunk(4)
        c = torch.sigmoid(f_g) * c + torch.sigmoid(i_g) * torch.tanh(g_g)
        gate = torch.sigmoid(fu.W_r.weight @ r + fu.W_c.weight @ c)  # eq. 11
        h = torch.sigmoid(o_g) * torch.tanh(c + gate * (fu.W_f.weight @ r))  # eq. 10
    assert torch.allclose(head_in[0][0][0][0], h, atol=1e-5)
    got_alpha = out.extras["alpha"][0]  # [T, K]: 0 on the row's own task
    assert torch.allclose(got_alpha[:, 0], torch.zeros(2))
    assert torch.allclose(got_alpha[:, 1:], torch.stack(alphas), atol=1e-5)
