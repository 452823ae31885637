"""CoNLL-2003 English NER: ``eng.train`` (train), ``eng.testa`` (dev), ``eng.testb`` (test).

Space-separated ``word POS chunk NE`` columns read with :func:`conll_columns.read_columns`;
``-DOCSTART-`` lines are skipped (14041/3250/3453 sentences). One joint example per sentence
(id ``<split>-<line of its first token>``) with three tagging tasks:

- ``ner``: IOB1 -> BIO (PER, LOC, ORG, MISC). The two train ``B-MISC`` tags that do not follow a
  MISC entity (``Atlanta``, ``Urdu-speaking``) simply start an entity, as in IOB1.
- ``pos``: Penn Treebank tags, as in the file (vocabulary from the data).
- ``chunk``: IOB1 -> BIO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.readers.conll_columns import infer_tagging_tasks, read_columns
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile

SPLITS = {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}
COLUMNS = {0: "tokens", 1: "pos", 2: "chunk", 3: "ner"}
SCHEMES = {"ner": "IOB1", "chunk": "IOB1"}


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    paths = common.require_files(Path(source), SPLITS.values())
    splits = {split: read_columns(paths[name], split, COLUMNS, SCHEMES) for split, name in SPLITS.items()}
    tasks = infer_tagging_tasks(splits, ["ner", "pos", "chunk"], SCHEMES, metrics={"pos": "acc"})
    return ReadResult(tasks=tasks, splits=splits, source_files=list(paths.values()),
                      notes=["ner and chunk converted from IOB1 to BIO; dev = eng.testa, test = eng.testb"])


_REPO, _COMMIT = "suryasumukh/conll-ner", "18d3e43a09247adaa9ec088485a087d5ffa758a6"
_SHA256 = {
    "eng.train": "eac0822f501353f265383ddf1edb0dcd42a1b6eefd3e383d7074db98c38eb41c",
    "eng.testa": "aedc4ccbd1ae9795feaa0e86fe72d195b0258abed9d705b630d1c889276fac1e",
    "eng.testb": "0632f32c090ef31c223135b7fee3187a7cf8e65c4015c7866bb7783428cdd9a6",
}

ENTRY = DatasetEntry(
    name="conll2003",
    description="CoNLL-2003 English NER with POS and chunk tags (BIO)",
    folder="conll2003",
    reader=read,
    task_kinds={"ner": "tagging", "pos": "tagging", "chunk": "tagging"},
    files=tuple(RemoteFile(name, common.github_raw(_REPO, _COMMIT, f"data/{name}"), sha)
                for name, sha in _SHA256.items()),
    license="research use only: annotations distributed freely by the shared task; the text is from the "
            "Reuters Corpus RCV1 (requires a Reuters/NIST research agreement); do not redistribute",
    citation="Erik F. Tjong Kim Sang and Fien De Meulder. 2003. Introduction to the CoNLL-2003 Shared Task: "
             "Language-Independent Named Entity Recognition. CoNLL-2003, pp. 142-147. "
             "https://aclanthology.org/W03-0419",
    joint=True,
)
