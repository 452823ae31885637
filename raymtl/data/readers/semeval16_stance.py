"""SemEval-2016 Task 6: stance in tweets.

Files (tab-separated, header ``ID Target Tweet Stance``, CRLF): ``semeval2016-task6-trainingdata.txt``
(subtask A train; not UTF-8, decoded as latin-1 as SOURCE.md says; the test golds are ASCII),
``SemEval2016-Task6-subtaskA-testdata-gold.txt`` and ``SemEval2016-Task6-subtaskB-testdata-gold.txt``.

One example per tweet (id = the file's ``ID``): tokens = the tweet tokenized with the common regex
tokenizer (case kept, with character offsets) after removing the trailing ``#SemST`` marker that
every tweet carries (option ``keep_semst: true`` keeps it); ``text_b`` = the target tokens.
Task ``stance`` (pairwise classify AGAINST/FAVOR/NONE; main metric the macro F1 of FAVOR and
AGAINST, ``f1_fa``).

Splits: ``train``/``dev`` from the subtask A training file, dev being a seeded holdout of tweet
ids (ordered by ``sha256(f"{seed}:{id}")``, the first ``round(dev_fraction * n)``, default 10%,
seed 0; there is no official dev split and the trial data is not available); ``test`` = subtask
A gold (5 targets); ``test_b`` = subtask B gold (target Donald Trump, unseen in training: the
weakly supervised / cross-target setting). Two more splits hold the released mtl-disparate code's
stance protocol (coastalcph/mtl-disparate ``preproc/data_reader.py``: dev = the Hillary Clinton
tweets of the train and subtask A test files, trained on too): ``hc`` = those tweets, ``test_hc`` =
the subtask A test file's (written when the files have any).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

TRAIN = "semeval2016-task6-trainingdata.txt"
TEST_A = "SemEval2016-Task6-subtaskA-testdata-gold.txt"
TEST_B = "SemEval2016-Task6-subtaskB-testdata-gold.txt"
HEADER = ("ID", "Target", "Tweet", "Stance")
LABELS = ("AGAINST", "FAVOR", "NONE")
DEV_TARGET = "Hillary Clinton"  # mtl-disparate's stance dev target (the hc / test_hc splits)
DEV_FRACTION = 0.1
_SEMST = re.compile(r"\s*#SemST\s*$")


def read_file(path: Path, *, encoding: str = "latin-1", keep_semst: bool = False) -> list[Example]:
    lines = common.read_lines(path, encoding=encoding)
    if not lines or tuple(lines[0].split("\t")) != HEADER:
        raise DataError(f"expected the header {chr(9).join(HEADER)!r}", file=path, line=1, field="header")
    examples = []
    seen: set[str] = set()
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != len(HEADER):
            missing = ", ".join(HEADER[len(cols):]) if len(cols) < len(HEADER) else "none (extra tab)"
            raise DataError(f"expected {len(HEADER)} tab-separated columns {'/'.join(HEADER)}, got {len(cols)}; "
                            f"missing: {missing}", file=path, line=n,
                            field=HEADER[len(cols)] if len(cols) < len(HEADER) else "columns")
        tid, target, tweet, stance = cols
        if not tid or tid in seen:
            raise DataError(f"empty or duplicate ID {tid!r}", file=path, line=n, field="ID")
        seen.add(tid)
        common.check_label(stance, LABELS, file=path, line=n, field_name="Stance")
        if not keep_semst:
            tweet = _SEMST.sub("", tweet)
        tokens, offsets = common.tokenize(tweet)
        target_tokens = common.words(target)
        if not tokens:
            raise DataError("empty tweet", file=path, line=n, field="Tweet")
        if not target_tokens:
            raise DataError("empty target", file=path, line=n, field="Target")
        examples.append(Example(id=tid, tokens=tokens, offsets=offsets, text_b=target_tokens,
                                labels={"stance": stance}))
    return examples


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    paths = common.require_files(Path(source), [TRAIN, TEST_A, TEST_B])
    fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
    seed = common.option(options, "seed", 0)
    kw = dict(encoding=str(common.option(options, "encoding", "latin-1")),
              keep_semst=bool(common.option(options, "keep_semst", False)))
    train_all = read_file(paths[TRAIN], **kw)
    dev_ids = common.holdout([ex.id for ex in train_all], fraction, seed)
    splits = {"train": [ex for ex in train_all if ex.id not in dev_ids],
              "dev": [ex for ex in train_all if ex.id in dev_ids],
              "test": read_file(paths[TEST_A], **kw),
              "test_b": read_file(paths[TEST_B], **kw)}
    ids = [ex.id for exs in splits.values() for ex in exs]
    if len(ids) != len(set(ids)):
        raise DataError("tweet IDs repeat across the files", file=Path(source), field="ID")
    hc_words = common.words(DEV_TARGET)
    test_hc = [ex for ex in splits["test"] if ex.text_b == hc_words]
    if test_hc:  # views of the files above, so their IDs repeat by design
        splits["test_hc"] = test_hc
        splits["hc"] = [ex for ex in train_all if ex.text_b == hc_words] + test_hc
    task = TaskSpec("stance", "classify", LABELS, pairwise=True, metric="f1_fa",
                    description="stance of the tweet towards the target (text_b)")
    notes = [f"dev = {len(dev_ids)} of {len(train_all)} subtask A train tweets held out by sha256(seed:id), "
             f"dev_fraction={fraction}, seed={seed} (no official dev split; trial data not available)",
             "test = subtask A gold; test_b = subtask B gold (Donald Trump, a target unseen in training)",
             f"hc = the {DEV_TARGET} tweets of the train and subtask A test files, test_hc = those of the test file "
             "(mtl-disparate's stance dev set, which its released code also trains on)"]
    return ReadResult(tasks=[task], splits=splits, source_files=list(paths.values()), notes=notes,
                      views=("hc", "test_hc") if test_hc else ())


_TEST_ZIP = common.github_raw("lordzuko/Transformer-Stance-Detection", "c2889817b317720961b05d19c00c6cd256bcf48d",
                              "data/semeval2016-task6-testdata-gold.zip")

ENTRY = DatasetEntry(
    name="semeval16-stance",
    description="SemEval-2016 Task 6 stance in tweets: pairwise tweet/target -> AGAINST/FAVOR/NONE "
                "(subtask A train/dev/test, subtask B test as test_b)",
    folder="semeval16-stance",
    reader=read,
    task_kinds={"stance": "classify"},
    files=(
        RemoteFile(TRAIN, common.github_raw("prrao87/tweet-stance-prediction",
                                            "f12cf924db7c947d5b681c01f492da029c08c415", f"data/{TRAIN}"),
                   "882660f548ca54874a59fa633065535f9a0f6ae2a00fb767bf2d9e2b0c2e617f"),
        # Members of the official semeval2016-task6-testdata-gold.zip (sha256 of the zip:
        # 05f8b414c24bfcddd0f88cd6dd62aa1406c06db160c663f3ad7f907b71ac8adc); match them by base name.
        RemoteFile(TEST_A, _TEST_ZIP, "ee8a98e2c56ea5a3c34b217d85c278abf7b314173e6f72931999833f73bf9e25",
                   member=TEST_A),
        RemoteFile(TEST_B, _TEST_ZIP, "905213dea5bed0acd75659bbebdee940722a4857dec2e33a563a287505f232f5",
                   member=TEST_B),
    ),
    license="research use only; no license file (tweets, subject to Twitter's terms)",
    citation="Saif M. Mohammad, Svetlana Kiritchenko, Parinaz Sobhani, Xiaodan Zhu, Colin Cherry. 2016. "
             "SemEval-2016 Task 6: Detecting Stance in Tweets. Proceedings of SemEval-2016, pp. 31-41. "
             "https://aclanthology.org/S16-1003",
    joint=False,
    options=ReaderOptions(
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of the subtask A train tweets held out as dev "
                     "(seeded by tweet id)"),
        ReaderOption("keep_semst", "bool", False, "keep the #SemST hashtag every tweet carries"),
        ReaderOption("encoding", "str", "latin-1", "the files' text encoding")),
)
