"""Small C kernels compiled on first use and loaded with ctypes, for the few CPU hot loops where the
eager torch ops pay for many passes over memory (graph-mtl's message attention, Adadelta's update).

A kernel is one C file beside its Python module. :func:`load` builds it with the machine's C compiler
(``$CC``, else cc, gcc or clang; about a second) into :func:`raymtl.paths.kernels_dir` under a name
keyed on the source, the compiler and the CPU (a shared home on a mixed cluster holds one build per kind
of node), written under a temporary name and renamed, so concurrent workers never load half a file.
Where there is no compiler or the build fails, :func:`load` returns None and the caller runs its eager
torch code instead. Imports nothing of raymtl's layers, so every layer may use it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

from raymtl.atomic import atomic_path
from raymtl.paths import kernels_dir

# -fno-trapping-math (as torch builds): without it GCC 12 will not if-convert the float compares of a clamp,
# so no loop that calls the kernels' tanh is vectorised (5-6x slower there; newer compilers did it anyway)
FLAGS = ("-O3", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd")
Signatures = dict[str, tuple[list, object]]


def compiler() -> str | None:
    """``$CC``, else the first of cc, gcc, clang on PATH."""
    cc = os.environ.get("CC")
    return shutil.which(cc) if cc else next(filter(None, map(shutil.which, ("cc", "gcc", "clang"))), None)


def cpu_features() -> str:
    """The CPU's feature line (``flags`` on x86, ``Features`` on arm), else its processor name: what a
    ``-march=native`` build depends on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def compiler_version(cc: str) -> str | None:
    """``cc --version``'s output, or None where it does not run."""
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _build(cc: str, source: Path, target: Path) -> bool:
    for extra in (("-march=native",), ()):  # the CPU's vector units where the compiler knows them
        try:
            with atomic_path(target) as tmp:
                subprocess.run([cc, *FLAGS, *extra, str(source), "-o", str(tmp), "-lm"], check=True,
                               capture_output=True, timeout=300)
            return True
        except (OSError, subprocess.SubprocessError):
            continue
    return False


def build(source: Path) -> Path | None:
    """The shared library of ``source``, compiled unless a build for this source, compiler and CPU exists."""
    cc = compiler()
    if cc is None or not source.exists():
        return None
    version = compiler_version(cc)
    if version is None:
        return None
    key = hashlib.sha256("\0".join([source.read_text(), cc, version, " ".join(FLAGS), platform.machine(),
                                    cpu_features()]).encode()).hexdigest()[:16]
    target = kernels_dir() / f"{source.stem.lstrip('_')}-{key}.so"
    return target if target.exists() or _build(cc, source, target) else None


@functools.cache
def _load(source: Path, compiler_env: str | None, signatures: tuple) -> ctypes.CDLL | None:
    target = build(source)
    if target is None:
        return None
    try:
        lib = ctypes.CDLL(str(target))
    except OSError:
        return None
    for name, args, res in signatures:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def load(source: Path, signatures: Signatures) -> ctypes.CDLL | None:
    """``source`` built (see :func:`build`) and loaded, each function of ``signatures``
    (name → (argtypes, restype)) typed; None where it cannot be built or loaded. Loaded once per
    process (and per ``$CC``)."""
    return _load(Path(source), os.environ.get("CC"),
                 tuple((n, tuple(a), r) for n, (a, r) in signatures.items()))
