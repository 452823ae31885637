"""data.tagging_scheme: BILOU — BIO shards trained and evaluated as BILOU (causal-mtl §3.1)."""

from __future__ import annotations

import pytest

from raymtl.data.batch import IGNORE
from raymtl.data.readers.common import to_bio
from raymtl.data.schema import TaskSpec, label_column
from raymtl.data.shards import open_split
from raymtl.data.tagging import bilou_labels, bio_to_bilou, is_bio, with_scheme
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData
from raymtl.train.metrics import spans


def test_bio_to_bilou_by_hand():
    bio = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-ORG", "O", "I-PER"]
    assert bio_to_bilou(bio) == ["B-PER", "I-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC", "U-ORG", "O", "U-PER"]
    assert bio_to_bilou(["B", "I", "O", "B", "B", "I", "I"]) == ["B", "L", "O", "U", "B", "I", "L"]
    assert bio_to_bilou(["I", "I", "O", "I"]) == ["B", "L", "O", "U"]  # stray I opens an entity
    for tags in (bio, ["B", "I", "O", "B", "B", "I", "I"]):
        assert spans(bio_to_bilou(tags)) == spans(tags)  # the metrics read BILOU as the same spans
    assert to_bio(bio_to_bilou(bio), "BILOU") == to_bio(bio, "BIO")  # the readers' inverse
    assert bilou_labels(("O", "B-PER", "I-PER", "B-LOC", "I-LOC")) == (
        "O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC")
    assert bilou_labels(("O", "B", "I")) == ("O", "B", "I", "L", "U")
    pos = TaskSpec("pos", "tagging", ("NN", "VB"))
    assert not is_bio(pos) and with_scheme(pos, "BILOU") is pos
    assert with_scheme(TaskSpec("ner", "tagging", ("O", "B-X", "I-X")), "BILOU").scheme == "BILOU"


def test_conll04_trains_on_bilou_with_the_same_spans(shards_root):
    root = shards_root("conll04")
    loc = {"conll04": str(root / "conll04")}
    cfg = TrainConfig.from_dict({"data": {"datasets": ["conll04"], "shards": str(root), "tagging_scheme": "BILOU"},
                                 "tasks": [{"name": "ner", "main": True}, {"name": "re"}],
                                 "model": {"arch": "cmtl"}})
    data = TrainData(cfg, loc)
    ner = data.spec("ner")
    assert ner.scheme == "BILOU" and ner.labels == bilou_labels(data.manifests["conll04"].task("ner").labels)
    assert data.manifests["conll04"].task("ner").scheme == "BIO"  # the shards are untouched
    stream = data.streams("train", limit=64)[0]
    batch = stream.batch(list(range(64)))
    table = open_split(root / "conll04", "train")
    gold_bio = table.column(label_column("ner")).to_pylist()
    n_units = 0
    for row, pos in zip(batch.targets["ner"].tolist(), stream.indices[:64].tolist()):
        tags = [ner.labels[i] for i in row if i != IGNORE]
        n_units += sum(t.startswith("U-") for t in tags)
        assert spans(tags) == spans(gold_bio[pos][:len(tags)])
    assert n_units > 0
    with pytest.raises(Exception, match="tagging_scheme"):
        TrainConfig.from_dict({"data": {"datasets": ["conll04"], "tagging_scheme": "BIOES"}, "tasks": [{"name": "ner"}],
                               "model": {"arch": "cmtl"}})
