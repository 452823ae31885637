"""Search spaces: YAML -> Optuna define-by-run, grids, trial configs, auxiliary-task subsets, errors."""

from __future__ import annotations

import itertools
import math
import pickle
from pathlib import Path

import optuna
import pytest
import yaml

from raymtl.errors import ConfigError
from raymtl.search import aux as auxenc
from raymtl.search.space import SearchSpace, load_space
from raymtl.train.config import TrainConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "search_spaces"

ABSA = {"data": {"datasets": ["semeval14-restaurants"]},
        "tasks": [{"name": "ate", "main": True}, {"name": "acd"}],
        "model": {"arch": "cmtl", "hidden": 300, "label_dim": 300, "chain": ["ate", "acd"]},
        "train": {"epochs": 6},
        "schedule": {"tau": {"tau_start": 0.05}}}
STANCE = {"data": {"datasets": ["semeval16-stance", "twitter-target-dong14"]},
          "tasks": [{"name": "semeval16-stance:stance", "main": True},
                    {"name": "twitter-target-dong14:sentiment", "weight": 0.5}],
          "model": {"arch": "fsmtl", "hidden": 100},
          "train": {"epochs": 3}}
POOL = ["twitter-target-dong14:sentiment", "semeval16-absa-rest:polarity", "semeval16-absa-lapt:polarity",
        "fnc1:stance"]


def write(tmp_path: Path, doc: dict | str, base: dict | None = ABSA, name: str = "space.yaml") -> Path:
    """A space file in tmp_path (its base config written beside it as base.yaml)."""
    if base is not None:
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    path = tmp_path / name
    if isinstance(doc, dict):
        doc = {"base": "base.yaml", **doc} if base is not None and "base" not in doc else doc
        doc = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(doc)
    return path


def optimize(space: SearchSpace, n: int, objective=None) -> optuna.Study:
    study = optuna.create_study(sampler=space.sampler(), direction="maximize")
    returned: list[dict | None] = []

    def obj(trial):
        returned.append(space.define_by_run(trial))
        trial.set_user_attr("constants", returned[-1])
        return objective(trial) if objective else trial.number % 3

    study.optimize(obj, n_trials=n)
    return study


MAIN_SPACE = {
    "search": {"algorithm": "tpe", "seed": 3, "n_startup_trials": 4},
    "params": {
        "model.hidden": {"type": "int", "low": 50, "high": 300, "step": 50},
        "optim.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True},
        "model.arch": {"type": "categorical", "choices": ["cmtl", "hmtl_lt"]},
        "model.dropout": {"type": "fixed", "value": 0.25},
        "tasks.acd.weight": {"type": "float", "low": 0.1, "high": 2.0},
        "schedule.gold_epochs": {"type": "int", "low": 0, "high": 5},
    },
    "conditional": [
        {"when": {"model.arch": "cmtl"}, "params": {"schedule.tau.tau_start": {"type": "float", "low": 0.5,
                                                                                "high": 5.0, "log": True}}},
        {"when": {"model.arch": "cmtl", "schedule.gold_epochs": [0, 1]},
         "params": {"model.label_dim": {"type": "categorical", "choices": [50, 100]}}},
    ],
}


# ---------------------------------------------------------------------------------------------
# define-by-run


@pytest.mark.parametrize("algorithm", ["tpe", "random"])
def test_define_by_run_respects_bounds_log_step_and_conditions(tmp_path, algorithm):
    doc = {**MAIN_SPACE, "search": {**MAIN_SPACE["search"], "algorithm": algorithm}}
    space = load_space(write(tmp_path, doc))
    study = optimize(space, 30)
    seen_arch = set()
    for t in study.trials:
        p = t.params
        assert p["model.hidden"] in range(50, 301, 50)
        assert 1e-4 <= p["optim.lr"] <= 1e-2 and t.distributions["optim.lr"].log
        assert 0.1 <= p["tasks.acd.weight"] <= 2.0 and 0 <= p["schedule.gold_epochs"] <= 5
        assert "model.dropout" not in p  # fixed: a constant, not a suggestion
        assert t.user_attrs["constants"] == {"model.dropout": 0.25}
        seen_arch.add(p["model.arch"])
        cmtl = p["model.arch"] == "cmtl"
        assert ("schedule.tau.tau_start" in p) == cmtl
        if cmtl:
            assert 0.5 <= p["schedule.tau.tau_start"] <= 5.0 and t.distributions["schedule.tau.tau_start"].log
        assert ("model.label_dim" in p) == (cmtl and p["schedule.gold_epochs"] in (0, 1))
        cfg = space.trial_config({**p, **t.user_attrs["constants"]})
        assert cfg["model"]["arch"] == p["model.arch"] and cfg["model"]["dropout"] == 0.25
    assert seen_arch == {"cmtl", "hmtl_lt"}


