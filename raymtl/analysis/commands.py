"""``raymtl effects``, ``raymtl report`` and ``raymtl board``: the review commands (Ray-free).

``effects`` rebuilds a trained model from a checkpoint directory (``config.json``, ``vocab.json``,
``best_model.pt`` or ``state.pt``, as the training loop writes them) through the model registry,
and computes causal-mtl eq. 10 on a split. ``report`` writes the HTML + Markdown review of an
experiment (see :mod:`raymtl.analysis.report`). ``board`` starts TensorBoard on a run or an
experiment and prints its URL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from raymtl import atomic
from raymtl.errors import RaymtlError

CHECKPOINT_FILES = ("best_model.pt", "state.pt")


# ---- the command line (registered by raymtl/cli.py) ----------------------------------------------
def add_parsers(sub) -> None:
    """The ``effects``, ``report`` and ``board`` subcommands."""
    p = sub.add_parser("effects", help="causal effects of lower-task labels on upper-task labels (causal-mtl eq. 10)",
                       description="Load a trained CMTL checkpoint (a checkpoint directory with config.json, "
                                   "vocab.json and best_model.pt/state.pt; or a run / experiment directory: its "
                                   "newest / best trial's checkpoint), compute causal-mtl eq. 10 on a split for "
                                   "every (lower, upper) pair of the task chain, print the strongest effects and "
                                   "write a heatmap PNG and effects.json.")
    p.add_argument("checkpoint", help="checkpoint, run or experiment directory")
    p.add_argument("--split", default="test", help="data split (default test)")
    p.add_argument("--lower", help="only this lower task (default: every task below the top)")
    p.add_argument("--upper", help="only this upper task")
    p.add_argument("--subset", choices=["observed", "all"], default="observed",
                   help="observed: units carrying label a switched to a' (the paper's reading); all: every unit "
                        "set to a vs a' (default observed)")
    p.add_argument("--top", type=int, default=15, help="rows of the printed table (default 15)")
    p.add_argument("--max-examples", type=int, help="use only the first N examples of the split")
    p.add_argument("--out", help="directory for the heatmaps and effects.json (default: the checkpoint's)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the CPUs the host leaves idle, "
                   "from the 1-minute load average; at least 1)")
    p = sub.add_parser("report", help="HTML + Markdown report of a search",
                       description="Write a self-contained HTML report (and a Markdown twin) of a `raymtl tune` "
                                   "experiment: summary, best-so-far curve, parallel coordinates, importances, "
                                   "per-task metrics vs single-task baselines, and the best trial's figures.")
    p.add_argument("experiment", help="experiment directory (STORAGE/NAME of `raymtl tune`)")
    p.add_argument("--out", help="HTML file (default EXPERIMENT_DIR/report.html; the .md goes beside it)")
    p.add_argument("--baseline", action="append", default=[], metavar="DIR",
                   help="single-task baseline: a `raymtl train` run dir (results.json) or an experiment dir; "
                        "repeatable (EXPERIMENT_DIR/baselines/* are picked up too)")
    p.add_argument("--top", type=int, default=3, help="best trials in the metric table (default 3)")
    p = sub.add_parser("board", help="start TensorBoard on a run or an experiment and print its URL",
                       description="TensorBoard with HParams (every trial), scalars per trial and task, review "
                                   "figures (Images) and label embeddings (Projector).")
    p.add_argument("run_dir", help="a run directory or an experiment directory")
    p.add_argument("--port", type=int, default=6006, help="port (default 6006; 0: any free port)")
    p.add_argument("--host", default="localhost", help="interface to bind (default localhost; 0.0.0.0: all)")
    p.add_argument("--optuna", action="store_true",
                   help="optuna-dashboard on the experiment's Optuna study (optuna.db; or RUN_DIR = a storage "
                        "URL) instead of TensorBoard, on 127.0.0.1:8080 unless --host/--port say otherwise "
                        "(pip install 'raymtl[dashboard]')")


def _cmd_effects(args) -> int:
    effects_cmd(args.checkpoint, split=args.split, lower=args.lower, upper=args.upper, subset=args.subset,
                top=args.top, out=args.out, max_examples=args.max_examples, threads=args.threads)
    return 0


def _cmd_report(args) -> int:
    report_cmd(args.experiment, out=args.out, baselines=args.baseline, top=args.top)
    return 0


def _cmd_board(args) -> int:
    if args.optuna:
        from raymtl.search.optuna_study import dashboard_cmd

        return dashboard_cmd(args.run_dir, port=8080 if args.port == 6006 else args.port,
                             host="127.0.0.1" if args.host == "localhost" else args.host)
    return board_cmd(args.run_dir, port=args.port, host=args.host)


HANDLERS = {"effects": _cmd_effects, "report": _cmd_report, "board": _cmd_board}


# ---- loading a checkpoint ---------------------------------------------------------------------
def _is_checkpoint(d: Path) -> bool:
    return (d / "config.json").is_file() and any((d / f).is_file() for f in CHECKPOINT_FILES)


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint directory meant by ``path``: itself; for an experiment directory (with
    ``summary.json``) the best trial's newest checkpoint; else the newest checkpoint below it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise RaymtlError(f"{p}: no such checkpoint, run or experiment directory")
    if _is_checkpoint(p):
        return p
    roots = [p]
    summary = p / "summary.json"
    if summary.is_file():
        best = json.loads(summary.read_text()).get("best_trial")
        if best:
            # TorchTrainer trials keep checkpoints in train/<id>, in-process trials in their trial dir
            roots = [d for d in (p / "train" / str(best), *sorted(p.glob(f"*_{best}_*"))) if d.is_dir()] + roots
    for root in roots:
        found = [d.parent for d in root.rglob("config.json") if _is_checkpoint(d.parent)]
        if found:
            return max(found, key=lambda d: max((d / f).stat().st_mtime for f in CHECKPOINT_FILES
                                                if (d / f).exists()))
    raise RaymtlError(f"{p}: no checkpoint found (a directory with config.json and "
                      f"{' or '.join(CHECKPOINT_FILES)}, as `raymtl train` writes them)")


@dataclass
class LoadedModel:
    model: Any
    cfg: Any
    data: Any
    directory: Path
    weights: str


def load_checkpoint(path: str | Path, *, log: Callable[[str], None] = lambda _m: None) -> LoadedModel:
    """Rebuild the model of a checkpoint through the registry and load its best (else last) weights."""
    from raymtl.train.config import TrainConfig
    from raymtl.train.build import build_model
    from raymtl.train.checkpoint import BEST_FILE, STATE_FILE, load_tensors
    from raymtl.train.data import TrainData, resolve_shards

    d = find_checkpoint(path)
    cfg = TrainConfig.from_dict(json.loads((d / "config.json").read_text()), file=d / "config.json")
    data = TrainData(cfg, resolve_shards(cfg, log=log))
    vocab_file = d / "vocab.json"
    if vocab_file.is_file():
        saved = json.loads(vocab_file.read_text())
        if list(saved) != list(data.vocab.itos) and list(saved) == list(data.vocab.itos[:data.vocab.n_train]):
            # trained before dev/test words got their pretrained vectors: the train vocabulary alone
            cfg.data.vectors_all_splits = False
            data = TrainData(cfg, data.locations)
        if list(saved) != list(data.vocab.itos):
            raise RaymtlError(f"{vocab_file}: the vocabulary differs from the one the prepared shards give now "
                              f"({len(saved)} vs {len(data.vocab.itos)} words); re-prepare the dataset the model "
                              "was trained on")
    model = build_model(cfg, data, log=log)
    if (d / BEST_FILE).is_file():
        state, weights = load_tensors(d / BEST_FILE), BEST_FILE  # CheckpointError names a bad file
    else:
        state, weights = load_tensors(d / STATE_FILE)["model"], STATE_FILE
    model.load_state_dict(state)
    model.eval()
    return LoadedModel(model, cfg, data, d, weights)


def split_batches(loaded: LoadedModel, split: str, *, max_examples: int | None = None) -> list:
    from raymtl.analysis.tensorboard import eval_batches

    for ds, m in loaded.data.manifests.items():
        if split not in m.splits:
            raise RaymtlError(f"dataset {ds} has no split {split!r} (splits: {', '.join(m.splits)})")
    streams = loaded.data.streams(split, limit=max_examples)
    return eval_batches(streams, loaded.cfg.train.eval_batch_size, max_batches=10 ** 9)


# ---- effects ------------------------------------------------------------------------------------
def format_effects_table(effects, top: int = 15) -> str:
    rows = effects.table(threshold=0.0)[:top]
    counts = {lab: int(c) for lab, c in zip(effects.lower_labels, effects.counts.tolist())}
    head = (f"{'do(' + effects.lower + ' = a)':<24} {effects.upper + ' label b':<28} {'effect Ψ(a,b)':>14} "
            f"{'n(a)':>6}")
    lines = [head, "-" * len(head)]
    for a, b, v in rows:
        lines.append(f"{a:<24} {b:<28} {v:>+14.4f} {counts.get(a, 0):>6}")
    return "\n".join(lines)


def idle_cpus(most: int, *, cpus: int | None = None, load: float | None = None) -> int:
    """The CPUs the host leaves idle (its CPUs minus the 1-minute load average), between 1 and ``most``.
    torch's default, a thread per core, is about 13x slower on a host whose cores are busy with other jobs
    (`raymtl effects`, 64 examples, 2 cores each running a training: 66 s at 2 threads, 5 s at 1; idle,
    2 threads take 5.5 s and 1 thread 8.5 s for 480 examples)."""
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    load = load if load is not None else os.getloadavg()[0]
    return max(1, min(most, cpus - int(round(load))))


class ProgressLine:
    """``label: done/total examples (pct), elapsed, ETA`` on stderr, at most every ``every`` seconds."""

    def __init__(self, label: str, total: int, *, every: float = 5.0, stream=None):
        self.label, self.total, self.every = label, total, every
        self.stream = stream if stream is not None else sys.stderr
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every or done >= self.total:
            return
        self.last = now
        spent = now - self.started
        eta = spent / max(done, 1) * (self.total - done)
        print(f"{self.label}: {done}/{self.total} examples ({100 * done / self.total:.0f}%), {spent:.0f}s, "
              f"ETA {eta:.0f}s", file=self.stream, flush=True)


def effects_cmd(checkpoint: str | Path, *, split: str = "test", lower: str | None = None, upper: str | None = None,
                subset: str = "observed", top: int = 15, out: str | Path | None = None,
                max_examples: int | None = None, threads: int | None = None) -> dict[str, Any]:
    """causal-mtl eq. 10 for a trained CMTL checkpoint: prints the strongest effects, writes a heatmap
    PNG and ``effects.json`` per (lower, upper) pair; returns ``{"pairs": [...], "files": [...]}``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or idle_cpus(before))
    try:
        return _effects(checkpoint, split=split, lower=lower, upper=upper, subset=subset, top=top, out=out,
                        max_examples=max_examples)
    finally:  # called in-process (tests, notebooks): the caller's thread count stays as it was
        torch.set_num_threads(before)


