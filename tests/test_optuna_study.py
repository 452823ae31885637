"""The Optuna study of a real search in its RDB storage (raymtl/search/optuna_study.py), opened with
optuna.load_study: trials, states (complete / pruned = stopped by ASHA / fail), params, intermediate
values per epoch; --resume continues the same study; --optuna-storage; `raymtl board --optuna`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pandas as pd
import pytest

from raymtl.errors import ConfigError
from raymtl.search.optuna_study import dashboard_cmd, prepare_storage, storage_url

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# test_tune.py's deterministic grid: lr 1e-12 trials stay weak (ASHA stops them), lr 0.5 trains,
# lr 1e38 diverges at its first step (the trial fails); grid seed 3 proposes 0.5, 1e38, 1e-12 first.
OVERRIDES = ["data.max_train_examples=120", "data.max_eval_examples=60", "data.vectors=", "model.embedding=random",
             "model.emb_dim=16", "train.batch_size=16", "train.patience=0", "train.epochs=3", "model.label_dim=16",
             "params.model.hidden=16", "optim.name=sgd", "optim.clip=0.0", "train.monitor=ate/acc",
             "search.algorithm=grid", "search.seed=3", "scheduler.grace_period=1", "scheduler.reduction_factor=2",
             "params.optim.lr=[1.0e-12, 0.5, 1.0e+38]", "params.schedule.gold_epochs=0",
             "params.tasks.ate.weight=1.0", "params.tasks.acd.weight=1.0", "params.schedule.tau.tau_start=0.5"]


def search(tmp_path: Path, *args: str, samples: int = 4) -> dict:
    from raymtl.tune import SearchOptions, build_parser, run_search

    a = build_parser().parse_args([str(REPO / "search_spaces" / "absa_cmtl.yaml"), "--storage", str(tmp_path),
                                   "--name", "study", "--max-concurrent", "1", "--max-failures", "0",
                                   "--num-samples", str(samples), *args])
    return run_search(SearchOptions(space=a.space, num_samples=a.num_samples, max_concurrent=a.max_concurrent,
                                    storage=a.storage, name=a.name, resume=a.resume, num_cpus=2,
                                    overrides=OVERRIDES, max_failures=a.max_failures,
                                    optuna_storage=a.optuna_storage))


@pytest.fixture
def shards(shards_root, monkeypatch):
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))


def test_search_writes_an_optuna_study_and_resume_continues_it(shards, tmp_path):
    search(tmp_path)
    exp = tmp_path / "study"
    assert (exp / "optuna.db").is_file()
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{exp / 'optuna.db'}")
    df = pd.read_csv(exp / "results.csv")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == len(df) == 4
    by_id = {t.user_attrs["ray_trial_id"]: t for t in trials}
    want = {"terminated": optuna.trial.TrialState.COMPLETE, "stopped_early": optuna.trial.TrialState.PRUNED,
            "failed": optuna.trial.TrialState.FAIL}
    for _, row in df.iterrows():
        t = by_id[row["trial"]]
        assert t.state == want[row["status"]], (row["trial"], row["status"], t.state)
        assert t.params["optim.lr"] == row["param/optim.lr"]
        (trial_dir,) = [d for d in exp.iterdir() if d.is_dir() and row["trial"] in d.name]
        reports = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]
        epochs = {r["epoch"]: r["dev_score"] for r in reports if not r.get("final") and "dev_score" in r}
        # one intermediate value per epoch trained, at step = epoch, equal to that epoch's dev score
        assert t.intermediate_values == pytest.approx(epochs), row["trial"]
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.value == pytest.approx(row["best_dev_score"])
            assert sorted(t.intermediate_values) == [1, 2, 3]
        if t.state == optuna.trial.TrialState.FAIL:
            assert t.value is None and row["param/optim.lr"] == 1e38
    states = {t.state for t in trials}
    assert optuna.trial.TrialState.COMPLETE in states and optuna.trial.TrialState.FAIL in states
    assert optuna.trial.TrialState.PRUNED in states  # the lr 1e-12 trial after the trained one
    assert study.best_trial.params["optim.lr"] == 0.5

    # --resume: Tune restores its pickled searcher, which goes on writing the same study
    search(tmp_path, "--resume", samples=4)
    again = optuna.load_study(study_name="study", storage=f"sqlite:///{exp / 'optuna.db'}")
    assert [t.number for t in again.get_trials()] == [t.number for t in trials]
    assert len(optuna.get_all_study_summaries(f"sqlite:///{exp / 'optuna.db'}")) == 1


def test_multi_objective_search_has_a_pareto_front(shards, tmp_path):
    from raymtl.tune import SearchOptions, run_search

    over = [o for o in OVERRIDES if not o.startswith(("search.algorithm", "params.optim.lr", "scheduler."))]
    run_search(SearchOptions(space=REPO / "search_spaces" / "absa_cmtl.yaml", num_samples=3, max_concurrent=1,
                             storage=str(tmp_path), name="mo", num_cpus=2, max_failures=0, overrides=over + [
                                 "train.epochs=2", "search.algorithm=nsga2", "scheduler.kind=fifo",
                                 "params.optim.lr=[0.5, 0.05, 0.005]",
                                 "objectives=[{metric: dev_score, mode: max}, {metric: train/seconds, mode: min}]"]))
    study = optuna.load_study(study_name="mo", storage=f"sqlite:///{tmp_path / 'mo' / 'optuna.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(len(t.values) == 2 and t.values[1] > 0 for t in trials)  # train/seconds from the last epoch
    assert 1 <= len(study.best_trials) <= 3  # the Pareto front


def test_optuna_storage_url_and_an_existing_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert storage_url(tmp_path / "exp") == f"sqlite:///{(tmp_path / 'exp' / 'optuna.db').resolve()}"
    assert storage_url(tmp_path, url) == url
    with pytest.raises(ConfigError) as e:
        storage_url(tmp_path, "just-a-path.db")
    assert e.value.key == "--optuna-storage"
    optuna.create_study(study_name="s", storage=url)
    with pytest.raises(ConfigError, match="already exists"):  # a named database: never deleted
        prepare_storage(url, "s", resume=False, explicit=True)
    prepare_storage(url, "s", resume=True, explicit=True)  # --resume: kept
    prepare_storage(url, "s", resume=False, explicit=False)  # the experiment's own optuna.db: replaced
    assert optuna.get_all_study_summaries(url) == []
    with pytest.raises(ConfigError, match="cannot open Optuna storage"):
        prepare_storage("postgresql://nobody@127.0.0.1:1/none", "s", resume=False, explicit=True)


def test_board_optuna_serves_the_study_on_localhost(tmp_path):
    import socket

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="demo", storage=url)
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "raymtl.cli", "board", str(tmp_path), "--optuna", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert '"demo"' in body, body
        assert "127.0.0.1" in proc.stdout.readline()  # bound to localhost
    finally:
        proc.terminate()  # SIGTERM stops `raymtl board` and the dashboard it started
        proc.wait(timeout=20)
    with pytest.raises(OSError):  # nothing answers any more: the dashboard went down with it
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2)
    with pytest.raises(Exception, match="no Optuna study"):
        dashboard_cmd(tmp_path / "nowhere")


def test_study_search_records_states_values_and_steps(tmp_path):
    """Ray's searcher object itself (no Tune run) on a real SQLite study: what each ending records."""
    from raymtl.search.optuna_search import StudySearch

    url = f"sqlite:///{tmp_path / 'o.db'}"
    storage = optuna.storages.RDBStorage(url)

    def space(trial):
        trial.suggest_float("x", 0, 1)

    so = StudySearch(space=space, metric="dev_score", mode="max", storage=storage, study_name="so")
    for tid in "abc":
        so.suggest(tid)
    so.on_trial_result("a", {"epoch": 1, "dev_score": 0.3})
    so.on_trial_result("a", {"epoch": 2, "dev_score": 0.4})
    so.on_trial_complete("a", {"epoch": 2, "dev_score": 0.4, "final": 1})
    so.on_trial_complete("b", {"epoch": 1, "dev_score": 0.2})  # the result ASHA stopped it on
    so.on_trial_complete("c", None, error=True)
    a, b, c = optuna.load_study(study_name="so", storage=url).get_trials()
    assert (a.state, a.value, a.intermediate_values) == (optuna.trial.TrialState.COMPLETE, 0.4, {1: 0.3, 2: 0.4})
    assert (b.state, b.value, b.intermediate_values) == (optuna.trial.TrialState.PRUNED, 0.2, {1: 0.2})
    assert (c.state, c.value) == (optuna.trial.TrialState.FAIL, None)
    assert [t.user_attrs["raymtl_status"] for t in (a, b, c)] == ["terminated", "stopped_early", "failed"]

    mo = StudySearch(space=space, metric=["dev_score", "train/seconds"], mode=["max", "min"], storage=storage,
                     study_name="mo")
    for tid in "abc":
        mo.suggest(tid)
    for tid, v, sec in (("a", 0.5, 3.0), ("b", 0.7, 5.0)):
        mo.on_trial_result(tid, {"epoch": 1, "dev_score": v, "train/seconds": sec})
        mo.on_trial_complete(tid, {"epoch": 1, "dev_score": v, "final": 1})  # no train/seconds: the last epoch's
    mo.on_trial_result("c", {"epoch": 1, "dev_score": 0.1, "train/seconds": 1.0})
    mo.on_trial_complete("c", {"epoch": 1, "dev_score": 0.1, "train/seconds": 1.0})
    study = optuna.load_study(study_name="mo", storage=url)
    a, b, c = study.get_trials()
    assert a.values == [0.5, 3.0] and b.values == [0.7, 5.0]
    assert c.state == optuna.trial.TrialState.FAIL and c.user_attrs["raymtl_status"] == "stopped_early"
    assert sorted(t.number for t in study.best_trials) == [0, 1]  # the Pareto front of the two finished
