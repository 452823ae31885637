"""LSTM† with message attention as one autograd node (graph-mtl eq. 3–11, issue 20) against the
implementation it replaced: outputs and every parameter's gradient equal on tiny cases, and the
written-out backward against finite differences (gradcheck)."""

from __future__ import annotations

import copy
import types

import pytest
import torch

from raymtl.data.batch import Batch
from raymtl.data.schema import TaskSpec
from raymtl.models.architectures._graph_common import FusionGate
from raymtl.models.architectures._graph_recurrence import Sources, lstm_dagger
from raymtl.models.registry import default_registry


@pytest.fixture(autouse=True)
def _float64_one_thread():
    dtype, n = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)  # compare implementations, not float32 rounding
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(n)


# ------------------------------------------------------------- the replaced implementation (reference)


def _ref_dagger(x_proj, w_hh, mask, fusion, message, which):
    """Autograd through a per-step loop, every row through every task's W_hh (as before issue 20)."""
    n, t_len, _ = x_proj.shape
    w_t = w_hh.transpose(1, 2)
    h = x_proj.new_zeros(n, w_hh.shape[-1])
    c = torch.zeros_like(h)
    outs, weights = [], []
    for t in range(t_len):
        gates = x_proj[:, t] + torch.matmul(h.unsqueeze(0), w_t)[which, torch.arange(n)]
        i, f, g, o = gates.chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        r, w = message(t, h)
        h_new, _ = fusion(torch.sigmoid(o), c_new, r)
        m = mask[:, t].unsqueeze(-1)
        h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
        outs.append(h_new * m)
        weights.append(w * m)
    return torch.stack(outs, 1), h, torch.stack(weights, 1)


def _ref_encode_rows(model, batch, rows, ctx):
    sc = model.scorer
    x = model.embedder.embed(batch)
    which, local = torch.unique(rows.task, return_inverse=True)
    ms = [model.nodes.lstms[i] for i in which.tolist()]
    w_ih = torch.stack([m.weight_ih_l0 for m in ms])
    w_hh = torch.stack([m.weight_hh_l0 for m in ms])
    b = torch.stack([m.bias_ih_l0 + m.bias_hh_l0 for m in ms])
    xr = x[rows.example]
    x_proj = torch.einsum("ntd,ngd->ntg", xr, w_ih[local]) + b[local].unsqueeze(1)
    qx = sc.W_x(xr)
    if model.name == "sg_mtl":
        hs = model.shared(x)[0][rows.example]
        src, pad = sc.W_s(hs), ~batch.mask[rows.example]

        def message(t, h):
            s = sc.u(torch.tanh((qx[:, t] + sc.W_h(h)).unsqueeze(1) + src)).squeeze(-1)
            beta = torch.softmax(s.masked_fill(pad, float("-inf")), dim=-1)
            return torch.bmm(beta.unsqueeze(1), hs).squeeze(1), beta
    else:
        hs = model.nodes.plain(x)[:, rows.example]  # [K, N, T, H]
        src = sc.W_s(hs)
        own = torch.nn.functional.one_hot(rows.task, len(model.nodes)).T.bool()

        def message(t, h):
            if len(model.nodes) == 1:
                return h.new_zeros(h.shape), h.new_zeros(h.shape[0], 1)
            s = sc.u(torch.tanh((qx[:, t] + sc.W_h(h)).unsqueeze(0) + src[:, :, t])).squeeze(-1)
            alpha = torch.softmax(s.masked_fill(own, float("-inf")), dim=0)
            return (alpha.unsqueeze(-1) * hs[:, :, t]).sum(0), alpha.T
    seq, last, w = _ref_dagger(x_proj, w_hh, batch.mask[rows.example], model.fusion, message, local)
    return seq, last, {"beta" if model.name == "sg_mtl" else "alpha": w}


# ------------------------------------------------------------------------------------ fixtures


def _batch(k: int, tagging: bool = False) -> Batch:
    g = torch.Generator().manual_seed(3)
    b, t = 7, 9
    tokens = torch.randint(1, 30, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 5:] = False
    mask[4, 2:] = False
    mask[6, 7:] = False
    tokens[~mask] = 0
    owner = torch.tensor([0, 1, 0, 2, 1, 2, 0]) % k
    present = {f"t{i}": owner == i for i in range(k)}
    targets = {}
    for i, (name, p) in enumerate(present.items()):
        if tagging and i == 0:
            targets[name] = torch.where(mask & p.unsqueeze(1), torch.randint(0, 3, (b, t), generator=g), -100)
        else:
            targets[name] = torch.where(p, torch.randint(0, 2, (b,), generator=g), -100)
    return Batch(ids=[str(i) for i in range(b)], words=[["w"] * int(m.sum()) for m in mask], tokens=tokens,
                 mask=mask, targets=targets, present=present)


