"""SemEval-2014 Task 4 (ABSA), restaurants: ``Restaurants_Train_v2.xml`` / ``Restaurants_Test_Gold.xml``.

One joint example per ``<sentence>`` (id = the sentence id), every example labelling all tasks:

- ``ate`` (tagging, BIO ``B-ASP``/``I-ASP``/``O``): aspect terms from their ``from``/``to``
  character offsets. Tokens come from the common regex tokenizer with character offsets, cut at
  every term boundary so each term is a whole number of tokens (``chef`` in ``chef's``).
- ``atp`` (tagging, BIO with the polarity as type: ``B-positive``, ``I-conflict``, ...): the
  same spans typed by their term polarity. Per-term polarity is a tagging task so the dataset
  stays joint (one label per task per example); the term polarity of a gold term is the type
  of its span.
- ``acd`` (multilabel, 5 categories): the set of aspect categories.
- ``acp`` (multilabel, ``<category>#<polarity>``, 5 x 4 labels): the categories with their
  polarity, e.g. ``food#positive``; each category occurs at most once per sentence, so this
  is exactly per-category polarity and its projection on categories is ``acd``.

Polarities are positive, negative, neutral and conflict (all kept). Two train sentences (258,
3561) list ``anecdotes/miscellaneous`` twice with the same polarity; labels are sets, so it
counts once.

Splits: ``train`` and ``test`` from the two files; ``dev`` is a seeded holdout of train: the
sentence ids are ordered by ``sha256(f"{seed}:{id}")`` and the first ``round(dev_fraction * n)``
(default 15%, as in the CMTL paper; ``seed`` 0) form dev. Options: ``dev_fraction``, ``seed``.

A term whose offsets do not match the text (``text[from:to] != term``) is a DataError naming the
file, the line of the ``<aspectTerm>`` element, the sentence id and the field ``from``/``to``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

TRAIN_FILE = "Restaurants_Train_v2.xml"
TEST_FILE = "Restaurants_Test_Gold.xml"
CATEGORIES = ("ambience", "anecdotes/miscellaneous", "food", "price", "service")
POLARITIES = ("conflict", "negative", "neutral", "positive")
DEV_FRACTION = 0.15


def tasks() -> list[TaskSpec]:
    bio = lambda types: ("O", *(f"{p}-{t}" for t in types for p in "BI"))  # noqa: E731
    return [
        TaskSpec("ate", "tagging", bio(["ASP"]), scheme="BIO", metric="f1",
                 description="aspect term extraction (BIO)"),
        TaskSpec("atp", "tagging", bio(POLARITIES), scheme="BIO", metric="f1",
                 description="aspect terms typed by their polarity (BIO, type = polarity)"),
        TaskSpec("acd", "multilabel", CATEGORIES, metric="f1", description="aspect category detection"),
        TaskSpec("acp", "multilabel", tuple(f"{c}#{p}" for c in CATEGORIES for p in POLARITIES), metric="f1",
                 description="aspect categories with their polarity, '<category>#<polarity>'"),
    ]


def read_file(path: Path) -> list[Example]:
    """All sentences of one SemEval-2014 XML file as joint examples."""
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
            pol = common.check_label(common.required_attr(term, "polarity", path), POLARITIES,
                                     file=path, line=term.line, field_name="polarity")
            spans.append((start, end, pol))
            lines.append(term.line)
        cats: set[str] = set()
        cat_pols: set[str] = set()
        for cat in sent.iter("aspectCategory"):
            c = common.check_label(common.required_attr(cat, "category", path), CATEGORIES,
                                   file=path, line=cat.line, field_name="category")
            p = common.check_label(common.required_attr(cat, "polarity", path), POLARITIES,
                                   file=path, line=cat.line, field_name="polarity")
            cats.add(c)
            cat_pols.add(f"{c}#{p}")
        tokens, offsets = common.tokenize(text, cuts=[x for s, e, _ in spans for x in (s, e)])
        if not tokens:
            raise DataError(f"sentence {sid} has no tokens", file=path, line=sent.line, field="text")
        atp = common.char_spans_to_bio(offsets, spans, file=path, lines=lines)
        ate = common.char_spans_to_bio(offsets, [(s, e, "ASP") for s, e, _ in spans], file=path, lines=lines)
        examples.append(Example(id=sid, tokens=tokens, offsets=offsets, labels={
            "ate": ate, "atp": atp, "acd": sorted(cats), "acp": sorted(cat_pols)}))
    return examples


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    paths = common.require_files(Path(source), [TRAIN_FILE, TEST_FILE])
    fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
    seed = common.option(options, "seed", 0)
    train_all = read_file(paths[TRAIN_FILE])
    test = read_file(paths[TEST_FILE])
    dev_ids = common.holdout([ex.id for ex in train_all], fraction, seed)
    train = [ex for ex in train_all if ex.id not in dev_ids]
    dev = [ex for ex in train_all if ex.id in dev_ids]
    notes = [f"dev = {len(dev)} of the {len(train_all)} train sentences, held out by sha256(seed:id) with "
             f"dev_fraction={fraction}, seed={seed} (no official dev split)",
             "atp = aspect terms typed by polarity (BIO); acp = '<category>#<polarity>' label sets"]
    return ReadResult(tasks=tasks(), splits={"train": train, "dev": dev, "test": test},
                      source_files=[paths[TRAIN_FILE], paths[TEST_FILE]], notes=notes)


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
    options={"dev_fraction": DEV_FRACTION, "seed": 0},
)
