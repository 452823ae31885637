"""Auxiliary-task selection (raymtl aux-select) and the schedule report.

The Ray tests run real Ray Tune + Ray Train trials on real shards with a tiny budget (120 training
examples per dataset, 1 epoch, hidden size 8); run them under ``flock /tmp/raymtl-ray.lock``.
"""

from __future__ import annotations

import json
import math

import pytest

from raymtl.errors import ConfigError
from raymtl.search import aux_select as axs

POOL = ["twitter-target-dong14:sentiment", "semeval16-absa-rest:polarity"]
MAIN = "semeval16-stance:stance"
TINY = ["model.hidden=8", "model.emb_dim=8", "model.label_dim=8", "model.ltn_hidden=8", "data.max_train_examples=120",
        "data.max_eval_examples=60", "train.epochs=1", "train.patience=0", "train.batch_size=32"]


def _opts(tmp_path, **kw) -> axs.AuxSelectOptions:
    base = dict(main=MAIN, pool=list(POOL), seeds=1, storage=str(tmp_path), name="sel", overrides=list(TINY),
                num_cpus=4, max_concurrent=2)
    base.update(kw)
    return axs.AuxSelectOptions(**base)


# ---- no Ray ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pool, needle", [
    (["twitter-target-dong14:sentiment", "fnc1:nope"], "dataset 'fnc1' has no task 'nope'"),
    (["no-such-dataset:stance"], "unknown dataset 'no-such-dataset'"),
    (["semeval16-stance:stance"], "is the main task"),
    (["fnc1"], "write DATASET:TASK"),
])
def test_unknown_task_fails_before_any_trial(tmp_path, monkeypatch, pool, needle):
    from raymtl import tune as rt

    def boom(*a, **k):
        raise AssertionError("Ray must not be started for an invalid pool")

    monkeypatch.setattr(rt, "connect", boom)
    monkeypatch.setattr(rt, "validate_space", boom)  # fails in the registry check, before reading any data
    with pytest.raises(ConfigError, match="--pool") as e:
        axs.run_aux_select(_opts(tmp_path, pool=pool))
    assert needle in str(e.value)
    assert not (tmp_path / "sel").exists()


def _rec(subset, seed, dev, test):
    w = {t: 0.5 for t in subset}
    return {"key": axs.trial_key(subset, w, seed), "config": axs.config_key(subset, w), "subset": list(subset),
            "weights": w, "seed": seed, "complete": True, "trial": f"t{seed}{len(subset)}", "dev": dev, "test": test}


def test_report_statistics_and_noise_rule(tmp_path):
    """Hand-made ledger: A helps by about +0.10 in both pairs; B changes ±0.002; seeds spread ±0.01."""
    a, b = "d1:a", "d2:b"
    ledger = []
    for seed, eps in ((1, -0.01), (2, 0.0), (3, 0.01)):
        for subset, score in (((), 0.40), ((a,), 0.50), ((b,), 0.40 + 0.002), ((a, b), 0.50 - 0.002)):
            ledger.append(_rec(subset, seed, score + eps, score + eps - 0.05))
    ledger.append({**_rec((b,), 9, 0.0, 0.0), "complete": False})  # an early-stopped trial is not in the table
    rows = axs.summarise(ledger, [a, b])
    assert len(rows) == 4 and {r["n"] for r in rows} == {3}
    base = next(r for r in rows if not r["subset"])
    assert base["label"] == axs.MAIN_ONLY and math.isclose(base["dev_mean"], 0.40) and math.isclose(base["dev_std"], 0.01)
    top = rows[0]
    assert top["subset"] == [a] and top["rank"] == 1
    assert axs.differs((top["dev_mean"], top["dev_std"], 3), (base["dev_mean"], base["dev_std"], 3)) is True
    only_b = next(r for r in rows if r["subset"] == [b])
    assert axs.differs((only_b["dev_mean"], only_b["dev_std"], 3), (base["dev_mean"], base["dev_std"], 3)) is False
    assert axs.differs((0.5, math.nan, 1), (0.4, math.nan, 1)) is None  # one seed: cannot be judged
    me = axs.marginal_effects(rows, [a, b])
    assert math.isclose(me[a]["paired_diff"], 0.098) and me[a]["pairs"] == 2 and me[a]["verdict"] == "helps"
    assert math.isclose(me[a]["with"], 0.499) and math.isclose(me[a]["without"], 0.401)
    assert me[b]["verdict"] == "within noise"