def _effects(checkpoint: str | Path, *, split: str, lower: str | None, upper: str | None, subset: str, top: int,
             out: str | Path | None, max_examples: int | None) -> dict[str, Any]:
    from raymtl.analysis.causal_effects import estimate_causal_effects
    from raymtl.analysis.plots import png_bytes
    from raymtl.analysis.tensorboard import effects_figure
    import torch

    from raymtl.models.base import StepContext

    loaded = load_checkpoint(checkpoint, log=lambda m: print(m, file=sys.stderr))
    model = loaded.model
    if not getattr(model, "lt", False) or not hasattr(model, "run"):
        raise RaymtlError(f"{loaded.directory}: architecture {loaded.cfg.arch!r} has no label transfer; causal "
                          "effects of labels (causal-mtl eq. 10) need cmtl, cmtl_direct, cmtl_indirect or hmtl_lt")
    chain = list(model.chain)
    for name, t in (("--lower", lower), ("--upper", upper)):
        if t is not None and t not in chain:
            raise RaymtlError(f"{name} {t!r}: not a task of the model (chain: {' -> '.join(chain)})")
    pairs = [(lo, up) for i, lo in enumerate(chain) for up in chain[i + 1:]
             if (lower is None or lo == lower) and (upper is None or up == upper)]
    if not pairs:
        want = " and ".join(x for x in (f"lower task {lower!r}" if lower else "",
                                         f"upper task {upper!r}" if upper else "") if x)
        raise RaymtlError(f"no (lower, upper) pair with {want} in the chain {' -> '.join(chain)} "
                          "(the lower task must come before the upper one)")
    batches = split_batches(loaded, split, max_examples=max_examples)
    n_examples = sum(b.size for b in batches)
    out_dir = Path(out) if out is not None else loaded.directory
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"model {loaded.cfg.arch} from {loaded.directory} ({loaded.weights}); split {split}: {n_examples} "
          f"examples; chain {' -> '.join(chain)}; {torch.get_num_threads()} torch thread(s) (--threads)")
    results, files = [], []
    ctx = StepContext(training=False, gold_labels=False)
    for lo, up in pairs:
        started = time.perf_counter()
        eff = estimate_causal_effects(model, batches, lo, up, subset=subset, ctx=ctx,  # causal-mtl eq. 10
                                      progress=ProgressLine(f"effects {lo} -> {up}", n_examples))
        print(f"\ncausal effects {lo} -> {up} (causal-mtl eq. 10, subset={subset}; "
              f"{time.perf_counter() - started:.1f}s), strongest {top}:")
        print(format_effects_table(eff, top))
        png = out_dir / f"effects_{lo}_to_{up}.png"
        png.write_bytes(png_bytes(effects_figure(eff)))
        files.append(png)
        results.append({"lower": lo, "upper": up, "subset": subset, "split": split, "examples": n_examples,
                        "lower_labels": eff.lower_labels, "upper_labels": eff.upper_labels,
                        "effects": eff.effects.tolist(), "counts": eff.counts.tolist(),
                        "strongest": [list(r) for r in eff.table(threshold=0.0)[:top]]})
        print(f"heatmap: {png}")
    js = out_dir / "effects.json"
    atomic.write_json(js, {"checkpoint": str(loaded.directory), "pairs": results})
    files.append(js)
    return {"pairs": results, "files": files}


