"""``raymtl report EXPERIMENT_DIR``: a self-contained HTML review of a search, and its Markdown twin.

Reads what ``raymtl tune`` leaves in the experiment directory (``summary.json``, ``results.csv``
or ``results.parquet``, ``best_config.yaml``, ``importances.json``, the trials' TensorBoard event
files) and writes:

1. the search summary: budget, trials finished / stopped early / failed, the best configuration;
2. a best-so-far curve over the trials in their order of creation;
3. a parallel-coordinates plot (Optuna's, on an in-memory study the finished trials are replayed
   into over the searched parameters only: a constant of the space is not searched) and
4. parameter importances — one set of numbers (importances.json) drawn as bars and tabulated;
5. a per-task metric table of the best trials against single-task baselines (``--baseline`` runs or
   experiments, and anything under ``EXPERIMENT_DIR/baselines/``);
6. the best trial's review figures, read back from its event files (learning curves, confusion
   matrices, label-embedding map, α/β heatmaps, causal effects — see :mod:`raymtl.analysis.tensorboard`).

The HTML embeds every image as base64 (one file to share); the Markdown twin writes them beside
itself in ``<name>_files/``.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from raymtl.analysis.search_review import (figure_png, finished_rows, importance_figure, importance_values,
                                           normal_status, parallel_figure, replay_study)
from raymtl import atomic
from raymtl.analysis.sections import (FIGURE_ORDER, Image, Section, event_images,  # noqa: F401
                                      format_cell as _fmt)
from raymtl.errors import RaymtlError

SECTIONS = ("summary", "best-so-far", "parallel-coordinates", "importances", "metrics", "weights", "figures")
TITLES = {"summary": "Search summary", "best-so-far": "Best score so far",
          "parallel-coordinates": "Parallel coordinates", "importances": "Parameter importances",
          "metrics": "Per-task metrics: best trials vs single-task baselines",
          "weights": "Loss weights per task per epoch (best trial)", "figures": "Figures of the best trial"}


# ---- loading the experiment --------------------------------------------------------------------
@dataclass
class Experiment:
    path: Path
    summary: dict[str, Any]
    results: Any  # pandas.DataFrame
    best_config: dict[str, Any]
    importances: dict[str, float]
    searched: list[str] = field(default_factory=list)  # parameter names (no ``param/`` prefix)

    @property
    def score_col(self) -> str:
        return "best_dev_score" if "best_dev_score" in self.results else self.summary.get("metric", "dev_score")

    @property
    def mode(self) -> str:
        return self.summary.get("mode", "max")


def load_experiment(path: str | Path) -> Experiment:
    import pandas as pd
    import yaml

    p = Path(path).expanduser()
    if not p.is_dir():
        raise RaymtlError(f"{p}: no such experiment directory")
    if (p / "results.parquet").is_file():
        df = pd.read_parquet(p / "results.parquet")
    elif (p / "results.csv").is_file():
        df = pd.read_csv(p / "results.csv")
    else:
        raise RaymtlError(f"{p}: no results.csv / results.parquet of `raymtl tune` and no results.json of "
                          "`raymtl train` (is the run finished?)")
    for c in df.columns:  # parquet keeps mixed columns as strings
        if c.startswith(("param/", "dev/", "test/")) or c in ("best_dev_score", "dev_score", "epochs_run",
                                                                "wall_time_s", "epoch", "best_epoch"):
            conv = pd.to_numeric(df[c], errors="coerce")
            if conv.notna().sum() >= df[c].notna().sum():
                df[c] = conv
    if "status" in df:
        df["status"] = df["status"].map(normal_status)
    summary = json.loads((p / "summary.json").read_text()) if (p / "summary.json").is_file() else {}
    best_cfg = yaml.safe_load((p / "best_config.yaml").read_text()) if (p / "best_config.yaml").is_file() else {}
    imp = json.loads((p / "importances.json").read_text()) if (p / "importances.json").is_file() else {}
    return Experiment(p, summary, df, best_cfg or {}, {k: v for k, v in imp.items() if not k.startswith("_")},
                      searched_in(summary, df))


def searched_in(summary: dict[str, Any], df) -> list[str]:
    """The searched parameters: as ``raymtl tune`` recorded them in summary.json; for older
    experiments, the param columns that took more than one value (a constant is not searched)."""
    cols = [c[6:] for c in df.columns if c.startswith("param/")]
    if isinstance(summary.get("searched"), list):
        return [n for n in summary["searched"] if n in cols]
    return [n for n in cols if df[f"param/{n}"].dropna().astype(str).nunique() > 1]


def trial_order(exp: Experiment) -> list[int]:
    """Row positions in the trials' order of creation (Tune's ``<trainable>_<id>_<n>_...`` directories)."""
    trials = [str(t) for t in exp.results["trial"]]
    index: dict[str, int] = {}
    for t in trials:
        for d in exp.path.glob(f"*_{t}_*"):
            m = re.search(rf"_{re.escape(t)}_(\d+)", d.name)
            if m and d.is_dir():
                index[t] = int(m.group(1))
    return sorted(range(len(trials)), key=lambda i: (index.get(trials[i], 10 ** 9), i))


def trial_tensorboard_dir(exp: Experiment, trial: str) -> Path | None:
    """The run's own TensorBoard directory of ``trial`` (the Runner writes ``<trial dir>/tensorboard``)."""
    for d in sorted(exp.path.glob(f"trial_{trial}_*")) + sorted(exp.path.glob(f"*{trial}*")):
        if (d / "tensorboard").is_dir():
            return d / "tensorboard"
    for d in exp.path.rglob("tensorboard"):
        if trial in str(d.relative_to(exp.path)) and d.parent.name != "tensorboard" and d.parent != exp.path:
            return d
    return None


