"""The README's main job as a user runs it: the documented command verbatim, from a clean working
directory, with somebody else's Ray instance running on the host; and a search interrupted with
SIGINT / SIGTERM, then continued with ``--resume``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from raymtl.procs import stop_using
from raymtl.train.faults import CHAOS_DELAY_ENV, CHAOS_DIR_ENV

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def readme_main_job() -> list[str]:
    """The `raymtl tune ...` at the end of the README's first set-up command."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Set-up.*?```bash\n(.*?)\n```", text, flags=re.S)
    assert block, "README.md has no set-up block"
    main = block.group(1).split("&&")[-1].strip()
    assert main.startswith("raymtl tune "), main
    return main.split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def other_ray():
    """Another user's Ray instance on this host (own ports, own temp dir), stopped by its PIDs."""
    temp = Path(tempfile.mkdtemp(prefix="rx", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = _free_port()
    ray_bin = Path(sys.executable).with_name("ray")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    out = subprocess.run([str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={temp}",
                          "--include-dashboard=false", "--disable-usage-stats"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", str(temp)], capture_output=True, text=True).stdout.split()]
    assert pids, "the other Ray instance left no processes to find"
    try:
        yield {"port": port, "temp": temp, "pids": pids}
    finally:
        # its agents and client server name nothing of temp on their command lines: found by their logs
        left = stop_using(temp, pids)
        assert not left, f"processes of the other Ray instance survived: {left}"
        shutil.rmtree(temp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _env(shards: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env.update(RAYMTL_SHARDS_DIR=str(shards), PYTHONUNBUFFERED="1")
    return env


def test_readme_main_job_verbatim_beside_another_ray_instance(shards_root, other_ray, tmp_path):
    shards = shards_root("semeval14-restaurants")
    work = tmp_path / "fresh"
    work.mkdir()
    (work / "search_spaces").symlink_to(REPO / "search_spaces")  # `cd` into a clone: relative paths work
    (work / "configs").symlink_to(REPO / "configs")
    cmd = readme_main_job()
    started = time.time()
    done = subprocess.run(cmd, cwd=work, env=_env(shards), capture_output=True, text=True, timeout=900)
    wall = time.time() - started
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    lines = out.splitlines()
    assert lines[0].startswith("Ray: started a private local Ray"), lines[:3]
    assert "another Ray is running on this host" in lines[1], lines[:3]
    exp = work / "runs" / "tune" / "quickstart"
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 4 and set(df["status"]) <= {"terminated", "stopped_early"}, df[["trial", "status"]]
    # Every trial learned before the scheduler compared them (quickstart's grace period).
    assert (df["epochs_run"] >= 2).all() and (df["best_dev_score"] > 0).all(), df[["epochs_run", "best_dev_score"]]
    assert "best configuration:" in out and (exp / "best_config.yaml").exists()
    assert re.search(r"dev_score over 4 scored trials: min [\d.]+, median [\d.]+, max [\d.]+", out)
    # Trials ran in our own instance, one process serving several trials (reused Tune actors);
    # run_info.json is written at each trial's start, so trials ASHA stopped have one too.
    infos = [json.loads(p.read_text()) for p in exp.glob("trial_*/run_info.json")]
    assert len(infos) == 4 and {i["path"] for i in infos} == {"in_process"}, infos
    assert any(i["data_from_cache"] for i in infos), "no trial reused a cached TrainData"
    assert len({i["pid"] for i in infos}) < 4, "every trial had a process of its own"
    finished = list(exp.glob("trial_*/results.json"))
    assert len(finished) == (df["status"] == "terminated").sum(), (finished, df[["trial", "status"]])
    # The other instance is untouched: alive, and no driver or worker of ours ever ran on it.
    assert all(_alive(p) for p in other_ray["pids"])
    session_logs = list(other_ray["temp"].glob("session_*/logs"))
    assert session_logs and not list(session_logs[0].glob("python-core-*")), list(session_logs[0].iterdir())
    # Output is raymtl's, not Ray's: no helper tracebacks, no Ray hints that contradict ours.
    assert "Traceback" not in out + done.stderr
    assert "Tuner.restore" not in out + done.stderr and "tensorboard --logdir /tmp/ray" not in out + done.stderr
    print(f"\nREADME main job: {wall:.0f}s wall, {len(lines)} lines of output")


def test_train_smoke_test_output_is_one_clean_line_per_worker_message(shards_root, tmp_path):
    """`raymtl train configs/absa_cmtl.yaml --smoke-test` into a log file: the first line says which Ray,
    each worker line appears once and carries no terminal colour codes."""
    shards = shards_root("semeval14-restaurants")
    done = subprocess.run([sys.executable, "-m", "raymtl.cli", "train", str(REPO / "configs" / "absa_cmtl.yaml"),
                           "--smoke-test", "--storage", str(tmp_path / "runs")], cwd=tmp_path, env=_env(shards),
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    assert out.splitlines()[0].startswith("Ray: started a private local Ray"), out[:500]
    worker = [line for line in out.splitlines() if line.startswith("(RayTrainWorker pid=")]
    assert any("vocabulary:" in line for line in worker), out[-3000:]
    assert len(worker) == len(set(worker)), "a worker line was printed twice"
    # Its near-zero scores are explained, with the smoke test's own sizes, as the last line.
    note = "smoke test: at most 300 training and 100 dev and test examples per dataset, 1 epoch"
    assert out.splitlines()[-1].startswith(note), out[-1000:]
    assert "\x1b[" not in out + done.stderr
    assert "Traceback" not in out + done.stderr


def _search_cmd(storage: Path) -> list[str]:
    return [sys.executable, "-m", "raymtl.cli", "tune", str(REPO / "search_spaces" / "quickstart.yaml"),
            "--storage", str(storage), "--name", "intr", "--num-samples", "3", "--max-concurrent", "1",
            "--set", "data.max_train_examples=120", "--set", "data.max_eval_examples=60",
            "--set", "data.vectors=", "--set", "model.embedding=random", "--set", "model.emb_dim=16",
            "--set", "params.model.hidden=16", "--set", "train.epochs=3", "--set", "scheduler.kind=fifo"]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_search_says_so_exits_nonzero_and_resumes(shards_root, tmp_path, sig, code):
    shards = shards_root("semeval14-restaurants")
    # Slow steps (the loop's fault-injection hook, active only with its heartbeat directory) so the signal
    # lands while a trial runs: tiny in-process trials can otherwise all finish before it.
    beats = tmp_path / "beats"
    beats.mkdir()
    env = {**_env(shards), CHAOS_DIR_ENV: str(beats), CHAOS_DELAY_ENV: "0.25"}
    proc = subprocess.Popen(_search_cmd(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    exp = tmp_path / "intr"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:  # wait for the first trial's first epoch
        if any(p.stat().st_size for p in exp.glob("trial_*/result.json")):
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, (out[-2000:], err[-2000:])
    assert "interrupted" in out and "--resume" in out, out[-2000:]
    assert "Traceback" not in err, err[-3000:]
    df = pd.read_csv(exp / "results.csv")
    assert "status" in df and not (df["status"] == "terminated").all(), df[["trial", "status"]]
    assert set(df["status"]) <= {"terminated", "interrupted", "not_started", "stopped_early"}
    kept = int((df["status"] == "terminated").sum())
    # The printed command, verbatim: the user's own name, storage and overrides plus --resume (a
    # resumed search rebuilds the unfinished trials' configs from them).
    hint = re.search(r"continue with: (raymtl tune .*)$", out, re.M)
    assert hint, out[-2000:]
    args = shlex.split(hint.group(1))
    assert args == ["raymtl", *_search_cmd(tmp_path)[3:], "--resume"], hint.group(1)
    if sig != signal.SIGINT:
        return  # the resume does not depend on which signal stopped the search: run once, after Ctrl-C
    again = subprocess.run([sys.executable, "-m", "raymtl.cli", *args[1:]], env=_env(shards), capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0, (again.stdout[-3000:], again.stderr[-3000:])
    # the progress lines count on from the trials the first run finished
    ordinals = [int(k) for k in re.findall(r"started \((\d+)/3\)", again.stdout)]
    assert ordinals and min(ordinals) == kept + 1 and max(ordinals) <= 3, again.stdout[-3000:]
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 3 and (df["status"] == "terminated").all(), df[["trial", "status"]]


def test_joined_cluster_that_cannot_place_a_trial_is_an_error_not_an_endless_pending(shards_root, tmp_path):
    from ray.cluster_utils import Cluster

    shards = shards_root("semeval14-restaurants")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cmd = [sys.executable, "-m", "raymtl.cli", "tune", str(REPO / "search_spaces" / "quickstart.yaml"),
               "--smoke-test", "--address", cluster.address, "--cpus-per-worker", "2", "--placement-timeout", "8",
               "--storage", str(tmp_path), "--name", "pending"]
        started = time.time()
        done = subprocess.run(cmd, env=_env(shards), capture_output=True, text=True, timeout=600)
        assert done.returncode == 1, (done.stdout[-2000:], done.stderr[-2000:])
        assert time.time() - started < 300
        assert done.stdout.startswith("Ray: joined the Ray cluster at"), done.stdout[:300]
        assert "no trial could be placed for 8s" in done.stderr and "needs 2 CPU" in done.stderr, done.stderr[-2000:]
        df = pd.read_csv(tmp_path / "pending" / "results.csv")
        assert len(df) >= 1 and (df["status"] == "not_started").all(), df[["trial", "status"]]
    finally:
        cluster.shutdown()
