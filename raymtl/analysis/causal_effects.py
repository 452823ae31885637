"""Causal effects of a trained causal-mtl model (causal-mtl eq. 10-11). Ray-free.

Label effects (eq. 10): intervene on the label of a lower task ``m`` that the model transfers to
its upper tasks (``do(Y^m = a)``: the transferred label is replaced, through the label-transfer
LSTM it reaches both the encoders — indirect path — and the predictors — direct path) and measure
the change of the upper task's predicted probability of each label ``b``:

    Psi(a, b) = E[ f(b | a, H^n(a)) ] - E[ f(b | a', H^n(a')) ],   a' a counterfactual value != a

The expectation over the counterfactual ``a'`` is exact (uniform over the other labels) rather than
sampled. Two ways to choose the examples (``subset``):

- ``observed`` (default; the paper's reading): the units (tokens, or the sentence) whose observed
  lower label is ``a`` — the gold label where the example carries the task, else the model's
  prediction — are switched to ``a'``; the factual term is the model with the observed labels.
  Averaged over the examples that contain ``a``.
- ``all``: every example, every unit set to ``a`` (multi-label: the set ``{a}``) versus to ``a'``.

Sum rules: with a softmax upper task (classify, tagging) every row sums to 0 over ``b``; with
``subset="all"`` every column sums to 0 over ``a`` as well.

The upper task's probability ``f(b | X)``: classify — softmax; multilabel — sigmoid; tagging — the
mean over tokens of the softmax (expected share of tokens labelled ``b``); relation — the maximum
over token pairs of the sigmoid (probability that the sentence holds a ``b`` relation).

N-gram effects (eq. 11): ``psi(x_g, b) = f(b | X) - f(b | X with x_g masked)``, the n-gram's words
replaced by the unknown token (positions kept), lower labels predicted by the model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable

import torch

from raymtl.data.batch import Batch
from raymtl.models.base import StepContext


@dataclass
class CausalEffects:
    lower: str
    upper: str
    effects: torch.Tensor  # [L_lower, L_upper]
    lower_labels: list[str]
    upper_labels: list[str]
    counts: torch.Tensor  # [L_lower]: examples averaged per row

    def table(self, threshold: float = 1e-3) -> list[tuple[str, str, float]]:
        """(lower label, upper label, effect) with |effect| >= threshold, largest first."""
        rows = [(self.lower_labels[a], self.upper_labels[b], float(self.effects[a, b]))
                for a in range(self.effects.shape[0]) for b in range(self.effects.shape[1])
                if abs(float(self.effects[a, b])) >= threshold]
        return sorted(rows, key=lambda r: -abs(r[2]))


def upper_probability(kind: str, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``f(b | X)`` per example ``[B, L]`` for an upper task of ``kind`` (see the module docstring)."""
    if kind == "classify":
        return torch.softmax(logits, -1)
    if kind == "multilabel":
        return torch.sigmoid(logits)
    if kind == "tagging":
        p = torch.softmax(logits, -1) * mask.unsqueeze(-1).to(logits.dtype)
        return p.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(logits.dtype)
    if kind == "relation":
        pm = (mask.unsqueeze(2) & mask.unsqueeze(1)).unsqueeze(-1)
        return (torch.sigmoid(logits) * pm.to(logits.dtype)).flatten(1, 2).amax(1)
    raise ValueError(f"unknown task kind {kind!r}")


def _check(model, lower: str, upper: str) -> None:
    if not getattr(model, "lt", False) or not hasattr(model, "run"):
        raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} has no label transfer: "
                         "causal effects of labels need a causal-mtl model with label transfer (hmtl_lt, cmtl*)")
    chain = list(model.chain)
    for t in (lower, upper):
        if t not in chain:
            raise ValueError(f"unknown task {t!r}; the model's chain is {chain}")
    if chain.index(lower) >= chain.index(upper):
        raise ValueError(f"task {lower!r} is not below {upper!r} in the chain {chain}")


