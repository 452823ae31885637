"""Auxiliary-task selection, its statistics: configurations summarised over seeds, the noise rule,
marginal effects with a paired t-test, and Optuna (fANOVA) importances of the subset bits.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from raymtl.search.aux_ledger import finished, point_params

MAIN_ONLY = "(main only)"
NOISE_RULE = ("two configurations differ only when their mean ± 1 std intervals over seeds do not overlap "
              "(|Δ| > std_a + std_b, sample std); with 1 seed no difference can be called")
MARGINAL_RULE = ("marginal effect of task t = mean over subsets S without t of score(S ∪ {t}) − score(S) "
                 "(subset scores = mean over seeds); called only when a paired t-test over these pairs gives p < 0.05")


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std of the numbers in ``xs`` (None/NaN left out; std NaN with one)."""
    xs = [float(x) for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else math.nan)


def differs(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool | None:
    """The noise rule: True/False when ±1 std intervals (over ≥2 seeds each) do (not) overlap; None
    when it cannot be judged (fewer than 2 seeds)."""
    (ma, sa, na), (mb, sb, nb) = a, b
    if na < 2 or nb < 2 or any(math.isnan(x) for x in (ma, sa, mb, sb)):
        return None
    return abs(ma - mb) > sa + sb


def short_name(ref: str, pool: Sequence[str]) -> str:
    ds = ref.split(":", 1)[0]
    return ds if sum(1 for t in pool if t.split(":", 1)[0] == ds) == 1 else ref


def label(subset: Sequence[str], pool: Sequence[str]) -> str:
    return " + ".join(short_name(t, pool) for t in subset) if subset else MAIN_ONLY


def summarise(ledger: list[dict], pool: Sequence[str]) -> list[dict]:
    """One row per evaluated configuration (subset, λ): dev/test mean ± std over seeds, ranked by dev."""
    groups: dict[str, list[dict]] = {}
    for r in finished(ledger).values():
        groups.setdefault(r["config"], []).append(r)
    rows = []
    for key, rs in groups.items():
        rs.sort(key=lambda r: r["seed"])
        dm, ds = mean_std([r["dev"] for r in rs])
        tm, ts = mean_std([r["test"] for r in rs])
        subset = [t for t in pool if t in rs[0]["subset"]]
        rows.append({"config": key, "subset": subset, "label": label(subset, pool), "weights": rs[0]["weights"],
                     "seeds": [r["seed"] for r in rs], "n": len(rs), "dev_mean": dm, "dev_std": ds,
                     "test_mean": tm, "test_std": ts, "dev_by_seed": {r["seed"]: r["dev"] for r in rs},
                     "test_by_seed": {r["seed"]: r["test"] for r in rs}, "trials": [r["trial"] for r in rs]})
    rows.sort(key=lambda r: (-(r["dev_mean"] if not math.isnan(r["dev_mean"]) else -math.inf), r["label"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def marginal_effects(rows: list[dict], pool: Sequence[str], which: str = "dev") -> dict[str, dict]:
    """Per auxiliary task: mean score of subsets with vs without it, and the paired difference
    score(S ∪ {t}) − score(S) over subsets S where both were evaluated (t-test over the pairs)."""
    by_subset: dict[tuple, list[float]] = {}
    for r in rows:  # several λ per subset (tpe): average them
        v = r[f"{which}_mean"]
        if not math.isnan(v):
            by_subset.setdefault(tuple(sorted(r["subset"])), []).append(v)
    score = {k: statistics.fmean(v) for k, v in by_subset.items()}
    out = {}
    for t in pool:
        with_t = [v for k, v in score.items() if t in k]
        without = [v for k, v in score.items() if t not in k]
        diffs = [score[tuple(sorted((*k, t)))] - v for k, v in score.items()
                 if t not in k and tuple(sorted((*k, t))) in score]
        p = math.nan
        if len(diffs) >= 2 and statistics.pstdev(diffs) > 0:
            try:
                from scipy import stats

                p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
            except ImportError:  # pragma: no cover
                p = math.nan
        mean_diff = statistics.fmean(diffs) if diffs else math.nan
        verdict = ("not measurable (< 2 pairs)" if len(diffs) < 2 else
                   ("helps" if mean_diff > 0 else "hurts") if (not math.isnan(p) and p < 0.05) else "within noise")
        out[t] = {"with": statistics.fmean(with_t) if with_t else math.nan,
                  "without": statistics.fmean(without) if without else math.nan,
                  "n_with": len(with_t), "n_without": len(without), "paired_diff": mean_diff,
                  "paired_diff_std": statistics.stdev(diffs) if len(diffs) > 1 else math.nan,
                  "pairs": len(diffs), "p": p, "verdict": verdict}
    return out


def aux_importances(ledger: list[dict], pool: Sequence[str], space) -> dict[str, float]:
    """Optuna (fANOVA) importances of the subset bits (and λ) for the dev score, replayed from the ledger."""
    import optuna

    recs = [r for r in finished(ledger).values() if r.get("dev") is not None]
    if len(recs) < 3 or len({r["config"] for r in recs}) < 2:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for r in recs:
        params = point_params(pool, r["subset"], r["weights"], r["seed"])
        params.pop("train.seed")
        study.enqueue_trial(params, skip_if_exists=False)
        value = float(r["dev"])
        study.optimize(lambda t: (space.define_by_run(t), value)[1], n_trials=1)
    try:
        imp = optuna.importance.get_param_importances(  # fANOVA (Optuna's default changed across versions)
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as e:
        return {"_error": str(e)}  # type: ignore[dict-item]
    return {k: float(v) for k, v in imp.items()}
