"""``schedule_report.md`` for a ``raymtl tune`` experiment over training schedules
(``search_spaces/pretraining_schedule.yaml``): the effect of each searched parameter on the main
task (binned means ± std, Spearman ρ, Optuna importances). Reads only the experiment's files, so
raymtl.tune imports it without a loop.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from raymtl import atomic
from raymtl.errors import RaymtlError
from raymtl.search.aux_stats import mean_std


def _score_columns(df) -> tuple[str, str | None]:
    """The dev score column and the test column of the same metric (the one dev_score equals)."""
    import pandas as pd

    dev = "best_dev_score" if "best_dev_score" in df else "dev_score"
    best_col, best_hits = None, 0
    for c in df.columns:
        if c.startswith("dev/") and f"test/{c[4:]}" in df and pd.api.types.is_numeric_dtype(df[c]):
            hits = int(((df[c] - df[dev]).abs() < 1e-9).sum())
            if hits > best_hits or (hits == best_hits and hits and c.endswith("/main")):
                best_col, best_hits = c, hits
    return dev, (f"test/{best_col[4:]}" if best_col else None)


def _val(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if hasattr(v, "left"):  # a pandas Interval (quantile bin)
        return f"({v.left:.4g}, {v.right:.4g}]"
    try:
        return f"{float(v):.4g}" if "." in str(v) else str(v)
    except ValueError:
        return str(v)


def _ft(m: float, sd: float) -> str:
    """mean ± std over the trials of a bin."""
    if math.isnan(m):
        return "–"
    return f"{m:.4f} ± {sd:.4f}" if not math.isnan(sd) else f"{m:.4f} (1 trial)"


def write_schedule_report(exp_dir: str | Path) -> Path:
    """``schedule_report.md`` in a tune experiment dir: the effect of each searched parameter
    (schedule.*, λ, …) on the main task — binned mean ± std of the dev (and test) score, Spearman ρ,
    and Optuna importances (``importances.json``)."""
    import pandas as pd

    exp_dir = Path(exp_dir)
    csv = exp_dir / "results.csv"
    if not csv.exists():
        raise RaymtlError(f"{csv}: no results table (run `raymtl tune SPACE.yaml` first)")
    df = pd.read_csv(csv)
    if "best_dev_score" not in df and "dev_score" not in df:  # interrupted before any trial reported an epoch
        df["dev_score"] = float("nan")
    dev, test = _score_columns(df)
    ok = df[~df["status"].isin(["ERROR", "failed", "not_started"]) & df[dev].notna()] if len(df) else df
    imps = {}
    if (exp_dir / "importances.json").exists():
        imps = json.loads((exp_dir / "importances.json").read_text())
    params = [c for c in df.columns if c.startswith("param/")]
    md = [f"# Schedule search: effect of each parameter on the main task ({exp_dir.name})", "",
          f"{len(ok)} finished trial(s) of {len(df)} (trials stopped early by the scheduler count with their best "
          f"dev score so far). Score: `{dev}` (dev, the monitored main-task metric)"
          + (f"; test: `{test}` at the best dev epoch" if test else "") + ".", "",
          "| parameter | Optuna importance | Spearman ρ (dev) | value / bin | trials | dev mean ± std | test mean ± std |",
          "|---|---|---|---|---|---|---|"]
    order = sorted(params, key=lambda c: -float(imps.get(c[6:], 0.0)) if isinstance(imps.get(c[6:]), (int, float))
                   else 0.0)
    for c in order:
        col = ok[c]
        present = ok[col.notna()]
        imp = imps.get(c[6:])
        rho = "–"
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and present[c].nunique() > 1 and len(present) > 2:
            r = present[c].rank().corr(present[dev].rank())
            rho = f"{r:+.2f}" if not math.isnan(r) else "–"
        if numeric and present[c].nunique() > 4:
            bins = pd.qcut(present[c], q=3, duplicates="drop")
            groups = present.groupby(bins, observed=True)
        else:
            groups = present.groupby(present[c].astype(str))
        first = True
        for val, g in groups:
            dm, ds = mean_std(g[dev].tolist())
            tm, ts = mean_std(g[test].tolist()) if test else (math.nan, math.nan)
            name = c[6:] if first else ""
            imp_s = (f"{imp:.3f}" if isinstance(imp, (int, float)) else "–") if first else ""
            md.append(f"| {name} | {imp_s} | {rho if first else ''} | {_val(val)} | {len(g)} | {_ft(dm, ds)} | "
                      f"{_ft(tm, ts)} |")
            first = False
        if first:
            md.append(f"| {c[6:]} | – | – | (inactive in every trial) | 0 | – | – |")
    md += ["", "Read with care: with few trials a bin's mean mixes the other parameters' effects; the importances "
           "(fANOVA) are only meaningful with tens of trials. Binning: distinct values when ≤ 4, else 3 quantile bins.", ""]
    return atomic.write_text(exp_dir / "schedule_report.md", "\n".join(md))
