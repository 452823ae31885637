"""Diversity features (disparate-label-spaces §3.5, Ruder & Plank 2017) on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raymtl.analysis import diversity as dv

TOKS = ["a", "b", "a", "c"]  # p = (1/2, 1/4, 1/4) over types a, b, c


def test_counts_and_ratio():
    assert dv.num_word_types(TOKS) == 3
    assert dv.type_token_ratio(TOKS) == pytest.approx(0.75)
    assert dv.type_token_ratio([]) == 0.0


def test_entropy_simpson_renyi_own_distribution():
    assert dv.entropy(TOKS) == pytest.approx(1.5 * math.log(2))  # -(1/2 ln 1/2 + 2 * 1/4 ln 1/4)
    assert dv.simpsons_index(TOKS) == pytest.approx(0.375)  # 1/4 + 1/16 + 1/16
    assert dv.renyi_entropy(TOKS, alpha=2.0) == pytest.approx(-math.log(0.375))  # order 2: -ln Σ p²
    expected = math.log(0.5**0.99 + 2 * 0.25**0.99) / 0.01
    assert dv.renyi_entropy(TOKS) == pytest.approx(expected)
    assert dv.renyi_entropy(TOKS) == pytest.approx(dv.entropy(TOKS), abs=0.01)  # α → 1: Shannon
    with pytest.raises(ValueError):
        dv.renyi_entropy(TOKS, alpha=1.0)


def test_corpus_term_distribution_as_ruder_plank():
    dist = {"a": 0.1, "b": 0.2}  # "c" unknown: contributes 0
    assert dv.entropy(TOKS, dist) == pytest.approx(-(0.1 * math.log(0.1) + 0.2 * math.log(0.2)))
    assert dv.simpsons_index(TOKS, dist) == pytest.approx(0.05)
    assert dv.renyi_entropy(TOKS, dist, alpha=2.0) == pytest.approx(-math.log(0.05))
    assert dv.renyi_entropy(["zzz"], dist) == pytest.approx(math.log(1e-4) / 0.01)  # Ruder & Plank's floor


def test_term_distribution_lowercases():
    d = dv.term_distribution([["A", "b"], ["a"]])
    assert d == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_quadratic_entropy():
    vecs = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [3.0, 0.0]}
    # cos(a,c) = 1, cos(a,b) = cos(b,c) = 0: Σ p_i p_j cos = 1/4 + 1/16 + 1/16 + 2 * 1/8
    assert dv.quadratic_entropy(TOKS, vecs) == pytest.approx(0.625)


def test_feature_matrix_and_dict():
    f = dv.diversity_features(["A", "b", "a", "c"])  # lowercased by default
    assert f["num_word_types"] == 3 and f["type_token_ratio"] == pytest.approx(0.75)
    m = dv.feature_matrix([TOKS, ["x", "x"]])
    assert m.shape == (2, len(dv.FEATURES))
    np.testing.assert_allclose(m[1], [1, 0.5, 0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        dv.feature_matrix([TOKS], names=["nope"])


def test_split_features_on_real_split(prepared):
    path = prepared("twitter-target-dong14")
    feats = dv.split_features(path, "dev")
    assert feats.ndim == 2 and feats.shape[1] == len(dv.FEATURES) and feats.shape[0] > 10
    assert np.isfinite(feats).all()
    assert (feats[:, 0] >= 1).all() and ((feats[:, 1] > 0) & (feats[:, 1] <= 1)).all()
    own = dv.split_features(path, "dev", corpus_split=None)
    np.testing.assert_allclose(own[:, :2], feats[:, :2])  # counts do not depend on the distribution