def _observed(model, lower: str, logits: torch.Tensor, batch: Batch, label_source: str) -> torch.Tensor:
    from raymtl.models.architectures._causal_common import gold_transfer, token_transfer

    task = model.tasks[lower]
    pred = token_transfer(task.kind, model.heads[lower].hard(logits, batch.mask), batch.mask)
    if label_source == "gold" and lower in batch.targets:
        gold = gold_transfer(task, batch.targets[lower], batch.mask).to(pred.dtype)
        present = batch.present[lower].view(-1, *([1] * (gold.dim() - 1)))
        return torch.where(present, gold, pred)
    if label_source not in ("gold", "predicted"):
        raise ValueError(f"label_source: expected gold or predicted, got {label_source!r}")
    return pred


def passes_per_example(num_lower_labels: int, subset: str) -> int:
    """Forward passes :func:`estimate_causal_effects` makes over an example (its cost unit)."""
    n = num_lower_labels
    return n * (n - 1) + 2 if subset == "observed" else n + 1


@torch.no_grad()
def estimate_causal_effects(model, batches: Iterable[Batch], lower: str, upper: str, *, subset: str = "observed",
                            label_source: str = "gold", ctx: StepContext | None = None,
                            max_examples: int | None = None,
                            progress: Callable[[int], None] | None = None) -> CausalEffects:
    """Average causal effects ``Psi(a, b)`` of lower-task labels on upper-task labels (causal-mtl eq. 10),
    over the first ``max_examples`` examples of ``batches`` (None: all). ``progress`` is called after
    each batch with the number of examples done so far."""
    _check(model, lower, upper)
    if subset not in ("observed", "all"):
        raise ValueError(f"subset: expected observed or all, got {subset!r}")
    ctx = ctx or StepContext(training=False, gold_labels=False)
    lo, up = model.tasks[lower], model.tasks[upper]
    n_lo, n_up = lo.num_labels, up.num_labels
    total = torch.zeros(n_lo, n_up, dtype=torch.float64)
    counts = torch.zeros(n_lo, dtype=torch.float64)
    kinds = {k: t.kind for k, t in model.tasks.items()}
    was_training = model.training
    model.eval()
    seen = 0
    try:
        for batch in batches:
            if max_examples is not None:
                if seen >= max_examples:
                    break
                if seen + batch.size > max_examples:
                    batch = _rows(batch, list(range(max_examples - seen)))
            seen += batch.size
            if progress is not None and seen > batch.size:  # the batch before this one is done
                progress(seen - batch.size)
            mask = batch.mask

            def f(y: torch.Tensor, b: Batch = batch) -> torch.Tensor:
                logits = model.run(b, ctx, forced={lower: y})[upper]
                return upper_probability(up.kind, logits, b.mask).double()

            base_logits = model.run(batch, ctx)
            y_obs = _observed(model, lower, base_logits[lower], batch, label_source)
            token_level = y_obs.dim() == 3
            units = mask if token_level else torch.ones(mask.shape[0], dtype=torch.bool, device=mask.device)
            if subset == "all":
                probs = []
                for a in range(n_lo):
                    y = torch.zeros_like(y_obs)
                    y[..., a] = 1.0
                    probs.append(f(y * units.unsqueeze(-1).to(y.dtype)))  # do(Y^m = a)
                p = torch.stack(probs)  # [L_lo, B, L_up]
                cf = (p.sum(0, keepdim=True) - p) / max(n_lo - 1, 1)  # E over a' != a
                total += (p - cf).sum(1).cpu()  # causal-mtl eq. 10
                counts += mask.shape[0]
                continue
            p_fact = f(y_obs)
            for a in range(n_lo):
                has_a = (y_obs[..., a] > 0.5) & units  # units carrying label a
                sel = has_a.any(-1) if token_level else has_a
                if not sel.any():
                    continue
                # only the examples that carry a are averaged: run the counterfactuals on those rows alone
                # (cut to their own longest length: a pairwise upper head costs the square of the padding)
                rows = sel.nonzero().flatten().tolist()
                width = int(mask[sel].sum(1).max())
                sub = _trim(batch if len(rows) == batch.size else _rows(batch, rows), width, kinds)
                y_a, has = y_obs[sel], has_a[sel]
                if token_level:
                    y_a, has = y_a[:, :width], has[:, :width]
                cf = torch.zeros_like(p_fact[sel])
                for a2 in range(n_lo):
                    if a2 == a:
                        continue
                    y = y_a.clone()
                    y[..., a] = torch.where(has, torch.zeros_like(y[..., a]), y[..., a])  # do(Y^m = a')
                    y[..., a2] = torch.where(has, torch.ones_like(y[..., a2]), y[..., a2])
                    cf += f(y, sub)
                cf /= max(n_lo - 1, 1)
                total[a] += (p_fact[sel] - cf).sum(0).cpu()  # causal-mtl eq. 10
                counts[a] += int(sel.sum())
        if progress is not None and seen:
            progress(seen)
    finally:
        model.train(was_training)
    effects = (total / counts.clamp(min=1).unsqueeze(1)).float()
    return CausalEffects(lower, upper, effects, list(lo.labels), list(up.labels), counts.float())


