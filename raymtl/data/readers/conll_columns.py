"""Generic CoNLL-style column files: one token per line, whitespace/tab-separated columns, a blank
line between sentences, ``-DOCSTART-`` lines skipped. Registered as ``conll-columns`` (no folder:
use ``--source DIR``); ``conll2003`` reuses :func:`read_columns`.

Options:

- ``columns``: column index (0-based; negative counts from the end) -> ``tokens`` or a task name,
  e.g. ``{0: tokens, 1: pos, 3: ner}``. Default ``{0: tokens, -1: tags}``. Exactly one ``tokens``.
- ``kinds``: task -> kind; only ``tagging`` is possible for columns (the default).
- ``scheme_in``: the input tagging scheme, ``IOB1``, ``IOB2``/``BIO``, ``BIOES``/``IOBES`` or
  ``BILOU``, either one string for every task or a mapping task -> scheme; those tasks are
  converted to BIO (see :func:`common.to_bio`). Tasks without a scheme are kept as they are.
- ``splits``: split name -> file name inside the source directory. Default: the files whose
  name (without extension) is ``train``, ``dev``/``valid``/``validation`` (-> ``dev``) or ``test``.
  Without a dev file, ``prepare`` carves dev from train (option ``dev_fraction``, default 10%).
- ``metrics``: task -> ``f1`` (span micro F1) or ``acc`` (token accuracy). Default: a task whose
  tags all look like ``O``/``B-X``/``I-X`` (or BIOES / BILOU: converted to BIO) is scored by span F1;
  any other tag set (POS tags) is token classification scored by accuracy.

The options are declared in :data:`OPTIONS` (``raymtl data prepare conll-columns --help``).

Ids are ``<split>-<line>``, the 1-based line of the sentence's first token. Label vocabularies are
taken from the data (``O`` first, then sorted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

DOCSTART = "-DOCSTART-"
DEFAULT_COLUMNS = {0: "tokens", -1: "tags"}
_SPLIT_STEMS = {"train": "train", "dev": "dev", "valid": "dev", "validation": "dev", "test": "test"}


def _columns(options: Mapping[str, object]) -> dict[int, str]:
    raw = common.option(options, "columns", DEFAULT_COLUMNS)
    if not isinstance(raw, Mapping):
        raise DataError(f"option columns must map column index -> 'tokens' or a task name, got {raw!r}",
                        field="columns")
    cols: dict[int, str] = {}
    for k, v in raw.items():
        try:
            cols[int(k)] = str(v)
        except (TypeError, ValueError):
            raise DataError(f"column index {k!r} is not an integer", field="columns") from None
    names = list(cols.values())
    if names.count("tokens") != 1:
        raise DataError(f"option columns needs exactly one 'tokens' column, got {raw!r}", field="columns")
    if len(set(names)) != len(names):
        raise DataError(f"option columns names a task twice: {raw!r}", field="columns")
    for name in names:
        if not name or ":" in name:
            raise DataError(f"task name {name!r} must be non-empty and contain no ':'", field="columns")
    return cols


def _schemes(options: Mapping[str, object], tasks: list[str]) -> dict[str, str]:
    raw = common.option(options, "scheme_in", {})
    if isinstance(raw, str):
        schemes = {t: raw for t in tasks}
    elif isinstance(raw, Mapping):
        schemes = {str(k): str(v) for k, v in raw.items()}
    else:
        raise DataError(f"option scheme_in must be a scheme name or a mapping task -> scheme, got {raw!r}",
                        field="scheme_in")
    for task, scheme in schemes.items():
        if task not in tasks:
            raise DataError(f"scheme_in names unknown task {task!r}; tasks: {', '.join(tasks)}", field="scheme_in")
        if scheme.upper() not in common.SCHEMES:
            raise DataError(f"unknown scheme {scheme!r} for {task}; expected one of {', '.join(common.SCHEMES)}",
                            field="scheme_in")
    return schemes


def read_columns(path: Path, split: str, columns: Mapping[int, str], schemes: Mapping[str, str]) -> list[Example]:
    """Read one column file into examples (tagging labels per task, converted to BIO per ``schemes``)."""
    need = max(max(columns), -min(columns) - 1) + 1
    examples: list[Example] = []
    rows: list[list[str]] = []
    start_line = 0

    def flush() -> None:
        if not rows:
            return
        labels = {}
        for idx, name in columns.items():
            values = [r[idx] for r in rows]
            if name == "tokens":
                continue
            if name in schemes:
                values = common.to_bio(values, schemes[name], file=path, line=start_line, field_name=name)
            labels[name] = values
        tok_idx = next(i for i, n in columns.items() if n == "tokens")
        examples.append(Example(id=f"{split}-{start_line}", tokens=[r[tok_idx] for r in rows], labels=labels))
        rows.clear()

    width = first_line = 0  # the file's column count, fixed by its first token line
    for n, line in enumerate(common.read_lines(path), 1):
        cols = line.split()
        if not cols:
            flush()
            continue
        if cols[0] == DOCSTART:
            flush()
            continue
        if len(cols) < need:
            raise DataError(f"expected at least {need} columns, got {len(cols)}", file=path, line=n, field="columns")
        if not width:
            width, first_line = len(cols), n
            if len({i % width for i in columns}) != len(columns):  # {0: tokens, -1: tags} on a 1-column line
                raise DataError(f"columns {dict(columns)} name the same column of a {width}-column line",
                                file=path, line=n, field="columns")
        elif len(cols) != width:  # with negative indices a short (truncated) line would still parse
            raise DataError(f"expected {width} columns as on line {first_line}, got {len(cols)} (a truncated or "
                            "malformed line?)", file=path, line=n, field="columns")
        if not rows:
            start_line = n
        rows.append(cols)
    flush()
    return common.require_records(examples, path, "sentences", "tokens")


def _split_files(source: Path, options: Mapping[str, object]) -> dict[str, str]:
    raw = common.option(options, "splits", None)
    if raw:
        if not isinstance(raw, Mapping):
            raise DataError(f"option splits must map split name -> file name, got {raw!r}", field="splits")
        return {str(k): str(v) for k, v in raw.items()}
    if not Path(source).is_dir():
        common.require_files(source, ["train.*", "dev.*", "test.*"])
    found: dict[str, str] = {}
    for p in sorted(Path(source).iterdir()):
        split = _SPLIT_STEMS.get(p.name.split(".")[0].lower())
        if p.is_file() and split and split not in found:
            found[split] = p.name
    if not found:
        raise DataError("no split files found; expected train/dev/test files (e.g. train.txt) or option splits",
                        file=source, field="splits")
    return found


def detect_scheme(labels: set[str]) -> str | None:
    """``BIO``, ``BIOES`` or ``BILOU`` when every tag is ``O`` or ``<prefix>-<type>`` of that scheme
    (and one at least is not ``O``); ``None``: not a span tag set (POS tags, say)."""
    prefixes = set()
    for tag in labels - {"O"}:
        if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIESLU":
            return None
        prefixes.add(tag[0])
    if not prefixes:
        return None
    for scheme, allowed in (("BIO", "BI"), ("BIOES", "BIES"), ("BILOU", "BILU")):
        if prefixes <= set(allowed):
            return scheme
    return None


METRICS = ("f1", "acc")


def _metrics(options: Mapping[str, object], tasks: list[str]) -> dict[str, str]:
    raw = dict(common.option(options, "metrics", {}))  # type: ignore[call-overload]
    out = {}
    for task, metric in raw.items():
        if str(task) not in tasks:
            raise DataError(f"metrics names unknown task {task!r}; tasks: {', '.join(tasks)}", field="metrics")
        if metric not in METRICS:
            raise DataError(f"metric {metric!r} of task {task} is not one of {', '.join(METRICS)}", field="metrics")
        out[str(task)] = str(metric)
    return out


def infer_tagging_tasks(splits: Mapping[str, list[Example]], names: list[str], schemes: Mapping[str, str],
                        metrics: Mapping[str, str] | None = None) -> list[TaskSpec]:
    out = []
    for name in names:
        labels = {t for exs in splits.values() for ex in exs for t in ex.labels.get(name, [])}
        ordered = (["O"] if "O" in labels else []) + sorted(labels - {"O"})
        out.append(TaskSpec(name, "tagging", tuple(ordered), scheme="BIO" if name in schemes else None,
                            metric=(metrics or {}).get(name, "f1")))
    return out


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    source = Path(source)
    columns = _columns(options)
    names = [n for n in columns.values() if n != "tokens"]
    kinds = common.option(options, "kinds", {})
    for task, kind in dict(kinds).items():  # type: ignore[call-overload]
        if kind != "tagging":
            raise DataError(f"task {task}: kind {kind!r} is not possible for a column; only 'tagging'",
                            field="kinds")
    schemes = _schemes(options, names)
    metrics = _metrics(options, names)
    files = _split_files(source, options)
    paths = common.require_files(source, files.values())
    splits = {split: read_columns(paths[name], split, columns, schemes) for split, name in files.items()}
    notes = []
    for name in names:
        if name in schemes:
            continue
        labels = {t for exs in splits.values() for ex in exs for t in ex.labels[name]}
        scheme = detect_scheme(labels)
        if scheme is None:
            metrics.setdefault(name, "acc")
            notes.append(f"{name}: not a BIO/BIOES/BILOU tag set: token classification scored by accuracy")
            continue
        if metrics.get(name) == "acc":
            continue
        schemes = {**schemes, name: scheme}
        for split, exs in splits.items():  # to BIO (a stray I- starts a span), as scheme_in would
            for ex in exs:
                ex.labels[name] = common.to_bio(ex.labels[name], scheme, file=paths[files[split]], field_name=name)
        notes.append(f"{name}: {scheme} tags (detected), scored by span F1")
    for name, metric in metrics.items():
        if metric == "f1" and name not in schemes:
            raise DataError(f"task {name}: metric f1 needs span tags (BIO/BIOES/BILOU or option scheme_in); its "
                            "tags are not", field="metrics")
    return ReadResult(tasks=infer_tagging_tasks(splits, names, schemes, metrics), splits=splits,
                      source_files=list(paths.values()), notes=notes)


ENTRY = DatasetEntry(
    name="conll-columns",
    description="generic CoNLL-style column files (tokens + tagging columns); needs --source and options",
    folder="",
    reader=read,
    task_kinds={},
    options=ReaderOptions(
        ReaderOption("columns", "mapping", {"0": "tokens", "-1": "tags"},
                     "column index (0-based, negative from the end) -> 'tokens' or a task name, "
                     "e.g. '{0: tokens, 1: pos, 2: chunk}'; exactly one tokens column"),
        ReaderOption("scheme_in", "str|mapping", {}, "input tagging scheme (IOB1, IOB2/BIO, BIOES/IOBES, BILOU) "
                     "for every task or task -> scheme; converted to BIO (default: detected per task)"),
        ReaderOption("metrics", "mapping", {}, "task -> f1 (span F1) or acc (token accuracy); default: f1 for "
                     "span tag sets, acc for any other (POS)"),
        ReaderOption("splits", "mapping", None, "split -> file name in --source (default: train.*, "
                     "dev.*/valid.*, test.*)"),
        ReaderOption("kinds", "mapping", {}, "task -> kind; only tagging is possible for a column"),
    ),
)
