"""Errors that name where the problem is (file, line, field) so users can fix their input."""

from __future__ import annotations

from pathlib import Path


class RaymtlError(Exception):
    """Base class of every error raymtl reports to users (the CLI prints it without a traceback)."""


class DataError(RaymtlError):
    """Malformed or inconsistent input data, located by file, line and field."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.file:
            where = self.file
            if line is not None:
                where += f":{line}"
        if field:
            where += f" [{field}]" if where else f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(RaymtlError):
    """An invalid config or search space, located by file, line and key (the line is looked up in
    the YAML file when not given: ``configs/x.yaml:12 [optim.lr]: ...``)."""

    def __init__(self, message: str, *, file: str | Path | None = None, key: str | None = None,
                 line: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line if line is not None else yaml_key_line(self.file, key)
        where = self.file or ""
        if where and self.line:
            where += f":{self.line}"
        if key:
            where += f" [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message)


def _key_path(key: str) -> list[str | int]:
    """``tasks[1].name`` -> ["tasks", 1, "name"]; ``params.optim.lr`` -> ["params", "optim.lr"] is
    tried too by the caller (dotted names are keys of their own in search spaces)."""
    parts: list[str | int] = []
    for piece in key.split("."):
        name, *indices = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        parts += [int(i) for i in indices if i.isdigit()]
    return parts


def yaml_key_line(file: str | None, key: str | None) -> int | None:
    """The 1-based line of ``key`` (dotted, with [i] indices) in the YAML ``file``, or of its deepest
    present ancestor; None when the file is not YAML or the key is not in it."""
    if not file or not key or not str(file).endswith((".yaml", ".yml")):
        return None
    try:
        import yaml

        node = yaml.compose(Path(file).read_text(encoding="utf-8"))
    except Exception:  # unreadable or malformed: the error says so itself
        return None
    parts = _key_path(key)
    line = None
    i = 0
    while node is not None and i < len(parts):
        part, nxt = parts[i], None
        if isinstance(node, yaml.MappingNode):
            for j in range(len(parts), i, -1):  # the longest dotted run that is one key ("optim.lr")
                name = ".".join(str(p) for p in parts[i:j])
                hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == name), None)
                if hit:
                    line, nxt, i = hit[0].start_mark.line + 1, hit[1], j
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line, i = nxt.start_mark.line + 1, i + 1
        node = nxt
    return line
