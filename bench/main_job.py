#!/usr/bin/env python
"""The README's main job as a user meets it: wall time, seconds to the first trial's first epoch,
lines of output and how many are not raymtl's, alone and with another Ray instance on the host.

    python bench/main_job.py                    # both cases, ~1.5 min on an idle 2-core machine

Runs the README's `raymtl tune ...` verbatim in a temporary copy-free working directory (symlinks to
configs/ and search_spaces/), with the shards of ``$RAYMTL_SHARDS_DIR`` (prepared on first use).
The other instance is started with ``ray start --head`` on its own port and temp dir and stopped
by its PIDs. Writes bench/results/main_job.json.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, write_json_atomic  # noqa: E402

from raymtl.procs import stop_using  # noqa: E402

# The line shapes raymtl prints (progress, summary, the space's description, first-use prepare).
OURS = re.compile(r"^(\[|Ray:|note:|search |quickstart|  |==|dev_score|best|results|review|schedule|optuna|"
                  r"concurrency|preparing|semeval14|interrupted|$)")


def readme_command() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Set-up.*?```bash\n(.*?)\n```", text, flags=re.S).group(1)
    return block.split("&&")[-1].split()


def run_once(label: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="raymtl-main-job-"))
    for d in ("configs", "search_spaces"):
        (work / d).symlink_to(REPO / d)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    t0 = time.time()
    proc = subprocess.Popen(readme_command(), cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    first_epoch, lines, foreign = None, 0, []
    for line in proc.stdout:
        lines += 1
        if not OURS.match(line):
            foreign.append(line.rstrip()[:300])
        if first_epoch is None and " epoch 1/" in line:
            first_epoch = time.time() - t0
    proc.wait()
    return {"case": label, "returncode": proc.returncode, "wall_s": time.time() - t0, "first_epoch_s": first_epoch,
            "lines": lines, "not_raymtl_lines": len(foreign), "not_raymtl": foreign[:20]}


def other_ray() -> tuple[list[int], Path]:
    temp = Path(tempfile.mkdtemp(prefix="rxb", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={port}", "--num-cpus=1",
                    f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats"], env=env, check=True,
                   capture_output=True, timeout=120)
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", str(temp)], capture_output=True, text=True).stdout.split()]
    return pids, temp


def main() -> int:
    out = {"benchmark": "main_job", "machine": machine_info(), "command": " ".join(readme_command()), "runs": []}
    out["runs"].append(run_once("alone"))
    pids, temp = other_ray()
    try:
        r = run_once("another Ray instance on the host")
        r["other_instance_untouched"] = not list(temp.glob("session_*/logs/python-core-*"))
        out["runs"].append(r)
    finally:
        stop_using(temp, pids)  # its agents are found by their logs under temp
    for r in out["runs"]:
        print(f"{r['case']:<34} exit {r['returncode']}  wall {r['wall_s']:5.1f} s  first epoch at "
              f"{r['first_epoch_s'] or float('nan'):5.1f} s  {r['lines']} lines, {r['not_raymtl_lines']} not raymtl's")
    write_json_atomic(RESULTS / "main_job.json", out)
    print(f"wrote {RESULTS / 'main_job.json'}")
    return 0 if all(r["returncode"] == 0 for r in out["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
