"""raymtl.procs.stop_pids: SIGTERM, then SIGKILL for what ignores it; other processes untouched."""

from __future__ import annotations

import subprocess
import sys
import time

from raymtl.procs import alive, pids_using, stop_pids, stop_using

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"


def _start(code: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_stop_pids_terms_then_kills_and_spares_the_rest():
    polite = _start("import time; print('ready', flush=True); time.sleep(120)")
    stubborn = _start(IGNORES_TERM)
    bystander = _start("import time; print('ready', flush=True); time.sleep(120)")
    try:
        started = time.monotonic()
        left = stop_pids([polite.pid, stubborn.pid], grace=1.0)
        assert left == []
        assert polite.wait(5) == -15  # SIGTERM was enough
        assert stubborn.wait(5) == -9  # ignored SIGTERM: killed after the grace
        assert time.monotonic() - started < 10
        assert alive(bystander.pid) and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    assert stop_pids([polite.pid]) == []  # gone already: no error


def test_pids_using_finds_a_process_by_its_open_file_alone(tmp_path):
    """A process that names nothing of the directory on its command line but writes a log below it
    (as Ray's agents do under ``--temp-dir``) is found; a bystander is not."""
    log = tmp_path / "logs" / "agent.out"
    log.parent.mkdir()
    with open(log, "w") as out:
        writer = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(120)"],
                                  stdout=out)
    bystander = _start("import time; print('ready', flush=True); time.sleep(120)")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and log.read_text().strip() != "ready":
            time.sleep(0.1)
        found = pids_using(tmp_path)
        assert writer.pid in found and bystander.pid not in found
        assert stop_using(tmp_path) == [] and writer.wait(5) == -15  # found and stopped by its log alone
        assert alive(bystander.pid)
    finally:
        stop_pids([writer.pid, bystander.pid], grace=1.0)
    assert writer.pid not in pids_using(tmp_path)
