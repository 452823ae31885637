"""The docs are tests: every ``raymtl ...`` command in the README's tour and in the command blocks of
``docs/*.md`` runs, in the order written, from a clean working directory and storage, and exits 0.

Training commands get a tiny budget (``--smoke-test``, 2 trials, 1 seed); commands that name a
placeholder (``SPACE.yaml``, ``DATASET:TASK``) or need what this machine lacks (a GPU) are not run,
each for a reason listed in SKIP, and the test fails if a command matches none of the rules, so a
new documented command is either run or explained.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# (pattern, reason): documented commands not run here.
SKIP = [
    (re.compile(r"\b(SPACE|CONFIG|NAME|DIR|READER|BUCKET|CHECKPOINT|EXPERIMENT_DIR|RUN_DIR|DATASET:TASK|"
                r"MAIN|POOL|FILE|PATH)\b|\.\.\.|<[a-z_]+>"), "a template with placeholders"),
    (re.compile(r"--gpus-per-worker [1-9]|--gpu\b"), "needs a GPU (none on this machine)"),
    (re.compile(r"--optuna\b"), "optuna-dashboard serves until stopped (tests/test_optuna_study.py)"),
    (re.compile(r"\$\{?\w"), "the body of a shell loop (its variables are set by the loop)"),
    (re.compile(r"~/corpora/"), "a corpus of the user's own (tests/test_own_corpus.py prepares such corpora "
                                "from cut copies of ../shared/data)"),
    (re.compile(r"runs/train/absa_cmtl_docs"), "the output shown is of a 12-epoch run (its command is above)"),
]
TRAINING = ("train", "tune", "aux-select")


def documented_commands(path: Path) -> list[tuple[int, str]]:
    """(line, command) of every `raymtl ...` line in the fenced blocks of ``path``."""
    out: list[tuple[int, str]] = []
    lines = path.read_text().splitlines()
    inside = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            inside = not inside
            i += 1
            continue
        text = line.strip()
        if inside and re.match(r"^(\$ )?raymtl\s", text):
            start = i + 1
            cmd = text[2:] if text.startswith("$ ") else text
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            cmd = re.split(r"\s+#\s", cmd, maxsplit=1)[0].strip()  # a trailing comment
            out.append((start, cmd))
        i += 1
    return out


def budget(argv: list[str]) -> list[str]:
    """The documented command with a tiny budget (same command, same outputs, seconds not hours)."""
    argv = list(argv)
    for flag, value in (("--num-samples", "2"), ("--seeds", "1"), ("--max-concurrent", "1")):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
    if argv[1] in TRAINING and "--smoke-test" not in argv:
        argv.append("--smoke-test")
    return argv


def skip_reason(cmd: str) -> str | None:
    reason = next((reason for pattern, reason in SKIP if pattern.search(cmd)), None)
    argv = shlex.split(cmd)
    if reason is None and len(argv) > 2 and argv[1] in TRAINING and argv[2].endswith(".yaml") \
            and not (REPO / argv[2]).exists():
        reason = "a config the guide has the reader write (its YAML is shown above the command)"
    return reason


def _run_board(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """`raymtl board` serves until stopped: wait for its URL, Ctrl-C it, it must stop TensorBoard."""
    log = cwd / "board.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(argv + ["--port", "0"] if "--port" not in argv else argv, cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and "http://" not in log.read_text():
            time.sleep(0.5)
        assert "http://" in log.read_text(), log.read_text()[-2000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert not left, f"TensorBoard still serving after Ctrl-C: {left}"
    return (0 if proc.returncode in (0, 130) else proc.returncode), log.read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_run_as_written(doc, shards_root, tmp_path):
    cmds = documented_commands(doc)
    if not cmds:
        return  # a guide without raymtl commands (the whole set is checked below)
    # Datasets the docs train on, prepared once per session; `raymtl data prepare conll04` (the tour's
    # first prepare) really prepares conll04 into this run's own shards root.
    session = shards_root("semeval14-restaurants", "semeval16-stance", "twitter-target-dong14", "semeval16-absa-rest")
    shards = tmp_path / "shards"
    shards.mkdir()
    for name in ("semeval14-restaurants", "semeval16-stance", "twitter-target-dong14", "semeval16-absa-rest"):
        (shards / name).symlink_to((session / name).resolve())
    work = tmp_path / "work"
    work.mkdir()
    for d in ("configs", "search_spaces"):  # as in a fresh clone: relative paths resolve
        (work / d).symlink_to(REPO / d)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env.update(RAYMTL_SHARDS_DIR=str(shards), PYTHONUNBUFFERED="1")
    ran, skipped = [], []
    for line, cmd in cmds:
        reason = skip_reason(cmd)
        if reason:
            skipped.append((line, cmd, reason))
            continue
        text = cmd.replace("~/.cache/raymtl/shards", str(shards))
        argv = budget(shlex.split(text))
        argv[0] = str(Path(sys.executable).with_name("raymtl"))
        t0 = time.perf_counter()
        if argv[1] == "board":
            code, out = _run_board(argv, work, env)
        else:
            done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
            code, out = done.returncode, done.stdout + done.stderr
        assert code == 0, f"{doc.name}:{line}: `{cmd}` (run as {' '.join(argv[1:])}) exited {code}:\n{out[-3000:]}"
        ran.append(f"{time.perf_counter() - t0:.0f}s {' '.join(argv[1:])}")
    print(f"\n{doc.name}: ran {len(ran)} documented commands:\n  " + "\n  ".join(ran) + "\nnot run: "
          + "; ".join(f"line {ln} ({why})" for ln, _c, why in skipped))
    assert ran or skipped


def test_every_documented_command_is_run_or_explained():
    total = run = 0
    for doc in DOCS:
        for _line, cmd in documented_commands(doc):
            total += 1
            run += skip_reason(cmd) is None
    assert total >= 15 and run >= 12, (total, run)