def _rows(batch: Batch, index: list[int]) -> Batch:
    idx = torch.as_tensor(index, dtype=torch.long)
    sel = lambda t: t[idx.to(t.device)] if t is not None else None  # noqa: E731
    return replace(batch, ids=[batch.ids[i] for i in index], words=[list(batch.words[i]) for i in index],
                   tokens=sel(batch.tokens), mask=sel(batch.mask),
                   targets={k: sel(v) for k, v in batch.targets.items()},
                   present={k: sel(v) for k, v in batch.present.items()},
                   pair_words=[batch.pair_words[i] for i in index] if batch.pair_words is not None else None,
                   pair_tokens=sel(batch.pair_tokens), pair_mask=sel(batch.pair_mask))


def _trim(batch: Batch, width: int, kinds: dict[str, str]) -> Batch:
    """``batch`` with its token axes cut to ``width`` (the padding beyond its longest example)."""
    if width >= batch.tokens.shape[1]:
        return batch
    cut = {"tagging": lambda t: t[:, :width], "relation": lambda t: t[:, :width, :width]}
    return replace(batch, words=[w[:width] for w in batch.words], tokens=batch.tokens[:, :width],
                   mask=batch.mask[:, :width],
                   targets={k: cut.get(kinds.get(k, ""), lambda t: t)(v) for k, v in batch.targets.items()})


@torch.no_grad()
def ngram_effects(model, batch: Batch, upper: str, *, n: int = 4, unk_id: int = 1, unk_word: str = "[UNK]",
                  ctx: StepContext | None = None) -> list[tuple[list[tuple[int, int]], torch.Tensor]]:
    """Per example: (n-gram spans ``[start, end)``, ``psi [num_spans, L_upper]``) (causal-mtl eq. 11)."""
    if upper not in model.tasks:
        raise ValueError(f"unknown task {upper!r}; tasks: {sorted(model.tasks)}")
    ctx = ctx or StepContext(training=False, gold_labels=False)
    kind = model.tasks[upper].kind
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(batch.size):
            length = int(batch.mask[i].sum())
            spans = [(s, min(s + n, length)) for s in range(max(length - n + 1, 1))]
            rows = _rows(batch, [i] * (len(spans) + 1))
            for r, (s, e) in enumerate(spans, start=1):  # row 0 stays the original text
                rows.tokens[r, s:e] = unk_id
                rows.words[r][s:e] = [unk_word] * (e - s)
            logits = model.run(rows, ctx)[upper]
            p = upper_probability(kind, logits, rows.mask)
            out.append((spans, (p[0:1] - p[1:]).float()))  # causal-mtl eq. 11
    finally:
        model.train(was_training)
    return out
