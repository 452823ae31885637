"""Start-up off the critical path (issue 20): ``raymtl --help`` and an error in a config file answer
before torch or Ray is imported (so in a fraction of a second), with exit status 2 and the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from raymtl import cli
try:
    rc = cli.main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules, "ray": "ray" in sys.modules}), file=sys.stderr)
"""


def _probe(*argv: str, cwd: Path) -> tuple[dict, str]:
    p = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=cwd, timeout=120)
    *lines, last = p.stderr.strip().splitlines()
    return json.loads(last), "\n".join(lines) + p.stdout


@pytest.mark.parametrize("body, key", [
    ("name: x\ndata: {datasets: [semeval14-restaurants]}\ntasks: [{name: ate}]\n", " [model.arch]"),
    ("name: x\ndata: {datasets: [semeval14-restaurants]}\nmodel: {arch: cmtl}\ntasks: [{name: ate, weight: -1}]\n",
     ":4 [tasks[0].weight]"),
    ("name: x\ndata: {datasets: [semeval14-restaurants]}\nmodel: {arch: cmtl}\noptim: {lr: oops}\n", ":4 [optim.lr]"),
])
def test_train_config_error_comes_before_torch_and_ray(tmp_path, body, key):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(body)
    out, text = _probe("train", str(cfg), cwd=tmp_path)
    assert out == {"rc": 2, "torch": False, "ray": False}, text
    assert f"{cfg}{key}" in text


def test_help_and_tune_set_error_come_before_torch_and_ray(tmp_path):
    out, text = _probe("--help", cwd=tmp_path)
    assert out == {"rc": 0, "torch": False, "ray": False} and "train" in text
    out, text = _probe("tune", str(REPO / "search_spaces" / "quickstart.yaml"), "--set", "optim.lr=.nan", cwd=tmp_path)
    assert out == {"rc": 2, "torch": False, "ray": False}, text
    assert "--set optim.lr=.nan [optim.lr]" in text
