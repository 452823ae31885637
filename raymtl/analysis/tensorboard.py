"""TensorBoard views of a trained model: projector embeddings and figures as images.

At the end of every run the training loop (rank 0) calls :func:`write_run_review`, which adds to
the run's ``tensorboard/`` event files:

- the label embeddings of ``MTLModel.label_embeddings()`` (causal-mtl eq. 1; the Label Embedding
  Layer of disparate-label-spaces) in the Embedding Projector, with the label names as metadata
  (tags ``label_embeddings/<task>``), and their 2-D PCA map (``review/label_map``);
- learning curves (``review/learning_curves``);
- confusion matrices per task on a few dev batches (``review/confusion/<task>``);
- graph-mtl message-passing weights: the mean α over receiving × sending tasks of CG-MTL
  (``review/alpha``) and one sentence's β (step × position) per task of SG-MTL (``review/beta/<task>``);
- causal-mtl eq. 10 effects of each lower-task label on each upper-task label of a model with label
  transfer (``review/causal_effects/<lower>_to_<upper>``).

Everything is computed on at most ``max_batches`` dev batches per stream, so it costs about as
much as one more evaluation. A failing section is logged and skipped; training never fails
because of it. ``RAYMTL_REVIEW=0`` turns it off.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from raymtl.data.batch import Batch
from raymtl.models.base import MTLModel, StepContext

IGNORE = -100


# ---- computations (model + batches -> arrays) ----------------------------------------------------
@torch.no_grad()
def confusion_matrices(model: MTLModel, batches: Iterable[Batch], ctx: StepContext | None = None
                       ) -> dict[str, tuple[np.ndarray, list[str], str]]:
    """task -> (matrix, labels, kind). classify/tagging: gold × predicted counts (tagging per token);
    multilabel: gold label × predicted label co-occurrence over examples, with a final ``(none)``
    row/column for empty sets. Relation tasks are left out."""
    ctx = ctx or StepContext(training=False, gold_labels=False)
    was_training = model.training
    model.eval()
    out: dict[str, tuple[np.ndarray, list[str], str]] = {}
    try:
        for batch in batches:
            preds = model(batch, ctx).predictions
            for name, spec in model.tasks.items():
                if spec.kind == "relation" or name not in preds or name not in batch.targets:
                    continue
                present = batch.present[name].cpu()
                if not bool(present.any()):
                    continue
                n = spec.num_labels
                extra = 1 if spec.kind == "multilabel" else 0
                if name not in out:
                    labels = list(spec.labels) + (["(none)"] if extra else [])
                    out[name] = (np.zeros((n + extra, n + extra), dtype=np.int64), labels, spec.kind)
                m = out[name][0]
                pred, gold = preds[name].cpu(), batch.targets[name].cpu()
                if spec.kind == "classify":
                    ok = present & (gold >= 0) & (pred >= 0)
                    np.add.at(m, (gold[ok].numpy(), pred[ok].clamp(max=n - 1).numpy()), 1)
                elif spec.kind == "tagging":
                    ok = batch.mask.cpu() & present.unsqueeze(1) & (gold >= 0) & (pred >= 0)
                    np.add.at(m, (gold[ok].numpy(), pred[ok].clamp(max=n - 1).numpy()), 1)
                else:  # multilabel
                    g, p = gold[present].bool().numpy(), pred[present].bool().numpy()
                    g = np.concatenate([g, ~g.any(1, keepdims=True)], 1)
                    p = np.concatenate([p, ~p.any(1, keepdims=True)], 1)
                    m += g.T.astype(np.int64) @ p.astype(np.int64)
    finally:
        model.train(was_training)
    return out


def confusion_figure_for(name: str, matrix: np.ndarray, labels: Sequence[str], kind: str):
    from raymtl.analysis.plots import confusion_figure, heatmap

    if kind == "multilabel":
        share = matrix / np.clip(matrix.sum(1, keepdims=True), 1, None)
        return heatmap(share, labels, labels, title=f"{name}: gold × predicted labels (share of co-occurrences)",
                       xlabel="predicted", ylabel="gold", cmap="Blues")
    unit = "tokens" if kind == "tagging" else "examples"
    return confusion_figure(matrix, labels, title=f"{name}: confusion over {unit}")


@torch.no_grad()
def message_weights(model: MTLModel, batch: Batch, ctx: StepContext | None = None) -> dict[str, Any]:
    """graph-mtl message-passing weights on one batch.

    ``alpha``: ``(matrix [K recv, K send], task names)`` — CG-MTL's α (eq. 6) averaged over the rows
    of each receiving task and their real time steps. ``beta``: ``{task: (matrix [L, L], words)}`` —
    SG-MTL's β (eq. 8) of the first sentence of each task (step t × position i)."""
    ctx = ctx or StepContext(training=False, gold_labels=False)
    was_training = model.training
    model.eval()
    try:
        extras = model(batch, ctx).extras
    finally:
        model.train(was_training)
    names = list(model.tasks)
    out: dict[str, Any] = {}
    if "alpha" in extras and "row_task" in extras:
        alpha = extras["alpha"].float().cpu()  # [N, T, K]
        rows_ex, rows_task = extras["row_example"].cpu(), extras["row_task"].cpu()
        mask = batch.mask.cpu()[rows_ex].float()  # [N, T]
        k_all = alpha.shape[-1]
        mat = np.full((k_all, k_all), np.nan)
        for k in range(k_all):
            sel = rows_task == k
            if sel.any():
                w = (alpha[sel] * mask[sel].unsqueeze(-1)).sum((0, 1))
                mat[k] = (w / mask[sel].sum().clamp(min=1)).numpy()
        out["alpha"] = (mat, names[:k_all])
    if "beta" in extras and "row_task" in extras:
        beta = extras["beta"].float().cpu()  # [N, T, T]
        rows_ex, rows_task = extras["row_example"].cpu(), extras["row_task"].cpu()
        per_task = {}
        for k in sorted(set(rows_task.tolist())):
            n = int((rows_task == k).nonzero()[0])
            ex = int(rows_ex[n])
            length = int(batch.mask[ex].sum())
            per_task[names[k]] = (beta[n, :length, :length].numpy(), list(batch.words[ex][:length]))
        out["beta"] = per_task
    return out


