"""Review of a real tiny search: TensorBoard event files (HParams, projector, images), `raymtl board`,
the HTML/Markdown report (also rendered in headless Chromium), and `raymtl effects` on the best
trial's CMTL checkpoint (causal-mtl eq. 10-11 shapes and sum rules).

One search of 3 trials × 2 epochs on 120 SemEval-14 restaurant sentences (and one `raymtl train`
smoke run) runs once per session (about two minutes on 2 CPUs); run it under
`flock /tmp/raymtl-ray.lock` on shared machines.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch

from raymtl.analysis.report import SECTIONS, TITLES

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parent.parent
SPACE_OVERRIDES = ["data.max_train_examples=120", "data.max_eval_examples=60", "train.epochs=2", "train.patience=0",
                   "model.label_dim=16", "params.model.hidden={type: fixed, value: 16}"]


@pytest.fixture(scope="session")
def experiment(tmp_path_factory, data_dir) -> Path:
    """A real search: search_spaces/absa_cmtl.yaml (CMTL, ATE -> ACD), 3 trials (importances need 3),
    1 DDP worker each; ``model.hidden`` is a constant of the space (searched: tau, lambdas, gold epochs, lr)."""
    import ray

    from raymtl.tune import SearchOptions, run_search

    storage = tmp_path_factory.mktemp("review")
    opts = SearchOptions(space=ROOT / "search_spaces" / "absa_cmtl.yaml", num_samples=3, max_concurrent=1,
                         storage=str(storage), name="tiny", num_cpus=2, scheduler="fifo",
                         overrides=list(SPACE_OVERRIDES))
    try:
        summary = run_search(opts)
    finally:
        ray.shutdown()
    assert summary["trials"] == 3 and summary["errors"] == 0, summary
    return storage / "tiny"


def _accumulator(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _runs_with_events(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("events.out.tfevents.*")})


SEARCHED = {"optim.lr", "schedule.tau.tau_start", "tasks.ate.weight", "tasks.acd.weight", "schedule.gold_epochs"}


def _hparams_runs(root: Path) -> dict[Path, tuple[dict, set, object]]:
    """run dir -> (session hparams, experiment metric tags, accumulator) of every HParams session."""
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = {}
    for run in _runs_with_events(root):
        acc = _accumulator(run)
        hparams, metric_tags = None, set()
        for raw in acc.PluginTagToContent(hp_metadata.PLUGIN_NAME).values():
            data = plugin_data_pb2.HParamsPluginData.FromString(raw)
            if data.HasField("session_start_info"):
                hparams = dict(data.session_start_info.hparams)
            if data.HasField("experiment"):
                metric_tags = {m.name.tag for m in data.experiment.metric_infos}
        if hparams is not None:
            out[run] = (hparams, metric_tags, acc)
    return out


def test_one_tensorboard_run_per_trial_whose_hparams_row_holds_its_metrics(experiment):
    """TensorBoard sees one run per trial (the trial's own ``tensorboard/``: its curves, figures,
    projector and its HParams session); the session's metrics are that trial's results.csv row."""
    import pandas as pd

    df = pd.read_csv(experiment / "results.csv")
    runs = _runs_with_events(experiment)
    assert len(runs) == len(df) == 3
    by_trial = {str(t): next(r for r in runs if f"_{t}_" in r.parent.name) for t in df["trial"]}
    assert set(by_trial.values()) == set(runs) and all(r.name == "tensorboard" for r in runs)
    sessions = _hparams_runs(experiment)
    assert set(sessions) == set(runs)
    for _, row in df.iterrows():
        hparams, metric_tags, acc = sessions[by_trial[str(row["trial"])]]
        assert set(hparams) == SEARCHED | {"status"}  # model.hidden is a constant of the space: not shown
        assert hparams["status"].string_value == "terminated"
        assert hparams["optim.lr"].number_value == pytest.approx(row["param/optim.lr"])
        scalars = set(acc.Tags()["scalars"])
        assert {"dev/ate/f1", "train/loss/acd", "test/acd/main"} <= scalars  # the trial's curves, same run
        for key in ("best_dev_score", "dev/ate/main", "dev/mean/main", "test/acd/main"):
            assert f"hparam/{key}" in metric_tags
            assert acc.Scalars(f"hparam/{key}")[-1].value == pytest.approx(row[key], abs=1e-6)


def test_trial_runs_hold_scalars_per_task_projector_and_figures(experiment):
    runs = [r for r in _runs_with_events(experiment) if r.name == "tensorboard" and r.parent != experiment]
    assert len(runs) == 3  # each trial's own run (the Runner's SummaryWriter)
    for run in runs:
        acc = _accumulator(run)
        scalars = set(acc.Tags()["scalars"])
        assert {"dev/ate/f1", "dev/acd/f1", "train/loss/ate", "train/loss/acd", "test/ate/main"} <= scalars
        images = set(acc.Tags()["images"])
        assert {"review/learning_curves", "review/label_map", "review/confusion/ate", "review/confusion/acd",
                "review/causal_effects/ate_to_acd"} <= images
        for tag in images:
            assert acc.Images(tag)[-1].encoded_image_string.startswith(PNG)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _session_groups(url: str, n: int) -> list[dict]:
    """The HParams table as TensorBoard's HParams plugin serves it (waits for ``n`` rows)."""
    body = {"experimentName": "", "startIndex": 0, "sliceSize": 100,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [{"metric": {"tag": "hparam/best_dev_score", "group": ""}}, {"hparam": "status"}]}
    deadline, groups = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        groups = _post(url + "data/plugin/hparams/session_groups", body).get("sessionGroups", [])
        if len(groups) >= n:
            break
        time.sleep(0.5)
    return groups


