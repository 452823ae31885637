"""``cagrad``: conflict-averse gradient descent. Liu et al. 2021, eq. 3 through its dual (Sec. 3.1):
w* = argmin_{w ∈ simplex} g_w·g_0 + c ||g_0|| ||g_w||, d = g_0 + c ||g_0|| g_w* / ||g_w*||, with
g_0 the mean of the g_k = ∇ λ_k L_k and g_w = Σ w_k g_k. The update is K d (c = 0 gives Σ_k g_k,
fixed λ's gradient; the problem is scale-invariant so only the step size differs from the paper)."""

from __future__ import annotations

import numpy as np
import torch

from raymtl.train.weighting.base import GradientWeighting, WeightingStep


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {w >= 0, Σ w = 1} (Duchi et al. 2008)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1.0), 0.0)


def cagrad_weights(gram: np.ndarray, c: float, iters: int = 300) -> np.ndarray:
    """The dual's w* from the Gram matrix of the task gradients (projected gradient, backtracking)."""
    k = gram.shape[0]
    gram = gram / max(float(np.trace(gram)) / k, 1e-300)  # argmin is invariant to the scale
    b = gram.mean(1)  # g_k·g_0
    cn = c * float(np.sqrt(max(gram.mean(), 0.0)))  # c ||g_0||

    def f(w: np.ndarray) -> float:
        return float(w @ b + cn * np.sqrt(max(w @ gram @ w, 1e-300)))

    w, lr = np.full(k, 1.0 / k), 1.0
    for _ in range(iters):
        grad = b + cn * (gram @ w) / np.sqrt(max(w @ gram @ w, 1e-300))
        while True:
            nw = project_simplex(w - lr * grad)
            if f(nw) <= f(w) - 1e-4 * float((nw - w) @ (nw - w)) / lr or lr < 1e-12:
                break
            lr /= 2
        done = float(np.abs(nw - w).max()) < 1e-12
        w, lr = nw, lr * 2
        if done:
            break
    return w


class CAGrad(GradientWeighting):
    name = "cagrad"
    paper = "Liu et al. 2021, Conflict-averse gradient descent for multi-task learning, eq. 3 (dual)"

    def combine(self, grads: torch.Tensor, losses: torch.Tensor, names: list[str],
                step: WeightingStep) -> tuple[torch.Tensor, dict[str, float]]:
        k = grads.shape[0]
        gram = (grads.double() @ grads.double().T).cpu().numpy()
        n0 = float(np.sqrt(max(gram.mean(), 0.0)))  # ||g_0||
        if n0 == 0.0:
            return grads.sum(0), {n: self.lambdas[n] for n in names}
        w = cagrad_weights(gram, self.cfg.cagrad_c)
        nw = float(np.sqrt(max(w @ gram @ w, 1e-300)))  # ||g_w||
        # Liu et al. 2021: d = g_0 + c ||g_0|| g_w / ||g_w||; K d = Σ_k (1 + K c ||g_0|| w_k / ||g_w||) g_k
        coef = 1.0 + k * self.cfg.cagrad_c * n0 * w / nw
        update = (torch.as_tensor(coef, dtype=grads.dtype, device=grads.device)[:, None] * grads).sum(0)
        return update, {n: float(coef[i]) * self.lambdas[n] for i, n in enumerate(names)}