def test_schedule_report_from_results_csv(tmp_path):
    import pandas as pd

    rows = []
    for i in range(8):
        gold = i % 4
        score = 0.5 + 0.05 * gold
        rows.append({"trial": f"t{i}", "status": "TERMINATED", "param/schedule.gold_epochs": gold,
                     "param/schedule.tau.tau_decay": ["constant", "linear"][i % 2], "param/tasks.acd.weight": 0.2 + 0.2 * i,
                     "best_dev_score": score, "dev/mean/main": score, "test/mean/main": score - 0.1})
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "importances.json").write_text(json.dumps({"schedule.gold_epochs": 0.9, "tasks.acd.weight": 0.1}))
    text = axs.write_schedule_report(tmp_path).read_text()
    assert "schedule.gold_epochs | 0.900 | +" in text
    assert "| 3 | 2 | 0.6500 ± 0.0000 | 0.5500 ± 0.0000 |" in text  # gold_epochs = 3: dev and test means
    assert "`test/mean/main`" in text and "schedule.tau.tau_decay" in text


# ---- real Ray --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    """Run 1: budget 2 of the 4 (subset, seed) trials; run 2: --resume, which must run only the other 2."""
    import ray

    tmp = tmp_path_factory.mktemp("auxsel")
    first = axs.run_aux_select(_opts(tmp, budget=2))
    ledger1 = axs.read_ledger(tmp / "sel")
    second = axs.run_aux_select(_opts(tmp, resume=True))
    yield tmp / "sel", first, ledger1, second
    ray.shutdown()


def test_exhaustive_pool_of_two_reports_four_subsets(selection):
    exp, _, _, report = selection
    rows = report["rows"]
    labels = {r["label"] for r in rows}
    assert labels == {axs.MAIN_ONLY, "twitter-target-dong14", "semeval16-absa-rest",
                      "twitter-target-dong14 + semeval16-absa-rest"}
    for r in rows:
        assert r["n"] == 1 and 0.0 <= r["dev_mean"] <= 1.0 and 0.0 <= r["test_mean"] <= 1.0
    assert report["baseline"] == "none|" and not report["pending"]
    assert report["test_key"] == f"test/{MAIN}/f1_fa"
    md = (exp / "aux_selection.md").read_text()
    assert "(main only) **(baseline)**" in md and "Noise rule" in md and "Marginal effect" in md
    assert (exp / "aux_selection.png").stat().st_size > 1000 and (exp / "aux_selection.csv").exists()
    # the main-only baseline trained the same model without the label transfer network
    cfgs = [json.loads(p.read_text()) for p in exp.glob("tune-*/*/train_config.json")]
    archs = {len(c["tasks"]): c["model"]["arch"] for c in cfgs}
    assert archs == {1: "hps_lel", 2: "hps_lel_ltn", 3: "hps_lel_ltn"}


def test_resume_skips_finished_subsets(selection, tmp_path):
    exp, first, ledger1, second = selection
    assert first["trials_run"] == 2 and len(first["pending"]) == 2
    assert [r["subset"] for r in ledger1 if r["complete"]] == [[], [POOL[0]]] or \
        sorted(len(r["subset"]) for r in ledger1 if r["complete"]) == [0, 1]
    assert second["trials_run"] == 2  # only the two unfinished (subset, seed) trials
    ledger = axs.read_ledger(exp)
    done = [r for r in ledger if r["complete"]]
    assert len(done) == 4 and len({r["key"] for r in done}) == 4  # nothing ran twice
    kept = {r["key"]: r["trial"] for r in ledger1 if r["complete"]}
    assert all(axs.finished(ledger)[k]["trial"] == t for k, t in kept.items())
    # a third run has nothing left to do, and does not even start Ray trials
    third = axs.run_aux_select(_opts(exp.parent, resume=True))
    assert third["trials_run"] == 0 and len(axs.read_ledger(exp)) == len(ledger)
    # without --resume an existing experiment is refused rather than silently mixed
    with pytest.raises(Exception, match="--resume"):
        axs.run_aux_select(_opts(exp.parent))
