"""SemEval-2014 Task 4 (ABSA) XML of any domain: reader ``semeval14`` (``--source DIR``), and the
registered dataset ``semeval14-restaurants`` built on it (``Restaurants_Train_v2.xml`` /
``Restaurants_Test_Gold.xml``, the five restaurant categories).

The train and gold test files are found by pattern (train: ``*[Tt]rain*.xml``; test:
``*[Tt]est*[Gg]old*.xml``, else ``*[Tt]est*.xml``) or named by ``--option train=FILE test=FILE``
(a file name or a glob pattern, matching exactly one file).

One joint example per ``<sentence>`` (id = the sentence id). Only the annotation layers the files
contain are kept (a laptops file has terms and no categories: ``acd``/``acp`` are then absent, and
a config asking for them is refused because the dataset has no such task):

- ``ate`` (tagging, BIO ``B-ASP``/``I-ASP``/``O``): aspect terms from their ``from``/``to``
  character offsets. Tokens come from the common regex tokenizer with character offsets, cut at
  every term boundary so each term is a whole number of tokens (``chef`` in ``chef's``).
  Whitespace inside a term's span ends (a ``to`` that includes a trailing non-breaking space) is
  trimmed, not an error; the notes count the trimmed terms.
- ``atp`` (tagging, BIO with the polarity as type: ``B-positive``, ``I-conflict``, ...): the
  same spans typed by their term polarity. Per-term polarity is a tagging task so the dataset
  stays joint (one label per task per example); the term polarity of a gold term is the type
  of its span.
- ``acd`` (multilabel): the set of aspect categories (option ``categories``: the allowed ones;
  default: those found in the files).
- ``acp`` (multilabel, ``<category>#<polarity>``): the categories with their polarity, e.g.
  ``food#positive``; each category occurs at most once per sentence, so this is exactly
  per-category polarity and its projection on categories is ``acd``.

Polarities are positive, negative, neutral and conflict (all kept). Two restaurant train sentences
(258, 3561) list ``anecdotes/miscellaneous`` twice with the same polarity; labels are sets, so it
counts once.

Splits: ``train`` and ``test`` from the two files; ``dev`` is a seeded holdout of train
(:func:`common.carve_dev`: the sentence ids are ordered by ``sha256(f"{seed}:{id}")`` and the first
``round(dev_fraction * n)``, default 15% as in the CMTL paper, form dev). Option ``split_clitics``
splits ``it's`` -> ``it 's`` as GloVe's tokenisation does (default off).

A term whose offsets do not match the text (``text[from:to] != term``, whitespace at the ends aside)
is a DataError naming the file, the line of the ``<aspectTerm>`` element, the sentence id and the
field ``from``/``to``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

TRAIN_FILE = "Restaurants_Train_v2.xml"
TEST_FILE = "Restaurants_Test_Gold.xml"
TRAIN_PATTERNS = ("*[Tt]rain*.xml",)
TEST_PATTERNS = ("*[Tt]est*[Gg]old*.xml", "*[Tt]est*.xml")
CATEGORIES = ("ambience", "anecdotes/miscellaneous", "food", "price", "service")
POLARITIES = ("conflict", "negative", "neutral", "positive")
DEV_FRACTION = 0.15
SPLIT_CLITICS = ReaderOption("split_clitics", "bool", False, "split clitics off words (it's -> it 's, don't -> "
                             "do n't) as GloVe's tokenisation does")


def tasks(categories: tuple[str, ...] | None = CATEGORIES, *, terms: bool = True) -> list[TaskSpec]:
    """The task specs; ``categories=None``: no category layer; ``()``: categories from the data."""
    bio = lambda types: ("O", *(f"{p}-{t}" for t in types for p in "BI"))  # noqa: E731
    out = []
    if terms:
        out += [TaskSpec("ate", "tagging", bio(["ASP"]), scheme="BIO", metric="f1",
                         description="aspect term extraction (BIO)"),
                TaskSpec("atp", "tagging", bio(POLARITIES), scheme="BIO", metric="f1",
                         description="aspect terms typed by their polarity (BIO, type = polarity)")]
    if categories is not None:
        out += [TaskSpec("acd", "multilabel", categories, metric="f1", description="aspect category detection"),
                TaskSpec("acp", "multilabel", tuple(f"{c}#{p}" for c in categories for p in POLARITIES),
                         metric="f1", description="aspect categories with their polarity, '<category>#<polarity>'")]
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without whitespace (``str.isspace``: also U+00A0) at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def read_file(path: Path, *, categories: tuple[str, ...] | None = CATEGORIES, split_clitics: bool = False,
              trimmed: list[str] | None = None) -> list[Example]:
    """All sentences of one SemEval-2014 XML file as joint examples (``ate``/``atp`` always,
    ``acd``/``acp`` unless ``categories`` is None; ``()`` allows any category). The ids of
    sentences whose term spans were trimmed are appended to ``trimmed``."""
    root = common.parse_xml(path)
    examples: list[Example] = []
    seen: set[str] = set()
    for sent in root.iter("sentence"):
        sid = common.required_attr(sent, "id", path)
        if sid in seen:
            raise DataError(f"duplicate sentence id {sid!r}", file=path, line=sent.line, field="id")
        seen.add(sid)
        text_node = sent.find("text")
        if text_node is None or not text_node.text.strip():
            raise DataError(f"sentence {sid} has no text", file=path, line=sent.line, field="text")
        text = text_node.text
        spans: list[tuple[int, int, str]] = []
        lines: list[int] = []
        for term in sent.iter("aspectTerm"):
            word = common.required_attr(term, "term", path)
            start, end = common.int_attr(term, "from", path), common.int_attr(term, "to", path)
            common.check_span_text(text, start, end, word, file=path, line=term.line, sid=sid)
            s, e = _trim(text, start, end)
            if (s, e) != (start, end) and s < e:
                start, end = s, e
                if trimmed is not None:
                    trimmed.append(sid)
            pol = common.check_label(common.required_attr(term, "polarity", path), POLARITIES,
                                     file=path, line=term.line, field_name="polarity")
            spans.append((start, end, pol))
            lines.append(term.line)
        cats: set[str] = set()
        cat_pols: set[str] = set()
        for cat in sent.iter("aspectCategory") if categories is not None else ():
            c = common.required_attr(cat, "category", path)
            if categories:
                common.check_label(c, categories, file=path, line=cat.line, field_name="category")
            p = common.check_label(common.required_attr(cat, "polarity", path), POLARITIES,
                                   file=path, line=cat.line, field_name="polarity")
            cats.add(c)
            cat_pols.add(f"{c}#{p}")
        tokens, offsets = common.tokenize(text, cuts=[x for s, e, _ in spans for x in (s, e)],
                                          split_clitics=split_clitics)
        if not tokens:
            raise DataError(f"sentence {sid} has no tokens", file=path, line=sent.line, field="text")
        atp = common.char_spans_to_bio(offsets, spans, file=path, lines=lines)
        ate = common.char_spans_to_bio(offsets, [(s, e, "ASP") for s, e, _ in spans], file=path, lines=lines)
        labels: dict[str, object] = {"ate": ate, "atp": atp}
        if categories is not None:
            labels.update(acd=sorted(cats), acp=sorted(cat_pols))
        examples.append(Example(id=sid, tokens=tokens, offsets=offsets, labels=labels))
    return examples


def find_file(source: Path, given: object, patterns: tuple[str, ...], role: str) -> Path:
    """The one file of ``source`` named (or globbed) by ``given``, else the first of ``patterns``
    that matches exactly one file; none or several is a DataError naming what matched."""
    source = Path(source)
    if not source.is_dir():
        common.require_files(source, [str(given or patterns[0])])
    if given and ("/" in str(given) or "\\" in str(given) or str(given).startswith("..")):
        raise DataError(f"option {role}={given!r} must name a file inside --source (no path)", file=source, field=role)
    for pattern in ([str(given)] if given else patterns):
        hits = sorted(p for p in source.glob(pattern) if p.is_file())
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DataError(f"{len(hits)} files match the {role} pattern {pattern!r} "
                            f"({', '.join(p.name for p in hits)});"
                            f" name one with --option {role}=FILE", file=source, field=role)
    raise DataError(f"no {role} file: nothing matches {' or '.join(repr(p) for p in ([given] if given else patterns))}"
                    f"; name it with --option {role}=FILE", file=source, field=role)


def _has(path: Path, tag: str) -> bool:
    return f"<{tag}".encode() in path.read_bytes()


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    source = Path(source)
    train_path = find_file(source, common.option(options, "train", None), TRAIN_PATTERNS, "train")
    test_path = find_file(source, common.option(options, "test", None), TEST_PATTERNS, "test")
    if train_path == test_path:
        raise DataError(f"the train and test patterns both match {train_path.name}; name them with --option "
                        "train=FILE test=FILE", file=train_path, field="test")
    fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
    seed = common.option(options, "seed", 0)
    allowed = common.option(options, "categories", None)
    terms = any(_has(p, "aspectTerm ") or _has(p, "aspectTerm>") for p in (train_path, test_path))
    with_cats = any(_has(p, "aspectCategory ") or _has(p, "aspectCategory>") for p in (train_path, test_path))
    if not terms and not with_cats:
        raise DataError("no <aspectTerm> and no <aspectCategory> element: nothing to learn", file=train_path,
                        field="aspectTerm")
    categories = (tuple(str(c) for c in allowed) if allowed else ()) if with_cats else None
    kw = dict(categories=categories, split_clitics=bool(common.option(options, "split_clitics", False)))
    trimmed: list[str] = []
    splits = {"train": read_file(train_path, trimmed=trimmed, **kw),  # type: ignore[arg-type]
              "test": read_file(test_path, trimmed=trimmed, **kw)}  # type: ignore[arg-type]
    splits, dev_note = common.carve_dev(splits, fraction, seed)
    specs = tasks(categories, terms=terms)
    if not terms:  # read_file tags every sentence; without any term those are all O
        for ex in (ex for exs in splits.values() for ex in exs):
            ex.labels = {k: v for k, v in ex.labels.items() if k not in ("ate", "atp")}
    notes = [f"train = {train_path.name}, test = {test_path.name}", dev_note]
    if terms:
        notes.append("atp = aspect terms typed by polarity (BIO)")
    else:
        notes.append("no <aspectTerm> in the files: tasks ate and atp are not kept")
    if with_cats:
        notes.append("acp = '<category>#<polarity>' label sets")
    else:
        notes.append("no <aspectCategory> in the files: tasks acd and acp are not kept")
    if trimmed:
        notes.append(f"{len(trimmed)} aspect term span(s) trimmed of whitespace at their ends (sentences "
                     f"{', '.join(trimmed[:5])}{' …' if len(trimmed) > 5 else ''})")
    return ReadResult(tasks=specs, splits=splits, source_files=[train_path, test_path], notes=notes)


_REPO, _COMMIT = "l294265421/ACSA", "7620609ac002e4e0e6b81110efe3b688a2b7f8a2"
_DIR = "datasets/SemEval-2014-Task-4-REST/origin/"

ENTRY = DatasetEntry(
    name="semeval14-restaurants",
    description="SemEval-2014 Task 4 ABSA restaurants: aspect terms (BIO), term polarity, categories, "
                "category polarity; joint",
    folder="semeval14-restaurants",
    reader=read,
    task_kinds={"ate": "tagging", "atp": "tagging", "acd": "multilabel", "acp": "multilabel"},
    files=(
        RemoteFile(TRAIN_FILE, common.github_raw(
            _REPO, _COMMIT, _DIR + "SemEval'14-ABSA-TrainData_v2 & AnnotationGuidelines/" + TRAIN_FILE),
            "223601da1bded6caa4ef9cf91a7007578141ca6d8ed50d5a5c217565f89d2fc5"),
        RemoteFile(TEST_FILE, common.github_raw(_REPO, _COMMIT, _DIR + "ABSA_Gold_TestData/" + TEST_FILE),
                   "f21509cfa37e16534cd5b2da043be487355b64ef48fe8d6aaacaeca6b49cc0fb"),
    ),
    license="research use only; no license text (distributed by the SemEval-2014 organisers after "
            "registration; sentences from the Ganu et al. 2009 Citysearch corpus); do not redistribute",
    citation="Maria Pontiki, Dimitris Galanis, John Pavlopoulos, Harris Papageorgiou, Ion Androutsopoulos, "
             "Suresh Manandhar. 2014. SemEval-2014 Task 4: Aspect Based Sentiment Analysis. Proceedings of "
             "SemEval 2014, pp. 27-35. https://aclanthology.org/S14-2004",
    joint=True,
    options=ReaderOptions(
        ReaderOption("train", "str", TRAIN_FILE, "the train file: a name or a glob pattern in --source"),
        ReaderOption("test", "str", TEST_FILE, "the gold test file: a name or a glob pattern in --source"),
        ReaderOption("categories", "list", list(CATEGORIES), "the allowed aspect categories"),
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of train held out as dev (seeded by "
                     "sentence id; 15% as in the CMTL paper)"),
        SPLIT_CLITICS),
)

GENERIC = DatasetEntry(
    name="semeval14",
    description="SemEval-2014 Task 4 XML of any domain (aspect terms and/or categories, only the layers "
                "the files contain); needs --source, names the dataset after --name or the folder",
    folder="",
    reader=read,
    task_kinds={},
    license="as the corpus you bring",
    citation=ENTRY.citation,
    joint=True,
    options=ReaderOptions(
        ReaderOption("train", "str", None, "the train file: a name or a glob pattern (default "
                     f"{' or '.join(TRAIN_PATTERNS)})"),
        ReaderOption("test", "str", None, "the gold test file: a name or a glob pattern (default "
                     f"{' or '.join(TEST_PATTERNS)})"),
        ReaderOption("categories", "list", None, "the allowed aspect categories (default: those in the files)"),
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of train held out as dev (seeded by "
                     "sentence id; 15% as in the CMTL paper)"),
        SPLIT_CLITICS),
)
