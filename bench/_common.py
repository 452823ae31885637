"""Helpers shared by the benchmarks: machine info, atomic JSON output (raymtl.atomic), table printing."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from raymtl import atomic  # noqa: E402  (after the path: benchmarks run from a clone)


def machine_info() -> dict[str, Any]:
    """CPU count, library versions, load average at start, date: recorded in every result file."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
        "argv": sys.argv,
    }
    info.update(_cpu())
    for mod in ("torch", "ray", "optuna", "pyarrow", "numpy"):
        try:
            info[f"{mod}_version"] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing library is recorded, not fatal
            info[f"{mod}_version"] = None
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    return info


def _cpu() -> dict[str, Any]:
    """The CPU's model and vector extensions, and the C compiler that builds raymtl's kernels (what their
    build depends on, from raymtl.ckernels): the same code ran 2x apart on two CPUs of this project's
    machines (an AVX-512 Intel one and an AVX2 AMD one)."""
    from raymtl import ckernels

    model = platform.processor()
    try:
        model = next((line.partition(":")[2].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), model)
    except OSError:
        pass
    features = ckernels.cpu_features().partition(":")[2].split()
    cc = ckernels.compiler()
    version = ckernels.compiler_version(cc) if cc else None
    return {"cpu_model": model or None,
            "cpu_vector_flags": sorted(f for f in features if f.startswith(("avx", "fma", "sve", "asimd"))) or None,
            "cc": version.split("\n")[0] if version else None}


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """``data`` as JSON (numpy scalars and paths made plain), written through raymtl.atomic."""
    return atomic.write_json(path, data, default=_default, newline=True)


write_text_atomic = atomic.write_text  # the benchmarks' name for raymtl.atomic.write_text


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
