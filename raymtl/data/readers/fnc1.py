"""FNC-1 (Fake News Challenge stage 1) headline/body stance: agree/disagree/discuss/unrelated.

Files (RFC-4180 CSV, UTF-8, header rows; bodies have quoted multi-line fields):
``competition_test_bodies.csv`` (``Body ID,articleBody``), ``competition_test_stances.csv``
(``Headline,Body ID,Stance``), and for the official protocol ``train_bodies.csv`` plus
``train_stances.csv``.

**The official training pairs (``train_stances.csv``) are missing from the shared copy.** Without
them the reader splits the *labelled competition test set* (25413 pairs, 904 bodies) by body.
Bodies whose first 200 tokens are identical form one group keyed by their smallest id (904 ids ->
896 groups: 4 id pairs share the same text, 4 more share the first 200 tokens). The groups are
ordered by ``sha256(f"{seed}:{key}")``; the first ``round(test_fraction * n)`` (default 10%) form
``test``, the next ``round(dev_fraction * n)`` (default 10%) ``dev``, the rest ``train`` (seed 0).
A body and all its pairs stay in one split, so no body text leaks between splits (headlines may
recur). This is *not* the official protocol and ``notes`` says so.
If ``train_stances.csv`` is present (with ``train_bodies.csv``), the official protocol is used:
train = the training pairs minus a dev holdout by body (``dev_fraction``), test = the
competition test set.

One example per pair (id ``<stances file stem>-<row>``, row = 1-based data row): tokens = the
headline (common regex tokenizer, case kept), ``text_b`` = the body tokens truncated to the first
``max_body_tokens`` (default 200; 0 = no limit). Task ``stance`` (pairwise classify, metric acc).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

TRAIN_BODIES, TRAIN_STANCES = "train_bodies.csv", "train_stances.csv"
TEST_BODIES, TEST_STANCES = "competition_test_bodies.csv", "competition_test_stances.csv"
LABELS = ("agree", "disagree", "discuss", "unrelated")
MAX_BODY_TOKENS = 200
GROUP_TOKENS = 200  # bodies with the same first GROUP_TOKENS tokens are kept in one split
DEV_FRACTION = 0.1
TEST_FRACTION = 0.1


def _rows(path: Path, header: tuple[str, ...]):
    """``(line, row)`` for each data row; a wrong header or column count is a DataError."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)  # strict: a quoted field cut at end of file is an error
        try:
            first = next(reader, None)
            if first is None or tuple(c.lstrip("\ufeff") for c in first) != header:
                raise DataError(f"expected the header {','.join(header)!r}, got {first!r}", file=path, line=1,
                                field="header")
            for row in reader:
                if not row:
                    continue
                if any("\x00" in c for c in row):
                    k = next(i for i, c in enumerate(row) if "\x00" in c)
                    raise DataError("NUL byte in a text field (a binary or corrupted copy?)", file=path,
                                    line=reader.line_num, field=header[k] if k < len(header) else "columns")
                if len(row) != len(header):
                    field = header[len(row)] if len(row) < len(header) else "columns"
                    raise DataError(f"expected {len(header)} columns {','.join(header)}, got {len(row)}",
                                    file=path, line=reader.line_num, field=field)
                yield reader.line_num, row
        except csv.Error as err:
            raise DataError(f"malformed CSV: {err}", file=path, line=reader.line_num, field="csv") from None
        except UnicodeDecodeError as err:
            raise DataError(f"not valid UTF-8: {err.reason}", file=path, line=reader.line_num + 1,
                            field="encoding") from None


def read_bodies(path: Path) -> dict[str, str]:
    bodies: dict[str, str] = {}
    for line, (bid, body) in _rows(path, ("Body ID", "articleBody")):
        if bid in bodies:
            raise DataError(f"duplicate Body ID {bid}", file=path, line=line, field="Body ID")
        if not body.strip():  # a row cut after its Body ID
            raise DataError(f"empty articleBody of Body ID {bid}", file=path, line=line, field="articleBody")
        bodies[bid] = body
    return bodies


def read_stances(path: Path, bodies: Mapping[str, str], max_body: int) -> list[tuple[str, Example]]:
    """``[(body id, example)]`` of one stances file."""
    stem = path.name.rsplit(".", 1)[0]
    heads: dict[str, list[str]] = {}
    body_tokens: dict[str, list[str]] = {}
    out = []
    for k, (line, (headline, bid, stance)) in enumerate(_rows(path, ("Headline", "Body ID", "Stance")), 1):
        if bid not in bodies:
            raise DataError(f"Body ID {bid} is not in the bodies file", file=path, line=line, field="Body ID")
        common.check_label(stance, LABELS, file=path, line=line, field_name="Stance")
        if headline not in heads:
            heads[headline] = common.words(headline)
            if not heads[headline]:
                raise DataError("empty headline", file=path, line=line, field="Headline")
        if bid not in body_tokens:
            toks = common.words(bodies[bid])
            body_tokens[bid] = toks[:max_body] if max_body > 0 else toks
        out.append((bid, Example(id=f"{stem}-{k}", tokens=heads[headline], text_b=body_tokens[bid],
                                 labels={"stance": stance})))
    return out