def _tasks(k: int, tagging: bool = False) -> list[TaskSpec]:
    return [TaskSpec(f"t{i}", "tagging", ("O", "B", "I")) if tagging and i == 0 else
            TaskSpec(f"t{i}", "classify", ("neg", "pos")) for i in range(k)]


CASES = [("sg_mtl", 3, {}), ("sg_mtl", 3, {"predict_all_tasks": True}), ("sg_mtl", 3, {"checkpoint_attention": False}),
         ("sg_mtl", 1, {}), ("sg_mtl", 3, {"tagging": True}), ("cg_mtl", 3, {}),
         ("cg_mtl", 3, {"predict_all_tasks": True}), ("cg_mtl", 1, {}), ("cg_mtl", 3, {"tagging": True})]


def case_model(name: str, k: int, opts: dict):
    """A tiny ``name`` model of one CASES entry (seed 0) and its batch."""
    opts = dict(opts)
    tagging = opts.pop("tagging", False)
    batch, tasks = _batch(k, tagging), _tasks(k, tagging)
    torch.manual_seed(0)
    model = default_registry().build(name, {"emb_dim": 6, "hidden": 5, "attn_size": 4, "crf": False, **opts},
                                     tasks, 30)
    return model, batch


def forward_backward(model, batch):
    """The model's outputs on ``batch`` and every parameter's gradient of the summed task losses."""
    out = model(batch)
    sum(out.losses.values()).backward()
    return out, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("name, k, opts", CASES)
def test_new_recurrence_equals_the_replaced_one(name, k, opts):
    new, batch = case_model(name, k, opts)
    ref = copy.deepcopy(new)
    ref.encode_rows = types.MethodType(_ref_encode_rows, ref)
    (o_new, g_new), (o_ref, g_ref) = forward_backward(new, batch), forward_backward(ref, batch)
    key = "beta" if name == "sg_mtl" else "alpha"
    assert o_new.extras[key].shape == o_ref.extras[key].shape
    torch.testing.assert_close(o_new.extras[key], o_ref.extras[key])
    assert set(o_new.losses) == set(o_ref.losses) and o_new.losses
    for task in o_new.losses:
        torch.testing.assert_close(o_new.losses[task], o_ref.losses[task])
    for task in o_new.predictions:
        assert torch.equal(o_new.predictions[task], o_ref.predictions[task])
    for pname, g in g_ref.items():
        if g is None:  # e.g. the node LSTM of a task absent from the rows: no gradient in either
            assert g_new[pname] is None or not g_new[pname].any(), pname
        else:
            assert g_new[pname] is not None, pname
            torch.testing.assert_close(g_new[pname], g, msg=lambda m, p=pname: f"{p}: {m}")
    if not (name == "cg_mtl" and k == 1):  # one task: no messages, so the scorer gets zero gradients
        assert any(g is not None and g.abs().sum() > 0 for n, g in g_new.items() if n.startswith("scorer."))


def _inputs(static: bool, which: bool):
    g = torch.Generator().manual_seed(1)
    n, t, h, a, j, u_ = 3, 4, 2, 3, (4 if static else 2), (2 if which else 1)

    def r(*s):
        return (0.7 * torch.randn(*s, generator=g)).requires_grad_()

    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, True, True, False]])
    exclude = torch.zeros(n, j, dtype=torch.bool)
    if static:
        exclude |= ~mask
    else:
        exclude[0, 0] = exclude[1, 1] = True
    src = r(n, j, a) if static else r(n, t, j, a)
    val = r(n, j, h) if static else r(n, t, j, h)
    return dict(x_proj=r(n, t, 4 * h), w_hh=r(u_, 4 * h, h), w_h=r(a, h), qx=r(n, t, a), src=src, val=val,
                u=r(a), mask=mask, exclude=exclude, which=torch.tensor([1, 0, 1]) if which else None,
                w_f=r(h, h), w_r=r(h, h), w_c=r(h, h))


@pytest.mark.parametrize("static, which", [(True, False), (True, True), (False, True)])
def test_written_out_backward_matches_finite_differences(static, which):
    d = _inputs(static, which)
    names = ["x_proj", "w_hh", "w_h", "qx", "src", "val", "u", "w_f", "w_r", "w_c"]

    def f(*args):
        p = dict(zip(names, args))
        fusion = FusionGate(2, 2)
        del fusion.W_f.weight, fusion.W_r.weight, fusion.W_c.weight  # use the checked tensors
        fusion.W_f.weight, fusion.W_r.weight, fusion.W_c.weight = p["w_f"], p["w_r"], p["w_c"]
        seq, last, _ = lstm_dagger(p["x_proj"], p["w_hh"], d["mask"], fusion, p["w_h"], p["qx"],
                                   Sources(p["src"], p["val"], d["exclude"], p["u"]), which=d["which"])
        return seq, last

    assert torch.autograd.gradcheck(f, tuple(d[k] for k in names), eps=1e-6, atol=1e-6)