def causal_effects_all(model: MTLModel, batches: Sequence[Batch], *, max_lower_labels: int = 200,
                       max_passes: int | None = 2048, ctx: StepContext | None = None) -> list:
    """causal-mtl eq. 10 for every (lower, upper) pair of a label-transfer model's chain.

    ``subset="observed"`` (the paper's reading) when the lower task has at most 12 labels (its cost
    grows with the square of that), else ``subset="all"``; lower tasks with more than
    ``max_lower_labels`` labels are skipped. ``max_passes`` bounds the cost: a pair is estimated on
    the first ``max_passes // (forward passes per example)`` examples (at least 16; None: all), so
    that a 9-label NER below a pairwise RE head costs seconds, not minutes, at the end of a run."""
    from raymtl.analysis.causal_effects import estimate_causal_effects, passes_per_example

    if not getattr(model, "lt", False) or not hasattr(model, "run"):
        return []
    chain = list(getattr(model, "chain", []))
    out = []
    for i, lower in enumerate(chain[:-1]):
        n_lo = model.tasks[lower].num_labels
        if n_lo > max_lower_labels:
            continue
        subset = "observed" if n_lo <= 12 else "all"
        cap = None if max_passes is None else max(16, max_passes // passes_per_example(n_lo, subset))
        for upper in chain[i + 1:]:
            out.append(estimate_causal_effects(model, batches, lower, upper, subset=subset, ctx=ctx,
                                               max_examples=cap))
    return out


def effects_figure(effects) -> Any:
    """A diverging heatmap of ``CausalEffects`` (rows: lower labels a, columns: upper labels b)."""
    from raymtl.analysis.plots import heatmap

    return heatmap(effects.effects.numpy(), effects.lower_labels, effects.upper_labels, diverging=True,
                   title=f"causal effects {effects.lower} → {effects.upper} (causal-mtl eq. 10)",
                   xlabel=f"{effects.upper} label b", ylabel=f"do({effects.lower} = a)", fmt="{:+.3f}")


# ---- writing -------------------------------------------------------------------------------------
def write_label_embeddings(writer, model: MTLModel, step: int = 0) -> list[str]:
    """Every task's label embeddings into the Embedding Projector (label names as metadata)."""
    tags = []
    for task, (matrix, labels) in model.label_embeddings().items():
        mat = matrix.detach().float().cpu()
        if mat.dim() != 2 or mat.shape[0] == 0:
            continue
        tag = f"label_embeddings/{task}"
        writer.add_embedding(mat, metadata=[str(x) for x in labels], tag=tag, global_step=step)
        tags.append(tag)
    return tags


def write_model_review(writer, model: MTLModel, batches: Sequence[Batch], *, history: Sequence[Mapping[str, Any]]
                       = (), step: int = 0, ctx: StepContext | None = None,
                       log: Callable[[str], None] = print) -> list[str]:
    """Projector embeddings and review figures of ``model`` on ``batches``; returns the tags written."""
    from raymtl.analysis.plots import heatmap, learning_curves

    written: list[str] = []

    def section(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a review figure must never fail a run
            log(f"review: {name} skipped ({type(e).__name__}: {e})")

    def figure(tag: str, fig) -> None:
        writer.add_figure(tag, fig, global_step=step, close=True)
        written.append(tag)

    def embeddings() -> None:
        written.extend(write_label_embeddings(writer, model, step))
        emb = model.label_embeddings()
        if emb:
            from raymtl.analysis.label_maps import label_map_figure

            figure("review/label_map", label_map_figure(emb))

    def curves() -> None:
        if history:
            figure("review/learning_curves", learning_curves(history))

    def confusions() -> None:
        for name, (m, labels, kind) in confusion_matrices(model, batches, ctx).items():
            figure(f"review/confusion/{name}", confusion_figure_for(name, m, labels, kind))

    def messages() -> None:
        if not batches:
            return
        w = message_weights(model, batches[0], ctx)
        if "alpha" in w:
            mat, names = w["alpha"]
            figure("review/alpha", heatmap(mat, names, names, title="CG-MTL α (graph-mtl eq. 6), mean over steps",
                                           xlabel="sending task i", ylabel="receiving task k"))
        for task, (mat, words) in w.get("beta", {}).items():
            figure(f"review/beta/{task}", heatmap(mat, words, words, annotate=False,
                                                  title=f"SG-MTL β of a {task} sentence (graph-mtl eq. 8)",
                                                  xlabel="position i (shared LSTM)", ylabel="step t"))

    def effects() -> None:
        for eff in causal_effects_all(model, batches, ctx=ctx):
            figure(f"review/causal_effects/{eff.lower}_to_{eff.upper}", effects_figure(eff))

    for name, fn in (("label embeddings", embeddings), ("learning curves", curves),
                     ("confusion matrices", confusions), ("message-passing weights", messages),
                     ("causal effects", effects)):
        section(name, fn)
    writer.flush()
    return written


def eval_batches(streams, batch_size: int, max_batches: int) -> list[Batch]:
    """The first ``max_batches`` batches (in data order) of every stream."""
    out = []
    for s in streams:
        n = len(s.indices)
        for b, start in enumerate(range(0, n, batch_size)):
            if b >= max_batches:
                break
            out.append(s.batch(list(range(start, min(start + batch_size, n)))))
    return out


def write_run_review(runner, *, max_batches: int = 2) -> list[str]:
    """Called by :class:`raymtl.train.loop.Runner` at the end of a run (rank 0, best weights loaded)."""
    if runner.writer is None or os.environ.get("RAYMTL_REVIEW", "1") == "0":
        return []
    started = time.perf_counter()
    try:
        batches = [b.to(runner.device) for b in eval_batches(runner.dev_streams, runner.cfg.train.eval_batch_size,
                                                             max_batches)]
        ctx = runner.schedule.eval_context(max(runner.best_epoch, 0))
    except Exception as e:  # noqa: BLE001
        runner.log(f"review: skipped ({type(e).__name__}: {e})")
        return []
    tags = write_model_review(runner.writer, runner.core, batches, history=runner.history, step=runner.epoch,
                              ctx=ctx, log=runner.log)
    runner.log(f"review: {len(tags)} TensorBoard views (projector, figures) in {time.perf_counter() - started:.1f}s")
    return tags