def body_groups(bodies: Mapping[str, str]) -> dict[str, str]:
    """``{body id: group key}``: the smallest id among the bodies with the same first tokens."""
    prefix = {bid: tuple(common.words(text)[:GROUP_TOKENS]) for bid, text in bodies.items()}
    first: dict[tuple[str, ...], str] = {}
    for bid in sorted(bodies, key=lambda b: (len(b), b)):  # numeric order for numeric ids
        first.setdefault(prefix[bid], bid)
    return {bid: first[prefix[bid]] for bid in bodies}


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    source = Path(source)
    try:
        max_body = int(common.option(options, "max_body_tokens", MAX_BODY_TOKENS))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"option max_body_tokens must be an integer (0 = no limit), got "
                        f"{options.get('max_body_tokens')!r}", field="max_body_tokens") from None
    dev_fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
    test_fraction = common.fraction_option(options, "test_fraction", TEST_FRACTION)
    seed = common.option(options, "seed", 0)
    paths = common.require_files(source, [TEST_BODIES, TEST_STANCES])
    test_bodies = read_bodies(paths[TEST_BODIES])
    test_pairs = read_stances(paths[TEST_STANCES], test_bodies, max_body)
    notes: list[str] = []
    if (source / TRAIN_STANCES).is_file():
        paths.update(common.require_files(source, [TRAIN_BODIES, TRAIN_STANCES]))
        train_bodies = read_bodies(paths[TRAIN_BODIES])
        group = body_groups(train_bodies)
        train_pairs = read_stances(paths[TRAIN_STANCES], train_bodies, max_body)
        dev_bodies = common.holdout([group[b] for b, _ in train_pairs], dev_fraction, seed)
        splits = {"train": [ex for b, ex in train_pairs if group[b] not in dev_bodies],
                  "dev": [ex for b, ex in train_pairs if group[b] in dev_bodies],
                  "test": [ex for _, ex in test_pairs]}
        notes.append(f"official protocol: train = {TRAIN_STANCES} minus a dev holdout of {len(dev_bodies)} "
                     f"bodies (dev_fraction={dev_fraction}, seed={seed}); test = {TEST_STANCES}")
    else:
        group = body_groups(test_bodies)
        part = common.partition([group[b] for b, _ in test_pairs], {"test": test_fraction, "dev": dev_fraction},
                                "train", seed)
        splits = {s: [ex for b, ex in test_pairs if part[group[b]] == s] for s in ("train", "dev", "test")}
        n_bodies = {s: sum(1 for b in test_bodies if part.get(group[b]) == s) for s in splits}
        notes.append(f"{TRAIN_STANCES} (the official labelled training pairs) is MISSING from {source}: "
                     f"train/dev/test are a split of the labelled competition test set {TEST_STANCES} "
                     f"by body id ({n_bodies['train']}/{n_bodies['dev']}/{n_bodies['test']} bodies; "
                     f"test_fraction={test_fraction}, dev_fraction={dev_fraction}, seed={seed}); this is NOT "
                     f"the official FNC-1 protocol and scores are not comparable to published ones")
    notes.append(f"text_b = the body truncated to {max_body or 'all'} tokens (option max_body_tokens)")
    task = TaskSpec("stance", "classify", LABELS, pairwise=True, metric="acc",
                    description="stance of the body (text_b) towards the headline")
    return ReadResult(tasks=[task], splits=splits, source_files=list(paths.values()), notes=notes)


_REPO, _COMMIT = "FakeNewsChallenge/fnc-1", "29d473af2d15278f0464d5e41e4cbe7eb58231f2"

ENTRY = DatasetEntry(
    name="fnc1",
    description="FNC-1 headline/body stance (agree/disagree/discuss/unrelated); train_stances.csv is missing "
                "here, so the labelled competition test set is split by body",
    folder="fnc1",
    reader=read,
    task_kinds={"stance": "classify"},
    files=(
        RemoteFile(TRAIN_BODIES, common.github_raw(_REPO, _COMMIT, TRAIN_BODIES),
                   "f1960cf7aa6972a9308aedbd3b393ab773893604d7d323378b75f66112f0c27a"),
        RemoteFile(TEST_BODIES, common.github_raw(_REPO, _COMMIT, TEST_BODIES),
                   "60c9eeb15b904764d2e6512eaea31c6edf148206867284a281e11c29c9919046"),
        RemoteFile(TEST_STANCES, common.github_raw(_REPO, _COMMIT, TEST_STANCES),
                   "39d5c2572e61d2f65116fdd20183aeff533abaf26134078966c337e6a8ec3329"),
    ),
    license="research use only; no license file (released publicly for the challenge; derived from the "
            "Emergent dataset)",
    citation="Dean Pomerleau and Delip Rao. 2017. Fake News Challenge Stage 1 (FNC-1): Stance Detection. "
             "http://www.fakenewschallenge.org/ ; data from William Ferreira and Andreas Vlachos. 2016. "
             "Emergent: a novel data-set for stance classification. NAACL-HLT 2016",
    joint=False,
    options=ReaderOptions(
        ReaderOption("max_body_tokens", "int", MAX_BODY_TOKENS, "article bodies cut to this many tokens (0: no limit)"),
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of the training bodies held out as dev (by body)"),
        ReaderOption("test_fraction", "fraction", TEST_FRACTION, "share of the bodies held out as test (by body)")),
)