def test_board_serves_hparams_images_and_the_projector(experiment):
    """`raymtl board` starts TensorBoard and prints its URL; its projector plugin reads the label
    embeddings (causal-mtl eq. 1) with label names as metadata."""
    proc = subprocess.Popen([sys.executable, "-m", "raymtl.cli", "board", str(experiment), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+/)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = m.group(1)
        plugins = json.loads(_get(url + "data/plugins_listing"))
        assert {"hparams", "images", "scalars", "projector"} <= set(plugins)
        import pandas as pd

        df = pd.read_csv(experiment / "results.csv")
        groups = _session_groups(url, len(df))
        assert sorted(json.loads(_get(url + "data/runs"))) == sorted(g["name"] for g in groups)  # one run a trial
        assert len(groups) == len(df) and all(g["name"].endswith("/tensorboard") for g in groups)
        for _, row in df.iterrows():
            group = next(g for g in groups if f"_{row['trial']}_" in g["name"])
            values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
            assert values["hparam/best_dev_score"] == pytest.approx(row["best_dev_score"], abs=1e-6)
            assert values["hparam/test/ate/main"] == pytest.approx(row["test/ate/main"], abs=1e-6)
            assert group["hparams"]["status"] == "terminated" and "model.hidden" not in group["hparams"]
        projector = url + "data/plugin/projector/"
        deadline, runs = time.monotonic() + 60, []
        while time.monotonic() < deadline and not runs:
            runs = [r for r in json.loads(_get(projector + "runs")) if r.endswith("tensorboard") and "trial_" in r]
            time.sleep(0.5 if not runs else 0)
        assert runs, "the projector found no run with label embeddings"
        info = json.loads(_get(projector + "info?" + urllib.parse.urlencode({"run": runs[0]})))
        names = [e["tensorName"] for e in info["embeddings"]]
        assert any(n.startswith("label_embeddings/ate") for n in names), names
        name = next(n for n in names if n.startswith("label_embeddings/ate"))
        meta = _get(projector + "metadata?" + urllib.parse.urlencode({"run": runs[0], "name": name})).decode()
        assert meta.split() == ["O", "B-ASP", "I-ASP"]  # label names, one per embedding row
        tensor = _get(projector + "tensor?" + urllib.parse.urlencode({"run": runs[0], "name": name}))
        assert len(tensor) == 3 * 16 * 4  # 3 labels × label_dim 16, float32
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def report(experiment, tmp_path_factory) -> tuple[Path, Path]:
    from raymtl.cli import main

    out = tmp_path_factory.mktemp("report") / "review.html"
    assert main(["report", str(experiment), "--out", str(out)]) == 0
    return out, out.with_suffix(".md")


def test_report_has_every_section_with_embedded_images(report):
    html_path, md_path = report
    text = html_path.read_text()
    for key in SECTIONS:
        assert f'<section id="{key}">' in text and TITLES[key] in text
    sections = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', text, flags=re.S))
    images = {k: re.findall(r'src="data:image/png;base64,([^"]+)"', v) for k, v in sections.items()}
    for key in ("best-so-far", "parallel-coordinates", "importances", "weights"):
        assert len(images[key]) == 1, key
    assert "<code>fixed</code>" in sections["weights"] and "<th>acd</th><th>ate</th>" in sections["weights"]
    assert len(images["figures"]) >= 5  # learning curves, causal effects, 2 confusion matrices, label map
    for blobs in images.values():
        assert all(base64.b64decode(b).startswith(PNG) for b in blobs)
    assert "src=\"http" not in text and "src='http" not in text  # self-contained
    summary = sections["summary"]
    for item in ("budget", "trials finished", "trials stopped early", "trials failed", "Best configuration"):
        assert item in summary
    assert "3 trials × up to 2 epochs" in summary
    assert "ate dev" in sections["metrics"] and "acd test" in sections["metrics"]
    md = md_path.read_text()
    for key in SECTIONS:
        assert f"## {TITLES[key]}" in md
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert len(linked) == sum(len(v) for v in images.values())
    assert all((md_path.parent / p).read_bytes().startswith(PNG) for p in linked)


def test_report_compares_with_single_task_baselines(experiment, tmp_path):
    from raymtl.analysis.report import write_report

    base = tmp_path / "stl_ate"
    base.mkdir()
    (base / "results.json").write_text(json.dumps({"name": "stl_ate", "config": {"model": {"arch": "stl_bilstm"}},
                                                   "dev": {"ate/main": 0.42}, "test": {"ate/main": 0.4125}}))
    html_path, _ = write_report(experiment, out=tmp_path / "r.html", baselines=[base])
    metrics = re.search(r'<section id="metrics">(.*?)</section>', html_path.read_text(), flags=re.S).group(1)
    assert "baseline: stl_ate (stl_bilstm)" in metrics and "0.4125" in metrics


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    msg = "headless Chromium not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def test_report_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    html_path, _ = report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=5000"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([exe, *flags, f"--user-data-dir={profile}", "--dump-dom", html_path.as_uri()],
                             capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and "Failed to load resource" not in dom.stderr, dom.stderr[-2000:]
    for key in SECTIONS:
        assert f'id="{key}"' in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") == html_path.read_text().count("data:image/png;base64,")
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([exe, *flags, f"--user-data-dir={profile}", f"--screenshot={shot}",
                            "--window-size=1200,2400", html_path.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.std() > 0.01  # the page drew something besides a blank canvas


def test_effects_of_the_best_cmtl_checkpoint(experiment, tmp_path, capsys):
    """`raymtl effects` on the best trial's CMTL: shapes and the sum rules of causal-mtl eq. 10-11."""
    from raymtl.analysis.causal_effects import estimate_causal_effects, ngram_effects, upper_probability
    from raymtl.analysis.commands import load_checkpoint, split_batches
    from raymtl.cli import main
    from raymtl.models.base import StepContext

    torch.set_num_threads(1)
    assert main(["effects", str(experiment), "--split", "test", "--max-examples", "48", "--out", str(tmp_path),
                 "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "causal effects ate -> acd" in out and "effect Ψ(a,b)" in out
    table = [line for line in out.splitlines() if re.match(r"^(O|B-ASP|I-ASP)\s+\S", line)]
    assert len(table) == 5
    assert (tmp_path / "effects_ate_to_acd.png").read_bytes().startswith(PNG)
    res = json.loads((tmp_path / "effects.json").read_text())["pairs"][0]
    assert res["lower_labels"] == ["O", "B-ASP", "I-ASP"] and len(res["upper_labels"]) == 5
    eff = torch.tensor(res["effects"])
    assert eff.shape == (3, 5) and torch.isfinite(eff).all()
    assert res["counts"][0] == 48  # every sentence has O tokens

    loaded = load_checkpoint(experiment)
    batches = split_batches(loaded, "test", max_examples=48)
    model = loaded.model
    # eq. 10 with every unit intervened on: the effects of all lower labels cancel for each upper label
    allsub = estimate_causal_effects(model, batches, "ate", "acd", subset="all")
    assert allsub.effects.shape == (3, 5)
    assert torch.allclose(allsub.effects.sum(0), torch.zeros(5), atol=1e-5)
    # eq. 11 on the (softmax) tagging task: each n-gram's effects sum to 0 over the labels
    spans, psi = ngram_effects(model, batches[0], "ate", n=4)[0]
    assert psi.shape == (len(spans), 3) and torch.allclose(psi.sum(1), torch.zeros(len(spans)), atol=1e-5)
    # ... and on ACD they are f(b | X) - f(b | X with the n-gram masked), by hand for the first span
    spans, psi = ngram_effects(model, batches[0], "acd", n=4)[0]
    ctx = StepContext(training=False, gold_labels=False)
    from raymtl.analysis.causal_effects import _rows

    one = _rows(batches[0], [0, 0])
    s, e = spans[0]
    one.tokens[1, s:e] = 1
    with torch.no_grad():
        p = upper_probability("multilabel", model.run(one, ctx)["acd"], one.mask)
    assert torch.allclose(psi[0], (p[0] - p[1]).float(), atol=1e-6)


def test_importance_chart_and_table_show_the_numbers_of_importances_json(experiment, report):
    """The report draws the importances it tabulates, and both are importances.json."""
    from raymtl.analysis.report import load_experiment
    from raymtl.analysis.search_review import importance_figure, importance_values, replay_study

    saved = json.loads((experiment / "importances.json").read_text())
    assert set(saved) == SEARCHED and abs(sum(saved.values()) - 1.0) < 1e-6  # fANOVA shares, searched only
    exp = load_experiment(experiment)
    values, source = importance_values(exp, replay_study(exp))
    assert values == saved and source == "importances.json"
    ax = importance_figure(values).axes[0]
    bars = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert bars == pytest.approx(saved)
    assert [t.get_text() for t in ax.texts] == [f"{v:.4f}" for v in bars.values()]  # printed on the bars
    section = re.search(r'<section id="importances">(.*?)</section>', report[0].read_text(), flags=re.S).group(1)
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>([0-9.]+)</td></tr>", section))
    assert rows == {k: f"{v:.4f}" for k, v in saved.items()}
    assert "importances.json" in section


def test_parallel_coordinates_and_replay_use_only_the_searched_parameters(experiment):
    """model.hidden is a column of results.csv (a constant of the space), not a searched parameter."""
    import pandas as pd

    from raymtl.analysis.report import load_experiment
    from raymtl.analysis.search_review import parallel_figure, replay_study

    assert "param/model.hidden" in pd.read_csv(experiment / "results.csv")
    assert set(json.loads((experiment / "summary.json").read_text())["searched"]) == SEARCHED
    exp = load_experiment(experiment)
    study = replay_study(exp)
    assert len(study.trials) == 3 and all(set(t.params) == SEARCHED for t in study.trials)
    fig = parallel_figure(exp, study)
    axes = [t.get_text().removesuffix("...") for t in fig.axes[0].get_xticklabels()]  # Optuna shortens names
    names = sorted(SEARCHED | {exp.score_col})
    assert sorted(next(n for n in names if n.startswith(a)) for a in axes) == names
    # an experiment of an older raymtl (no `searched` in summary.json): constants are inferred
    from raymtl.analysis.report import searched_in

    assert set(searched_in({}, exp.results)) == SEARCHED


# ---- `raymtl board` stops its TensorBoard -------------------------------------------------------
def _board(logdir: Path) -> tuple[subprocess.Popen, str, int]:
    """`raymtl board` in a subprocess: (process, URL, pid of its TensorBoard child)."""
    proc = subprocess.Popen([sys.executable, "-m", "raymtl.cli", "board", str(logdir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    m = re.search(r"(http://\S+/)", line)
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    child = int(children[0])
    assert b"tensorboard" in Path(f"/proc/{child}/cmdline").read_bytes()
    assert json.loads(_get(m.group(1) + "data/environment"))  # TensorBoard answers
    return proc, m.group(1), child


def _gone(pid: int, timeout: float = 20.0) -> bool:
    """The process has exited (a zombie not yet reaped by its parent counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def event_dir(tmp_path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "run")) as w:
        w.add_scalar("dev/score", 0.5, 1)
    return tmp_path


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_stopping_board_stops_its_tensorboard(event_dir, sig):
    """SIGTERM (kill), SIGINT (Ctrl-C) or SIGHUP (terminal closed) sent to `raymtl board` alone: it
    stops its real TensorBoard child, says so, and exits 0."""
    import signal

    proc, url, child = _board(event_dir)
    try:
        proc.send_signal(getattr(signal, sig))
        assert proc.wait(timeout=30) == 0
        assert _gone(child), f"TensorBoard {child} still runs after {sig}"
        with pytest.raises(OSError):
            _get(url + "data/environment")
        err = proc.stderr.read()
        assert "TensorBoard stopped" in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_tensorboard_dies_with_a_killed_board(event_dir):
    """Even SIGKILL of `raymtl board` (no handler runs) takes its TensorBoard down (Linux)."""
    import signal

    if sys.platform != "linux":
        pytest.skip("parent-death signal is Linux-only")
    proc, _url, child = _board(event_dir)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _gone(child), f"TensorBoard {child} outlived its killed board"


# ---- the review commands on a `raymtl train` run directory -----------------------------------------
@pytest.fixture(scope="session")
def train_run(tmp_path_factory, data_dir) -> Path:
    """`raymtl train configs/absa_cmtl.yaml --smoke-test`: a run directory (results.json, tensorboard/, checkpoints)."""
    import ray

    from raymtl.train.run import run_train

    storage = tmp_path_factory.mktemp("train-review")
    try:
        summary = run_train(ROOT / "configs" / "absa_cmtl.yaml", smoke_test=True, storage=str(storage), name="smoke",
                            overrides=["model.label_dim=16", "model.hidden=16"], quiet=True)
    finally:
        ray.shutdown()
    run = next(p.parent for p in storage.rglob("results.json") if p.parent.name == "smoke")
    assert summary["epochs_run"] >= 1
    return run


def test_report_board_and_effects_on_a_train_run(train_run, tmp_path, capsys):
    from raymtl.analysis.run_report import RUN_SECTIONS, RUN_TITLES
    from raymtl.cli import main

    out = tmp_path / "run.html"
    assert main(["report", str(train_run), "--out", str(out)]) == 0
    text = out.read_text()
    sections = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', text, flags=re.S))
    assert list(sections) == list(RUN_SECTIONS) and all(RUN_TITLES[k] in text for k in RUN_SECTIONS)
    results = json.loads((train_run / "results.json").read_text())
    assert f"<td>ate/main</td><td>{results['dev']['ate/main']:.4f}</td>" in sections["metrics"]
    # fixed λ: each epoch's row holds the config's task weights, as the loop recorded them
    lam = {t["name"]: t["weight"] for t in results["config"]["tasks"]}
    for h in results["history"]:
        assert f"<td>{h['epoch']}</td><td>{lam['acd']:.4f}</td><td>{lam['ate']:.4f}</td>" in sections["weights"]
    assert len(re.findall(r'src="data:image/png;base64,', sections["weights"])) == 1
    figures = re.findall(r'src="data:image/png;base64,([^"]+)"', sections["figures"])
    assert len(figures) >= 4 and all(base64.b64decode(b).startswith(PNG) for b in figures)
    assert out.with_suffix(".md").read_text().startswith("# raymtl run report: smoke")

    assert main(["effects", str(train_run), "--split", "test", "--max-examples", "16", "--out", str(tmp_path),
                 "--top", "3"]) == 0
    assert "causal effects ate -> acd" in capsys.readouterr().out
    assert (tmp_path / "effects_ate_to_acd.png").read_bytes().startswith(PNG)

    proc, url, child = _board(train_run)
    try:
        deadline, runs = time.monotonic() + 60, []
        while time.monotonic() < deadline and not runs:
            runs = json.loads(_get(url + "data/runs"))
            time.sleep(0.5 if not runs else 0)
        assert runs == ["tensorboard"]  # the run's one TensorBoard run
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert _gone(child)


def test_hparams_sessions_of_failed_and_never_started_trials(tmp_path):
    """A trial with a directory gets its session there; a trial that ran elsewhere (s3:// storage:
    no local trial dir) gets one under trial_<id>/; a trial that never started gets none. The
    quickstart's constant `model.label_dim: 32` is not an HParam."""
    import pandas as pd

    from raymtl.analysis.search_review import HPARAMS_FILE, searched_params, write_hparams
    from raymtl.search.space import load_space

    space = load_space(ROOT / "search_spaces" / "quickstart.yaml")
    assert "model.label_dim" not in searched_params(space) and "optim.lr" in searched_params(space)
    (tmp_path / "trial_aaaa0001_1_model_hidden=32_2026").mkdir()
    df = pd.DataFrame([
        {"trial": "aaaa0001", "status": "terminated", "epochs_run": 4, "param/model.hidden": 32,
         "param/model.label_dim": 32, "param/optim.lr": 0.002, "best_dev_score": 0.5, "dev/ate/main": 0.4},
        {"trial": "bbbb0002", "status": "failed", "epochs_run": 1, "param/model.hidden": 64,
         "param/model.label_dim": 32, "param/optim.lr": 0.004, "best_dev_score": float("nan")},
        {"trial": "cccc0003", "status": "not_started", "param/model.hidden": 64, "param/model.label_dim": 32,
         "param/optim.lr": 0.003}])
    runs = write_hparams(space, df, tmp_path)
    assert runs == [next(tmp_path.glob("trial_aaaa0001_*")) / "tensorboard", tmp_path / "trial_bbbb0002" / "tensorboard"]
    sessions = _hparams_runs(tmp_path)
    assert set(sessions) == set(runs) and not list(tmp_path.glob("*cccc0003*"))
    hp, metric_tags, acc = sessions[runs[0]]
    assert set(hp) == {"model.hidden", "optim.lr", "status"} and hp["status"].string_value == "terminated"
    assert metric_tags == {"hparam/best_dev_score", "hparam/dev/ate/main"}  # every trial's metrics
    assert acc.Scalars("hparam/dev/ate/main")[-1].value == pytest.approx(0.4)
    hp, metric_tags, acc = sessions[runs[1]]
    assert hp["status"].string_value == "failed" and not acc.Tags()["scalars"]  # no metric it never had
    write_hparams(space, df, tmp_path)  # --resume rewrites the session instead of adding one
    assert [p.name for p in runs[0].iterdir()] == [HPARAMS_FILE]
