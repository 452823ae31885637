"""Target-dependent Twitter sentiment of Dong et al. (ACL 2014), the ``acl-14-short-data`` ``.raw`` files.

``train.raw`` / ``test.raw`` (UTF-8, LF): three lines per instance: the lower-cased, tokenized
tweet with every occurrence of the target replaced by ``$T$``; the target; the polarity
``-1``/``0``/``1``.

One example per instance (id ``<file stem>-<k>``, k = 1-based instance number, kept when the
instance goes to dev): tokens = the tweet with every ``$T$`` replaced by the target, split on
whitespace; ``text_b`` = the target tokens. Task ``sentiment`` (pairwise classify:
negative/neutral/positive; main metric ``f1_macro`` as in Augenstein et al. 2018).

Splits: ``test`` = ``test.raw``; ``train``/``dev`` from ``train.raw``, dev being a seeded holdout
of instances: ids ordered by ``sha256(f"{seed}:{id}")``, the first ``round(dev_fraction * n)``
(default 10%, seed 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

FILES = ("train.raw", "test.raw")
POLARITY = {"-1": "negative", "0": "neutral", "1": "positive"}
LABELS = ("negative", "neutral", "positive")
PLACEHOLDER = "$T$"
DEV_FRACTION = 0.1


def read_file(path: Path) -> list[Example]:
    lines = common.require_records(common.read_lines(path, fallback=()), path, "instances", "instance")
    if len(lines) % 3:
        raise DataError(f"{len(lines)} lines is not a multiple of 3 (sentence, target, polarity); the last "
                        f"instance is incomplete", file=path, line=len(lines), field="instance")
    stem = path.name.split(".")[0]
    examples = []
    for k in range(len(lines) // 3):
        n = 3 * k + 1  # 1-based line of the sentence
        sentence, target, polarity = lines[3 * k:3 * k + 3]
        if PLACEHOLDER not in sentence:
            raise DataError(f"the sentence has no {PLACEHOLDER} placeholder", file=path, line=n, field="sentence")
        if not target.strip():
            raise DataError("empty target", file=path, line=n + 1, field="target")
        label = POLARITY.get(polarity.strip())
        if label is None:
            raise DataError(f"unknown polarity {polarity!r}; expected -1, 0 or 1", file=path, line=n + 2,
                            field="polarity")
        examples.append(Example(id=f"{stem}-{k + 1}", tokens=sentence.replace(PLACEHOLDER, target).split(),
                                text_b=target.split(), labels={"sentiment": label}))
    return examples


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    paths = common.require_files(Path(source), FILES)
    fraction = common.fraction_option(options, "dev_fraction", DEV_FRACTION)
    seed = common.option(options, "seed", 0)
    train_all = read_file(paths["train.raw"])
    dev_ids = common.holdout([ex.id for ex in train_all], fraction, seed)
    splits = {"train": [ex for ex in train_all if ex.id not in dev_ids],
              "dev": [ex for ex in train_all if ex.id in dev_ids],
              "test": read_file(paths["test.raw"])}
    task = TaskSpec("sentiment", "classify", LABELS, pairwise=True, metric="f1_macro",
                    description="sentiment towards the target (text_b)")
    notes = [f"dev = {len(dev_ids)} of {len(train_all)} train instances held out by sha256(seed:id), "
             f"dev_fraction={fraction}, seed={seed} (no official dev split)"]
    return ReadResult(tasks=[task], splits=splits, source_files=list(paths.values()), notes=notes)


_REPO, _COMMIT = "shenwzh3/RGAT-ABSA", "26b9b869e02347c15c4ef96fdf4584034a163c8b"

ENTRY = DatasetEntry(
    name="twitter-target-dong14",
    description="target-dependent Twitter sentiment (Dong et al. 2014): pairwise tweet/target -> polarity",
    folder="twitter-target-dong14",
    reader=read,
    task_kinds={"sentiment": "classify"},
    files=(
        RemoteFile("train.raw", common.github_raw(_REPO, _COMMIT, "data/twitter/train.raw"),
                   "d33db1cf553ec0b65c4b503e736f10cb1a810d451ae466f5244724a61c935a8e"),
        RemoteFile("test.raw", common.github_raw(_REPO, _COMMIT, "data/twitter/test.raw"),
                   "bd93efaf67adc9c06c1f220a4f1e1a1122b5716573e9d62088cab64b1aa465b5"),
    ),
    license="research use only; no license stated (tweets, subject to Twitter's terms)",
    citation="Li Dong, Furu Wei, Chuanqi Tan, Duyu Tang, Ming Zhou, Ke Xu. 2014. Adaptive Recursive Neural "
             "Network for Target-dependent Twitter Sentiment Classification. ACL 2014 (short papers), "
             "pp. 49-54. https://aclanthology.org/P14-2009",
    joint=False,
    options=ReaderOptions(
        ReaderOption("dev_fraction", "fraction", DEV_FRACTION, "share of the train tweets held out as dev (seeded by "
                     "tweet id)")),
)
