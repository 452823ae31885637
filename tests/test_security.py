"""Security: YAML is read with safe_load, checkpoints with torch.load(weights_only=True), nothing
unpickles or evaluates user files, and run/experiment names cannot escape --storage.

See docs/security.md for what this does and does not protect on a shared cluster.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
import torch

from raymtl.errors import ConfigError
from raymtl.safety import check_name, inside
from raymtl.train.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent
PAYLOAD_MARKER = "raymtl-security-payload-ran"


class Evil:
    """Unpickling this runs code (writes a marker file): what a tampered checkpoint would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


# ---- YAML --------------------------------------------------------------------------------------
PYTHON_TAGS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/object:collections.OrderedDict {}",
    "!!python/name:os.system",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_config_with_python_tag_is_a_config_error(tmp_path, tag):
    text = (REPO / "configs" / "absa_cmtl.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + f"\nevil: {tag}\n")
    with pytest.raises(ConfigError) as e:
        TrainConfig.load(bad)
    assert str(bad) in str(e.value) and "malformed YAML" in str(e.value)


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_search_space_with_python_tag_is_a_config_error(tmp_path, tag):
    from raymtl.search.space import load_space

    space = tmp_path / "space.yaml"
    space.write_text(f"name: x\nbase: {REPO / 'configs' / 'absa_cmtl.yaml'}\nparams:\n  optim.lr: {tag}\n")
    with pytest.raises(ConfigError) as e:
        load_space(space)
    assert str(space) in str(e.value)


def test_python_tag_in_an_override_stays_a_string():
    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", ["name=!!python/object/apply:os.system ['x']"])
    assert cfg.name == "!!python/object/apply:os.system ['x']"  # never constructed, and rejected as a run name
    with pytest.raises(ConfigError):
        check_name(cfg.name)


# ---- names and paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", "", "~root", "x\x00y", "a\\b", "x y", "n" * 201])
def test_unsafe_names_are_rejected(name):
    with pytest.raises(ConfigError, match="name"):
        check_name(name, key="--name")


@pytest.mark.parametrize("name", ["absa_cmtl", "seed1", "aux_select-fudan-mtl-16_books", "run.v2", "lr=0.1,b@2"])
def test_ordinary_names_pass(name):
    assert check_name(name) == name


def test_inside_resolves_symlinks(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "root", "a/b") == (tmp_path / "root" / "a" / "b").resolve()
    with pytest.raises(ConfigError, match="outside"):
        inside(tmp_path / "root", "link/escaped")
    with pytest.raises(ConfigError, match="outside"):
        inside(tmp_path / "root", "../x")


@pytest.mark.parametrize("name", ["../../escaped", str(Path("/tmp") / "raymtl-abs-escape"), "a/b", "x\x00y",
                                  "n" * 300])
def test_train_name_cannot_escape_storage(tmp_path, name):
    import ray

    from raymtl.train.run import run_train

    storage = tmp_path / "runs"
    with pytest.raises(ConfigError, match=r"\[--name\]"):
        run_train(REPO / "configs" / "absa_cmtl.yaml", storage=str(storage), name=name)
    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", [f"name={name}"])
    with pytest.raises(ConfigError, match=r"\[name\]"):  # the same from the config's own name
        run_train(cfg, storage=str(storage))
    assert not ray.is_initialized() and not storage.exists() and not Path("/tmp/raymtl-abs-escape").exists()


@pytest.mark.parametrize("name", ["../escaped", "/tmp/raymtl-abs-escape", "a/b", "x\x00y", "n" * 300])
def test_tune_name_cannot_escape_storage(tmp_path, name):
    import ray

    from raymtl.tune import main

    assert main([str(REPO / "search_spaces" / "absa_cmtl.yaml"), "--storage", str(tmp_path / "s"),
                 "--name", name]) == 2
    assert not ray.is_initialized() and not (tmp_path / "s").exists() and not (tmp_path / "escaped").exists()


# ---- checkpoints -------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(shards_root, monkeypatch, tmp_path):
    """A real one-epoch checkpoint directory (LocalReporter's checkpoints/latest)."""
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))
    monkeypatch.setenv("RAYMTL_REVIEW", "0")  # no TensorBoard review figures
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", [
        "data.max_train_examples=48", "data.max_eval_examples=16", "data.vectors=", "model.embedding=random",
        "model.emb_dim=8", "model.hidden=8", "model.label_dim=8", "train.epochs=1", "train.batch_size=16",
        "train.eval_test=false"])
    run = tmp_path / "run"
    runner = Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(run), run_dir=run,
                    log=lambda m: None)
    runner.fit()
    return runner, run / "checkpoints" / "latest"


