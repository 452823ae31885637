"""CoNLL04 entities and relations in the multi-head-selection format of Bekoulis et al. (2018).

Files ``train.txt``/``dev.txt``/``test.txt`` (the splits of the release, 910/243/288 sentences).
Each sentence starts with ``#doc <id>``; then one tab-separated line per token:
``index  token  BIO-tag  ['rel', ...]  [head, ...]``.

One joint example per ``#doc`` block (id = ``<split>-<doc id>``) with:

- ``ner`` (tagging, BIO over ``Peop``/``Loc``/``Org``/``Other``; the file already uses BIO);
- ``re`` (relation, multi-head selection): for every label other than ``N`` on token ``i`` with
  pointed index ``j``, the triple ``(i, j, label)`` exactly as in the file: head = the token
  carrying the label (the last token of the head entity), tail = the pointed token (the last
  token of the tail entity). Types: Kill, Live_In, Located_In, OrgBased_In, Work_For.

Two train entities start with ``I-`` after ``O`` (lines 3176 and 25434); as in IOB2 readers
(conlleval, seqeval) such a tag starts an entity and is read as ``B-``; ``notes`` lists them.
So ``ner`` has 3393 train entities where counting ``B-`` tags gives 3391.

Malformed lines (wrong column count, a non-sequential index, an unknown tag or relation, labels
and heads of different lengths, a head index outside the sentence) raise DataError naming the
file, line and field.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Mapping

from raymtl.data.readers import common
from raymtl.data.entry import DatasetEntry, ReadResult, RemoteFile
from raymtl.data.schema import Example, TaskSpec
from raymtl.errors import DataError

SPLITS = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
ENTITY_TYPES = ("Peop", "Loc", "Org", "Other")
RELATION_TYPES = ("Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For")
NER_LABELS = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in "BI"))
NO_RELATION = "N"


def tasks() -> list[TaskSpec]:
    return [
        TaskSpec("ner", "tagging", NER_LABELS, scheme="BIO", metric="f1", description="entity mention detection (BIO)"),
        TaskSpec("re", "relation", RELATION_TYPES, metric="f1",
                 description="relations as multi-head selection (head = last token of the head entity, "
                             "tail = last token of the tail entity)"),
    ]


def _literal_list(text: str, *, file: Path, line: int, field_name: str) -> list:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, list):
        raise DataError(f"expected a Python list, got {text!r}", file=file, line=line, field=field_name)
    return value


def read_file(path: Path, split: str, notes: list[str] | None = None) -> list[Example]:
    notes = notes if notes is not None else []
    examples: list[Example] = []
    doc_id: str | None = None
    doc_line = 0
    rows: list[tuple[int, str, str, list, list]] = []  # line, token, tag, labels, heads

    def flush() -> None:
        if doc_id is None:
            return
        if not rows:
            raise DataError(f"#doc {doc_id} has no tokens", file=path, line=doc_line, field="tokens")
        n = len(rows)
        tags = [r[2] for r in rows]
        if not common.is_valid_bio(tags):
            fixed = common.to_bio(tags, "IOB2", file=path, line=rows[0][0], field_name="tag")
            for k in range(n):
                if fixed[k] != tags[k]:
                    notes.append(f"{path.name}:{rows[k][0]}: {tags[k]} after {tags[k - 1] if k else 'nothing'} "
                                 f"starts an entity; read as {fixed[k]}")
            tags = fixed
        relations = []
        for i, (line, _, _, labels, heads) in enumerate(rows):
            for label, head in zip(labels, heads):
                # checked for "N" too (its head is the token itself): a bad index there is corruption as well
                if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < n:
                    raise DataError(f"relation {label!r} points to token {head!r}, outside the sentence of {n} tokens",
                                    file=path, line=line, field="heads")
                if label != NO_RELATION:
                    relations.append((i, head, label))
        examples.append(Example(id=f"{split}-{doc_id}", tokens=[r[1] for r in rows],
                                labels={"ner": tags, "re": relations}))

    seen: set[str] = set()
    for n, line in enumerate(common.read_lines(path, fallback=()), 1):
        if not line.strip():
            continue
        if line.startswith("#doc"):
            flush()
            doc_id = line[4:].strip()
            if not doc_id:
                raise DataError("#doc line without an id", file=path, line=n, field="doc")
            if doc_id in seen:
                raise DataError(f"duplicate #doc {doc_id}", file=path, line=n, field="doc")
            seen.add(doc_id)
            doc_line, rows = n, []
            continue
        if doc_id is None:
            raise DataError("token line before the first '#doc <id>' line", file=path, line=n, field="doc")
        cols = line.split("\t")
        if len(cols) != 5:
            raise DataError(f"expected 5 tab-separated columns (index, token, tag, relations, heads), "
                            f"got {len(cols)}", file=path, line=n, field="columns")
        index, token, tag, rel_text, head_text = cols
        if index != str(len(rows)):
            raise DataError(f"token index {index!r}, expected {len(rows)}", file=path, line=n, field="index")
        common.check_label(tag, NER_LABELS, file=path, line=n, field_name="tag")
        labels = _literal_list(rel_text, file=path, line=n, field_name="relations")
        heads = _literal_list(head_text, file=path, line=n, field_name="heads")
        if len(labels) != len(heads):
            raise DataError(f"{len(labels)} relation labels but {len(heads)} heads", file=path, line=n, field="heads")
        for label in labels:
            common.check_label(label, (NO_RELATION, *RELATION_TYPES), file=path, line=n, field_name="relations")
        rows.append((n, token, tag, labels, heads))
    flush()
    return common.require_records(examples, path, "'#doc' sentences", "doc")


def read(source: Path, options: Mapping[str, object]) -> ReadResult:
    paths = common.require_files(Path(source), SPLITS.values())
    notes: list[str] = []
    splits = {split: read_file(paths[name], split, notes) for split, name in SPLITS.items()}
    return ReadResult(tasks=tasks(), splits=splits, source_files=list(paths.values()), notes=notes)


_REPO, _COMMIT = "bekou/multihead_joint_entity_relation_extraction", "7f40a0f7c1892821591358518c542139e88f693e"
_SHA256 = {
    "train.txt": "0f560fdaa150133fc4843f72e2a8e707e7f74f06a3a3095d4b9921f8d0ce3614",
    "dev.txt": "99e854fd2a7d19247230c3ed8c304f79022380c9d21b58f25e7ffc5fe3884e2d",
    "test.txt": "d172819deff771c059c9c6688d67c3ff2bdaa25cf71ec56b1f7e8c6705f96700",
}

ENTRY = DatasetEntry(
    name="conll04",
    description="CoNLL04 joint entity and relation extraction (Bekoulis et al. 2018 multi-head selection format)",
    folder="conll04",
    reader=read,
    task_kinds={"ner": "tagging", "re": "relation"},
    files=tuple(RemoteFile(name, common.github_raw(_REPO, _COMMIT, f"data/CoNLL04/{name}"), sha)
                for name, sha in _SHA256.items()),
    license="research use (CogComp corpus terms; no explicit data license; the repository's MIT license "
            "covers its code only)",
    citation="Dan Roth and Wen-tau Yih. 2004. A Linear Programming Formulation for Global Inference in Natural "
             "Language Tasks. CoNLL 2004. Split/format: Giannis Bekoulis, Johannes Deleu, Thomas Demeester, "
             "Chris Develder. 2018. Joint entity recognition and relation extraction as a multi-head selection "
             "problem. Expert Systems with Applications 114:34-45 (arXiv:1804.07847)",
    joint=True,
)
