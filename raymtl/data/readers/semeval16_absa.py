"""SemEval-2016 Task 5 (ABSA) subtask 1, English restaurants and laptops (two registered datasets).

Files: ``ABSA16_Restaurants_Train_SB1_v2.xml`` / ``EN_REST_SB1_TEST.xml.gold`` and
``ABSA16_Laptops_Train_SB1_v2.xml`` / ``EN_LAPT_SB1_TEST_.xml.gold``.

Two kinds of examples (the dataset is disjoint, ``joint=False``):

- one *sentence* example per ``<sentence>`` (id = sentence id) labelling
  ``ote`` (restaurants only; tagging, BIO ``B-OTE``/``I-OTE``: the non-``NULL`` opinion targets
  from their ``from``/``to`` offsets, identical spans merged) and ``category`` (multilabel,
  ``ENTITY#ATTRIBUTE``; the vocabulary is the sorted set seen in the files). The laptop files
  have no targets or offsets, so ``semeval16-absa-lapt`` has no ``ote`` task.
- one *opinion* example per ``<Opinion>`` (id ``<sentence id>#op<k>``, k = 0-based position in
  the sentence) for ``polarity`` (pairwise classify: negative/neutral/positive): tokens = the
  sentence, ``text_b`` = the aspect. Option ``polarity_text_b``: ``category`` (default, as in
  Augenstein et al. 2018: ``RESTAURANT#PRICES`` -> ``restaurant prices``) or ``target``
  (restaurants: the target tokens, the category words for ``NULL`` targets). These counts
  equal the opinion counts (rest 2507/859, lapt 2909/801 train/test).

``OutOfScope="TRUE"`` sentences (no opinions) are kept as sentence examples with no targets and
no categories unless option ``skip_out_of_scope`` is true.

Splits: ``train``/``test`` from the files; ``dev`` = a seeded holdout of whole *reviews* of the
train file (so a review's sentences stay together): review ids ordered by
``sha256(f"{seed}:{rid}")``, the first ``round(dev_fraction * n_reviews)`` (default 10%, seed 0).
An opinion example goes with its sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

POLARITIES = ("negative", "neutral", "positive")
DEV_FRACTION = 0.1
DOMAINS = {
    "rest": ("ABSA16_Restaurants_Train_SB1_v2.xml", "EN_REST_SB1_TEST.xml.gold", True),
    "lapt": ("ABSA16_Laptops_Train_SB1_v2.xml", "EN_LAPT_SB1_TEST_.xml.gold", False),
}


def read_file(path: Path, *, targets: bool, text_b_mode: str, skip_oos: bool) -> tuple[list[Example], list[Example], dict[str, str]]:
    """Sentence examples, opinion examples and ``{example id: review id}`` of one file."""
    root = common.parse_xml(path)
    sentences: list[Example] = []
    opinions: list[Example] = []
    review_of: dict[str, str] = {}
    seen: set[str] = set()
    for review in root.iter("Review"):
        rid = common.required_attr(review, "rid", path)
        for sent in review.iter("sentence"):
            sid = common.required_attr(sent, "id", path)
            if sid in seen:
                raise DataError(f"duplicate sentence id {sid!r}", file=path, line=sent.line, field="id")
            seen.add(sid)
            if skip_oos and sent.get("OutOfScope", "").upper() == "TRUE":
                continue
            text_node = sent.find("text")
            if text_node is None or not text_node.text.strip():
                raise DataError(f"sentence {sid} has no text", file=path, line=sent.line, field="text")
            text = text_node.text
            ops = list(sent.iter("Opinion"))
            spans, lines, cats = [], [], set()
            parsed = []
            for op in ops:
                cat = common.required_attr(op, "category", path)
                if "#" not in cat:
                    raise DataError(f"category {cat!r} is not ENTITY#ATTRIBUTE", file=path, line=op.line,
                                    field="category")
                pol = common.check_label(common.required_attr(op, "polarity", path), POLARITIES,
                                         file=path, line=op.line, field_name="polarity")
                target = None
                if targets:
                    target = common.required_attr(op, "target", path)
                    if target != "NULL":
                        start, end = common.int_attr(op, "from", path), common.int_attr(op, "to", path)
                        common.check_span_text(text, start, end, target, file=path, line=op.line, sid=sid)
                        spans.append((start, end, "OTE"))
                        lines.append(op.line)
                    else:
                        target = None
                        # unused for NULL (the official files hold stale values, even past the text), but a
                        # non-integer or negative one is corruption
                        for attr in ("from", "to"):
                            if op.get(attr) is not None and common.int_attr(op, attr, path) < 0:
                                raise DataError(f"{attr}={op.get(attr)} is negative", file=path, line=op.line,
                                                field=attr)
                cats.add(cat)
                parsed.append((cat, pol, target))
            tokens, offsets = common.tokenize(text, cuts=[x for s, e, _ in spans for x in (s, e)])
            if not tokens:
                raise DataError(f"sentence {sid} has no tokens", file=path, line=sent.line, field="text")
            labels: dict = {"category": sorted(cats)}
            if targets:
                labels["ote"] = common.char_spans_to_bio(offsets, spans, file=path, lines=lines)
            sentences.append(Example(id=sid, tokens=tokens, offsets=offsets, labels=labels))
            review_of[sid] = rid
            for k, (cat, pol, target) in enumerate(parsed):
                if text_b_mode == "target" and target is not None:
                    text_b = common.words(target)
                else:
                    text_b = common.category_words(cat)
                oid = f"{sid}#op{k}"
                opinions.append(Example(id=oid, tokens=list(tokens), offsets=list(offsets), text_b=text_b,
                                        labels={"polarity": pol}))
                review_of[oid] = rid
    return sentences, opinions, review_of


def _reader(domain: str):
    train_file, test_file, has_targets = DOMAINS[domain]

    def read(source: Path, options: Mapping[str, object]) -> ReadResult:
        paths = common.require_files(Path(source), [train_file, test_file])
        fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
        seed = common.option(options, "seed", 0)
        mode = str(common.option(options, "polarity_text_b", "category"))
        if mode not in ("category", "target"):
            raise DataError(f"option polarity_text_b must be 'category' or 'target', got {mode!r}",
                            field="polarity_text_b")
        skip_oos = bool(common.option(options, "skip_out_of_scope", False))
        kw = dict(targets=has_targets, text_b_mode=mode, skip_oos=skip_oos)
        tr_s, tr_o, review_of = read_file(paths[train_file], **kw)
        te_s, te_o, _ = read_file(paths[test_file], **kw)
        dev_reviews = common.holdout(review_of.values(), fraction, seed)
        in_dev = lambda ex: review_of[ex.id] in dev_reviews  # noqa: E731
        splits = {
            "train": [ex for ex in tr_s + tr_o if not in_dev(ex)],
            "dev": [ex for ex in tr_s + tr_o if in_dev(ex)],
            "test": te_s + te_o,
        }
        cats = sorted({c for ex in tr_s + te_s for c in ex.labels["category"]})
        task_list = []
        if has_targets:
            task_list.append(TaskSpec("ote", "tagging", ("O", "B-OTE", "I-OTE"), scheme="BIO", metric="f1",
                                      description="opinion target extraction (BIO)"))
        task_list += [
            TaskSpec("category", "multilabel", tuple(cats), metric="f1",
                     description="aspect categories ENTITY#ATTRIBUTE of the sentence"),
            TaskSpec("polarity", "classify", POLARITIES, pairwise=True, metric="acc",
                     description=f"polarity of one opinion; text_b = its {mode}"),
        ]
        notes = [f"dev = {len(dev_reviews)} train reviews held out by sha256(seed:rid), dev_fraction={fraction}, "
                 f"seed={seed} (no official dev split)",
                 "disjoint: sentence examples carry " + ("ote+category" if has_targets else "category")
                 + "; '<sid>#op<k>' examples carry the pairwise polarity of one opinion"]
        return ReadResult(tasks=task_list, splits=splits, source_files=[paths[train_file], paths[test_file]],
                          notes=notes)

    read.__doc__ = f"Read the SemEval-2016 ABSA {domain} files (see the module docstring)."
    return read


read_rest = _reader("rest")
read_lapt = _reader("lapt")

_REPO, _COMMIT = "l294265421/ACSA", "7620609ac002e4e0e6b81110efe3b688a2b7f8a2"
_CITATION = ("Maria Pontiki, Dimitris Galanis, Haris Papageorgiou, Ion Androutsopoulos, Suresh Manandhar, "
             "Mohammad AL-Smadi, Mahmoud Al-Ayyoub, Yanyan Zhao, Bing Qin, Orphée De Clercq, Véronique Hoste, "
             "Marianna Apidianaki, Xavier Tannier, Natalia Loukachevitch, Evgeniy Kotelnikov, Nuria Bel, "
             "Salud María Jiménez-Zafra, Gülşen Eryiğit. 2016. SemEval-2016 Task 5: Aspect Based Sentiment "
             "Analysis. Proceedings of SemEval-2016, pp. 19-30. https://aclanthology.org/S16-1002")
_LICENSE = ("research use only; no license text accompanies the English files (distributed by the "
            "SemEval-2016 organisers)")


def _file(name: str, folder: str, sha256: str) -> RemoteFile:
    return RemoteFile(name, common.github_raw(_REPO, _COMMIT, f"datasets/{folder}/origin/{name}"), sha256)


ENTRY_REST = DatasetEntry(
    name="semeval16-absa-rest",
    description="SemEval-2016 Task 5 SB1 English restaurants: opinion targets (BIO), categories, "
                "pairwise opinion polarity",
    folder="semeval16-absa",
    reader=read_rest,
    task_kinds={"ote": "tagging", "category": "multilabel", "polarity": "classify"},
    files=(
        _file(DOMAINS["rest"][0], "SemEval-2016-Task-5-REST-SB1",
              "4ad20d6e7b3db590f038aae0de5d010c2e93e8c3028d7b821242fd4d69d2030d"),
        _file(DOMAINS["rest"][1], "SemEval-2016-Task-5-REST-SB1",
              "0a9a22375424fd7dd305abd4a5b8b7c1955f05382c5b6a0b75f85a8152043175"),
    ),
    license=_LICENSE,
    citation=_CITATION,
    joint=False,
    options=ReaderOptions(
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of the train sentences held out as dev "
                     "(seeded by review id)"),
        ReaderOption("polarity_text_b", "str", "category", "the text_b of a polarity example: category or target"),
        ReaderOption("skip_out_of_scope", "bool", False, "drop sentences marked OutOfScope")),
)

ENTRY_LAPT = DatasetEntry(
    name="semeval16-absa-lapt",
    description="SemEval-2016 Task 5 SB1 English laptops: categories, pairwise opinion polarity (no targets)",
    folder="semeval16-absa",
    reader=read_lapt,
    task_kinds={"category": "multilabel", "polarity": "classify"},
    files=(
        _file(DOMAINS["lapt"][0], "SemEval-2016-Task-5-LAPT-SB1",
              "6a69d2818bed0df240a7cf182cf9d85f66b9c57f56f381ac80e318e1a3c35123"),
        _file(DOMAINS["lapt"][1], "SemEval-2016-Task-5-LAPT-SB1",
              "026c7964132c0d815ed0facab4ebeb4094db38cef4e8040b4d0d8ee10e35da28"),
    ),
    license=_LICENSE,
    citation=_CITATION,
    joint=False,
    options=ReaderOptions(
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of the train sentences held out as dev "
                     "(seeded by review id)"),
        ReaderOption("polarity_text_b", "str", "category", "the text_b of a polarity example: category or target"),
        ReaderOption("skip_out_of_scope", "bool", False, "drop sentences marked OutOfScope")),
)
