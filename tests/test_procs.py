"""raymtl.procs.stop_pids: SIGTERM, then SIGKILL for what ignores it; other processes untouched."""

from __future__ import annotations

import subprocess
import sys
import time

from raymtl.procs import alive, stop_pids

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