def test_aux_each_keeps_main_and_weights_chosen_tasks(tmp_path):
    doc = {"search": {"algorithm": "random", "seed": 1},
           "aux_tasks": {"main": "semeval16-stance:stance", "pool": POOL, "mode": "each",
                         "weight": {"type": "float", "low": 0.1, "high": 1.0}}}
    space = load_space(write(tmp_path, doc, base=STANCE))
    study = optimize(space, 25)
    subsets = set()
    for t in study.trials:
        chosen = space.chosen_aux_tasks(t.params)
        subsets.add(chosen)
        assert set(t.params) == {auxenc.flag_name(x) for x in POOL} | {auxenc.weight_name(x) for x in chosen}
        cfg = space.trial_config(t.params)
        names = [x["name"] for x in cfg["tasks"]]
        assert names[0] == "semeval16-stance:stance" and cfg["tasks"][0]["main"]
        assert names[1:] == list(chosen)
        for x in cfg["tasks"][1:]:
            assert 0.1 <= x["weight"] <= 1.0 and not x["main"]
        assert cfg["data"]["datasets"] == list(dict.fromkeys(n.split(":")[0] for n in names))
    assert () in subsets or len(subsets) > 5  # the sampler explores; main-only is a valid subset


@pytest.mark.parametrize("bounds, sizes", [({"k": 2}, {2}), ({"min": 1, "max": 3}, {1, 2, 3})])
def test_aux_k_of_n_gives_allowed_sizes(tmp_path, bounds, sizes):
    doc = {"search": {"algorithm": "tpe", "seed": 0},
           "aux_tasks": {"main": "semeval16-stance:stance", "pool": POOL, "mode": "k_of_n", **bounds}}
    space = load_space(write(tmp_path, doc, base=STANCE))
    (selector,) = space.aux_tasks.selector_params()
    assert selector.name == "aux.subset"
    assert len(selector.choices) == sum(math.comb(4, k) for k in sizes)
    study = optimize(space, 15)
    got = set()
    for t in study.trials:
        code = t.params["aux.subset"]
        chosen = space.chosen_aux_tasks(t.params)
        assert len(chosen) in sizes and auxenc.encode_subset(chosen) == code
        assert t.user_attrs["constants"] == {auxenc.weight_name(x): 1.0 for x in chosen} or not chosen
        cfg = space.trial_config(t.params)
        assert cfg["tasks"][0]["name"] == "semeval16-stance:stance"
        assert [x["name"] for x in cfg["tasks"][1:]] == list(chosen)
        assert all(x["weight"] == 1.0 for x in cfg["tasks"][1:])
        got.add(len(chosen))
    assert got <= sizes


def test_aux_encodings():
    pool = ["b:t", "a:t", "c:t"]
    subs = auxenc.all_subsets(pool)
    assert len(subs) == 8 and subs[0] == () and subs[-1] == ("a:t", "b:t", "c:t")
    assert auxenc.subset_choices(pool, 2, 2) == ["a:t+b:t", "a:t+c:t", "b:t+c:t"]
    assert auxenc.decode_subset(auxenc.encode_subset(["c:t", "a:t"])) == ("a:t", "c:t")
    assert auxenc.encode_subset([]) == "none" and auxenc.decode_subset("none") == ()
    assert auxenc.chosen_subset({"aux.subset": "a:t+c:t"}, pool) == ("a:t", "c:t")  # pool order
    assert auxenc.chosen_subset({"aux.c:t": True, "aux.b:t": "True", "aux.a:t": False}, pool) == ("b:t", "c:t")


