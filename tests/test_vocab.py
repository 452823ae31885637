"""The training vocabulary: pretrained vectors for the words of every split, word dropout to <unk>,
OOV rates per split (issue 19 item 1)."""

from __future__ import annotations

import collections

import pytest
import torch

from raymtl.data.batch import Batch
from raymtl.data.manifest import Manifest
from raymtl.data.shards import open_split
from raymtl.data.vectors import GLOVE_PACKAGE, align_vectors, extend_with_vectors, read_vectors
from raymtl.data.vocab import Vocab, oov_rate
from raymtl.train.config import TrainConfig
from raymtl.train.data import TrainData


def test_extend_with_vectors_adds_only_words_with_a_vector(tmp_path):
    f = tmp_path / "vec.txt"
    f.write_text("cat 1 2\ndog 3 4\nemu 5 6\n")
    base = Vocab.from_counts([("cat", 2), ("yak", 1)], lowercase=True)
    table = read_vectors(str(f), {"cat", "yak", "Emu", "gnu"})
    vocab = extend_with_vectors(base, ["Emu", "gnu", "cat"], table)
    assert vocab.itos == ("<pad>", "<unk>", "cat", "yak", "emu")  # gnu has no vector: stays <unk>
    assert vocab.n_train == 4 and base.n_train == 4
    w = align_vectors(table, vocab).weights
    assert w[vocab.id("EMU")].tolist() == [5, 6] and w[vocab.id("cat")].tolist() == [1, 2]
    assert vocab.id("gnu") == 1
    # OOV rate: 3 of 10 tokens are gnu -> 0.3; with the train vocabulary alone emu is OOV too
    counts = [("cat", 5), ("emu", 2), ("gnu", 3)]
    assert oov_rate(vocab, counts) == (pytest.approx(0.3), 10)
    assert oov_rate(base, counts) == (pytest.approx(0.5), 10)


def _cfg(shards, **data) -> TrainConfig:
    return TrainConfig.from_dict({
        "data": {"datasets": ["semeval14-restaurants"], "shards": str(shards), "vectors": GLOVE_PACKAGE,
                 "lowercase": True, **data},
        "tasks": [{"name": "ate", "main": True}], "model": {"arch": "stl_bilstm"}})


def test_dev_and_test_words_get_their_glove_vectors(shards_root):
    root = shards_root("semeval14-restaurants")
    data = TrainData(_cfg(root), {"semeval14-restaurants": str(root / "semeval14-restaurants")})
    old = TrainData(_cfg(root, vectors_all_splits=False),
                    {"semeval14-restaurants": str(root / "semeval14-restaurants")})
    assert old.vocab.itos == data.vocab.itos[:data.vocab.n_train] and len(old.vocab) == old.vocab.n_train
    m = Manifest.load(root / "semeval14-restaurants")
    train_words = {w.lower() for w, _ in m.vocab}
    test = open_split(root / "semeval14-restaurants", "test", manifest=m)
    test_words = {w.lower() for toks in test.column("tokens").to_pylist() for w in toks}
    table = data.vector_table
    with_vec = {w for w in test_words - train_words if w in table}
    assert len(with_vec) > 100  # the issue measured 14-18 % of such tokens with a GloVe vector
    weights = align_vectors(table, data.vocab).weights
    for w in sorted(with_vec)[:50]:
        i = data.vocab.id(w)
        assert i >= data.vocab.n_train and old.vocab.id(w) == 1
        assert torch.equal(weights[i], torch.tensor(table[w]))
    assert all(data.vocab.id(w) == 1 for w in test_words - train_words - with_vec)
    rep = data.vocab_report
    assert rep["pretrained_only_words"] == len(data.vocab) - data.vocab.n_train > 0
    t = rep["oov"]["semeval14-restaurants/test"]
    assert rep["oov"]["semeval14-restaurants/train"]["oov"] == 0.0
    assert 0 < t["oov"] < t["oov_train_vocab"]
    assert "semeval14-restaurants/test" in data.vocab_summary()
    # the OOV rate is the share of test tokens that encode to <unk>
    ids = [data.vocab.id(w) for toks in test.column("tokens").to_pylist() for w in toks]
    assert t["oov"] == pytest.approx(sum(i == 1 for i in ids) / len(ids), abs=1e-5)


def test_word_dropout_probabilities_and_rate(shards_root):
    root = shards_root("semeval14-restaurants")
    data = TrainData(_cfg(root, unk_dropout=0.25), {"semeval14-restaurants": str(root / "semeval14-restaurants")})
    m = Manifest.load(root / "semeval14-restaurants")
    counts = collections.Counter()
    for w, c in m.vocab:
        counts[w.lower()] += c
    p = data.unk_probabilities()
    assert p[0] == 0 and p[1] == 0
    for w in ("the", "food"):  # α / (α + count), Kiperwasser & Goldberg 2016
        assert p[data.vocab.id(w)].item() == pytest.approx(0.25 / (0.25 + counts[w]))
    single = next(w for w, c in counts.items() if c == 1)
    assert p[data.vocab.id(single)].item() == pytest.approx(0.2)
    # a batch of 20000 copies of a singleton and padding: ~20 % become <unk>, padding never changes
    tokens = torch.full((200, 100), data.vocab.id(single))
    tokens[:, 90:] = 0
    batch = Batch(ids=[""] * 200, words=[[]] * 200, tokens=tokens, mask=tokens > 0)
    torch.manual_seed(0)
    out = data.drop_words(batch).tokens
    assert (out[:, 90:] == 0).all() and torch.equal(batch.tokens, tokens)
    rate = (out[:, :90] == 1).float().mean().item()
    assert abs(rate - 0.2) < 0.01
    off = TrainData(_cfg(root, unk_dropout=0), {"semeval14-restaurants": str(root / "semeval14-restaurants")})
    assert off.drop_words(batch) is batch


def test_checkpoint_of_a_train_only_vocabulary_still_loads(shards_root, tmp_path, monkeypatch):
    """A model trained before dev/test words got vectors (its config has no vectors_all_splits)."""
    import json

    from raymtl.analysis.commands import load_checkpoint
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))
    monkeypatch.setenv("RAYMTL_REVIEW", "0")
    cfg = TrainConfig.from_dict({
        "data": {"datasets": ["semeval14-restaurants"], "vectors": GLOVE_PACKAGE, "vectors_all_splits": False,
                 "max_train_examples": 32, "max_eval_examples": 16},
        "tasks": [{"name": "ate", "main": True}], "model": {"arch": "stl_bilstm", "embedding": "vectors", "hidden": 4},
        "train": {"epochs": 1, "eval_test": False}})
    Runner(cfg, validate(cfg, log=lambda m: None), reporter=LocalReporter(tmp_path), run_dir=tmp_path,
           log=lambda m: None).fit()
    ckpt = tmp_path / "checkpoints" / "latest"
    old = json.loads((ckpt / "config.json").read_text())
    del old["data"]["vectors_all_splits"]  # as written before the field existed
    (ckpt / "config.json").write_text(json.dumps(old))
    loaded = load_checkpoint(ckpt)
    assert len(loaded.data.vocab) == loaded.data.vocab.n_train == len(json.loads((ckpt / "vocab.json").read_text()))