# ---- report ---------------------------------------------------------------------------------------
def report_cmd(experiment: str | Path, *, out: str | Path | None = None, baselines: list[str] | None = None,
               top: int = 3) -> Path:
    from raymtl.analysis.report import write_report

    html, md = write_report(experiment, out=out, baselines=baselines or [], top=top)
    print(f"report: {html}\nmarkdown: {md}")
    return html


# ---- board ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BoardStopped(Exception):
    """SIGTERM / SIGHUP reached ``raymtl board``."""


def _die_with_parent() -> None:
    """In the TensorBoard child (Linux): get SIGTERM when ``raymtl board`` dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_board(proc: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """Stop a TensorBoard child: SIGTERM, then SIGKILL after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def start_board(logdir: str | Path, *, port: int = 6006, host: str = "localhost", timeout: float = 90.0
                ) -> tuple[subprocess.Popen, str]:
    """Start TensorBoard on ``logdir`` and wait until it answers; returns (process, URL). The child
    runs in its own session (a terminal's Ctrl-C reaches ``raymtl board``, which stops it) and, on
    Linux, is sent SIGTERM if its parent dies."""
    d = Path(logdir).expanduser()
    if not d.is_dir():
        raise RaymtlError(f"{d}: no such run or experiment directory")
    if not any(d.rglob("events.out.tfevents.*")):
        raise RaymtlError(f"{d}: no TensorBoard event files below it (train or tune first)")
    port = port or free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(d), "--port", str(port), "--host", host,
           "--reload_interval", "15"]
    # Its log goes to a file: a pipe nobody reads would block TensorBoard once it fills.
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True, start_new_session=True,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read()
                raise RaymtlError(f"TensorBoard exited with status {proc.returncode}: {err.strip()[-800:]}"
                                  f"{' (is the port in use? try --port 0)' if 'already in use' in err else ''}")
            try:
                with urllib.request.urlopen(url + "data/environment", timeout=2) as r:
                    if r.status == 200:
                        return proc, url
            except OSError:
                time.sleep(0.5)
        raise RaymtlError(f"TensorBoard did not answer at {url} within {timeout:.0f}s")
    except BaseException:  # also Ctrl-C / SIGTERM while it starts
        stop_board(proc)
        raise
    finally:
        log.close()


def board_cmd(run_dir: str | Path, *, port: int = 6006, host: str = "localhost") -> int:
    """TensorBoard until it exits or ``raymtl board`` is stopped (Ctrl-C, SIGTERM, SIGHUP: the
    child is stopped too; exit status 0)."""
    def stopped(signum, _frame):
        raise BoardStopped(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, stopped)
        except ValueError:  # not the main thread: the caller handles signals
            pass
    proc = None
    try:
        proc, url = start_board(run_dir, port=port, host=host)
        print(f"TensorBoard on {Path(run_dir).resolve()} at {url}  (HParams, Scalars, Images, Projector; "
              "Ctrl-C stops it)", flush=True)
        return proc.wait()
    except (KeyboardInterrupt, BoardStopped) as e:
        print(f"raymtl board: {'interrupted' if isinstance(e, KeyboardInterrupt) else e}: TensorBoard stopped",
              file=sys.stderr)
        return 0
    finally:
        if proc is not None:
            stop_board(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