def test_multi_objective_nsga2(tmp_path):
    doc = {"search": {"algorithm": "nsga2", "num_samples": 8, "seed": 0},
           "objectives": [{"metric": "dev_score", "mode": "max"}, {"metric": "train/seconds", "mode": "min"}],
           "params": {"model.hidden": {"type": "int", "low": 50, "high": 300, "step": 50}}}
    space = load_space(write(tmp_path, doc))
    assert space.metrics == ["dev_score", "train/seconds"] and space.modes == ["max", "min"]
    assert space.metric == "dev_score" and space.multi_objective
    assert isinstance(space.sampler(), optuna.samplers.NSGAIISampler)
    study = optuna.create_study(sampler=space.sampler(), directions=["maximize", "minimize"])

    def objective(trial):
        space.define_by_run(trial)
        return trial.params["model.hidden"], float(trial.params["model.hidden"])

    study.optimize(objective, n_trials=6)
    assert all(t.params["model.hidden"] % 50 == 0 for t in study.trials)
    # Tune pickles the searcher with its sampler (Optuna >= 5.1's GA samplers hold a lock): a copy
    # made mid-study goes on sampling exactly as the original does.
    copy = pickle.loads(pickle.dumps(study.sampler))
    twin = optuna.create_study(sampler=copy, directions=["maximize", "minimize"])
    for t in study.trials:
        twin.add_trial(t)
    study.optimize(objective, n_trials=4)
    twin.optimize(objective, n_trials=4)
    assert [t.params for t in twin.trials[6:]] == [t.params for t in study.trials[6:]]


# ---------------------------------------------------------------------------------------------
# grids and samplers


def test_grid_product_and_exhaustive_sampling(tmp_path):
    doc = {"search": {"algorithm": "grid"},
           "params": {"model.hidden": {"type": "int", "low": 100, "high": 300, "step": 100},
                      "model.dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
                      "optim.weight_decay": {"type": "categorical", "choices": [0.0, 5.0e-5]},
                      "optim.lr": 0.001}}
    space = load_space(write(tmp_path, doc))
    grid = space.grid()
    assert grid == {"model.hidden": [100, 200, 300], "model.dropout": [0.0, 0.25, 0.5],
                    "optim.weight_decay": [0.0, 5e-5]}
    assert space.grid_size() == 18 and space.search.num_samples == 18
    assert isinstance(space.sampler(), optuna.samplers.GridSampler)
    study = optimize(space, 18)
    points = {tuple(t.params[k] for k in grid) for t in study.trials}
    assert points == set(itertools.product(*grid.values()))
    assert all(t.user_attrs["constants"] == {"optim.lr": 0.001} for t in study.trials)


def test_fudan16_grid_has_27_points():
    space = load_space(SPACES / "fudan16_graph.yaml")
    assert space.grid_size() == 27 and space.search.num_samples == 27
    cfg = space.trial_config({"model.hidden": 100, "optim.weight_decay": 5e-5, "tasks.*.weight": 0.8})
    assert {t["weight"] for t in cfg["tasks"]} == {0.8}
    assert cfg["model"]["hidden"] == 100 and cfg["optim"]["weight_decay"] == 5e-5


def test_samplers(tmp_path):
    base = {"params": {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}}
    tpe = load_space(write(tmp_path, {**base, "search": {"algorithm": "tpe", "seed": 7}})).sampler()
    assert isinstance(tpe, optuna.samplers.TPESampler) and tpe._multivariate
    rnd = load_space(write(tmp_path, {**base, "search": {"algorithm": "random"}})).sampler()
    assert isinstance(rnd, optuna.samplers.RandomSampler)
    cma = load_space(write(tmp_path, {**base, "search": {"algorithm": "cmaes"}}))
    try:
        import cmaes  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="cmaes"):
            cma.sampler()
    else:
        assert isinstance(cma.sampler(), optuna.samplers.CmaEsSampler)


# ---------------------------------------------------------------------------------------------
# trial configs


