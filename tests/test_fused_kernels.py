"""The compiled CPU kernels (issue 20): built once into the kernel cache, never half-written, skipped
cleanly without a compiler; graph-mtl's fused message attention equal to the eager ops (outputs and every
gradient, float32), and the fused Adadelta equal to torch's."""

from __future__ import annotations

import copy
import ctypes

import pytest
import torch

from raymtl import ckernels
from raymtl.models.architectures import _fused_recurrence as fa
from raymtl.models.architectures._graph_common import FusionGate
from raymtl.models.architectures._graph_recurrence import Sources, lstm_dagger
from raymtl.train import fused_adadelta
from raymtl.train.fused_adadelta import Adadelta
from test_graph_recurrence import CASES, _inputs, case_model, forward_backward


@pytest.fixture(autouse=True)
def _float32():
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(dtype)


def test_the_kernels_build_on_this_machine():
    # a C compiler is part of the test machine (CI installs none, Debian has gcc): without this the
    # comparisons below would compare the eager path with itself
    assert ckernels.compiler() is not None
    assert fa.library() is not None
    assert fa.usable(torch.zeros(1), torch.zeros(1))
    assert not fa.usable(torch.zeros(1, dtype=torch.float64))


def test_build_writes_one_file_under_the_kernel_dir_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYMTL_KERNELS_DIR", str(tmp_path / "k"))
    source = tmp_path / "_plus_one.c"
    source.write_text("float plus_one(float x) { return x + 1.0f; }\n")
    first = ckernels.build(source)
    assert first is not None and first.parent == tmp_path / "k" and first.name.startswith("plus_one-")
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [first.name]  # no temporary left
    mtime = first.stat().st_mtime_ns
    assert ckernels.build(source) == first and first.stat().st_mtime_ns == mtime  # reused, not rebuilt
    lib = ctypes.CDLL(str(first))
    lib.plus_one.argtypes, lib.plus_one.restype = [ctypes.c_float], ctypes.c_float
    assert lib.plus_one(2.5) == 3.5
    source.write_text("float plus_one(float x) { return x + 2.0f; }\n")  # a changed source: a new build
    second = ckernels.build(source)
    assert second is not None and second != first