# ---- baselines -----------------------------------------------------------------------------------
def load_baselines(root: Path, paths: Sequence[str | Path]) -> list[tuple[str, dict[str, float]]]:
    """(label, {"dev/<task>/main": v, "test/<task>/main": v, ...}) of every single-task baseline
    (``paths`` and the runs under ``root/baselines/``)."""
    found: list[Path] = [Path(p).expanduser() for p in paths]
    auto = root / "baselines"
    if auto.is_dir():
        found += sorted(d for d in auto.iterdir() if d.is_dir() or d.suffix == ".json")
    out = []
    for p in found:
        if p.is_file() and p.suffix == ".json":
            res = json.loads(p.read_text())
        elif (p / "results.json").is_file():
            res = json.loads((p / "results.json").read_text())
        elif (p / "results.csv").is_file() or (p / "results.parquet").is_file():
            sub = load_experiment(p)
            df, col = sub.results, sub.score_col
            ok = finished_rows(df, col)
            if not len(ok):
                continue
            best = ok.loc[ok[col].idxmax() if sub.mode == "max" else ok[col].idxmin()]
            arch = (sub.best_config.get("model") or {}).get("arch", "")
            out.append((f"{p.name} ({arch}, best of {len(df)})" if arch else p.name,
                        {k: float(v) for k, v in best.items() if k.startswith(("dev/", "test/"))
                         and isinstance(v, (int, float)) and not math.isnan(float(v))}))
            continue
        else:
            raise RaymtlError(f"{p}: not a baseline (expected a run directory with results.json or an experiment "
                              "directory with results.csv)")
        arch = (res.get("config", {}).get("model") or {}).get("arch", "")
        label = f"{res.get('name', p.name)} ({arch})" if arch else str(res.get("name", p.name))
        metrics = {f"dev/{k}": float(v) for k, v in res.get("dev", {}).items() if isinstance(v, (int, float))}
        metrics.update({f"test/{k}": float(v) for k, v in res.get("test", {}).items() if isinstance(v, (int, float))})
        out.append((label, metrics))
    return out


# ---- the sections ----------------------------------------------------------------------------------
def _summary_section(exp: Experiment) -> Section:
    import yaml

    s = Section("summary", TITLES["summary"])
    df, summ = exp.results, exp.summary
    status = df["status"].value_counts().to_dict() if "status" in df else {}
    epochs = (exp.best_config.get("train") or {}).get("epochs")
    epochs_run = int(df["epochs_run"].fillna(0).sum()) if "epochs_run" in df else None
    wall = summ.get("wall_time_s")
    rows = [("experiment", exp.path.name),
            ("objective", f"{summ.get('metric', exp.score_col)} ({summ.get('mode', 'max')})"),
            ("budget", f"{len(df)} trials × up to {epochs if epochs is not None else '?'} epochs"),
            ("epochs trained (all trials)", epochs_run),
            ("wall time", f"{wall:.0f} s" if isinstance(wall, (int, float)) else "–"),
            ("trials finished", int(status.get("terminated", 0))),
            ("trials stopped early", int(status.get("stopped_early", 0))),
            ("trials failed", int(status.get("failed", 0))),
            ("trials never started", int(status.get("not_started", 0)))]
    if "best_trial" in summ:
        rows += [("best trial", summ["best_trial"]), (f"best {exp.score_col}", float(summ["best_score"]))]
    s.table(["", ""], rows)
    if summ.get("best_params"):
        s.text("<h3>Best configuration</h3>", "### Best configuration")
        s.table(["parameter", "value"], sorted(summ["best_params"].items()))
    if exp.best_config:
        text = yaml.safe_dump(exp.best_config, sort_keys=False)
        s.text(f"<details><summary>best_config.yaml (re-run with <code>raymtl train</code>)</summary>"
               f"<pre>{html.escape(text)}</pre></details>", f"<details><summary>best_config.yaml</summary>\n\n"
               f"```yaml\n{text}```\n</details>")
    failed = df[df["status"] == "failed"] if "status" in df else df.iloc[0:0]
    if len(failed):
        s.text("<h3>Failed trials</h3>", "### Failed trials")
        s.table(["trial", "error"], [(r["trial"], r.get("error", "")) for _, r in failed.iterrows()])
    return s


