"""Mergeable dev/test metrics for the four task kinds (DESIGN.md, "Task kinds").

Every accumulator keeps integer counts only (tp/fp/fn, confusion matrices), so DDP ranks can
exchange :meth:`MetricTracker.state` (plain Python numbers) with ``all_gather_object`` and
:meth:`MetricTracker.merge` them by summation; ratios are formed once, on the merged counts.
Computing P/R/F1 per rank and averaging would be wrong (ranks hold different amounts of data).

Metric names per kind (``compute()`` keys are ``<task key>/<name>``):
- tagging: ``p``, ``r``, ``f1`` (exact span match, micro), ``f1_macro`` (the mean over entity types of
  their F1) and ``acc`` (token accuracy); with ``TaskSpec.metric == "acc"`` (POS, chunk tags without
  BIO) only ``acc``.
- relation: ``p``, ``r``, ``f1`` strict (Bekoulis et al. 2018: both entities' spans and types and the
  relation type right) when the entity-tagging task is tracked beside it (``strict_entities``), with
  ``f1_macro`` (strict, the mean over relation types of their F1: Bekoulis et al.'s CoNLL04 figures)
  and ``*_boundaries`` the lenient (head token, tail token, type) figures; without it only the lenient one.
- multilabel: ``p``, ``r``, ``f1`` over (example, label) pairs.
- classify: ``acc``, ``error``, ``p_macro``, ``r_macro``, ``f1_macro``, and where the label set
  allows it the task-specific ``f1_fa`` (stance), ``rho_pn`` (topic-2), ``mae_m`` (topic-5). Stance
  also gets ``f1_fa_no_none`` when the model gives its logits (``ModelOutput.scores``): ``f1_fa`` of
  the decision that never answers NONE (the argmax over FAVOR and AGAINST only), the post-processing
  the released disparate-label-spaces code defines for the unseen target (``postproc_stance``). It is
  reported beside ``f1_fa``, never in place of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import torch

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.data.tagging import seqeval_tags
from raymtl.errors import ConfigError

State = dict[str, Any]

# Metrics where lower is better; everything else is maximised.
LOWER_IS_BETTER = frozenset({"error", "mae_m", "loss"})


def metric_mode(name: str) -> Literal["min", "max"]:
    """``"min"`` or ``"max"`` for a metric name (the part after the last ``/``)."""
    return "min" if name.rsplit("/", 1)[-1] in LOWER_IS_BETTER else "max"


def main_metric_name(task: TaskSpec) -> str:
    """The task's main dev metric: ``TaskSpec.metric`` or f1 (tagging/relation/multilabel) / acc (classify)."""
    return task.default_metric


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Micro precision, recall, F1; 0 when undefined (no predictions / no gold), like seqeval."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


Span = tuple[str, int, int]  # (type, first token, last token), as seqeval's get_entities


def spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of one tag sequence (BIO/IOB2, also BIOES; BILOU read as BIOES), by the chunk rules of
    conlleval and seqeval's default mode (``seqeval.metrics.sequence_labeling.get_entities``).

    Ill-formed ``I-`` tags (after ``O`` or another type) open a new entity, so span counts equal
    ``seqeval.metrics.f1_score(y_true, y_pred)`` (tests/test_metrics.py checks it against seqeval).
    Written out rather than imported: ``seqeval.metrics`` imports scikit-learn, scipy and pandas, 1.5 s
    of every trial and worker process's start on a 2-core machine, for these few lines.
    """
    out: list[Span] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, tag_type in enumerate([*seqeval_tags(tags), "O"]):
        tag, typ = tag_type[0], tag_type[1:].split("-", 1)[-1] or "_"
        # a chunk ends after E or S, before B, S or O, or where the type changes
        if prev_tag in "ES" or (prev_tag in "BI" and tag in "BSO") or (prev_tag not in "O." and prev_type != typ):
            out.append((prev_type, begin, i - 1))
        # and starts at B or S, at an E or I that does not continue one, or where the type changes
        if tag in "BS" or (prev_tag in "ESO" and tag in "EI") or (tag not in "O." and prev_type != typ):
            begin = i
        prev_tag, prev_type = tag, typ
    return out


def entity_types(labels: Sequence[str]) -> list[str]:
    """The entity types of a BIO/BIOES/BILOU tag set, in a fixed order (``B-Peop`` -> ``Peop``)."""
    return sorted({lab.split("-", 1)[1] for lab in labels if "-" in lab})


def macro_f1(per_type: Sequence[Sequence[int]]) -> float:
    """The mean F1 over types ``[[tp, fp, fn], ...]``; a type with no gold and no predicted instance
    is left out (it has no F1)."""
    f1s = [prf(tp, fp, fn)[2] for tp, fp, fn in per_type if tp + fp + fn]
    return sum(f1s) / len(f1s) if f1s else 0.0


def _valid_rows(target: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
    rows = torch.ones(target.shape[0], dtype=torch.bool, device=target.device)
    return rows if present is None else rows & present.to(torch.bool)


# --------------------------------------------------------------------------- per-kind counts

def tagging_counts(task: TaskSpec, prediction: torch.Tensor, target: torch.Tensor,
                   present: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> State:
    """tp/fp/fn of exact spans plus correct/total tokens; positions with target IGNORE are skipped."""
    valid = target != IGNORE
    if mask is not None:
        valid &= mask.to(torch.bool)
    valid &= _valid_rows(target, present)[:, None]
    correct = int(((prediction == target) & valid).sum())
    out: State = {"correct": correct, "total": int(valid.sum())}
    if task.default_metric == "acc":
        return out
    tp = fp = fn = 0
    labels = task.labels
    types = {t: i for i, t in enumerate(entity_types(labels))}
    per_type = [[0, 0, 0] for _ in types]  # [tp, fp, fn] per entity type, for f1_macro
    pred_l, gold_l, valid_l = prediction.tolist(), target.tolist(), valid.tolist()
    for p_row, g_row, v_row in zip(pred_l, gold_l, valid_l):
        if not any(v_row):
            continue
        gold = set(spans([labels[g] for g, v in zip(g_row, v_row) if v]))
        pred = set(spans([labels[p] for p, v in zip(p_row, v_row) if v]))
        hit, extra, miss = gold & pred, pred - gold, gold - pred
        tp, fp, fn = tp + len(hit), fp + len(extra), fn + len(miss)
        for k, found in enumerate((hit, extra, miss)):
            for span in found:
                if span[0] in types:
                    per_type[types[span[0]]][k] += 1
    out.update(tp=tp, fp=fp, fn=fn, types=per_type)
    return out


def relation_counts(prediction: torch.Tensor, target: torch.Tensor, present: torch.Tensor | None = None,
                    mask: torch.Tensor | None = None) -> State:
    """tp/fp/fn of (head token, tail token, type) triples from ``[B, T, T, R]`` tensors.

    Boundary choice: in multi-head selection (causal-mtl eq. 14, Bekoulis et al. 2018) a triple
    links the *last tokens* of the two entities, so a match on (head token, tail token, type) is
    exact on the entities' last tokens and on the relation type but says nothing of the entity
    starts or entity types. Use :func:`relation_counts_strict` to also require both predicted
    entity spans (from the tagging task) to equal the gold ones ("strict" evaluation).
    """
    gold = target > 0.5
    pred = prediction.to(torch.bool)
    valid = _valid_rows(target, present)[:, None, None, None].expand_as(gold)
    if mask is not None:
        m = mask.to(torch.bool)
        valid = valid & (m[:, :, None] & m[:, None, :])[..., None]
    return {"tp": int((pred & gold & valid).sum()), "fp": int((pred & ~gold & valid).sum()),
            "fn": int((~pred & gold & valid).sum())}


def relation_counts_strict(prediction: torch.Tensor, target: torch.Tensor, pred_tags: torch.Tensor,
                           gold_tags: torch.Tensor, tag_labels: Sequence[str],
                           present: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> State:
    """Like :func:`relation_counts`, but a predicted triple is correct only when, in addition, the
    predicted entity ending at its head token and the one ending at its tail token have the same
    span and type as the gold entities ending there (Bekoulis et al.'s "strict" setting)."""
    gold = (target > 0.5).clone()
    pred = prediction.to(torch.bool).clone()
    rows = _valid_rows(target, present)
    if mask is not None:
        m = mask.to(torch.bool)
        pair = (m[:, :, None] & m[:, None, :])[..., None]
        gold &= pair
        pred &= pair
    tp = fp = fn = 0
    per_type = [[0, 0, 0] for _ in range(target.shape[-1])]  # [tp, fp, fn] per relation type, for f1_macro
    for b in range(target.shape[0]):
        if not rows[b]:
            continue
        g_trip = {tuple(x) for x in gold[b].nonzero().tolist()}
        p_trip = {tuple(x) for x in pred[b].nonzero().tolist()}
        n = int((gold_tags[b] != IGNORE).sum())
        g_ent = {e: (t, s) for t, s, e in spans([tag_labels[i] for i in gold_tags[b, :n].tolist()])}
        p_ent = {e: (t, s) for t, s, e in spans([tag_labels[i] for i in pred_tags[b, :n].tolist()])}
        ok = {(h, t, r) for h, t, r in p_trip & g_trip
              if h in g_ent and t in g_ent and p_ent.get(h) == g_ent[h] and p_ent.get(t) == g_ent[t]}
        extra, miss = p_trip - ok, g_trip - ok
        tp, fp, fn = tp + len(ok), fp + len(extra), fn + len(miss)
        for k, found in enumerate((ok, extra, miss)):
            for _h, _t, r in found:
                per_type[r][k] += 1
    return {"tp": tp, "fp": fp, "fn": fn, "types": per_type}


def multilabel_counts(prediction: torch.Tensor, target: torch.Tensor,
                      present: torch.Tensor | None = None) -> State:
    """tp/fp/fn over (example, label) pairs of ``[B, L]`` tensors; rows not present are skipped."""
    gold = target > 0.5
    pred = prediction.to(torch.bool)
    rows = _valid_rows(target, present)[:, None]
    return {"tp": int((pred & gold & rows).sum()), "fp": int((pred & ~gold & rows).sum()),
            "fn": int((~pred & gold & rows).sum())}


def classify_counts(num_labels: int, prediction: torch.Tensor, target: torch.Tensor,
                    present: torch.Tensor | None = None) -> State:
    """Confusion matrix ``confusion[gold][pred]`` (nested lists) of the present, labelled examples."""
    keep = (target != IGNORE) & _valid_rows(target, present)
    g, p = target[keep].long().cpu(), prediction[keep].long().cpu()
    cm = torch.zeros(num_labels * num_labels, dtype=torch.long)
    cm.index_add_(0, g * num_labels + p, torch.ones_like(g))
    return {"confusion": cm.view(num_labels, num_labels).tolist()}


def stance_labels(labels: Sequence[str]) -> tuple[int, int, int | None] | None:
    """(FAVOR, AGAINST, NONE or None) indices when the label set is a stance one, else None."""
    low = [lab.lower() for lab in labels]
    fav = [i for i, lab in enumerate(low) if lab.startswith(("favor", "favour"))]
    ag = [i for i, lab in enumerate(low) if lab.startswith("against")]
    if not (fav and ag):
        return None
    return fav[0], ag[0], next((i for i, lab in enumerate(low) if lab == "none"), None)


def classify_counts_no_none(none: int, scores: torch.Tensor, target: torch.Tensor,
                            present: torch.Tensor | None = None) -> State:
    """The confusion matrix of the decision that never predicts class ``none``: argmax over the others."""
    masked = scores.float().clone()
    masked[:, none] = float("-inf")
    return {"confusion_no_none": classify_counts(scores.shape[-1], masked.argmax(-1), target, present)["confusion"]}


def classify_metrics(confusion: Sequence[Sequence[int]], labels: Sequence[str],
                     want: Sequence[str] = ()) -> dict[str, float]:
    """acc, error, macro P/R/F1 and the task-specific metrics of disparate-label-spaces Table 1.

    Macro averages run over the classes seen in gold or predictions (scikit-learn's default),
    so a class absent from a small dev split does not pull the average down with a 0.
    """
    n = len(confusion)
    total = sum(map(sum, confusion))
    tp = [confusion[i][i] for i in range(n)]
    gold_n = [sum(confusion[i]) for i in range(n)]
    pred_n = [sum(confusion[i][j] for i in range(n)) for j in range(n)]
    prec = [tp[i] / pred_n[i] if pred_n[i] else 0.0 for i in range(n)]
    rec = [tp[i] / gold_n[i] if gold_n[i] else 0.0 for i in range(n)]
    f1 = [2 * tp[i] / (gold_n[i] + pred_n[i]) if gold_n[i] + pred_n[i] else 0.0 for i in range(n)]
    seen = [i for i in range(n) if gold_n[i] or pred_n[i]]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    acc = sum(tp) / total if total else 0.0
    out = {"acc": acc, "error": 1.0 - acc if total else 0.0, "p_macro": mean([prec[i] for i in seen]),
           "r_macro": mean([rec[i] for i in seen]), "f1_macro": mean([f1[i] for i in seen])}
    low = [lab.lower() for lab in labels]
    stance = stance_labels(labels)
    if stance is not None:  # stance: F1^FA = mean F1 of FAVOR and AGAINST
        out["f1_fa"] = (f1[stance[0]] + f1[stance[1]]) / 2
    pos = [i for i, lab in enumerate(low) if lab.startswith("pos")]
    neg = [i for i, lab in enumerate(low) if lab.startswith("neg")]
    if pos and neg:  # topic-2: rho^PN = mean recall of positive and negative
        out["rho_pn"] = (rec[pos[0]] + rec[neg[0]]) / 2
    if "mae_m" in want or (labels and all(lab.lstrip("+-").isdigit() for lab in labels)):
        # topic-5: MAE^M = mean over gold classes of the mean |pred - gold| distance of label
        # indices (labels ordered on the ordinal scale); only meaningful for ordinal label sets.
        maes = [sum(confusion[i][j] * abs(i - j) for j in range(n)) / gold_n[i] for i in range(n) if gold_n[i]]
        out["mae_m"] = mean(maes)
    return out


def metric_names(task: TaskSpec) -> tuple[str, ...]:
    """Names ``compute()`` can produce for a task (classify task-specific ones only if applicable)."""
    if task.kind == "tagging":
        return ("acc",) if task.default_metric == "acc" else ("p", "r", "f1", "f1_macro", "acc")
    if task.kind == "relation":
        return ("p", "r", "f1", "f1_macro", "p_boundaries", "r_boundaries", "f1_boundaries")
    if task.kind == "multilabel":
        return ("p", "r", "f1")
    dummy = [[0] * task.num_labels for _ in range(task.num_labels)]
    return tuple(classify_metrics(dummy, task.labels, want=(task.default_metric,)))


# --------------------------------------------------------------------------- tracker

def _add(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: _add(a[k], b[k]) if k in b else a[k] for k in a} | {k: v for k, v in b.items() if k not in a}
    if isinstance(a, list):
        if len(a) != len(b):
            raise ValueError(f"cannot merge metric states of different shapes ({len(a)} vs {len(b)})")
        return [_add(x, y) for x, y in zip(a, b)]
    return a + b


@dataclass
class MetricTracker:
    """Accumulates counts per task key over an evaluation pass; mergeable across DDP ranks.

    ``tasks``: a list of specs (keys are the spec names) or a mapping task key -> spec (keys like
    ``semeval16-stance:stance`` when datasets are mixed). ``strict_entities`` maps a relation task
    key to the tagging task key whose spans must also match (:func:`relation_counts_strict`);
    it is used by :meth:`update_batch`, which sees both tasks' predictions.
    """

    tasks: Sequence[TaskSpec] | Mapping[str, TaskSpec]
    strict_entities: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.specs: dict[str, TaskSpec] = (dict(self.tasks) if isinstance(self.tasks, Mapping)
                                           else {t.name: t for t in self.tasks})
        for key, t in self.specs.items():
            if main_metric_name(t) not in metric_names(t):
                raise ConfigError(f"task {key!r} ({t.kind}): metric {t.metric!r} is not one of "
                                  f"{', '.join(metric_names(t))}", key=f"tasks.{key}.metric")
        for rel, tag in (self.strict_entities or {}).items():
            if self.specs.get(rel) is None or self.specs[rel].kind != "relation":
                raise ConfigError(f"strict_entities: {rel!r} is not a relation task", key="strict_entities")
            if self.specs.get(tag) is None or self.specs[tag].kind != "tagging":
                raise ConfigError(f"strict_entities: {tag!r} is not a tagging task", key="strict_entities")
        self._state: State = {}
        # stance tasks' NONE index, read once: f1_fa_no_none masks it in every evaluated batch
        self._none = {k: (st[2] if (st := stance_labels(t.labels)) else None) for k, t in self.specs.items()
                      if t.kind == "classify"}

    def reset(self) -> None:
        self._state = {}

    def _spec(self, key: str) -> TaskSpec:
        try:
            return self.specs[key]
        except KeyError:
            raise KeyError(f"unknown task key {key!r}; known: {', '.join(self.specs)}") from None

    def _accumulate(self, key: str, counts: State) -> None:
        self._state[key] = _add(self._state[key], counts) if key in self._state else counts

    @torch.no_grad()
    def update(self, task_key: str, prediction: torch.Tensor, target: torch.Tensor,
               present: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               scores: torch.Tensor | None = None) -> None:
        """Add one batch of one task (tensors as in ``raymtl.data.batch`` / ``MTLModel``); ``scores``:
        a classify task's logits ``[B, L]``, for the metrics of other decision rules (``f1_fa_no_none``)."""
        spec = self._spec(task_key)
        prediction, target = prediction.detach().cpu(), target.detach().cpu()
        present = present.detach().cpu() if present is not None else None
        mask = mask.detach().cpu() if mask is not None else None
        if spec.kind == "tagging":
            counts = tagging_counts(spec, prediction, target, present, mask)
        elif spec.kind == "relation":
            counts = relation_counts(prediction, target, present, mask)
        elif spec.kind == "multilabel":
            counts = multilabel_counts(prediction, target, present)
        else:
            counts = classify_counts(spec.num_labels, prediction, target, present)
            none = self._none.get(task_key)
            if scores is not None and none is not None:
                counts |= classify_counts_no_none(none, scores.detach().cpu(), target, present)
        self._accumulate(task_key, counts)

    @torch.no_grad()
    def update_batch(self, predictions: Mapping[str, torch.Tensor], batch: Batch,
                     scores: Mapping[str, torch.Tensor] | None = None) -> None:
        """Add every tracked task that has both a prediction and a target in ``batch`` (``scores``:
        ``ModelOutput.scores``, classify logits per task key)."""
        for key in self.specs:
            if key not in predictions or key not in batch.targets:
                continue
            tag_key = (self.strict_entities or {}).get(key)
            if tag_key is not None and tag_key in predictions and tag_key in batch.targets:
                pred, gold = predictions[key].detach().cpu(), batch.targets[key].cpu()
                present, mask = batch.present.get(key, None), batch.mask.cpu()
                present = present.cpu() if present is not None else None
                counts = relation_counts_strict(pred, gold, predictions[tag_key].detach().cpu(),
                                                batch.targets[tag_key].cpu(), self.specs[tag_key].labels, present, mask)
                # the lenient count beside it: re/f1_boundaries
                counts.update({f"{k}_b": v for k, v in relation_counts(pred, gold, present, mask).items()})
                self._accumulate(key, counts)
            else:
                self.update(key, predictions[key], batch.targets[key], batch.present.get(key), batch.mask,
                            scores=(scores or {}).get(key))

    def state(self) -> State:
        """This rank's counts: ``{task key: {count name: int | nested list}}``, plain Python."""
        return copy.deepcopy(self._state)

    @staticmethod
    def merge(states: Sequence[State]) -> State:
        """Sum the states of several ranks (tasks missing on a rank count as zero)."""
        out: State = {}
        for s in states:
            out = _add(out, s)
        return out

    def compute(self, state: State | None = None) -> dict[str, float]:
        """``<task>/<metric>`` for every task with data, ``<task>/main`` (its main metric) and
        ``mean/main``: the mean over tasks of the main metrics, with lower-is-better ones (e.g.
        ``mae_m``) negated so ``mean/main`` is always maximised. Also ``mean/<m>`` per main metric
        name ``m`` over the tasks whose main metric is ``m``."""
        state = self._state if state is None else state
        out: dict[str, float] = {}
        mains: list[float] = []
        by_name: dict[str, list[float]] = {}
        for key, spec in self.specs.items():
            counts = state.get(key)
            if counts is None:
                continue
            if spec.kind == "classify":
                vals = classify_metrics(counts["confusion"], spec.labels, want=(main_metric_name(spec),))
                if "confusion_no_none" in counts:
                    vals["f1_fa_no_none"] = classify_metrics(counts["confusion_no_none"], spec.labels)["f1_fa"]
            else:
                vals = {}
                if "tp" in counts:
                    vals["p"], vals["r"], vals["f1"] = prf(counts["tp"], counts["fp"], counts["fn"])
                if "types" in counts:
                    vals["f1_macro"] = macro_f1(counts["types"])
                if "tp_b" in counts:
                    vals["p_boundaries"], vals["r_boundaries"], vals["f1_boundaries"] = prf(
                        counts["tp_b"], counts["fp_b"], counts["fn_b"])
                if "total" in counts:
                    vals["acc"] = counts["correct"] / counts["total"] if counts["total"] else 0.0
            for name, v in vals.items():
                out[f"{key}/{name}"] = float(v)
            main = main_metric_name(spec)
            v = float(vals[main])
            out[f"{key}/main"] = v
            by_name.setdefault(main, []).append(v)
            mains.append(-v if metric_mode(main) == "min" else v)
        for name, vs in by_name.items():
            out[f"mean/{name}"] = sum(vs) / len(vs)
        out["mean/main"] = sum(mains) / len(mains) if mains else math.nan
        return out