def test_trial_config_applies_every_kind_of_key(tmp_path):
    doc = {"params": {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2},
                      "model.hidden": {"type": "int", "low": 50, "high": 100},
                      "schedule.tau.tau_start": {"type": "float", "low": 0.1, "high": 1.0},
                      "data.max_len": {"type": "int", "low": 20, "high": 80},
                      "tasks.*.weight": {"type": "float", "low": 0.1, "high": 1.0},
                      "tasks.acd.weight": {"type": "float", "low": 0.1, "high": 2.0},
                      "model.dropout": {"type": "fixed", "value": 0.1}}}
    base = {**ABSA, "schedule": {}}
    space = load_space(write(tmp_path, doc, base=base))
    params = {"optim.lr": 0.005, "model.hidden": 64, "schedule.tau.tau_start": 0.7, "data.max_len": 40,
              "tasks.acd.weight": 1.5, "tasks.*.weight": 0.3}  # the fixed one is applied though absent
    cfg = space.trial_config(params)
    assert cfg["optim"]["lr"] == 0.005 and cfg["model"]["hidden"] == 64 and cfg["model"]["dropout"] == 0.1
    assert cfg["schedule"]["tau"]["tau_start"] == 0.7 and cfg["data"]["max_len"] == 40
    assert {t["name"]: t["weight"] for t in cfg["tasks"]} == {"ate": 0.3, "acd": 1.5}  # own λ wins over *
    assert cfg["model"]["chain"] == ["ate", "acd"] and cfg["model"]["label_dim"] == 300  # base kept
    TrainConfig.from_dict(cfg)
    assert space.base_config["model"]["hidden"] == 300  # the base is not mutated
    with pytest.raises(ConfigError) as e:
        space.trial_config({"optim.momentum": 0.9})
    assert e.value.key == "optim.momentum"
    with pytest.raises(ConfigError):  # validated: λ must be >= 0
        space.trial_config({"tasks.acd.weight": -1.0})


def test_aux_tasks_replace_pool_tasks_of_the_base(tmp_path):
    doc = {"aux_tasks": {"main": "semeval16-stance:stance", "pool": POOL[:2]},
           "params": {"tasks.*.weight": [1.0, 0.5]}}
    space = load_space(write(tmp_path, doc, base=STANCE))
    cfg = space.trial_config({"aux.semeval16-absa-rest:polarity": True, "aux.twitter-target-dong14:sentiment": False,
                              "tasks.*.weight": 0.5})
    assert [(t["name"], t["weight"]) for t in cfg["tasks"]] == [("semeval16-stance:stance", 0.5),
                                                                ("semeval16-absa-rest:polarity", 1.0)]
    assert cfg["data"]["datasets"] == ["semeval16-stance", "semeval16-absa-rest"]


def test_single_dataset_names_become_qualified_when_aux_adds_a_dataset(tmp_path):
    base = {"data": {"datasets": ["semeval16-stance"]}, "tasks": [{"name": "stance", "main": True}],
            "model": {"arch": "fsmtl"}, "train": {"epochs": 2}}
    doc = {"aux_tasks": {"main": "stance", "pool": ["fnc1:stance"]}}
    space = load_space(write(tmp_path, doc, base=base))
    cfg = space.trial_config({"aux.fnc1:stance": True})
    assert [t["name"] for t in cfg["tasks"]] == ["semeval16-stance:stance", "fnc1:stance"]
    assert space.trial_config({"aux.fnc1:stance": False})["tasks"][0]["name"] == "stance"


def test_overrides_and_inline_config(tmp_path):
    path = write(tmp_path, {**MAIN_SPACE, "config": {"train": {"epochs": 9}}})
    space = load_space(path, ["search.num_samples=2", "train.epochs=1", "params.optim.lr.high=0.1",
                              "params.model.hidden={type: fixed, value: 64}", "scheduler.kind=asha"])
    assert space.search.num_samples == 2 and space.base_config["train"]["epochs"] == 1
    assert space.scheduler.kind == "asha" and space.scheduler.max_t == 1  # max_t: the base's epochs
    lr = next(p for p in space.params if p.name == "optim.lr")
    assert lr.high == 0.1 and next(p for p in space.params if p.name == "model.hidden").value == 64
    inline = load_space(write(tmp_path, {"config": ABSA, "params": {"optim.lr": [0.001, 0.01]}}, base=None,
                              name="inline.yaml"))
    assert inline.base_file is None and inline.trial_config({"optim.lr": 0.01})["optim"]["lr"] == 0.01
    text = space.describe()
    assert "optim.lr" in text and "when model.arch = cmtl" in text


# ---------------------------------------------------------------------------------------------
# shipped spaces

SHIPPED = sorted(p.name for p in SPACES.glob("*.yaml") if not p.name.startswith("."))