def _best_so_far_section(exp: Experiment) -> Section:
    from raymtl.analysis.plots import best_so_far, png_bytes

    s = Section("best-so-far", TITLES["best-so-far"])
    col = exp.score_col
    if col not in exp.results:
        s.text(f"<p>No {html.escape(col)} column in the results.</p>")
        return s
    order = trial_order(exp)
    df = exp.results
    scores = [float(df[col].iloc[i]) if df["status"].iloc[i] != "failed" else float("nan") for i in order]
    labels = [str(df["trial"].iloc[i]) for i in order]
    s.image("best_so_far", f"{col} per trial and the best so far ({exp.mode})",
            png_bytes(best_so_far(scores, mode=exp.mode, metric=col, labels=labels)))
    return s


def _optuna_sections(exp: Experiment) -> tuple[Section, Section]:
    par = Section("parallel-coordinates", TITLES["parallel-coordinates"])
    imp = Section("importances", TITLES["importances"])
    try:
        study = replay_study(exp)
    except Exception as e:  # noqa: BLE001
        msg = f"<p>Could not replay the trials into an Optuna study: {html.escape(str(e))}</p>"
        par.text(msg)
        imp.text(msg)
        return par, imp
    n = len(study.trials)
    if n == 0:
        par.text("<p>No finished trial.</p>")
        imp.text("<p>No finished trial.</p>")
        return par, imp
    try:
        par.image("parallel_coordinates", f"Optuna parallel coordinates of {n} finished trials over the searched "
                  f"parameters ({', '.join(exp.searched) or 'none'})", figure_png(parallel_figure(exp, study)))
    except Exception as e:  # noqa: BLE001
        par.text(f"<p>Optuna could not draw the parallel coordinates: {html.escape(str(e))}</p>")
    values, source = importance_values(exp, study)
    if isinstance(values, str):
        imp.text(f"<p>Optuna could not compute importances from {n} trial(s): {html.escape(values)}</p>")
        return par, imp
    from raymtl.analysis.plots import png_bytes

    # The chart and the table below it show the same numbers.
    imp.image("importances", f"parameter importances (fANOVA, {source}) over {n} finished trials"
              + (" — few trials: indicative only" if n < 8 else ""), png_bytes(importance_figure(values)))
    imp.table(["parameter", f"importance ({source})"], sorted(values.items(), key=lambda kv: -kv[1]))
    return par, imp


def _tasks(columns: Sequence[str]) -> list[str]:
    tasks = []
    for c in columns:
        m = re.match(r"(?:dev|test)/(.+)/main$", c)
        if m and m.group(1) != "mean" and m.group(1) not in tasks:
            tasks.append(m.group(1))
    return tasks


def _metrics_section(exp: Experiment, baselines: list[tuple[str, dict[str, float]]], top: int) -> Section:
    s = Section("metrics", TITLES["metrics"])
    df, col = exp.results, exp.score_col
    ok = finished_rows(df, col)
    ok = ok.sort_values(col, ascending=exp.mode != "max").head(top)
    tasks = _tasks(list(df.columns) + [k for _, m in baselines for k in m])
    header = ["model"] + [f"{t} {split}" for t in tasks for split in ("dev", "test")] + ["mean dev", "mean test"]
    rows = []
    for _, r in ok.iterrows():
        vals = [r.get(f"{split}/{t}/main") for t in tasks for split in ("dev", "test")]
        rows.append([f"trial {r['trial']}"] + vals + [r.get("dev/mean/main"), r.get("test/mean/main")])
    for label, m in baselines:
        rows.append([f"baseline: {label}"] + [m.get(f"{split}/{t}/main") for t in tasks for split in ("dev", "test")]
                    + [m.get("dev/mean/main"), m.get("test/mean/main")])
    rows = [[None if isinstance(v, float) and math.isnan(v) else v for v in r] for r in rows]
    s.text(f"<p>Main metric per task (see each task's kind: span F1 for tagging, micro F1 for multi-label, "
           f"accuracy for classification) of the {len(ok)} best trial(s) by {html.escape(col)}"
           f"{', and single-task baselines' if baselines else ''}.</p>")
    s.table(header, rows)
    if not baselines:
        s.text("<p>No single-task baselines: pass <code>--baseline RUN_DIR</code> (a <code>raymtl train</code> run "
               "of stl_bilstm / stl_cnn) or put runs under <code>EXPERIMENT_DIR/baselines/</code>.</p>")
    return s


