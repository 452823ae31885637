"""Generic JSON-lines files already in raymtl's schema. Registered as ``jsonl`` (no folder: use
``--source DIR``).

Each line of ``<split>.jsonl`` is one example::

    {"id": "s1", "tokens": ["The", "pizza"], "text_b": null, "offsets": [[0, 3], [4, 9]],
     "labels": {"ate": ["O", "B-ASP"], "re": [[0, 1, "Rel"]], "acd": ["food"], "pol": "positive"}}

``tokens`` may be replaced by ``text`` (tokenized with the common regex tokenizer, with offsets);
``id`` defaults to ``<split>-<line>``; ``text_b`` may be a list of tokens or a string (tokenized);
relation triples are ``[head, tail, type]``. Blank lines are skipped.

The tasks come from option ``tasks`` (a list of TaskSpec dicts ``{"name", "kind", "labels",
"pairwise", "scheme", "metric"}`` or a mapping name -> such a dict or kind), else from
``tasks.json`` beside the files (the same list, or ``{"tasks": [...]}``). Option ``splits`` maps
split name -> file name; by default every ``*.jsonl`` file is a split named after its stem.
Every example is validated (``Example.validate``) and, for tasks with a label vocabulary, every
label must be in it; errors name the file, line and field.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.readers.conll_columns import detect_scheme
from raymtl.data.entry import DatasetEntry, ReadResult
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

TASKS_FILE = "tasks.json"


def _task_specs(raw: object, *, file: Path | None) -> list[TaskSpec]:
    if isinstance(raw, Mapping) and "tasks" in raw:
        raw = raw["tasks"]
    items: list[dict] = []
    if isinstance(raw, Mapping):
        for name, spec in raw.items():
            items.append({"name": name, "kind": spec} if isinstance(spec, str) else {"name": name, **dict(spec)})
    elif isinstance(raw, list):
        items = [dict(x) for x in raw]
    else:
        raise DataError(f"tasks must be a list of task dicts or a mapping name -> kind/dict, got {raw!r:.80}",
                        file=file, field="tasks")
    specs = []
    for i, item in enumerate(items):
        try:
            specs.append(TaskSpec.from_dict(item))
        except (KeyError, ValueError, TypeError) as err:
            raise DataError(f"task {i}: {err}", file=file, field=f"tasks[{i}]") from None
    if not specs:
        raise DataError("no tasks given", file=file, field="tasks")
    return specs


def _load_tasks(source: Path, options: Mapping[str, object]) -> list[TaskSpec]:
    raw = common.option(options, "tasks", None)
    if raw is not None:
        return _task_specs(raw, file=None)
    path = source / TASKS_FILE
    if not path.is_file():
        raise DataError(f"no task description: give option tasks or put {TASKS_FILE} in {source}",
                        file=path, field="tasks")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err.msg}", file=path, line=err.lineno, field="tasks") from None
    except UnicodeDecodeError as err:
        raise DataError(f"byte {err.object[err.start:err.start + 1]!r} is not valid UTF-8", file=path,
                        line=err.object[:err.start].count(b"\n") + 1, field="encoding") from None
    return _task_specs(data, file=path)


def _tokens(value: object, *, path: Path, line: int, field_name: str) -> list[str]:
    if isinstance(value, str):
        return common.words(value)
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    raise DataError("expected a list of strings or a string", file=path, line=line, field=field_name)


def _is_index(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _example(obj: object, split: str, n: int, path: Path, tasks: dict[str, TaskSpec], *,
             split_clitics: bool = False) -> Example:
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object", file=path, line=n, field="line")
    offsets = None
    if "tokens" in obj:
        tokens = _tokens(obj["tokens"], path=path, line=n, field_name="tokens")
    elif isinstance(obj.get("text"), str):
        tokens, offsets = common.tokenize(obj["text"], split_clitics=split_clitics)
    else:
        raise DataError("no tokens (give 'tokens' or 'text')", file=path, line=n, field="tokens")
    if obj.get("offsets") is not None:
        try:
            offsets = [(a, b) for a, b in obj["offsets"]]
        except (TypeError, ValueError):
            raise DataError("offsets must be [start, end] pairs", file=path, line=n, field="offsets") from None
        # no int() here: it would truncate 1.7 and accept "3"; Example.validate checks ints and ranges
    text_b = obj.get("text_b")
    if text_b is not None:
        text_b = _tokens(text_b, path=path, line=n, field_name="text_b")
    labels_raw = obj.get("labels") or {}
    if not isinstance(labels_raw, dict):
        raise DataError("labels must be an object task -> value", file=path, line=n, field="labels")
    labels: dict = {}
    for name, value in labels_raw.items():
        if value is None:
            continue
        spec = tasks.get(name)
        if spec is None:
            raise DataError(f"unknown task {name!r}; tasks: {', '.join(tasks)}", file=path, line=n,
                            field=f"labels.{name}")
        if spec.kind == "relation":
            try:
                value = [(h, t, ty) for h, t, ty in value]
            except (TypeError, ValueError):
                raise DataError("relations must be [head, tail, type] triples", file=path, line=n,
                                field=f"labels.{name}") from None
            if not all(_is_index(h) and _is_index(t) and isinstance(ty, str) for h, t, ty in value):
                raise DataError("relations must be [head, tail, type] with integer token indices and a type "
                                "string", file=path, line=n, field=f"labels.{name}")
            used = [ty for _, _, ty in value]
        elif spec.kind == "classify":
            if not isinstance(value, str):
                raise DataError(f"expected one label string, got {type(value).__name__} {value!r:.40}", file=path,
                                line=n, field=f"labels.{name}")
            used = [value]
        elif spec.kind == "multilabel":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DataError("expected a list of label strings", file=path, line=n, field=f"labels.{name}")
            value = sorted(set(value))
            used = value
        else:
            used = value if isinstance(value, list) else []
        if spec.labels:
            bad = [u for u in used if u not in spec.labels]
            if bad:
                raise DataError(f"unknown label {bad[0]!r} for task {name}; expected one of "
                                f"{', '.join(spec.labels)}", file=path, line=n, field=f"labels.{name}")
        labels[name] = value
    ex = Example(id=str(obj.get("id") or f"{split}-{n}"), tokens=tokens, text_b=text_b, offsets=offsets,
                 labels=labels)
    try:
        ex.validate(tasks)
    except ValueError as err:
        msg = str(err)
        fld = msg[msg.find("[") + 1:msg.find("]")] if "[" in msg else "labels"
        raise DataError(msg, file=path, line=n, field=fld) from None
    return ex


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    source = Path(source)
    if not source.is_dir():
        common.require_files(source, ["<split>.jsonl", TASKS_FILE])
    tasks = _load_tasks(source, options)
    by_name = {t.name: t for t in tasks}
    raw_splits = common.option(options, "splits", None)
    if raw_splits:
        files = {str(k): str(v) for k, v in dict(raw_splits).items()}  # type: ignore[call-overload]
    else:
        files = {p.stem: p.name for p in sorted(source.glob("*.jsonl"))}
        if not files:
            raise DataError("no *.jsonl files found (or give option splits)", file=source, field="splits")
    paths = common.require_files(source, files.values())
    splits: dict[str, list[Example]] = {}
    clitics = bool(common.option(options, "split_clitics", False))
    for split, name in files.items():
        path = paths[name]
        examples = []
        seen: set[str] = set()
        for n, line in enumerate(common.read_lines(path, fallback=()), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON: {err.msg} (column {err.colno})", file=path, line=n,
                                field="json") from None
            ex = _example(obj, split, n, path, by_name, split_clitics=clitics)
            if ex.id in seen:
                raise DataError(f"duplicate id {ex.id!r}", file=path, line=n, field="id")
            seen.add(ex.id)
            examples.append(ex)
        splits[split] = common.require_records(examples, path, "examples", "line")
    source_files = list(paths.values()) + ([source / TASKS_FILE] if (source / TASKS_FILE).is_file() else [])
    return ReadResult(tasks=_with_metrics(tasks, splits, options), splits=splits, source_files=source_files)


def _with_metrics(tasks: list[TaskSpec], splits: Mapping[str, list[Example]],
                  options: Mapping[str, object]) -> list[TaskSpec]:
    """Option ``metrics`` (task -> metric) overrides the specs'; a tagging task without a metric whose
    tags are not a span tag set (see :func:`conll_columns.detect_scheme`) is scored by accuracy."""
    raw = dict(common.option(options, "metrics", {}))  # type: ignore[call-overload]
    given = {str(k): str(v) for k, v in raw.items()}
    names = [t.name for t in tasks]
    for task in given:
        if task not in names:
            raise DataError(f"metrics names unknown task {task!r}; tasks: {', '.join(names)}", field="metrics")
    out = []
    for t in tasks:
        metric = given.get(t.name, t.metric)
        if metric is None and t.kind == "tagging":
            labels = set(t.labels) or {tag for exs in splits.values() for ex in exs
                                       for tag in ex.labels.get(t.name, ())}
            metric = None if detect_scheme(labels) else "acc"
        out.append(replace(t, metric=metric))
    return out


ENTRY = DatasetEntry(
    name="jsonl",
    description="generic JSON lines in raymtl's schema (one example per line) + a task description; "
                "needs --source",
    folder="",
    reader=read,
    task_kinds={},
    options=ReaderOptions(
        ReaderOption("tasks", "list|mapping", None, f"the task specs (default: {TASKS_FILE} in --source): a list "
                     "of task dicts, or a mapping name -> kind or name -> {kind, labels, metric, ...}"),
        ReaderOption("splits", "mapping", None, "split -> file name in --source (default: every *.jsonl, named "
                     "after its stem)"),
        ReaderOption("metrics", "mapping", {}, "task -> main metric (e.g. '{pos: acc}'); default: the task "
                     "spec's, for tagging f1 on span tag sets and acc on any other"),
        ReaderOption("split_clitics", "bool", False, "when a line gives text (not tokens): split clitics off "
                     "words (it's -> it 's) as GloVe's tokenisation does")),
)
