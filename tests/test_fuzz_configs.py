"""Fuzz every config surface with bad numbers (issue 17, point 4): a training config file, ``--set``
overrides, architecture fields (``model.*``), schedules and search-space bounds. Every case ends in
a ConfigError naming the file and key, or in a config whose value obeys the field's range; never in
another exception. NaN and ±inf are always refused; ``1e-3`` is a float on every surface. The
number of cases per surface is printed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from raymtl.errors import ConfigError
from raymtl.models.registry import build_config, default_registry
from raymtl.numeric import as_number
from raymtl.search.space import load_space
from raymtl.train.config import NUMERIC_RANGES, TrainConfig
from raymtl.train.schedules import ScheduleConfig, TauSchedule

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "configs" / "absa_cmtl.yaml"
# As they would be typed after `--set key=` or in a YAML file.
BAD_TEXT = [".nan", ".NaN", ".inf", "-.inf", "1e400", "-1e400", "-1", "0", "-0.5", "abc", "[]", "{}", "true", "null",
            "''", "99999999999999999999", "1e-3", "2", "0.5", "7.0e-1", "0x10", "1_000"]
ALWAYS_REFUSED = {".nan", ".NaN", ".inf", "-.inf", "1e400", "-1e400", "abc", "[]", "{}", "true"}


def numeric_fields(cls: type, prefix: str) -> list[tuple[str, type]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += numeric_fields(tp, f"{prefix}{f.name}.")
            continue
        args = set(typing.get_args(tp)) - {type(None)} or {tp}
        if args <= {int, float}:
            out.append((f"{prefix}{f.name}", tp))
    return out


def train_keys() -> list[str]:
    keys = set(NUMERIC_RANGES) | {k for k, _ in numeric_fields(ScheduleConfig, "schedule.")}
    keys |= {"tasks[0].weight"}
    return sorted(keys)


def _value(cfg: TrainConfig, key: str):
    if key.startswith("tasks[0]."):
        return cfg.tasks[0].weight
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _check(surface: str, key: str, text: str, load) -> str | None:
    """None if the case behaved; else the problem."""
    try:
        got = load()
    except ConfigError as e:
        if key.split("[")[0].split(".")[-1] not in str(e) and "tasks" not in str(e):
            return f"{surface} {key}={text}: ConfigError does not name the key: {e}"
        return None
    except Exception as e:  # noqa: BLE001 - the point of the test
        return f"{surface} {key}={text}: {type(e).__name__}: {e}"
    if text in ALWAYS_REFUSED:
        return f"{surface} {key}={text}: accepted ({got!r})"
    if isinstance(got, float) and not math.isfinite(got):
        return f"{surface} {key}={text}: a non-finite value got through"
    rule = NUMERIC_RANGES.get(key, {})
    if got is not None and ("low" in rule and got < rule["low"] or "high" in rule and got > rule["high"]):
        return f"{surface} {key}={text}: {got!r} outside {rule}"
    return None


def test_train_config_surfaces(tmp_path, capsys):
    """The same bad values through --set and through the config file."""
    problems, counts = [], {"--set": 0, "config file": 0}
    base_doc = yaml.safe_load(BASE.read_text())
    for key in train_keys():
        for text in BAD_TEXT:
            counts["--set"] += 1
            if key.startswith("tasks[0]."):
                ov = [f"tasks=[{{name: {base_doc['tasks'][0]['name']}, weight: {text}}}]"]
            else:
                ov = [f"{key}={text}"]
            problems.append(_check("--set", key, text, lambda: _value(TrainConfig.load(BASE, ov), key)))
            counts["config file"] += 1
            doc = yaml.safe_load(BASE.read_text())
            if key.startswith("tasks[0]."):
                doc["tasks"][0]["weight"] = yaml.safe_load(text)
            else:
                node = doc
                *parents, last = key.split(".")
                for p in parents:
                    node = node.setdefault(p, {})
                node[last] = yaml.safe_load(text)
            path = tmp_path / "c.yaml"
            path.write_text(yaml.safe_dump(doc))
            problems.append(_check("config file", key, text, lambda: _value(TrainConfig.load(path), key)))
    problems = [p for p in problems if p]
    with capsys.disabled():
        for surface, n in counts.items():
            print(f"\n[fuzz] config surface {surface}: {n} cases over {len(train_keys())} numeric keys, "
                  f"{len(problems)} problems")
    assert not problems, "\n".join(problems[:40])


def test_one_number_rule_on_every_surface(tmp_path):
    assert TrainConfig.load(BASE, ["optim.lr=1e-3"]).optim.lr == 0.001
    path = tmp_path / "c.yaml"
    path.write_text(BASE.read_text().replace("lr: 5.0e-4", "lr: 5e-4"))
    assert "lr: 5e-4" in path.read_text() and TrainConfig.load(path).optim.lr == 0.0005
    space = tmp_path / "s.yaml"
    space.write_text(f"name: x\nbase: {BASE}\nparams:\n  optim.lr: {{type: float, low: 1e-4, high: 2e-3, log: true}}\n"
                     "  optim.weight_decay: {type: categorical, choices: [0.0, 1e-5]}\n")
    params = {p.name: p for p in load_space(space).params}
    assert (params["optim.lr"].low, params["optim.lr"].high) == (1e-4, 2e-3)
    assert params["optim.weight_decay"].choices == (0.0, 1e-5)
    assert as_number("1e-3") == 0.001 and as_number("10") == 10 and as_number("abc") == "abc"


def test_architecture_fields(capsys):
    """model.* fields of every architecture through build_config (what validate runs before Ray)."""
    problems, n = [], 0
    for arch_name in default_registry().names():
        arch = default_registry().get(arch_name)
        for key, _ in numeric_fields(arch.config_cls, ""):
            for text in (".nan", ".inf", "-.inf", "1e400", "abc"):
                n += 1
                try:
                    build_config(arch, {key: yaml.safe_load(text)})
                    problems.append(f"{arch_name}.{key}={text}: accepted")
                except ConfigError as e:
                    if key not in str(e):
                        problems.append(f"{arch_name}.{key}={text}: {e} does not name the key")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"{arch_name}.{key}={text}: {type(e).__name__}: {e}")
    with capsys.disabled():
        print(f"\n[fuzz] config surface model.* (every architecture): {n} cases, {len(problems)} problems")
    assert not problems, "\n".join(problems[:40])


SPACE_BAD = {
    "step .nan": "{type: float, low: 1.0e-4, high: 2.0e-3, step: .nan}",
    "step 0": "{type: float, low: 1.0e-4, high: 2.0e-3, step: 0}",
    "step -1e-4": "{type: float, low: 1.0e-4, high: 2.0e-3, step: -1e-4}",
    "low .nan": "{type: float, low: .nan, high: 2.0e-3}",
    "high .nan": "{type: float, low: 1.0e-4, high: .nan}",
    "high .inf": "{type: float, low: 1.0e-4, high: .inf}",
    "low -.inf": "{type: float, low: -.inf, high: 2.0e-3}",
    "reversed": "{type: float, low: 2.0e-3, high: 1.0e-4}",
    "log [-1, 0]": "{type: float, low: -1, high: 0, log: true}",
    "log [0, 1e-3]": "{type: float, low: 0, high: 1e-3, log: true}",
    "text bound": "{type: float, low: abc, high: 1e-3}",
    "list bound": "{type: float, low: [1], high: 1e-3}",
    "NaN choice": "{type: categorical, choices: [1.0e-3, .nan]}",
    "inf choice": "{type: categorical, choices: [1.0e-3, .inf]}",
    "NaN fixed": "{type: fixed, value: .nan}",
    "negative lr fixed": "{type: fixed, value: -1}",
    "negative lr range": "{type: float, low: -1.0e-3, high: 1.0e-3}",
}


def test_search_space_bounds(tmp_path, capsys):
    problems = []
    for label, spec in SPACE_BAD.items():
        for key in ("optim.lr", "model.dropout"):
            path = tmp_path / "s.yaml"
            path.write_text(f"name: x\nbase: {BASE}\nparams:\n  {key}: {spec}\n")
            try:
                load_space(path)
                problems.append(f"{label} on {key}: accepted")
            except ConfigError as e:
                if str(path) not in str(e) or key not in str(e):
                    problems.append(f"{label} on {key}: {e} does not name file and key")
            except Exception as e:  # noqa: BLE001
                problems.append(f"{label} on {key}: {type(e).__name__}: {e}")
    with capsys.disabled():
        print(f"\n[fuzz] config surface search space: {2 * len(SPACE_BAD)} cases, {len(problems)} problems")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("override", ["optim.lr=.nan", "optim.lr=-1", "optim.weight_decay=-3",
                                      "train.eval_batch_size=0", "data.max_train_examples=-10", "data.max_len=-1",
                                      "data.max_len=0", "train.max_steps_per_epoch=0", "model.dropout=.nan"])
def test_cli_refuses_before_any_work(tmp_path, override):
    """`raymtl train` exits 2 with one line naming the --set item and key, before Ray starts."""
    proc = subprocess.run([sys.executable, "-m", "raymtl.cli", "train", str(BASE), "--set", override,
                           "--storage", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_ADDRESS": ""}, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    key = override.split("=")[0]
    assert "Traceback" not in proc.stderr and f"--set {override} [{key}]" in proc.stderr, proc.stderr[-2000:]
    assert "Ray" not in proc.stdout + proc.stderr.replace("raymtl", "")
    assert not (tmp_path / "runs").exists()


def test_errors_name_the_set_item_or_the_file_line(tmp_path):
    """A bad value from --set names that item (not the line of the file it replaced); a bad value of
    the file names file and line, also when it is caught after loading (model fields, train.monitor)."""
    from raymtl.configs import naming_overrides
    from raymtl.train.trainer import validate

    with pytest.raises(ConfigError, match=r"^--set optim\.lr=\.nan \[optim\.lr\]: expected a finite number"):
        TrainConfig.load(BASE, ["optim.lr=.nan"])
    with pytest.raises(ConfigError, match=r"^--set optim\.lr=\.nan \[optim\.lr\]"):
        load_space(REPO / "search_spaces" / "quickstart.yaml", ["optim.lr=.nan"])
    with pytest.raises(ConfigError, match=r"^--set params\.optim\.lr\.high=\.inf \[params\.optim\.lr\.high\]"):
        load_space(REPO / "search_spaces" / "quickstart.yaml", ["params.optim.lr.high=.inf"])
    text = BASE.read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("hidden:"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("hidden:", "bogus:", 1))
    cfg = TrainConfig.load(bad)  # model.* is checked against the architecture later
    with pytest.raises(ConfigError, match=rf"^{bad}:{line} \[model\.bogus\]: unknown key"):
        with naming_overrides([], bad):
            validate(cfg, log=lambda _: None)
    with pytest.raises(ConfigError, match=r"^--set model\.bogus=1 \[model\.bogus\]"):
        with naming_overrides(["model.bogus=1"], BASE):
            validate(TrainConfig.load(BASE, ["model.bogus=1"]), log=lambda _: None)
