"""What a search leaves in its experiment directory, and the lines it ends with.

``results.csv``/``.parquet`` (one row per trial, with its status), ``best_config.yaml``,
``importances.json``, ``summary.json`` and TensorBoard HParams, from Tune's ``ResultGrid``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from raymtl.search.outcome import (FAILED, INTERRUPTED, NOT_STARTED, STOPPED_EARLY, TERMINATED, classify,
                                   error_reason)


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = {}
    for k, v in (metrics or {}).items():
        if k.startswith(("dev/", "test/")) or k in ("dev_score", "best_dev_score", "best_epoch", "epoch"):
            keep[k] = v
    return keep


def write_outputs(space, result_grid, exp_dir: Path, started: float, *, terminated: set[str] | None = None,
                  interrupted: str = "", started_ids: set[str] | None = None) -> dict[str, Any]:
    """results.csv/.parquet (one row per trial, with its status), best_config.yaml, importances.json,
    summary.json and HParams. ``terminated``: trial ids Tune ended (finished or stopped early);
    ``started_ids``: trial ids that were started (the others, without a result, never started)."""
    import pandas as pd

    from raymtl.atomic import atomic_path, write_json, write_yaml

    rows = []
    for r in result_grid:
        m = r.metrics or {}
        trial_id = m.get("trial_id") or (Path(r.path).name.split("_")[1] if r.path and "_" in Path(r.path).name
                                         else Path(r.path or "").name)
        status = classify(m, r.error, terminated=terminated is None or trial_id in terminated,
                          started=trial_id in (started_ids or set()))
        row = {"trial": trial_id, "status": status, "error": error_reason(r.error) if r.error else "",
               "epochs_run": m.get("epoch"), "wall_time_s": m.get("time_total_s"),
               **{f"param/{k}": v for k, v in (r.config or {}).items()}, **flat_metrics(m)}
        if space.aux_tasks is not None:
            aux = space.chosen_aux_tasks(r.config or {})
            row["aux_tasks"] = "+".join(aux) if aux else "(main only)"
        rows.append(row)
    df = pd.DataFrame(rows, columns=None if rows else ["trial", "status", "error"])
    exp_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(exp_dir / "results.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(exp_dir / "results.parquet") as tmp:
        df.astype({c: "string" for c in df.columns if df[c].dtype == object}).to_parquet(tmp, index=False)
    metric, mode = space.metric, space.mode
    counts = {k: int((df["status"] == k).sum()) if len(df) else 0
              for k in (TERMINATED, STOPPED_EARLY, FAILED, INTERRUPTED, NOT_STARTED)}
    summary: dict[str, Any] = {"trials": len(df), "statuses": counts, "errors": counts[FAILED],
                               "stopped_early": counts[STOPPED_EARLY], "wall_time_s": time.time() - started,
                               "metric": metric, "mode": mode, "interrupted": interrupted}
    score_col = "best_dev_score" if "best_dev_score" in df else metric
    scored = df[df["status"].isin([TERMINATED, STOPPED_EARLY, INTERRUPTED])] if len(df) else df
    if len(scored) and score_col in scored and scored[score_col].notna().any():
        best_idx = scored[score_col].idxmax() if mode == "max" else scored[score_col].idxmin()
        best = df.loc[best_idx]
        params = {k[6:]: _py(v) for k, v in best.items() if k.startswith("param/") and not _isnan(v)}
        best_cfg = space.trial_config(params)
        best_cfg["name"] = f"{space.name}-best"
        write_yaml(exp_dir / "best_config.yaml", best_cfg)
        values = scored[score_col].dropna().astype(float)
        summary.update({"best_trial": best["trial"], "best_score": float(best[score_col]), "best_params": params,
                        "scores": {"min": float(values.min()), "median": float(values.median()),
                                   "max": float(values.max()), "n": int(len(values))}})
    from raymtl.analysis.search_review import param_importances, searched_params, write_hparams

    summary["importances"] = param_importances(space, df, score_col)
    summary["searched"] = searched_params(space)  # the report plots only these as searched
    write_json(exp_dir / "importances.json", summary["importances"])
    write_json(exp_dir / "summary.json", summary, default=str)
    write_hparams(space, df, exp_dir)  # into each trial's own TensorBoard run
    return summary


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def print_summary(summary: dict[str, Any], exp_dir: Path, *, resume_command: str) -> None:
    st = summary.get("statuses", {})
    parts = [f"{st.get(TERMINATED, 0)} finished", f"{st.get(STOPPED_EARLY, 0)} stopped early by the scheduler",
             f"{st.get(FAILED, 0)} failed"]
    parts += [f"{st[k]} {k.replace('_', ' ')}" for k in (INTERRUPTED, NOT_STARTED) if st.get(k)]
    print(f"\n== {summary['trials']} trials ({', '.join(parts)}) in {summary['wall_time_s']:.0f}s")
    if summary.get("interrupted"):
        done = st.get(TERMINATED, 0) + st.get(STOPPED_EARLY, 0) + st.get(FAILED, 0)
        print(f"interrupted ({summary['interrupted']}): {done} of {summary.get('num_samples', summary['trials'])} "
              f"trials finished; continue with: {resume_command}")
    if "scores" in summary:
        sc = summary["scores"]
        print(f"{summary['metric']} over {sc['n']} scored trials: min {sc['min']:.4f}, median {sc['median']:.4f}, "
              f"max {sc['max']:.4f}")
    if "best_params" in summary:
        print(f"best trial {summary['best_trial']}: {summary['metric']} = {summary['best_score']:.4f}")
        for k, v in summary["best_params"].items():
            print(f"  {k} = {v}")
        print(f"best configuration: {exp_dir / 'best_config.yaml'} (re-run: raymtl train {exp_dir / 'best_config.yaml'})")
    print(f"results: {exp_dir / 'results.csv'}\nreview: raymtl report {exp_dir}  |  raymtl board {exp_dir}")