def test_the_spaces_the_issue_asks_for_ship():
    assert {"absa_cmtl.yaml", "conll04_cmtl.yaml", "fudan16_graph.yaml", "fudan16_graph_tpe.yaml",
            "aux_selection.yaml", "pretraining_schedule.yaml", "quickstart.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_space_loads_against_its_base(name):
    path = SPACES / name
    base = (path.parent / yaml.safe_load(path.read_text())["base"]).resolve()
    assert base.exists(), f"{name}: base config {base} is missing"
    space = load_space(path)
    study = optimize(space, 4)
    for t in study.trials:
        TrainConfig.from_dict(space.trial_config({**t.params, **(t.user_attrs["constants"] or {})}))
    assert space.name in space.describe()


# ---------------------------------------------------------------------------------------------
# errors: every one names the file and the key

P = {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}


def _bad(**over):
    return {"params": dict(P), **over}


BAD = {
    "unknown top-level key": (_bad(serach={}), "serach"),
    "unknown param key": ({"params": {"optim.lr": {"type": "float", "low": 0.1, "high": 1, "scale": "log"}}},
                          "params.optim.lr.scale"),
    "unknown param type": ({"params": {"optim.lr": {"type": "uniform", "low": 0.1, "high": 1}}},
                           "params.optim.lr.type"),
    "low > high": ({"params": {"optim.lr": {"type": "float", "low": 1.0, "high": 0.1}}}, "params.optim.lr"),
    "log with low <= 0": ({"params": {"optim.lr": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}},
                          "params.optim.lr.low"),
    "empty choices": ({"params": {"optim.lr": {"type": "categorical", "choices": []}}}, "params.optim.lr.choices"),
    # "5e-5" among numbers is a number (raymtl.numeric); NaN is refused
    "NaN in numeric choices": ({"params": {"optim.weight_decay": {"type": "categorical",
                                                                  "choices": ["5e-5", float("nan")]}}},
                               "params.optim.weight_decay.choices[1]"),
    "step not dividing the range": ({"params": {"model.hidden": {"type": "int", "low": 50, "high": 120, "step": 50}}},
                                    "params.model.hidden.step"),
    "unknown config section": ({"params": {"optimizer.lr": [0.1]}}, "params.optimizer.lr"),
    "unknown config field": ({"params": {"optim.lrr": [0.1]}}, "params.optim.lrr"),
    "nested field written flat": ({"params": {"schedule.tau_start": [0.1]}}, "params.schedule.tau_start"),
    "float for an int field": ({"params": {"model.hidden": {"type": "float", "low": 50, "high": 100}}},
                               "params.model.hidden"),
    "field of no architecture": ({"params": {"model.label_dmi": [50]}}, "params.model.label_dmi"),
    "when references an undefined param": (
        _bad(conditional=[{"when": {"model.arch": "cmtl"}, "params": {"model.hidden": [100]}}]),
        "conditional[0].when.model.arch"),
    "when references a later param": (
        _bad(conditional=[{"when": {"model.hidden": 100}, "params": {"model.dropout": [0.1]}},
                          {"when": {"optim.lr": 0.001}, "params": {"model.hidden": [100]}}]),
        "conditional[0].when.model.hidden"),
    "when value not among choices": (
        {"params": {"model.arch": ["cmtl", "hmtl"]},
         "conditional": [{"when": {"model.arch": "cmtl_direct"}, "params": {"model.hidden": [100]}}]},
        "conditional[0].when.model.arch"),
    "conditional with no params": (_bad(conditional=[{"when": {"optim.lr": 0.001}}]), "conditional[0].params"),
    "param defined twice": (
        {"params": {"model.arch": ["cmtl", "hmtl"], "model.hidden": [100]},
         "conditional": [{"when": {"model.arch": "cmtl"}, "params": {"model.hidden": [200]}}]},
        "conditional[0].params.model.hidden"),
    "unknown architecture": ({"params": {"model.arch": ["cmtl", "nosuch_arch"]}}, "params.model.arch"),
    "task weight of an unknown task": ({"params": {"tasks.nope.weight": [1.0]}}, "params.tasks.nope.weight"),
    "task key other than weight": ({"params": {"tasks.acd.main": [True]}}, "params.tasks.acd.main"),
    "grid with a continuous param": (_bad(search={"algorithm": "grid"}), "params.optim.lr"),
    "grid with conditionals": (
        {"search": {"algorithm": "grid"}, "params": {"model.arch": ["cmtl", "hmtl_lt"]},
         "conditional": [{"when": {"model.arch": "cmtl"}, "params": {"model.hidden": [100]}}]}, "conditional"),
    "unknown algorithm": (_bad(search={"algorithm": "bayes"}), "search.algorithm"),
    "nsga2 without objectives": (_bad(search={"algorithm": "nsga2"}), "search.algorithm"),
    "cmaes with a categorical": ({"search": {"algorithm": "cmaes"}, "params": {"model.hidden": [100, 200]}},
                                 "params.model.hidden"),
    "unknown scheduler": (_bad(scheduler={"kind": "pbt"}), "scheduler.kind"),
    "grace period beyond max_t": (_bad(scheduler={"kind": "asha", "grace_period": 7}), "scheduler.grace_period"),
    "invalid value at a corner": ({"params": {**P, "model.dropout": {"type": "float", "low": 0.1, "high": 1.0}}},
                                  "params.model.dropout"),
    "invalid value in a conditional": (
        {"params": {"model.arch": ["cmtl", "hmtl_lt"]},
         "conditional": [{"when": {"model.arch": "hmtl_lt"},
                          "params": {"schedule.tau.tau_start": {"type": "float", "low": 0.001, "high": 1.0}}}]},
        "conditional[0].params.schedule.tau.tau_start"),
    "no params": ({"metric": "dev_score"}, "params"),
}
AUX = {"main": "semeval16-stance:stance", "pool": POOL[:3]}
BAD_AUX = {
    "aux pool duplicates the main task": ({**AUX, "pool": ["semeval16-stance:stance", POOL[0]]}, "aux_tasks.pool[0]"),
    "aux pool lists a task twice": ({**AUX, "pool": [POOL[0], POOL[0]]}, "aux_tasks.pool[1]"),
    "k larger than the pool": ({**AUX, "mode": "k_of_n", "k": 4}, "aux_tasks.k"),
    "max larger than the pool": ({**AUX, "mode": "k_of_n", "min": 1, "max": 5}, "aux_tasks.max"),
    "k_of_n without k": ({**AUX, "mode": "k_of_n"}, "aux_tasks.k"),
    "k with each": ({**AUX, "k": 1}, "aux_tasks.k"),
    "main differs from the base's": ({**AUX, "main": "twitter-target-dong14:sentiment", "pool": POOL[1:]},
                                     "aux_tasks.main"),
    "unqualified task with several datasets": ({**AUX, "pool": ["polarity"]}, "aux_tasks.pool[0]"),
    "pool task's λ as a task weight": (None, "params.tasks.twitter-target-dong14:sentiment.weight"),
    "negative λ": ({**AUX, "weight": {"type": "float", "low": -1.0, "high": 1.0}}, "aux_tasks.weight"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_space_names_file_and_key(tmp_path, case):
    doc, key = BAD[case]
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as e:
        load_space(path)
    assert e.value.file == str(path), str(e.value)
    assert e.value.key == key, str(e.value)


@pytest.mark.parametrize("case", sorted(BAD_AUX))
def test_bad_aux_tasks_name_file_and_key(tmp_path, case):
    aux, key = BAD_AUX[case]
    doc = {"aux_tasks": aux} if aux else {"aux_tasks": AUX, "params": {
        "tasks.twitter-target-dong14:sentiment.weight": [1.0]}}
    path = write(tmp_path, doc, base=STANCE)
    with pytest.raises(ConfigError) as e:
        load_space(path)
    assert e.value.file == str(path), str(e.value)
    assert e.value.key == key, str(e.value)


def test_malformed_yaml_and_missing_base(tmp_path):
    path = write(tmp_path, "params: {optim.lr: [0.1, 0.2}\n")
    with pytest.raises(ConfigError, match="malformed YAML") as e:
        load_space(path)
    assert e.value.file == str(path)
    path = write(tmp_path, {"base": "nowhere.yaml", "params": P}, base=None)
    with pytest.raises(ConfigError, match="does not exist") as e:
        load_space(path)
    assert e.value.key == "base"
    bad_base = {**ABSA, "optim": {"lr": "fast"}}
    with pytest.raises(ConfigError) as e:  # the base config is validated, naming its own file
        load_space(write(tmp_path, {"params": P}, base=bad_base))
    assert e.value.file.endswith("base.yaml") and e.value.key == "optim.lr"
