"""Figures for reviewing models and searches (matplotlib, Agg backend; no display needed).

Every function returns a :class:`matplotlib.figure.Figure` built with the object API (no pyplot
state), so figures can be drawn from worker processes and threads. :func:`png_bytes` renders one
to PNG; ``SummaryWriter.add_figure`` takes them as they are.
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.figure import Figure  # noqa: E402

MAX_TICKS = 60  # label axes with more entries than this are drawn without tick labels


def new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _short(label: str, n: int = 24) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def heatmap(matrix: Any, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "",
            xlabel: str = "", ylabel: str = "", diverging: bool = False, annotate: bool | None = None,
            fmt: str = "{:.2f}", cmap: str | None = None) -> Figure:
    """A labelled heatmap of a 2-D array. ``diverging``: a colour scale centred on 0 (effects)."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"heatmap: expected a 2-D matrix, got shape {m.shape}")
    rows, cols = m.shape
    fig = new_figure(min(2.0 + 0.45 * cols, 16.0) + 1.5, min(1.5 + 0.35 * rows, 14.0) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    finite = m[np.isfinite(m)]
    if diverging:
        lim = float(np.abs(finite).max()) if finite.size else 1.0
        lim = lim or 1.0
        im = ax.imshow(m, cmap=cmap or "RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    else:
        im = ax.imshow(m, cmap=cmap or "viridis", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if cols <= MAX_TICKS:
        ax.set_xticks(range(cols))
        ax.set_xticklabels([_short(str(c)) for c in col_labels], rotation=60, ha="right", fontsize=8)
    if rows <= MAX_TICKS:
        ax.set_yticks(range(rows))
        ax.set_yticklabels([_short(str(r)) for r in row_labels], fontsize=8)
    if annotate is None:
        annotate = rows * cols <= 150
    if annotate and finite.size:
        for i in range(rows):
            for j in range(cols):
                v = m[i, j]
                if math.isfinite(v):
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="black",
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.5})
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def confusion_figure(counts: Any, labels: Sequence[str], *, title: str = "", normalize: bool = True) -> Figure:
    """Gold (rows) × predicted (columns); ``normalize``: each row divided by its total (recall)."""
    import numpy as np

    c = np.asarray(counts, dtype=float)
    shown = c / np.clip(c.sum(1, keepdims=True), 1, None) if normalize else c
    return heatmap(shown, labels, labels, title=title + (" (row-normalised)" if normalize else ""),
                   xlabel="predicted", ylabel="gold", fmt="{:.2f}" if normalize else "{:.0f}", cmap="Blues")


def learning_curves(history: Sequence[Mapping[str, Any]], *, title: str = "") -> Figure:
    """Train losses (left) and dev main metrics per task (right) against the epoch."""
    fig = new_figure(11.0, 4.2)
    ax_l, ax_r = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    keys = sorted({k for h in history for k in h})
    loss_keys = [k for k in keys if k == "train/loss" or k.startswith("train/loss/")]
    dev_keys = [k for k in keys if k.startswith("dev/") and k.endswith("/main")]
    for k in loss_keys:
        ax_l.plot(epochs, [_num(h.get(k)) for h in history], marker="o", ms=3,
                  label="total" if k == "train/loss" else k[len("train/loss/"):], lw=2 if k == "train/loss" else 1)
    for k in dev_keys:
        ax_r.plot(epochs, [_num(h.get(k)) for h in history], marker="o", ms=3, label=k[4:-5] or k)
    if "dev_score" in keys and not dev_keys:
        ax_r.plot(epochs, [_num(h.get("dev_score")) for h in history], marker="o", label="dev score")
    ax_l.set(xlabel="epoch", ylabel="train loss", title="training loss")
    ax_r.set(xlabel="epoch", ylabel="dev main metric", title="dev metrics")
    for ax in (ax_l, ax_r):
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def weight_curves(history: Sequence[Mapping[str, Any]], *, title: str = "") -> Figure:
    """Each task's mean loss weight per epoch (the loop's ``weighting/<task>``)."""
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    for k in sorted({k for h in history for k in h if k.startswith("weighting/")}):
        ax.plot(epochs, [_num(h.get(k)) for h in history], marker="o", ms=3, label=k[len("weighting/"):])
    ax.set(xlabel="epoch", ylabel="mean loss weight", title=title or "loss weight per task")
    if ax.lines:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def best_so_far(scores: Sequence[float], *, mode: str = "max", metric: str = "score",
                labels: Sequence[str] | None = None) -> Figure:
    """Each trial's score (dots, in trial order) and the best so far (step line)."""
    fig = new_figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    xs, best, cur = [], [], None
    for i, s in enumerate(scores):
        xs.append(i + 1)
        if s is not None and math.isfinite(s):
            cur = s if cur is None else (max(cur, s) if mode == "max" else min(cur, s))
        best.append(float("nan") if cur is None else cur)
    ax.scatter(xs, [_num(s) for s in scores], s=18, color="tab:blue", alpha=0.7, label="trial")
    ax.step(xs, best, where="post", color="tab:red", lw=2, label="best so far")
    ax.set(xlabel="trial (in order of creation)", ylabel=metric, title=f"best {metric} so far ({mode})")
    if labels is not None and len(labels) <= 30:
        ax.set_xticks(xs)
        ax.set_xticklabels([_short(str(x), 12) for x in labels], rotation=60, ha="right", fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def bar_chart(values: Mapping[str, float], *, title: str = "", xlabel: str = "") -> Figure:
    """Horizontal bars, largest on top (e.g. parameter importances)."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig = new_figure(7.0, 1.2 + 0.35 * max(len(items), 1))
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.barh([_short(k, 40) for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)  # the numbers a table beside it prints
    ax.margins(x=0.15)
    ax.set(title=title, xlabel=xlabel)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
