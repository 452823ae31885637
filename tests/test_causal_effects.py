"""Causal effects (causal-mtl eq. 10-11): sum rules, a hand check, n-gram effects, real data."""

from __future__ import annotations

import pytest
import torch

from raymtl.analysis.causal_effects import (estimate_causal_effects, ngram_effects, upper_probability)
from raymtl.data.schema import TaskSpec
from raymtl.models.base import StepContext
from tests.test_models_causal import ABSA, IGNORE, JERE, LJP, build, synthetic_batch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(arch="cmtl", tasks=LJP, seed=0):
    torch.manual_seed(seed)
    model = build(arch, tasks)
    with torch.no_grad():  # make the label path strong enough to give visible effects
        for p in model.label_emb.parameters():
            p.mul_(5.0)
    return model


def test_sum_rules_all_subset():
    model = _model()
    batches = [synthetic_batch(LJP, seed=s) for s in range(2)]
    eff = estimate_causal_effects(model, batches, "rap", "cp", subset="all")
    assert eff.effects.shape == (3, 4) and eff.lower_labels == ["a1", "a2", "a3"] and eff.upper_labels[0] == "c1"
    assert eff.effects.abs().max() > 1e-4
    # softmax upper task: each row sums to 0 over b; uniform counterfactuals: each column sums to 0 over a
    assert torch.allclose(eff.effects.sum(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(eff.effects.sum(0), torch.zeros(4), atol=1e-5)
    assert eff.counts.tolist() == [8.0, 8.0, 8.0]
    assert model.training  # restored


def test_observed_subset_by_hand():
    model = _model()
    batch = synthetic_batch(LJP, seed=3)
    eff = estimate_causal_effects(model, [batch], "rap", "cp")  # gold rap labels are the observed values
    assert torch.allclose(eff.effects.sum(1), torch.zeros(3), atol=1e-5)  # rows sum to 0 over b
    model.eval()
    ctx = StepContext(training=False)
    onehot = lambda a: torch.nn.functional.one_hot(torch.full((batch.size,), a), 3).float()  # noqa: E731
    with torch.no_grad():
        p = [torch.softmax(model.run(batch, ctx, forced={"rap": onehot(a)})["cp"], -1) for a in range(3)]
    gold = batch.targets["rap"]
    for a in range(3):
        sel = gold == a
        if not sel.any():
            assert eff.counts[a] == 0 and torch.all(eff.effects[a] == 0)
            continue
        others = [p[o] for o in range(3) if o != a]
        expected = (p[a] - sum(others) / 2)[sel].mean(0)  # causal-mtl eq. 10
        assert torch.allclose(eff.effects[a], expected, atol=1e-5)
        assert eff.counts[a] == int(sel.sum())


def test_token_level_lower_task_and_multilabel_upper():
    model = _model("cmtl", ABSA)
    eff = estimate_causal_effects(model, [synthetic_batch(ABSA)], "ate", "acd")
    assert eff.effects.shape == (3, 5) and torch.isfinite(eff.effects).all()
    assert eff.counts.sum() > 0
    assert abs(eff.table(threshold=0.0)[0][2]) == pytest.approx(eff.effects.abs().max().item(), rel=1e-5)


def test_three_level_chain_and_errors():
    model = _model()
    eff = estimate_causal_effects(model, [synthetic_batch(LJP)], "rap", "ptp", subset="all")
    assert eff.effects.shape == (3, 2)
    assert torch.allclose(eff.effects.sum(1), torch.zeros(3), atol=1e-5)
    with pytest.raises(ValueError, match="not below"):
        estimate_causal_effects(model, [], "cp", "rap")
    with pytest.raises(ValueError, match="label transfer"):
        estimate_causal_effects(build("hmtl", LJP), [], "rap", "cp")


def test_upper_probability_kinds():
    mask = torch.tensor([[True, True, False]])
    tag = torch.zeros(1, 3, 2)
    tag[0, 0, 1] = 100.0
    assert torch.allclose(upper_probability("tagging", tag, mask), torch.tensor([[0.25, 0.75]]), atol=1e-4)
    rel = torch.full((1, 3, 3, 1), -100.0)
    rel[0, 2, 2, 0] = 100.0  # a padding pair does not count
    assert upper_probability("relation", rel, mask).item() < 1e-6


def test_eq11_ngram_effects():
    model = _model()
    batch = synthetic_batch(LJP)
    res = ngram_effects(model, batch, "cp", n=2)
    assert len(res) == batch.size
    spans, psi = res[3]  # length 3 -> 2 bigrams
    assert spans == [(0, 2), (1, 3)] and psi.shape == (2, 4)
    assert torch.allclose(psi.sum(-1), torch.zeros(2), atol=1e-5)  # softmax: sums to 0 over labels
    assert psi.abs().max() > 0
    # masking an n-gram that is already unknown changes nothing (psi = f(X) - f(X) = 0)
    batch.tokens[3, :2] = 1
    batch.words[3][:2] = ["[UNK]", "[UNK]"]
    spans, psi = ngram_effects(model, batch, "cp", n=2)[3]
    assert torch.allclose(psi[0], torch.zeros(4), atol=1e-6)


def test_effects_on_real_absa_batch(real_batch):
    batch, specs, vocab = real_batch("semeval14-restaurants", n=6, tasks=["ate", "acd"])
    specs = sorted(specs, key=lambda t: ["ate", "acd"].index(t.name))
    torch.manual_seed(0)
    model = build("cmtl", specs, vocab=len(vocab))
    eff = estimate_causal_effects(model, [batch], "ate", "acd")
    assert eff.effects.shape == (3, 5) and eff.lower_labels == list(specs[0].labels)
    assert eff.counts[specs[0].labels.index("O")] == 6  # every sentence has O tokens
    assert isinstance(specs[1], TaskSpec) and torch.isfinite(eff.effects).all()


def test_max_examples_uses_the_first_examples_only():
    model = _model()
    batches = [synthetic_batch(LJP, seed=s) for s in range(2)]  # 4 examples each
    first = estimate_causal_effects(model, batches[:1], "rap", "cp", subset="all")
    capped = estimate_causal_effects(model, batches, "rap", "cp", subset="all", max_examples=4)
    assert torch.allclose(capped.effects, first.effects, atol=1e-6) and capped.counts.tolist() == [4.0] * 3
    six = estimate_causal_effects(model, batches, "rap", "cp", subset="all", max_examples=6)
    assert six.counts.tolist() == [6.0] * 3  # the second batch cut to its first 2 rows
    assert not torch.allclose(six.effects, first.effects, atol=1e-6)


@pytest.mark.parametrize("subset", ["observed", "all"])
def test_progress_is_told_the_examples_done_after_every_batch(subset):
    model = _model()
    batches = [synthetic_batch(LJP, seed=s) for s in range(3)]  # 4 examples each
    done: list[int] = []
    estimate_causal_effects(model, batches, "rap", "cp", subset=subset, progress=done.append)
    assert done == [4, 8, 12]
    done.clear()
    estimate_causal_effects(model, batches, "rap", "cp", subset=subset, max_examples=6, progress=done.append)
    assert done == [4, 6]


def test_progress_line_prints_rate_limited_with_an_eta():
    import io

    from raymtl.analysis.commands import ProgressLine

    out = io.StringIO()
    line = ProgressLine("effects ate -> acd", 800, every=0.0, stream=out)
    line.started -= 10.0  # 10 s spent on the first 200 examples: 30 s left for the other 600
    line(200)
    line(800)  # the end is said by the command's own line, not here
    assert out.getvalue().splitlines() == ["effects ate -> acd: 200/800 examples (25%), 10s, ETA 30s"]
    quiet = ProgressLine("x", 800, every=60.0, stream=out)
    quiet(100)  # less than `every` seconds since the start: nothing
    assert len(out.getvalue().splitlines()) == 1


def test_effects_threads_follow_the_idle_cpus():
    from raymtl.analysis.commands import idle_cpus

    assert idle_cpus(2, cpus=2, load=0.1) == 2  # an idle host: torch's default, a thread per core
    assert idle_cpus(2, cpus=2, load=1.6) == 1  # two other jobs on the 2 cores
    assert idle_cpus(2, cpus=2, load=7.0) == 1  # never below 1
    assert idle_cpus(4, cpus=16, load=3.0) == 4  # never above torch's own count


def test_review_bounds_the_cost_of_the_effects_by_the_number_of_labels():
    from raymtl.analysis.tensorboard import causal_effects_all

    model = _model()
    batches = [synthetic_batch(LJP, seed=s) for s in range(6)]  # 24 examples; rap has 3 labels: 8 passes each
    full = {(e.lower, e.upper): e for e in causal_effects_all(model, batches, max_passes=None)}
    capped = {(e.lower, e.upper): e for e in causal_effects_all(model, batches, max_passes=8 * 20)}
    least = {(e.lower, e.upper): e for e in causal_effects_all(model, batches, max_passes=1)}
    # a classify lower task: every example carries exactly one label, so the counts add up to the examples
    assert full[("rap", "cp")].counts.sum() == 24
    assert capped[("rap", "cp")].counts.sum() == 20
    assert least[("rap", "cp")].counts.sum() == 16  # never fewer than 16 examples


def _padded(batch, extra: int):
    """``batch`` with ``extra`` more padding columns (tokens 0, mask False, tagging IGNORE, no relations)."""
    from dataclasses import replace

    b, t = batch.tokens.shape
    pad = lambda x, v: torch.cat([x, torch.full((b, extra, *x.shape[2:]), v, dtype=x.dtype)], 1)  # noqa: E731
    targets = {}
    for k, y in batch.targets.items():
        if y.dim() == 4:  # relation [B, T, T, R]
            z = torch.zeros(b, t + extra, t + extra, y.shape[-1], dtype=y.dtype)
            z[:, :t, :t] = y
            targets[k] = z
        else:
            targets[k] = pad(y, IGNORE) if y.dim() == 2 and y.shape[1] == t and y.dtype == torch.long else y
    return replace(batch, tokens=pad(batch.tokens, 0), mask=pad(batch.mask, False), targets=targets)


@pytest.mark.parametrize("tasks,lower,upper", [(ABSA, "ate", "acd"), (JERE, "ner", "re"), (LJP, "rap", "cp")])
def test_observed_effects_do_not_depend_on_the_padding(tasks, lower, upper):
    """The observed estimator runs each label's counterfactuals on the rows carrying it, cut to their
    longest length: the padding of the batch must not change a figure."""
    model = _model("cmtl", tasks)
    batch = synthetic_batch(tasks, lengths=(9, 2, 5, 3, 7), seed=4)
    plain = estimate_causal_effects(model, [batch], lower, upper)
    padded = estimate_causal_effects(model, [_padded(batch, 6)], lower, upper)
    assert plain.counts.sum() > 0 and torch.equal(plain.counts, padded.counts)
    assert torch.allclose(plain.effects, padded.effects, atol=1e-5)
