"""FDU-MTL: the 16-domain review sentiment dataset of Liu, Qiu & Huang (ACL 2017).

Files ``<domain>.task.{train,test,unlabel}`` per domain. ``train``/``test`` lines are
``<label>\\t<text>`` with ``label`` ``0`` (negative) / ``1`` (positive) and the text already
lower-cased and tokenized (split on spaces); ``unlabel`` lines are raw reviews.

Tasks: one ``classify`` task per domain named by the domain (``apparel``, ..., ``MR``), labels
``0``/``1``. The data is disjoint (``joint=False``): each labelled example carries exactly the
task of its domain; ``unlabeled`` examples carry none (their domain is in the id).

Splits (deterministic, the paper's 1400/200/400 protocol): ``train`` = all but the last 200 lines
of ``.task.train``, ``dev`` = its last 200 lines (the release merges train and dev), ``test`` =
``.task.test``, ``unlabeled`` = ``.task.unlabel`` (tokenized with the common regex tokenizer,
lower-cased; option ``unlabeled: false`` skips them). Ids are ``<domain>-<split>-<line>``, the
line being 1-based in the source file. Option ``domains`` (a list) restricts to a subset.

Encoding: the files are read as bytes, split on ``b"\\n"`` (never ``str.splitlines``: imdb
reviews contain U+0085) and each line is decoded as UTF-8, falling back to cp1252 and then
latin-1 for the few lines that are not valid UTF-8 (``MR.*``, ``dvd.task.train``).

One labelled line has an empty text (``sports_outdoors.task.train`` line 1121, label 0): it is
skipped and reported in ``notes``; so are unlabelled lines with no tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.options import ReaderOption, ReaderOptions
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

DOMAINS = ("apparel", "baby", "books", "camera_photo", "dvd", "electronics", "health_personal_care", "imdb",
           "kitchen_housewares", "magazines", "MR", "music", "software", "sports_outdoors", "toys_games", "video")
LABELS = ("0", "1")
DEV_LINES = 200
KINDS = ("train", "test", "unlabel")


def _labelled(path: Path, domain: str, notes: list[str]) -> tuple[list[tuple[int, Example]], list[int]]:
    """``[(line, example)]`` and the numbers of all non-blank lines."""
    out = []
    nonblank = []
    for n, line in enumerate(common.read_lines(path), 1):
        if not line.strip():
            continue
        nonblank.append(n)
        label, sep, text = line.partition("\t")
        if not sep:
            raise DataError("expected '<label>\\t<text>' (no tab found)", file=path, line=n, field="text")
        common.check_label(label, LABELS, file=path, line=n, field_name="label")
        tokens = text.split()
        if not tokens:
            notes.append(f"{path.name}:{n}: empty text (label {label}); skipped")
            continue
        out.append((n, Example(id="", tokens=tokens, labels={domain: label})))
    return out, nonblank


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    domains = common.option(options, "domains", DOMAINS)
    if isinstance(domains, str):
        domains = [d.strip() for d in domains.split(",") if d.strip()]
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown or not domains:
        raise DataError(f"unknown domain(s) {unknown}; expected a non-empty subset of {', '.join(DOMAINS)}",
                        field="domains")
    with_unlabeled = bool(common.option(options, "unlabeled", True))
    kinds = KINDS if with_unlabeled else KINDS[:2]
    paths = common.require_files(Path(source), [f"{d}.task.{k}" for d in domains for k in kinds])
    notes: list[str] = [f"dev = the last {DEV_LINES} lines of each <domain>.task.train (train+dev in the release)"]
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    if with_unlabeled:
        splits["unlabeled"] = []
    for d in domains:
        train_path = paths[f"{d}.task.train"]
        rows, nonblank = _labelled(train_path, d, notes)
        if len(nonblank) <= DEV_LINES:
            raise DataError(f"{len(nonblank)} lines, need more than {DEV_LINES} to hold out dev",
                            file=train_path, field="train")
        first_dev_line = nonblank[-DEV_LINES]
        for n, ex in rows:
            split = "train" if n < first_dev_line else "dev"
            ex.id = f"{d}-{split}-{n}"
            splits[split].append(ex)
        test_path = paths[f"{d}.task.test"]
        for n, ex in common.require_records(_labelled(test_path, d, notes)[0], test_path, "examples", "text"):
            ex.id = f"{d}-test-{n}"
            splits["test"].append(ex)
        if with_unlabeled:
            upath = paths[f"{d}.task.unlabel"]
            for n, line in enumerate(common.require_records(common.read_lines(upath), upath, "reviews", "text"), 1):
                tokens = common.words(line, lower=True)
                if not tokens:
                    if line.strip():
                        notes.append(f"{upath.name}:{n}: no tokens; skipped")
                    continue
                splits["unlabeled"].append(Example(id=f"{d}-unlabeled-{n}", tokens=tokens))
    task_list = [TaskSpec(d, "classify", LABELS, metric="acc", description=f"sentiment of {d} reviews (1 = positive)")
                 for d in domains]
    return ReadResult(tasks=task_list, splits=splits, source_files=list(paths.values()), notes=notes)


_SHA256 = {
    "MR.task.test": "82ec2a6d570978d173240dfd655c25e151761d7d0ace365725745a361e6fabea",
    "MR.task.train": "a6f222085a50061dd560c3beafc968679abae74683e3d18a66b619c5e2d178dc",
    "MR.task.unlabel": "fa9dee0e94afe5a6d58f1670ac7db53c450e0f806f158dea78fb766f1ee053bb",
    "apparel.task.test": "8e591ec14fa0e3d26837b9a40c99d3a93b49f47e7a3fbe4d0afe1b4e1dd45439",
    "apparel.task.train": "589702d71eded8ca23907acf6e434f203c8c6feb09737106f77f03707641ffc3",
    "apparel.task.unlabel": "7dc0cf126e07552b41d2574627a3a6d0d9c3f958a368fe5e41d8cd353b0f4a3f",
    "baby.task.test": "8763bb4b8bbf83b93b6aab03706719fc742fb7d89830a6bd95ea1c2490ea58f7",
    "baby.task.train": "0d884186f3aef0e12dafac0a875887fe631de0df992b15158ab177763882bf57",
    "baby.task.unlabel": "f4f2be61dddc8165ba40d9fc90d51a21c0c9d1f4b6eaa20c93fd3f9d9a8c95e2",
    "books.task.test": "b451ac03e48b599bf35dd1a450158389e1ac9018950e95c631053ac14a5b10ad",
    "books.task.train": "40c4c5971165b9e0a509a60472c3bf06c8e1430d4944833141eb3c34d986b65e",
    "books.task.unlabel": "5121a335a736523b5bd0dc47e05da2b085bf6f42aec2ca20ba7142d620241563",
    "camera_photo.task.test": "3fdea0837d6c41f04720dce8d2e690bbdeb5019ecac749f8f38472ac1dcfa439",
    "camera_photo.task.train": "425bf93c303b2f38d2f53649508ea9e55d0114679ecb00fda5c2c15ebbe9e708",
    "camera_photo.task.unlabel": "d94c682441e8b8a57ff992e244ef0137e07528cd9f3631874f89e2d40aefca04",
    "dvd.task.test": "762e6e030892375eda4f211be58624a3bb6a07c966901c79b803837d21fca4b5",
    "dvd.task.train": "47334240d9cef76ac5f15a10f9082c3d2c6e7f9a9bb0478a3800ede2a0300771",
    "dvd.task.unlabel": "5673c05efcefbf5d38a1ca7e1110cbf58a95e1b02a7a0c729c46f2ba21f223bf",
    "electronics.task.test": "a4d2e7d2a5b8b501a6611e45e1b241aa0d601388b79265cfc94c203cb52f8b8c",
    "electronics.task.train": "bb2f28c4a20e3d075dd71ff049970bd445f4d47bcc8404a68eb03850413a8da7",
    "electronics.task.unlabel": "da24efbec0053b8b8383e530dab3e4a358e75ae2e65d09624c6843bad30f69a8",
    "health_personal_care.task.test": "07f289177da7ebe71f1ac2ee3d5a25f190913e2a11116f0fb55862e01b60a331",
    "health_personal_care.task.train": "384f1ec3d76a2f755844cac4bd7725b86bc79910dae60fc33f133e380f827b4a",
    "health_personal_care.task.unlabel": "70bd1a5b004f2d0edc6bcf0ec6ff5c464f232a351bdcf4b88d4a655d97110355",
    "imdb.task.test": "dc708b7338157a6be56a1ded26abd97f82284d0e736876a6b833ad59e8a2cd53",
    "imdb.task.train": "16dd91ee7aebde130cfeb4d1c58bfe221ad87f1862fdb8ae694693eec3432caa",
    "imdb.task.unlabel": "ea4e02252cf95661af402ef7b7b6b9addc0a0666a03d8d7b81eefb08af0b413d",
    "kitchen_housewares.task.test": "86bcc015f7cfa773880951830ac6161dc2b8717e8a69773ca11a5bd6529b2020",
    "kitchen_housewares.task.train": "df5c9e8473b084a6b252dfbb5e074adcaacb9638a882fee3f20d62d747f45d6f",
    "kitchen_housewares.task.unlabel": "6255b3597385952d45920ce4451291a246ecd997ef75d964ff56fff9e31ad9e7",
    "magazines.task.test": "620ecd0ccd7b7f73483b8cdcef5ca07dff92e2d57c9cf4b6e9f7d669a681f6c3",
    "magazines.task.train": "d4805a9f094c1c7befa64bc42ea846261b1290a2fd120c46f45c9e89faf782ae",
    "magazines.task.unlabel": "87de41f73d65b525d2918833a944427196cd4a0346d9d083086b4814333fd9bd",
    "music.task.test": "54a157c56930b9e587b6b955fe4b2e3258d2f70d0d58ccbbf40a4bfd846ee204",
    "music.task.train": "f0b41243475c16391a02e91d87710ed87d68927d4d77f526a3d2369a98ac572e",
    "music.task.unlabel": "3f2ee8a5becb232368d2bc599ab131778558e05009f8f6957ce2a10106a6ea9a",
    "software.task.test": "3b92617a5b3ad618b7aaab98546d49c2a69f46dedbceb4ec14dee1cbb4ff02d3",
    "software.task.train": "a050cb3ea22b94b21ce70acff3a23eabd1f39307bd862d6c0cc23170eb4830f4",
    "software.task.unlabel": "a34c6f844ba0ac1a8d3325b396451c6b6f8928f219f22408192c417357497b80",
    "sports_outdoors.task.test": "77394d7c91fbc69cc16bfaf79f1f945999fe2d8e0fc536f1f79d17089e611f49",
    "sports_outdoors.task.train": "062ac0e2fb04a81c1f06f15b219634810a323a2ee187750e2f479030ebad0326",
    "sports_outdoors.task.unlabel": "7742f40a8b02cd5701a647d6ccaf3746bb863af28cdd6fa0404b507b131b9ca4",
    "toys_games.task.test": "6ee304a53f25697ee96bcb60fe07cc36d282ef343c3e0f8ae09df669ec39b116",
    "toys_games.task.train": "bb8404d3b48ab02bca2a75bb1e245297aac36b8143a81549f6485b4c2d24dd10",
    "toys_games.task.unlabel": "8808944481c5478a94f231f2fb9541036c5f882de225e2cb8357ab42fd59696d",
    "video.task.test": "8de7a49ee3001409c9049b1f52949d78c7875cb92e031b43f5cef681dfd341e4",
    "video.task.train": "2867b3e5fffc44132aa61ff49dd608eeacc503b2c9c2133680f0cb4a7a258f3e",
    "video.task.unlabel": "0178424fe97c0203c0f3cabcb31e1370bf656895b76a189ecf1ecfd151abe3f2",
}
_REPO, _COMMIT = "ccsasuke/man", "b57b4c14340db1ca7bffb5d9737b7c2601dc8df2"

ENTRY = DatasetEntry(
    name="fudan-mtl-16",
    description="FDU-MTL 16-domain review sentiment (14 Amazon domains + imdb + MR): one classify task "
                "per domain, disjoint, with unlabeled reviews",
    folder="fudan-mtl-16",
    reader=read,
    task_kinds={d: "classify" for d in DOMAINS},
    files=tuple(RemoteFile(f"{d}.task.{k}", common.github_raw(_REPO, _COMMIT, f"data/fdu-mtl/{d}.task.{k}"),
                           _SHA256[f"{d}.task.{k}"]) for d in DOMAINS for k in KINDS),
    license="research use only; no license stated (underlying corpora: Blitzer et al. 2007 Multi-Domain "
            "Sentiment, Maas et al. 2011 IMDB, Pang & Lee 2005 rt-polarity)",
    citation="Pengfei Liu, Xipeng Qiu, Xuanjing Huang. 2017. Adversarial Multi-task Learning for Text "
             "Classification. ACL 2017, pp. 1-10. https://aclanthology.org/P17-1001",
    joint=False,
    options=ReaderOptions(
        ReaderOption("domains", "list", list(DOMAINS), "the domains to read (a subset of the 16)"),
        ReaderOption("unlabeled", "bool", True, "also read the unlabelled <domain>.task.unlabel examples")),
)
