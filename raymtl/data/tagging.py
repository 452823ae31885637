"""Tagging schemes at training time: shards store BIO (IOB2); ``data.tagging_scheme: BILOU`` trains
and predicts BILOU (B-egin, I-nside, L-ast, O-utside, U-nit), as causal-mtl §3.1 tags EMD.

Spans are the same under both schemes, so metrics read either (:func:`seqeval_tags`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from raymtl.data.schema import TaskSpec

SCHEMES = ("BIO", "BILOU")


def _split(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, rest = tag.partition("-")
    return prefix, rest


def _join(prefix: str, typ: str) -> str:
    return f"{prefix}-{typ}" if typ else prefix


def is_bio(spec: TaskSpec) -> bool:
    """A tagging task whose labels are O and B-/I- tags (typed or bare ``B``/``I``)."""
    return spec.kind == "tagging" and bool(spec.labels) and all(
        lab == "O" or _split(lab)[0] in ("B", "I") for lab in spec.labels) and any(
        _split(lab)[0] == "B" for lab in spec.labels)


def bilou_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The BILOU label set of a BIO one: ``O`` first if present, then B, I, L, U per type in order."""
    types = list(dict.fromkeys(_split(lab)[1] for lab in labels if lab != "O"))
    return (("O",) if "O" in labels else ()) + tuple(_join(p, t) for t in types for p in ("B", "I", "L", "U"))


def bio_to_bilou(tags: Sequence[str]) -> list[str]:
    """BIO -> BILOU: an entity's last token becomes ``L``, a one-token entity ``U``; a stray ``I``
    opens an entity, as BIO readers and seqeval treat it."""
    out: list[str] = []
    n = len(tags)
    for k, tag in enumerate(tags):
        prefix, typ = _split(tag)
        if prefix == "O":
            out.append("O")
            continue
        starts = prefix == "B" or k == 0 or _split(tags[k - 1])[1] != typ or tags[k - 1] == "O"
        nxt = _split(tags[k + 1]) if k + 1 < n else ("O", "")
        continues = nxt[0] == "I" and nxt[1] == typ
        out.append(_join(("B" if continues else "U") if starts else ("I" if continues else "L"), typ))
    return out


def with_scheme(spec: TaskSpec, scheme: str) -> TaskSpec:
    """``spec`` relabelled for ``scheme`` (BIO tasks only; others unchanged)."""
    if scheme == "BIO" or not is_bio(spec):
        return spec
    return replace(spec, labels=bilou_labels(spec.labels), scheme="BILOU")


_SEQEVAL = {"L": "E", "U": "S"}


def seqeval_tags(tags: Sequence[str]) -> list[str]:
    """BILOU written as BIOES (seqeval's chunker reads B, I, E, S); BIO passes unchanged."""
    out = []
    for tag in tags:
        prefix, typ = _split(tag)
        out.append(_join(_SEQEVAL[prefix], typ) if prefix in _SEQEVAL else tag)
    return out
