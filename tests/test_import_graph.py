"""The import graph of raymtl/ (and bench/) read statically with ast: no cycle, no private name
imported across modules, no import from a higher layer (docs/architecture.md).

Every import counts, also those inside functions: a lazy import hides a loop from Python, not
from the reader. Only ``if TYPE_CHECKING:`` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_DIRS = ("bench",)


def module_files(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ROOT/package."""
    out: dict[str, Path] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk_runtime(tree: ast.AST):
    """ast.walk without the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(target module, imported name or None, line) for every import of a known module.

    ``from a.b import c`` targets ``a.b.c`` when that is a module (name None), else ``a.b`` with
    name ``c``. Relative imports are resolved against ``module``'s package; a bench script's
    ``from _common import`` against bench/ (scripts run with their folder on sys.path).
    """
    script_dir = module.split(".")[0] if module.split(".")[0] in SCRIPT_DIRS else None
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in _walk_runtime(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    out.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
                if script_dir and f"{script_dir}.{source}" in known:
                    source = f"{script_dir}.{source}"
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:
                    out.append((sub, None, node.lineno))
                elif source in known:
                    out.append((source, alias.name, node.lineno))
    return out


def import_graph(packages=("raymtl", "bench")):
    files: dict[str, Path] = {}
    for p in packages:
        files.update(module_files(p))
    known = set(files)
    edges = {m: imports_of(m, f, known) for m, f in files.items()}
    return files, edges


def find_cycles(edges: dict[str, list[tuple[str, str | None, int]]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or with a self-import (Tarjan)."""
    graph = {m: sorted({t for t, _, _ in es if t != m}) for m, es in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def private_imports(files, edges) -> list[str]:
    """Every ``from m import _x`` of a private name defined in another module.

    A family's shared module (``architectures/_causal_common.py``) is a file name, not a helper:
    its public names may be imported; its ``_names`` may not, like any module's.
    """
    bad = []
    for mod, es in edges.items():
        for target, name, line in es:
            if name is not None and name.startswith("_") and not name.startswith("__") and target != mod:
                bad.append(f"{files[mod].relative_to(ROOT)}:{line}: imports private {name} from {target}")
    return bad


# The layers of docs/architecture.md, lowest first; raymtl's other top-level modules (errors, paths,
# atomic, procs, safety, numeric, configs) are layer 0. A module imports its own layer and lower ones only.
LAYER = {"data": 1, "models": 2, "train": 3, "search": 4, "analysis": 4, "tune": 5, "cli": 6}
# The upward imports the design accepts, each with its reason (docs/architecture.md repeats them).
UPWARD_ALLOWED = {
    ("raymtl.train.loop", "raymtl.analysis.tensorboard"):
        "at the end of a run the loop writes its review figures and projector (they need the best weights)",
    ("raymtl.search.aux_select", "raymtl.tune"):
        "aux-select is a second Tune driver beside tune.py and shares its Ray connection, resources, scheduler",
}


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYER.get(parts[1], 0) if parts[0] == "raymtl" and len(parts) > 1 else 0


def upward_imports(files, edges) -> list[str]:
    bad = []
    for mod, es in edges.items():
        if not mod.startswith("raymtl"):
            continue
        for target, _, line in es:
            if layer_of(target) > layer_of(mod) and (mod, target) not in UPWARD_ALLOWED:
                bad.append(f"{files[mod].relative_to(ROOT)}:{line}: {mod} (layer {layer_of(mod)}) imports "
                           f"{target} (layer {layer_of(target)})")
    return bad


def test_graph_sees_the_packages():
    # The walk must actually find modules and edges (else the two checks below pass vacuously).
    files, edges = import_graph()
    assert {"raymtl.tune", "raymtl.data.registry", "raymtl.search.space", "bench._common"} <= set(files)
    assert ("raymtl.data.schema", None) in {(t, n) for t, n, _ in edges["raymtl.data.manifest"]} or any(
        t == "raymtl.data.schema" for t, _, _ in edges["raymtl.data.manifest"])


def test_cycle_finder_finds_a_planted_cycle():
    edges = {"a": [("b", None, 1)], "b": [("c", "f", 2)], "c": [("a", None, 3)], "d": [("a", None, 1)]}
    assert find_cycles(edges) == [["a", "b", "c"]]
    assert find_cycles({"a": [("b", None, 1)], "b": []}) == []


def test_no_import_cycle():
    _, edges = import_graph()
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_imported_across_modules():
    files, edges = import_graph()
    bad = private_imports(files, edges)
    assert not bad, "\n".join(bad)


def test_no_upward_import_between_layers():
    files, edges = import_graph()
    bad = upward_imports(files, edges)
    assert not bad, "imports from a higher layer (see docs/architecture.md):\n" + "\n".join(bad)
    used = {(m, t) for m, es in edges.items() for t, _, _ in es}
    assert set(UPWARD_ALLOWED) <= used, "an allowed upward import is gone: drop it from UPWARD_ALLOWED"


def test_layer_check_flags_a_planted_upward_import():
    files = {"raymtl.data.x": ROOT / "raymtl" / "data" / "x.py"}
    edges = {"raymtl.data.x": [("raymtl.train.loop", "Runner", 3), ("raymtl.errors", "DataError", 4)]}
    assert upward_imports(files, edges) == [
        "raymtl/data/x.py:3: raymtl.data.x (layer 1) imports raymtl.train.loop (layer 3)"]


if __name__ == "__main__":
    files, edges = import_graph()
    for c in find_cycles(edges):
        print("cycle:", " <-> ".join(c))
    for b in private_imports(files, edges) + upward_imports(files, edges):
        print(b)
