"""The tables of ``bench/reproduce.py``: a run's metric in percent, a suite's table on the terminal,
and all suites as Markdown (``quality.md``)."""

from __future__ import annotations

from typing import Any

from _common import print_table
from reproduce_suites import DOMAINS, SUITES, Metric, Suite


def metric_value(test: dict[str, float], suite: Suite, metric: Metric) -> float | None:
    """Value in percent (error rates for error metrics); None when the run did not report it."""
    if metric.key:
        v = test.get(metric.key)
        if v is None:
            return None
        return 100.0 * (1.0 - v) if metric.error else 100.0 * v
    parts = [metric_value(test, suite, m) for m in suite.metrics if m.key]  # the average of the others
    if not parts or any(p is None for p in parts):
        return None
    return sum(parts) / len(parts)


def print_suite(suite: Suite, rows: list[dict[str, Any]]) -> None:
    rows = [r for r in rows if r["suite"] == suite.name]
    if not rows:
        return

    def ours(r):
        if r["mean"] is None:
            return "-"
        return f"{r['mean']:.2f} ± {r['std']:.2f}" if r["std"] is not None else f"{r['mean']:.2f}"

    def paper(r):
        return "-" if r["paper"] is None else f"{r['paper']:.2f}"

    def diff(r):
        return "-" if r["diff"] is None else f"{r['diff']:+.2f}"

    print(f"\n== {suite.name}: {suite.source}; embeddings {rows[0]['embeddings']}")
    if suite.name == "reviews16":  # 17 metrics: averages first, then a domain x model matrix
        avg = [r for r in rows if r["task"] == "average"]
        print_table(["model", "avg error % (ours)", "n", "paper", "ours - paper"],
                    [[r["model"], ours(r), r["seeds"], paper(r), diff(r)] for r in avg])
        models = list(dict.fromkeys(r["model"] for r in rows))
        print("\nerror % per domain, ours (paper):")
        cells = []
        for d in DOMAINS + ["average"]:
            by = {r["model"]: r for r in rows if r["task"] == d}
            cells.append([d] + [("-" if by[m]["mean"] is None else f"{by[m]['mean']:.1f}")
                                + ("" if by[m]["paper"] is None else f" ({by[m]['paper']:.1f})") for m in models])
        print_table(["domain", *models], cells)
    else:
        print_table(["model", "task", "metric", "ours (test, %)", "n", "paper", "ours - paper"],
                    [[r["model"], r["task"], r["metric"], ours(r), r["seeds"], paper(r), diff(r)] for r in rows])
    for n in suite.notes:
        print(f"  note: {n}")


def markdown(rows: list[dict[str, Any]], suites: list[str], notes: list[str], header: str) -> str:
    """The rows as one Markdown table per suite (ours: mean ± sample std over n seeds; paper; difference)."""
    out = [f"# Quality against the papers' tables\n\n{header}\n"]
    for name in suites:
        mine = [r for r in rows if r["suite"] == name]
        if not mine:
            continue
        out.append(f"\n## {name}\n\n{SUITES[name].source}\n")
        out.append("| model | embeddings | task | metric | ours | n | paper | ours − paper |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in mine:
            ours = "–" if r["mean"] is None else (f"{r['mean']:.2f} ± {r['std']:.2f}" if r["std"] is not None
                                                  else f"{r['mean']:.2f}")
            paper = "–" if r["paper"] is None else f"{r['paper']:.2f}"
            diff = "–" if r["diff"] is None else f"{r['diff']:+.2f}"
            out.append(f"| {r['model']} | {r['embeddings']} | {r['task']} | {r['metric']} | {ours} | {r['seeds']} "
                       f"| {paper} | {diff} |")
    out.append("\n## Notes\n")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"
