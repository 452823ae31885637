"""``equal``: every task weighs 1, L = Σ_k L_k, whatever tasks[].weight says (LibMTL's EW)."""

from __future__ import annotations

from raymtl.train.weighting.fixed import Fixed


class Equal(Fixed):
    name = "equal"
    paper = "(equal weights, the usual MTL baseline)"

    def coefs(self) -> dict[str, float]:
        return {t: 1.0 for t in self.tasks}
