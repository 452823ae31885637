"""Auxiliary-task selection, its report: ``aux_selection.md`` (ranked table, answer, marginal
effects), ``.csv``, ``.json`` and ``.png`` (subset × score with ±1 std error bars).
"""

from __future__ import annotations

import json
import math
import typing
from pathlib import Path
from typing import Any, Sequence

from raymtl import atomic
from raymtl.search import aux as auxenc
from raymtl.search.aux_ledger import finished
from raymtl.search.aux_stats import MARGINAL_RULE, NOISE_RULE, aux_importances, differs, marginal_effects, summarise

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.search.aux_select import AuxSelectOptions


def _f(x: float, std: float | None = None, n: int | None = None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if std is None:
        return f"{x:.4f}"
    return f"{x:.4f} ± {std:.4f}" if not math.isnan(std) else f"{x:.4f} (1 seed)"


def _vs(row: dict, other: dict | None, which: str) -> str:
    if other is None or row is other:
        return ""
    d = row[f"{which}_mean"] - other[f"{which}_mean"]
    verdict = differs((row[f"{which}_mean"], row[f"{which}_std"], row["n"]),
                      (other[f"{which}_mean"], other[f"{which}_std"], other["n"]))
    tag = {None: "?", True: "", False: " (noise)"}[verdict]
    return f"{d:+.4f}{tag}"


def markdown_table(rows: list[dict], baseline: dict | None) -> str:
    head = ("| rank | auxiliary tasks (main always in) | λ | seeds | dev mean ± std | test mean ± std | "
            "Δdev vs main only | Δtest vs main only |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lam = ", ".join(f"{w:.3g}" for w in r["weights"].values()) or "–"
        lines.append(f"| {r['rank']} | {r['label']}{' **(baseline)**' if r is baseline else ''} | {lam} | {r['n']} | "
                     f"{_f(r['dev_mean'], r['dev_std'])} | {_f(r['test_mean'], r['test_std'])} | "
                     f"{_vs(r, baseline, 'dev')} | {_vs(r, baseline, 'test')} |")
    return "\n".join(lines)


def write_figure(rows: list[dict], baseline: dict | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * n + 1.6))
    ys = list(range(n))[::-1]
    lab = [r["label"].replace(" + ", "\n+ ") if len(r["label"]) > 40 else r["label"] for r in rows]

    def err(key):
        return [0.0 if math.isnan(r[f"{key}_std"]) else r[f"{key}_std"] for r in rows]

    ax.errorbar([r["dev_mean"] for r in rows], [y + 0.15 for y in ys], xerr=err("dev"), fmt="o", capsize=3,
                label="dev (mean ± 1 std over seeds)")
    ax.errorbar([r["test_mean"] for r in rows], [y - 0.15 for y in ys], xerr=err("test"), fmt="s", capsize=3,
                label="test (mean ± 1 std over seeds)")
    if baseline is not None:
        ax.axvline(baseline["dev_mean"], color="C0", ls="--", lw=0.8)
        ax.axvline(baseline["test_mean"], color="C1", ls="--", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels(lab, fontsize=7)
    ax.set_xlabel("main-task score (dashed: main only)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_report(exp_dir: Path, ledger: list[dict], *, pool: Sequence[str], main: str, space, test_key: str,
                 seeds: Sequence[int], strategy: str, expected: list[str] | None = None,
                 options: AuxSelectOptions | None = None, single_arch: str = "") -> dict[str, Any]:
    import pandas as pd

    rows = summarise(ledger, pool)
    baseline = next((r for r in rows if not r["subset"]), None)
    best = rows[0] if rows else None
    dev_me = marginal_effects(rows, pool, "dev")
    test_me = marginal_effects(rows, pool, "test")
    imps = aux_importances(ledger, pool, space)
    done = finished(ledger)
    pending = [k for k in (expected or []) if k not in done]
    stopped = [r for r in ledger if not r.get("complete") and not r.get("error")]
    errors = [r for r in ledger if r.get("error")]
    table = markdown_table(rows, baseline)
    metric = test_key.rsplit("/", 1)[-1]

    md = [f"# Auxiliary-task selection for `{main}`", "",
          f"Strategy **{strategy}**, pool of {len(pool)} ({', '.join(f'`{t}`' for t in pool)}), "
          f"seeds {list(seeds)}. Score: the main task's `{metric}` (dev: at the best dev epoch, which also "
          f"selects the test checkpoint). {len(done)} finished full-budget trial(s)"
          + (f", {len(stopped)} stopped early by the scheduler (not in the table)" if stopped else "")
          + (f", {len(errors)} failed" if errors else "") + ".", ""]
    if options is not None:
        md += [f"Base config `{options.base}` with {options.overrides or 'no overrides'}"
               f"{' (smoke test)' if options.smoke_test else ''}; λ "
               + (f"fixed at {options.weight:g} for every chosen auxiliary task" if options.weights == "fixed"
                  else f"searched in [{options.weight_low:g}, {options.weight_high:g}]") + "."
               + (f" The main-only baseline uses architecture `{single_arch}` (same fields, no auxiliary parts)."
                  if single_arch else ""), ""]
    if pending:
        md += [f"**Incomplete:** {len(pending)} (subset, seed) trial(s) of the exhaustive design have not run yet "
               "(budget); `--resume` runs them without re-running finished ones.", ""]
    md += ["## Ranked table (by dev mean)", "", table, "",
           f"Noise rule: {NOISE_RULE}. `(noise)` marks a difference to the main-only baseline within noise, "
           "`?` one that cannot be judged.", ""]
    if best is not None:
        md.append("## Answer")
        md.append("")
        if baseline is None:
            md.append(f"Best by dev: **{best['label']}** (the main-only baseline has not run yet).")
        elif best is baseline:
            md.append("The main task alone is best by dev mean: no subset of the pool helps at this budget.")
            if len(rows) > 1:
                second = rows[1]
                v2 = differs((best["dev_mean"], best["dev_std"], best["n"]),
                             (second["dev_mean"], second["dev_std"], second["n"]))
                say = {True: "beyond noise", False: "**within noise**", None: "not judgeable (1 seed)"}
                md.append(f"The best subset, **{second['label']}**, is {second['dev_mean'] - best['dev_mean']:+.4f} "
                          f"on dev ({say[v2]}).")
        else:
            v = differs((best["dev_mean"], best["dev_std"], best["n"]),
                        (baseline["dev_mean"], baseline["dev_std"], baseline["n"]))
            vt = differs((best["test_mean"], best["test_std"], best["n"]),
                         (baseline["test_mean"], baseline["test_std"], baseline["n"]))
            say = {True: "a difference beyond noise", False: "**within noise**", None: "not judgeable (1 seed)"}
            md.append(f"Best by dev: **{best['label']}**: dev {best['dev_mean']:+.4f} − {baseline['dev_mean']:.4f} "
                      f"= {best['dev_mean'] - baseline['dev_mean']:+.4f} vs main only ({say[v]}); test "
                      f"{best['test_mean'] - baseline['test_mean']:+.4f} ({say[vt]}).")
            if len(rows) > 1:
                second = rows[1]
                v2 = differs((best["dev_mean"], best["dev_std"], best["n"]),
                             (second["dev_mean"], second["dev_std"], second["n"]))
                md.append(f"Runner-up **{second['label']}** at dev {second['dev_mean']:.4f}: the gap to the best is "
                          f"{say[v2]}.")
        md.append("")
    md += ["## Marginal effect of each auxiliary task", "",
           "| auxiliary task | dev: mean with | dev: mean without | dev: paired Δ (pairs, p) | test: paired Δ (p) | "
           "verdict (dev) | Optuna importance (dev) |", "|---|---|---|---|---|---|---|"]
    for t in pool:
        d, e = dev_me[t], test_me[t]
        imp = imps.get(auxenc.flag_name(t))
        md.append(f"| {t} | {_f(d['with'])} | {_f(d['without'])} | {_f(d['paired_diff'])} ({d['pairs']}, "
                  f"p={d['p']:.3f}) | {_f(e['paired_diff'])} (p={e['p']:.3f}) | {d['verdict']} | "
                  f"{'–' if imp is None else f'{imp:.3f}'} |")
    lam_imp = {k: v for k, v in imps.items() if k.endswith(".weight")}
    md += ["", f"Rule: {MARGINAL_RULE}. Importances: Optuna's fANOVA over the subset bits"
           + (" and λ" if lam_imp else "") + " for the dev score of every finished trial (all seeds)."
           + (f" λ importances: {', '.join(f'{k}={v:.3f}' for k, v in lam_imp.items())}." if lam_imp else ""),
           "", "![subset × score](aux_selection.png)", ""]
    if pending:
        md += ["Pending trials: " + ", ".join(f"`{k}`" for k in pending[:20]) + (" …" if len(pending) > 20 else ""), ""]
    text = "\n".join(md)
    exp_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(exp_dir / "aux_selection.md", text)
    flat = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()} for r in rows]
    with atomic.atomic_path(exp_dir / "aux_selection.csv") as tmp:
        pd.DataFrame(flat).to_csv(tmp, index=False)
    out = {"main": main, "pool": list(pool), "strategy": strategy, "seeds": list(seeds), "test_key": test_key,
           "rows": rows, "baseline": baseline["config"] if baseline else None,
           "best": best["config"] if best else None, "marginal_dev": dev_me, "marginal_test": test_me,
           "importances": imps, "pending": pending, "noise_rule": NOISE_RULE, "marginal_rule": MARGINAL_RULE,
           "finished_trials": len(done)}
    atomic.write_json(exp_dir / "aux_selection.json", out, default=str)
    write_figure(rows, baseline, exp_dir / "aux_selection.png", f"auxiliary tasks for {main}")
    out["markdown_table"] = table
    return out
