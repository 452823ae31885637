"""2-D maps of learned label embeddings (PCA), as in disparate-label-spaces' label-embedding analysis.

The label embeddings are those a model exposes through ``MTLModel.label_embeddings()``: the label
embeddings of causal-mtl eq. 1 (lower tasks of CMTL / HMTL+LT) or the Label Embedding Layer of
disparate-label-spaces (every task's labels in one space). When every task's embeddings have the
same width they are projected jointly (one space, one PCA), so labels of different tasks can be
compared; otherwise each task gets its own panel.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from raymtl.analysis.plots import new_figure

LabelEmbeddings = Mapping[str, tuple[object, Sequence[str]]]


def pca_2d(matrix: object) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``matrix`` ``[N, d]`` projected on their first two principal components.

    Returns ``(coords [N, 2], explained variance ratio [2])``; missing components (N < 3 or d < 2)
    are zero columns with ratio 0.
    """
    x = _as_numpy(matrix)
    if x.ndim != 2:
        raise ValueError(f"pca_2d: expected a 2-D matrix, got shape {x.shape}")
    x = x - x.mean(0, keepdims=True)
    coords = np.zeros((x.shape[0], 2))
    ratio = np.zeros(2)
    if x.shape[0] < 2:
        return coords, ratio
    u, s, _vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, s.shape[0])
    coords[:, :k] = u[:, :k] * s[:k]
    total = float((s ** 2).sum())
    if total > 0:
        ratio[:k] = (s[:k] ** 2) / total
    return coords, ratio


def _as_numpy(m: object) -> np.ndarray:
    if hasattr(m, "detach"):
        m = m.detach().cpu().float().numpy()  # type: ignore[union-attr]
    return np.asarray(m, dtype=np.float64)


def label_map_figure(embeddings: LabelEmbeddings, *, title: str = "label embeddings (PCA)"):
    """A scatter of every label (named) in the 2-D PCA space of its embeddings; one colour per task."""
    tasks = [(name, _as_numpy(m), list(labels)) for name, (m, labels) in embeddings.items()]
    if not tasks:
        raise ValueError("no label embeddings to map")
    widths = {m.shape[1] for _, m, _ in tasks}
    joint = len(widths) == 1
    panels = [tasks] if joint else [[t] for t in tasks]
    fig = new_figure(6.5 * len(panels), 5.5)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
               "tab:gray", "tab:olive", "tab:cyan"]
    for p, group in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        stacked = np.concatenate([m for _, m, _ in group], 0)
        coords, ratio = pca_2d(stacked)
        start = 0
        for t_index, (name, m, labels) in enumerate(group):
            xy = coords[start:start + m.shape[0]]
            start += m.shape[0]
            colour = colours[(t_index if joint else p) % len(colours)]
            ax.scatter(xy[:, 0], xy[:, 1], s=22, color=colour, label=name)
            if len(labels) <= 80:
                for (x, y), lab in zip(xy, labels):
                    ax.annotate(str(lab), (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
        ax.set_title(title if joint else f"{group[0][0]}: {title}", fontsize=10)
        ax.grid(alpha=0.3)
        if joint and len(group) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