def _figures_section(exp: Experiment) -> Section:
    s = Section("figures", TITLES["figures"])
    trial = exp.summary.get("best_trial")
    tb = trial_tensorboard_dir(exp, str(trial)) if trial else None
    if tb is None:
        s.text("<p>No TensorBoard directory of the best trial was found.</p>")
        return s
    images = event_images(tb)
    if not images:
        s.text(f"<p>The best trial's event files ({html.escape(str(tb))}) hold no review figures.</p>")
        return s
    s.text(f"<p>From the event files of trial {html.escape(str(trial))} ({html.escape(str(tb.relative_to(exp.path)))})"
           f"; open them with <code>raymtl board {html.escape(str(exp.path))}</code> to see the Embedding "
           f"Projector of the label embeddings as well.</p>")
    rank = {p: i for i, p in enumerate(FIGURE_ORDER)}
    for tag in sorted(images, key=lambda t: (min((rank[p] for p in rank if t.startswith(p)), default=99), t)):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)
        s.image(name, tag.replace("review/", "").replace("_to_", " → "), images[tag])
    return s


# ---- rendering -------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}pre{background:#f7f7f7;padding:.8em;overflow:auto}nav a{margin-right:1em}
p,figcaption,td{overflow-wrap:anywhere}
"""


def build_sections(exp: Experiment, baselines: list[tuple[str, dict[str, float]]], top: int = 3) -> list[Section]:
    par, imp = _optuna_sections(exp)
    return [_summary_section(exp), _best_so_far_section(exp), par, imp, _metrics_section(exp, baselines, top),
            _weights_section(exp), _figures_section(exp)]


def _weights_section(exp: Experiment) -> Section:
    """The best trial's loss weights per task per epoch (its results.json, beside its event files)."""
    from raymtl.analysis.run_report import load_run, weights_section

    trial = exp.summary.get("best_trial")
    tb = trial_tensorboard_dir(exp, str(trial)) if trial else None
    if tb is not None and (tb.parent / "results.json").is_file():
        return weights_section(load_run(tb.parent), whose=f"the best trial ({trial})", title=TITLES["weights"])
    return weights_section({}, whose="the best trial (its results.json was not found)", title=TITLES["weights"])


def render_html(title: str, sections: Sequence[Section]) -> str:
    nav = " ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>\n' + "\n".join(s.html) + "</section>"
                     for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}\n"
            f'<footer><p style="color:#888;font-size:.8em">generated by raymtl report</p></footer></body></html>\n')


def render_markdown(title: str, sections: Sequence[Section], images_dir: str) -> str:
    parts = [f"# {title}"]
    for s in sections:
        parts.append(f"## {s.title}")
        parts += [m.replace("IMAGES/", images_dir + "/") for m in s.md]
    return "\n\n".join(parts) + "\n"


def write_report(experiment: str | Path, *, out: str | Path | None = None, baselines: Sequence[str | Path] = (),
                 top: int = 3) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (+ ``report_files/``) of a search's
    experiment directory, or of a ``raymtl train`` run directory; returns both paths."""
    from raymtl.analysis.run_report import is_run_dir, run_sections

    root = Path(experiment).expanduser()
    if is_run_dir(root):
        sections = run_sections(root, load_baselines(root, baselines))
        title = f"raymtl run report: {root.name}"
    else:
        exp = load_experiment(root)
        sections = build_sections(exp, load_baselines(exp.path, baselines), top)
        title = f"raymtl search report: {exp.path.name}"
    html_path = Path(out) if out is not None else root / "report.html"
    if html_path.suffix.lower() not in (".html", ".htm"):
        html_path = html_path.with_suffix(".html")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(html_path, render_html(title, sections))
    md_path = html_path.with_suffix(".md")
    files = html_path.with_name(f"{html_path.stem}_files")
    files.mkdir(exist_ok=True)
    for s in sections:
        for img in s.images:
            (files / f"{img.name}.png").write_bytes(img.png)
    atomic.write_text(md_path, render_markdown(title, sections, files.name))
    return html_path, md_path