def test_tampered_checkpoints_are_not_unpickled(checkpoint, tmp_path):
    from raymtl.analysis.commands import load_checkpoint
    from raymtl.train.checkpoint import CheckpointError
    from raymtl.train.checkpoint import BEST_FILE, STATE_FILE

    runner, ckpt = checkpoint
    marker = tmp_path / PAYLOAD_MARKER
    for victim in (STATE_FILE, BEST_FILE):
        good = (ckpt / victim).read_bytes()
        for bad in ("pickle", "truncated"):
            if bad == "pickle":
                torch.save({"model": Evil(marker)}, ckpt / victim)
            else:
                (ckpt / victim).write_bytes(good[: len(good) // 2])
            with pytest.raises(CheckpointError) as e:
                runner.restore(ckpt)  # resume path (Runner.fit)
            message = str(e.value)
            assert message.startswith(f"{ckpt / victim}: cannot load checkpoint") and "\n" not in message
            if bad == "pickle":
                assert "pickled Python objects" in message
            if victim == BEST_FILE:
                with pytest.raises(CheckpointError, match="cannot load checkpoint"):
                    load_checkpoint(ckpt)  # `raymtl effects` / review path
            assert not marker.exists()
        (ckpt / victim).write_bytes(good)
    runner.restore(ckpt)  # the untampered checkpoint still loads
    assert load_checkpoint(ckpt).weights == BEST_FILE


def test_a_poisoned_checkpoint_to_resume_from_fails_once_before_ray_starts(checkpoint, tmp_path):
    """`raymtl train` resuming a run whose checkpoint was tampered with: exit 2, one line naming the
    file, before Ray starts (so Ray Train's worker retries never run it three times)."""
    import shutil
    import subprocess
    import sys

    from raymtl.train.checkpoint import STATE_FILE

    _, ckpt = checkpoint
    storage = tmp_path / "storage"
    resumed = storage / "r" / "checkpoint_2026-01-01_00-00-00.000000"
    shutil.copytree(ckpt, resumed)
    marker = tmp_path / PAYLOAD_MARKER
    torch.save({"model": Evil(marker)}, resumed / STATE_FILE)
    env = {**os.environ, "RAY_ADDRESS": "", "RAYMTL_REVIEW": "0"}
    proc = subprocess.run([sys.executable, "-m", "raymtl.cli", "train", str(REPO / "configs" / "absa_cmtl.yaml"),
                           "--storage", str(storage), "--name", "r", "--smoke-test", "--set", "data.vectors=",
                           "--set", "model.embedding=random"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if "cannot load checkpoint" in ln]
    assert len(lines) == 1 and str(resumed / STATE_FILE) in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Started a local Ray" not in proc.stderr + proc.stdout
    assert not marker.exists()


def test_restore_copies_are_removed_and_stale_ones_swept(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from raymtl.train.checkpoint import RESTORE_PREFIX, remove_restore_copy, restore_copy_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f"{RESTORE_PREFIX}{dead}-abc"
    (stale / "checkpoint").mkdir(parents=True)
    live = tmp_path / f"{RESTORE_PREFIX}{os.getpid()}-keep"
    live.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    copy = restore_copy_dir()  # sweeps copies whose process is gone
    assert not stale.exists() and live.exists() and other.exists()
    assert copy.parent == tmp_path and copy.name.startswith(f"{RESTORE_PREFIX}{os.getpid()}-")
    (copy / "checkpoint").mkdir()
    remove_restore_copy(copy / "checkpoint")  # Ray's to_directory returns a path inside the copy
    assert not copy.exists()
    remove_restore_copy(other)  # never anything that is not a restore copy
    assert other.exists()


# ---- no unpickling/eval of user files anywhere in the package ----------------------------------
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def test_source_has_no_unsafe_loads():
    problems = []
    for path in sorted((REPO / "raymtl").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, owner, name in _calls(tree):
            kw = {k.arg: k.value for k in node.keywords}
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if owner == "torch" and name == "load":
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
            if owner in ("pickle", "cloudpickle", "dill", "marshal", "shelve", "joblib") and name.startswith("load"):
                problems.append(f"{where}: {owner}.{name}")
            constant = all(isinstance(a, ast.Constant) for a in node.args)  # e.g. __import__("types")
            if isinstance(node.func, ast.Name) and name in ("eval", "exec", "compile", "__import__") and not (
                    name == "__import__" and constant):
                problems.append(f"{where}: {name}()")
            if owner == "yaml" and name in ("load", "load_all", "unsafe_load", "full_load"):
                problems.append(f"{where}: yaml.{name}")
            if name in ("read_pickle",) or (name == "load" and "allow_pickle" in kw):
                problems.append(f"{where}: {owner}.{name} (pickle)")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n in ("pickle", "cloudpickle", "dill", "shelve", "marshal") for n in names if n):
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno}: imports {names}")
    assert not problems, "\n".join(problems)


def test_security_doc_exists():
    text = (REPO / "docs" / "security.md").read_text()
    for topic in ("safe_load", "weights_only", "pickle", "--name", "shared cluster"):
        assert topic in text, topic


@pytest.mark.parametrize("name", ["../escaped", "/tmp/raymtl-abs-escape", "x\x01y", "n" * 300])
def test_aux_select_name_cannot_escape_storage(tmp_path, name):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "raymtl.cli", "aux-select", "--main", "semeval16-stance:stance",
                           "--pool", "twitter-target-dong14:sentiment", "--name", name, "--storage",
                           str(tmp_path / "s")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "[--name]" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "escaped").exists()


def test_resume_check_finds_a_poisoned_checkpoint_of_any_trial(checkpoint, tmp_path):
    """`raymtl tune --resume` checks every trial's checkpoints (at any depth) before Tune restores."""
    import shutil

    from raymtl.train.checkpoint import CheckpointError, check_resume_checkpoints
    from raymtl.train.checkpoint import BEST_FILE

    _, ckpt = checkpoint
    exp = tmp_path / "exp"
    for trial in ("trial_a", "trial_b"):
        shutil.copytree(ckpt, exp / trial / "run" / "checkpoint_000001")
    assert check_resume_checkpoints(exp, recursive=True) == 2
    assert check_resume_checkpoints(exp) == 0  # not recursive: only checkpoint_* directly below
    bad = exp / "trial_b" / "run" / "checkpoint_000001" / BEST_FILE
    torch.save({"x": Evil(tmp_path / PAYLOAD_MARKER)}, bad)
    with pytest.raises(CheckpointError, match=str(bad).replace(".", r"\.")):
        check_resume_checkpoints(exp, recursive=True)
    assert not (tmp_path / PAYLOAD_MARKER).exists()


def test_checkpoint_staging_dirs_are_pid_named_and_swept(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from raymtl.train.checkpoint import STAGING_PREFIX, staging_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"{STAGING_PREFIX}{dead}-killed" / "state.pt").parent.mkdir()
    with pytest.raises(RuntimeError):
        with staging_dir() as d:
            assert d.name.startswith(f"{STAGING_PREFIX}{os.getpid()}-")
            (d / "state.pt").write_bytes(b"x")
            raise RuntimeError("report failed")
    assert list(tmp_path.iterdir()) == []  # the killed run's copy and this one (on error) are gone


def test_effects_on_a_poisoned_checkpoint_is_one_line_exit_2(checkpoint, tmp_path):
    import subprocess
    import sys

    from raymtl.train.checkpoint import BEST_FILE

    _, ckpt = checkpoint
    marker = tmp_path / PAYLOAD_MARKER
    torch.save({"model": Evil(marker)}, ckpt / BEST_FILE)
    proc = subprocess.run([sys.executable, "-m", "raymtl.cli", "effects", str(ckpt)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "RAYMTL_REVIEW": "0"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not marker.exists()
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]  # beside progress lines
    assert len(errors) == 1 and f"{ckpt / BEST_FILE}: cannot load checkpoint" in errors[0], proc.stderr