def test_a_failed_build_or_no_compiler_leaves_nothing_and_returns_none(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYMTL_KERNELS_DIR", str(tmp_path / "k"))
    bad = tmp_path / "bad.c"
    bad.write_text("this is not C\n")
    assert ckernels.build(bad) is None
    assert not (tmp_path / "k").exists() or not list((tmp_path / "k").iterdir())
    good = tmp_path / "good.c"
    good.write_text("int one(void) { return 1; }\n")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert ckernels.compiler() is None
    assert ckernels.build(good) is None
    assert ckernels.load(good, {"one": ([], ctypes.c_int)}) is None


def test_kernel_tanh_is_within_a_few_float32_ulp():
    lib = fa.library()
    x = torch.cat([torch.linspace(-12, 12, 4001), torch.tensor([0.0, 1e-5, -3e-4, 5e-4, 7.9, -8.0])])
    got = torch.tensor([lib.raymtl_tanh(float(v)) for v in x], dtype=torch.float64)
    err = (got - torch.tanh(x.double())).abs().max().item()
    assert err < 5e-7, err
    assert lib.raymtl_tanh(0.0) == 0.0 and lib.raymtl_tanh(30.0) == pytest.approx(1.0, abs=1e-6)


def test_flush_denormals_zeroes_float32_denormals_inside_and_restores_the_mode():
    tiny = torch.tensor([1e-39, -3e-40, 1e-30])  # two float32 denormals and a normal number
    assert (tiny * 1.0)[0].item() != 0.0
    with fa.flush_denormals():
        inside = tiny * 1.0  # denormals-are-zero: read as 0
        product = torch.tensor([1e-20]) * torch.tensor([1e-20])  # flush-to-zero: a denormal result is 0
    assert inside.tolist()[:2] == [0.0, 0.0] and inside[2].item() == pytest.approx(1e-30)
    assert product.item() == 0.0
    after = tiny * 1.0
    assert after[0].item() == pytest.approx(1e-39, rel=1e-3) and after[1].item() == pytest.approx(-3e-40, rel=1e-2)
    assert (torch.tensor([1e-20]) * torch.tensor([1e-20])).item() == pytest.approx(1e-40, rel=1e-2)


@pytest.mark.parametrize("name, k, opts", CASES)
def test_fused_model_equals_eager_model(name, k, opts):
    """Every sg_mtl/cg_mtl case of the recurrence test, in float32: the compiled recurrence against the
    eager ops, same weights, same batch (padding, excluded own task, one task with no messages)."""
    fused, batch = case_model(name, k, opts)
    eager = copy.deepcopy(fused)
    eager.cfg.fused_attention = False
    (o_f, g_f), (o_e, g_e) = forward_backward(fused, batch), forward_backward(eager, batch)
    key = "beta" if name == "sg_mtl" else "alpha"
    torch.testing.assert_close(o_f.extras[key], o_e.extras[key], rtol=1e-5, atol=1e-6)
    for task in o_e.losses:
        torch.testing.assert_close(o_f.losses[task], o_e.losses[task], rtol=1e-5, atol=1e-6)
    for pname, g in g_e.items():
        if g is None:
            assert g_f[pname] is None, pname
        else:
            torch.testing.assert_close(g_f[pname], g, rtol=1e-4, atol=1e-6, msg=lambda m, p=pname: f"{p}: {m}")


@pytest.mark.parametrize("static, which, recompute", [(True, False, True), (True, True, True), (True, True, False),
                                                      (False, True, True), (False, False, False)])
def test_fused_recurrence_equals_eager_with_all_excluded_rows(static, which, recompute):
    d = _float_inputs(static, which)
    d["exclude"] = d["exclude"].clone()
    d["exclude"][2] = True  # a row with no candidate at all: weights 0 and message 0, no NaN
    s1, _, w1, _ = _fused_equals_eager(d, recompute)
    assert torch.isfinite(s1).all() and not w1[2].any()


@pytest.mark.parametrize("large", ["src", "q"])
def test_fused_recurrence_equals_eager_outside_the_factored_tanh_range(large):
    """Static sources' scores use tanh(s + q) = 1 - 2 / (1 + e^{2s} e^{2q}) only while |s|, |q| <= 20; sources
    beyond that (the whole sequence) or a row's query beyond it (that row and step) take the rational tanh."""
    d = _float_inputs(True, False)
    with torch.no_grad():
        if large == "src":
            d["src"][0, 1] *= 60.0  # |src| > 20 somewhere: no factored tanh for this recurrence
            assert d["src"].abs().max() > fa.FACTORED_MAX
        else:
            d["qx"][1] *= 60.0  # row 1's queries beyond the range at its steps, the other rows factored
            assert d["qx"][1].abs().max() > fa.FACTORED_MAX >= d["qx"][0].abs().max()
    _fused_equals_eager(d, recompute=True)


def test_kernel_factored_tanh_and_exp_are_within_a_few_float32_ulp():
    lib = fa.library()
    grid = torch.linspace(-fa.FACTORED_MAX, fa.FACTORED_MAX, 161)
    s, q = torch.meshgrid(torch.cat([grid, torch.tensor([0.0, 1e-4, -0.3])]), torch.linspace(-3, 3, 61),
                          indexing="ij")
    got = torch.tensor([lib.raymtl_factored_tanh(float(a), float(b)) for a, b in zip(s.flatten(), q.flatten())],
                       dtype=torch.float64)
    err = (got - torch.tanh(s.flatten().double() + q.flatten().double())).abs().max().item()
    assert err < 5e-7, err
    x = torch.linspace(-2 * fa.FACTORED_MAX, 2 * fa.FACTORED_MAX, 2001)
    e = torch.tensor([lib.raymtl_exp(float(v)) for v in x], dtype=torch.float64)
    rel = ((e - torch.exp(x.double())) / torch.exp(x.double())).abs().max().item()
    assert rel < 4 * 2.0 ** -23, rel


def _float_inputs(static: bool, which: bool) -> dict:
    return {k: (v.detach().float().requires_grad_() if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
            for k, v in _inputs(static, which).items()}


def _fused_equals_eager(d: dict, recompute: bool):
    """The recurrence's outputs and every gradient, fused against eager; returns the fused (seq, last, w, grads)."""
    names = ["x_proj", "w_hh", "w_h", "qx", "src", "val", "u", "w_f", "w_r", "w_c"]
    results = []
    for fused in (True, False):
        fusion = FusionGate(2, 2)
        del fusion.W_f.weight, fusion.W_r.weight, fusion.W_c.weight
        fusion.W_f.weight, fusion.W_r.weight, fusion.W_c.weight = d["w_f"], d["w_r"], d["w_c"]
        seq, last, w = lstm_dagger(d["x_proj"], d["w_hh"], d["mask"], fusion, d["w_h"], d["qx"],
                                   Sources(d["src"], d["val"], d["exclude"], d["u"]), which=d["which"],
                                   recompute=recompute, fused=fused)
        grads = torch.autograd.grad((seq * torch.arange(seq.numel()).view_as(seq).sin()).sum() + last.sum(),
                                    [d[k] for k in names])
        results.append((seq, last, w, grads))
    (s1, l1, w1, g1), (s2, l2, w2, g2) = results
    torch.testing.assert_close(w1, w2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-6)
    for name, a, b in zip(names, g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    return results[0]


def _params(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in ((50, 7), (13,), (3, 4))]


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fused_adadelta_equals_torch(weight_decay):
    assert ckernels.load(fused_adadelta.SOURCE, fused_adadelta.SIGNATURES) is not None  # the kernel runs
    a_params, t_params = _params(0), _params(0)
    a = Adadelta(a_params, lr=0.7, rho=0.8, eps=1e-5, weight_decay=weight_decay)
    t = torch.optim.Adadelta(t_params, lr=0.7, rho=0.8, eps=1e-5, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        for i, (p, q) in enumerate(zip(a_params, t_params)):
            if step == 2 and i == 1:  # a parameter without a gradient this step is left alone by both
                p.grad = q.grad = None
                continue
            grad = torch.randn(p.shape, generator=g)
            p.grad, q.grad = grad.clone(), grad.clone()
        a.step()
        t.step()
    for p, q in zip(a_params, t_params):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
        for key in ("square_avg", "acc_delta"):
            torch.testing.assert_close(a.state[p][key], t.state[q][key], rtol=1e-6, atol=1e-9)
        assert float(a.state[p]["step"]) == float(t.state[q]["step"])
    assert float(a.state[a_params[1]]["step"]) == 5.0
    # the state is torch's: a checkpoint of one loads into the other and continues identically
    t2 = torch.optim.Adadelta(a_params, lr=0.7, rho=0.8, eps=1e-5, weight_decay=weight_decay)
    t2.load_state_dict(a.state_dict())
    assert all(float(t2.state[p]["step"]) == float(a.state[p]["step"]) for p in a_params)


def test_fused_adadelta_falls_back_to_torch_where_the_kernel_does_not_apply():
    a_params = [torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))]
    t_params = [torch.nn.Parameter(a_params[0].detach().clone())]
    a, t = Adadelta(a_params, lr=1.0), torch.optim.Adadelta(t_params, lr=1.0)
    for _ in range(3):
        grad = torch.randn(5, 3, dtype=torch.float64)
        a_params[0].grad, t_params[0].grad = grad.clone(), grad.clone()
        a.step()
        t.step()
    assert torch.equal(a_params[0], t_params[0])  # torch's own step, bit for bit
