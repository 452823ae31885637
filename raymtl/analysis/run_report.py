"""``raymtl report RUN_DIR`` on a ``raymtl train`` run: the run's summary, its per-task metrics
(against single-task baselines when given) and its review figures read back from its event files.

A run directory holds ``results.json`` (written by the training loop at the end of the run) and
``tensorboard/``; a search's experiment directory holds ``results.csv`` instead (see
:mod:`raymtl.analysis.report`).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from raymtl.analysis.sections import FIGURE_ORDER, Section, event_images
from raymtl.errors import RaymtlError

RUN_SECTIONS = ("summary", "metrics", "weights", "figures")
RUN_TITLES = {"summary": "Run summary", "metrics": "Per-task metrics (dev at the best epoch, test)",
              "weights": "Loss weights per task per epoch", "figures": "Figures of the run"}


def is_run_dir(path: Path) -> bool:
    """A finished ``raymtl train`` run (results.json), not a search (results.csv / .parquet)."""
    p = Path(path)
    return (p / "results.json").is_file() and not any((p / f).is_file()
                                                      for f in ("results.csv", "results.parquet"))


def load_run(path: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RaymtlError(f"{Path(path) / 'results.json'}: unreadable run results ({e})") from e


def _summary(run: dict[str, Any]) -> Section:
    import yaml

    s = Section("summary", RUN_TITLES["summary"])
    cfg = run.get("config") or {}
    epochs = (cfg.get("train") or {}).get("epochs")
    tasks = ", ".join(str(t.get("name")) for t in cfg.get("tasks") or [] if isinstance(t, dict))
    s.table(["", ""], [("run", run.get("name")), ("architecture", (cfg.get("model") or {}).get("arch")),
                       ("tasks", tasks or None),
                       ("epochs run", f"{run.get('epochs_run')} of {epochs if epochs is not None else '?'}"
                        + (" (early stop)" if run.get("stopped_early") else "")),
                       ("best epoch", run.get("best_epoch")), ("best dev score", run.get("best_dev_score")),
                       ("DDP workers", run.get("world_size")), ("skipped batches", run.get("skipped_batches"))])
    if cfg:
        text = yaml.safe_dump(cfg, sort_keys=False)
        s.text(f"<details><summary>the run's configuration (re-run with <code>raymtl train</code>)</summary>"
               f"<pre>{html.escape(text)}</pre></details>",
               f"<details><summary>configuration</summary>\n\n```yaml\n{text}```\n</details>")
    return s


def _metrics(run: dict[str, Any], baselines: list[tuple[str, dict[str, float]]]) -> Section:
    s = Section("metrics", RUN_TITLES["metrics"])
    dev, test = run.get("dev") or {}, run.get("test") or {}
    keys = sorted(set(dev) | set(test), key=lambda k: (k.split("/")[0] == "mean", k))
    s.table(["metric", "dev", "test"], [(k, dev.get(k), test.get(k)) for k in keys])
    if baselines:
        tasks = [k[:-5] for k in keys if k.endswith("/main") and not k.startswith("mean/")]
        header = ["model"] + [f"{t} {split}" for t in tasks for split in ("dev", "test")]
        rows = [[f"this run: {run.get('name')}"] + [(dev if split == "dev" else test).get(f"{t}/main")
                                                    for t in tasks for split in ("dev", "test")]]
        rows += [[f"baseline: {label}"] + [m.get(f"{split}/{t}/main") for t in tasks for split in ("dev", "test")]
                 for label, m in baselines]
        s.text("<h3>Main metric per task against single-task baselines</h3>",
               "### Main metric per task against single-task baselines")
        s.table(header, rows)
    return s


def weights_section(run: dict[str, Any], *, whose: str = "the run", title: str = RUN_TITLES["weights"]) -> Section:
    """Each task's mean loss weight per epoch (``train.weighting``: fixed λ, or what uw, dwa, gradnorm,
    pcgrad, cagrad made of it), as a table and a figure, from a run's results.json."""
    from raymtl.analysis.plots import png_bytes, weight_curves

    s = Section("weights", title)
    history = [h for h in run.get("history") or [] if isinstance(h, dict)]
    tasks = sorted({k[len("weighting/"):] for h in history for k in h if k.startswith("weighting/")})
    method = ((run.get("config") or {}).get("train") or {}).get("weighting", {}).get("method", "fixed")
    if not tasks:
        s.text(f"<p>No per-task loss weights in the history of {html.escape(whose)}.</p>")
        return s
    s.text(f"<p>Method <code>{html.escape(str(method))}</code> (<code>train.weighting.method</code>) in "
           f"{html.escape(whose)}: the mean weight each task's loss got in each epoch (for pcgrad/cagrad, the "
           "weights before the gradient projection).</p>")
    s.table(["epoch"] + tasks, [[h.get("epoch", i + 1)] + [h.get(f"weighting/{t}") for t in tasks]
                                for i, h in enumerate(history)])
    s.image("loss_weights", "loss weight per task and epoch", png_bytes(weight_curves(history)))
    return s


def _figures(run_dir: Path) -> Section:
    s = Section("figures", RUN_TITLES["figures"])
    tb = run_dir / "tensorboard"
    images = event_images(tb) if tb.is_dir() else {}
    if not images:
        s.text(f"<p>No review figures in {html.escape(str(tb))} (RAYMTL_REVIEW=0, or the run did not finish).</p>")
        return s
    s.text(f"<p>From the run's event files (tensorboard/); open them with <code>raymtl board "
           f"{html.escape(str(run_dir))}</code> to see the Embedding Projector of the label embeddings as well.</p>")
    rank = {p: i for i, p in enumerate(FIGURE_ORDER)}
    for tag in sorted(images, key=lambda t: (min((rank[p] for p in rank if t.startswith(p)), default=99), t)):
        s.image(re.sub(r"[^A-Za-z0-9_.-]+", "_", tag), tag.replace("review/", "").replace("_to_", " → "), images[tag])
    return s


def run_sections(run_dir: Path, baselines: list[tuple[str, dict[str, float]]]) -> list[Section]:
    run = load_run(run_dir)
    return [_summary(run), _metrics(run, baselines), weights_section(run), _figures(Path(run_dir))]
