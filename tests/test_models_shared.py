"""Shared model parts: config, embedders (incl. a tiny local transformer), encoders, heads, Gumbel."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.models.config import BaseConfig
from raymtl.models.embeddings import LookupEmbedder, ScalarMix, build_embedder
from raymtl.models.encoders import BiLSTMEncoder, CNNEncoder, pool
from raymtl.models.gumbel import gumbel_sigmoid, gumbel_softmax
from raymtl.models.heads import (CRF, ClassifyHead, MultiLabelHead, RelationHead, TaggingHead, build_head)


def _mask(lengths, t):
    return torch.arange(t)[None] < torch.as_tensor(lengths)[:, None]


# ------------------------------------------------------------------------------------------- config
def test_config_validates_fields():
    assert BaseConfig().embedding == "random"
    with pytest.raises(ValueError, match="embedding"):
        BaseConfig(embedding="glove")
    with pytest.raises(ValueError, match="transformer_layers"):
        BaseConfig(transformer_layers="all")
    with pytest.raises(ValueError, match="transformer"):
        BaseConfig(embedding="transformer")
    with pytest.raises(ValueError, match="dropout"):
        BaseConfig(dropout=1.5)


# --------------------------------------------------------------------------------------- embeddings
def test_random_and_vector_embedders():
    cfg = BaseConfig(emb_dim=8)
    emb = build_embedder(cfg, 20)
    x = emb(torch.tensor([[3, 4, 0]]), _mask([2], 3), [["a", "b"]])
    assert x.shape == (1, 3, 8) and emb.out_dim == 8
    assert torch.all(emb.emb.weight[0] == 0)  # padding row

    vectors = torch.randn(20, 5)
    frozen = build_embedder(BaseConfig(embedding="vectors", freeze_embeddings=True), 20, vectors)
    assert frozen.out_dim == 5 and not frozen.emb.weight.requires_grad
    assert torch.allclose(frozen(torch.tensor([[7]]), None, None)[0, 0], vectors[7])
    tuned = build_embedder(BaseConfig(embedding="vectors"), 20, vectors)
    assert tuned.emb.weight.requires_grad
    with pytest.raises(ConfigError, match="vectors"):
        build_embedder(BaseConfig(embedding="vectors"), 20, None)
    with pytest.raises(ConfigError, match="shape"):
        LookupEmbedder(21, 5, vectors=vectors)


def test_transformer_first_subtoken_pooling(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    cfg = BaseConfig(embedding="transformer", transformer=str(tiny_bert))
    emb = build_embedder(cfg, 10)
    assert emb.out_dim == 32
    words = [["the", "foods", "service", "pizzas"], ["good", "food"]]
    mask = _mask([4, 2], 4)
    out = emb(torch.zeros(2, 4, dtype=torch.long), mask, words)
    assert out.shape == (2, 4, 32)
    assert torch.all(out[1, 2:] == 0)  # padding
    # reference: the hidden state of each word's first word piece
    tok, ref = AutoTokenizer.from_pretrained(str(tiny_bert)), AutoModel.from_pretrained(str(tiny_bert)).eval()
    enc = tok(words, is_split_into_words=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = ref(**enc).last_hidden_state
    ids = enc["input_ids"][0].tolist()
    assert tok.convert_ids_to_tokens(ids[:8]) == ["[CLS]", "the", "food", "##s", "serv", "##ice", "pizza", "##s"]
    for w, pos in enumerate([1, 2, 4, 6]):  # first sub-token of each word
        assert torch.allclose(out[0, w], h[0, pos], atol=1e-5)
    # frozen: no gradient into the transformer, eval mode kept under .train()
    emb.train()
    assert not emb.model.training
    assert all(not p.requires_grad for p in emb.model.parameters())


def test_transformer_scalar_mix_and_pair(tiny_bert):
    cfg = BaseConfig(embedding="transformer", transformer=str(tiny_bert), transformer_layers="mix")
    emb = build_embedder(cfg, 10)
    assert isinstance(emb.mix, ScalarMix) and emb.mix.weights.numel() == 3  # embeddings + 2 layers
    words = [["the", "food", "was", "great"]]
    mask = _mask([4], 4)
    tokens = torch.zeros(1, 4, dtype=torch.long)
    # uniform weights, gamma 1: the mean of the layers
    out = emb(tokens, mask, words)
    enc = emb.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hs = emb.model(**enc, output_hidden_states=True).hidden_states
    mean = sum(hs) / 3
    assert torch.allclose(out[0], mean[0, 1:5], atol=1e-5)
    # weights peaked on the last layer and gamma 2: twice the last layer
    with torch.no_grad():
        emb.mix.weights.copy_(torch.tensor([-1e4, -1e4, 0.0]))
        emb.mix.gamma.fill_(2.0)
    out = emb(tokens, mask, words)
    assert torch.allclose(out[0], 2 * hs[-1][0, 1:5], atol=1e-5)
    out.sum().backward()
    assert emb.mix.gamma.grad is not None
    # the pair variant: the same embedder on text_b
    batch = Batch(ids=["0"], words=words, tokens=tokens, mask=mask, pair_words=[["pizza"]],
                  pair_tokens=torch.zeros(1, 1, dtype=torch.long), pair_mask=torch.ones(1, 1, dtype=torch.bool))
    pe, pm = emb.embed_pair(batch)
    assert pe.shape == (1, 1, 32) and pm.all()


def test_transformer_fine_tuned(tiny_bert):
    cfg = BaseConfig(embedding="transformer", transformer=str(tiny_bert), freeze_transformer=False)
    emb = build_embedder(cfg, 10)
    emb.train()
    out = emb(torch.zeros(1, 2, dtype=torch.long), _mask([2], 2), [["good", "food"]])
    out.sum().backward()
    assert any(p.grad is not None for p in emb.model.parameters())


# ----------------------------------------------------------------------------------------- encoders
def test_pool():
    x = torch.tensor([[[1.0, -5.0], [3.0, 2.0], [9.0, 9.0]]])
    m = _mask([2], 3)
    assert pool(x, m, "max").tolist() == [[3.0, 2.0]]  # causal-mtl eq. 16
    assert pool(x, m, "mean").tolist() == [[2.0, -1.5]]
    assert pool(x, m, "last").tolist() == [[3.0, 2.0]]
    assert pool(x, torch.zeros(1, 3, dtype=torch.bool), "max").tolist() == [[0.0, 0.0]]


def test_bilstm_ignores_padding():
    torch.manual_seed(0)
    enc = BiLSTMEncoder(4, 3).eval()
    x = torch.randn(2, 5, 4)
    m = _mask([5, 3], 5)
    out = enc(x, m)
    assert out.shape == (2, 5, 6) and torch.all(out[1, 3:] == 0)
    alone = enc(x[1:2, :3], _mask([3], 3))
    assert torch.allclose(out[1, :3], alone[0], atol=1e-6)
    out2, (h, c) = enc(x, m, return_state=True)
    assert h.shape == (2, 2, 3)
    assert not torch.allclose(enc(x, m, state=(h, c)), out)  # conditional encoding changes the output


def test_cnn_encoder_shapes_and_pool():
    torch.manual_seed(0)
    enc = CNNEncoder(4, (2, 3), 5)
    x = torch.randn(2, 6, 4)
    m = _mask([6, 2], 6)
    tok, sent = enc(x, m)
    assert tok.shape == (2, 6, 10) and sent.shape == (2, 10) and enc.out_dim == 10
    assert torch.allclose(sent, pool(tok, m, "max"))
    assert torch.all(tok[1, 2:] == 0)


# ------------------------------------------------------------------------------------------- Gumbel
def test_gumbel_tau_to_zero_is_one_hot_argmax():
    o = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 0.2]])
    g = torch.tensor([[0.0, -3.0, 0.4], [0.0, 0.0, 0.0]])
    y = gumbel_softmax(o, 1e-4, noise=g)  # causal-mtl eq. 9, tau -> 0
    expected = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # argmax(o + g)
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.equal(gumbel_softmax(o, 0.0, noise=g), expected)
    # hand value at tau = 1: softmax(o + g)
    z = (o + g)[0]
    assert torch.allclose(gumbel_softmax(o, 1.0, noise=g)[0], torch.exp(z) / torch.exp(z).sum())


def test_gumbel_high_tau_tends_to_uniform():
    o = torch.tensor([3.0, -2.0, 0.0, 1.0])
    y = gumbel_softmax(o, 1e5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(y, torch.full((4,), 0.25), atol=1e-3)


def test_gumbel_samples_follow_softmax():
    o = torch.tensor([1.0, 0.0, -1.0]).expand(20000, 3)
    y = gumbel_softmax(o, 0.0, generator=torch.Generator().manual_seed(0))  # causal-mtl eq. 8 sampling
    freq = y.mean(0)
    assert torch.allclose(freq, torch.softmax(o[0], -1), atol=0.02)


def test_gumbel_straight_through():
    o = torch.tensor([0.5, 1.5, -0.5], requires_grad=True)
    y = gumbel_softmax(o, 0.5, hard=True, sample=False)
    assert y.tolist() == [0.0, 1.0, 0.0]
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert o.grad is not None and o.grad.abs().sum() > 0


def test_gumbel_sigmoid():
    o = torch.tensor([2.0, -1.0])
    assert gumbel_sigmoid(o, 1e-4, noise=torch.tensor([-3.0, 0.5])).tolist() == [0.0, 0.0]
    assert gumbel_sigmoid(o, 0.0, sample=False).tolist() == [1.0, 0.0]
    freq = gumbel_sigmoid(o.expand(20000, 2), 0.0, generator=torch.Generator().manual_seed(1)).mean(0)
    assert torch.allclose(freq, torch.sigmoid(o), atol=0.02)
    assert torch.allclose(gumbel_sigmoid(o, 1e5, sample=False), torch.full((2,), 0.5), atol=1e-4)


# -------------------------------------------------------------------------------------------- heads
def test_tagging_head_ce_by_hand():
    head = TaggingHead(TaskSpec("t", "tagging", ("O", "B")), 2)
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]], [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    target = torch.tensor([[0, 1, IGNORE], [1, IGNORE, IGNORE]])
    mask = _mask([2, 1], 3)
    lse = lambda a, b: math.log(math.exp(a) + math.exp(b))  # noqa: E731
    ce = [(lse(2, 0) - 2), (lse(0, 1) - 1), (lse(1, 1) - 1)]  # the 3 labelled tokens
    present = torch.tensor([True, True])
    # causal-mtl eq. 13: summed over each sentence's tokens, then averaged over the 2 sentences
    assert head.loss(logits, target, present, mask).item() == pytest.approx(sum(ce) / 2, rel=1e-5)
    # token_loss "mean": averaged over the 3 labelled tokens
    mean_head = TaggingHead(TaskSpec("t", "tagging", ("O", "B")), 2, token_loss="mean")
    assert mean_head.loss(logits, target, present, mask).item() == pytest.approx(sum(ce) / 3, rel=1e-5)
    # the absent example does not count
    only0 = torch.tensor([True, False])
    assert head.loss(logits, target, only0, mask).item() == pytest.approx(ce[0] + ce[1], rel=1e-5)
    assert mean_head.loss(logits, target, only0, mask).item() == pytest.approx((ce[0] + ce[1]) / 2, rel=1e-5)
    assert head.loss(logits, target, torch.tensor([False, False]), mask).item() == 0.0
    with pytest.raises(ValueError, match="token_loss"):
        TaggingHead(TaskSpec("t", "tagging", ("O", "B")), 2, token_loss="max")
    assert head.decode(logits, mask).tolist() == [[0, 1, 0], [0, 0, 0]]


def test_crf_matches_brute_force():
    torch.manual_seed(0)
    crf = CRF(3)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    em = torch.randn(1, 4, 3)
    mask = _mask([3], 4)

    def score(seq):
        s = crf.start[seq[0]] + em[0, 0, seq[0]]
        for i in range(1, len(seq)):
            s = s + crf.transitions[seq[i - 1], seq[i]] + em[0, i, seq[i]]
        return s + crf.end[seq[-1]]

    seqs = list(itertools.product(range(3), repeat=3))
    scores = torch.stack([score(s) for s in seqs])
    gold = (2, 0, 1)
    nll = crf.nll(em, torch.tensor([[2, 0, 1, IGNORE]]), mask)
    assert nll.item() == pytest.approx((torch.logsumexp(scores, 0) - score(gold)).item(), rel=1e-5)
    best = seqs[int(scores.argmax())]
    assert crf.viterbi(em, mask)[0, :3].tolist() == list(best)
    head = build_head(TaskSpec("t", "tagging", ("a", "b", "c")), 4, crf=True)
    assert head.crf is not None


def test_relation_head_eq14_by_hand():
    """3-token sentence, in_dim 2, rel_dim 2, one relation type; weights fixed by hand."""
    head = RelationHead(TaskSpec("re", "relation", ("r",)), 2, rel_dim=2)
    with torch.no_grad():
        head.U.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        head.W.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        head.W.bias.copy_(torch.tensor([-1.0, 0.5]))
        head.V.weight.copy_(torch.tensor([[1.0, -2.0]]))
    h = torch.tensor([[[1.0, 2.0], [0.0, -1.0], [3.0, 0.0]]])
    logits = head(h)
    relu = lambda v: max(v, 0.0)  # noqa: E731
    for i in range(3):
        for j in range(3):
            hi, hj = h[0, i].tolist(), h[0, j].tolist()
            a = relu(hi[0] + hj[1] - 1.0)  # (U h_i + W h_j + b)[0]
            b = relu(hi[1] + hj[0] + 0.5)
            expected = 1 / (1 + math.exp(-(a - 2 * b)))  # causal-mtl eq. 14
            assert head.probs(logits)[0, i, j, 0].item() == pytest.approx(expected, rel=1e-5)
    # eq. 15: BCE summed over the 3x3 pairs (and types) of the one sentence
    target = torch.zeros(1, 3, 3, 1)
    target[0, 0, 2, 0] = 1
    p = torch.sigmoid(logits)[0, :, :, 0]
    y = target[0, :, :, 0]
    bce = -(y * p.log() + (1 - y) * (1 - p).log()).sum()
    assert head.loss(logits, target, torch.tensor([True]), _mask([3], 3)).item() == pytest.approx(bce.item(), rel=1e-5)
    # padding pairs are ignored
    m2 = _mask([2], 3)
    bce2 = -(y[:2, :2] * p[:2, :2].log() + (1 - y[:2, :2]) * (1 - p[:2, :2]).log()).sum()
    assert head.loss(logits, target, torch.tensor([True]), m2).item() == pytest.approx(bce2.item(), rel=1e-5)
    # token_loss "mean": normalised per head token instead (3, then 2 of them)
    head.token_loss = "mean"
    assert head.loss(logits, target, torch.tensor([True]), _mask([3], 3)).item() == pytest.approx(bce.item() / 3,
                                                                                               rel=1e-5)
    assert head.loss(logits, target, torch.tensor([True]), m2).item() == pytest.approx(bce2.item() / 2, rel=1e-5)
    head.token_loss = "sum"
    dec = head.decode(logits, m2)
    assert dec.shape == (1, 3, 3, 1) and dec.dtype == torch.bool and not dec[0, 2].any()


def test_multilabel_head_eq16_17_by_hand():
    head = MultiLabelHead(TaskSpec("acd", "multilabel", ("a", "b")), 2)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        head.proj.bias.copy_(torch.tensor([0.0, 1.0]))
    h = torch.tensor([[[1.0, 4.0], [2.0, -1.0], [7.0, 7.0]]])
    logits = head(h, _mask([2], 3))
    # eq. 16: h0 = max-pool = [2, 4]; eq. 17: sigmoid([2, -4 + 1])
    assert logits.tolist() == [[2.0, -3.0]]
    y = torch.tensor([[1.0, 1.0]])
    expected = -(math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(3))))  # eq. 18
    assert head.loss(logits, y, torch.tensor([True])).item() == pytest.approx(expected, rel=1e-5)
    assert head.decode(logits).tolist() == [[True, False]]


def test_classify_head_eq19_by_hand_and_pair():
    head = ClassifyHead(TaskSpec("c", "classify", ("x", "y", "z")), 2)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        head.proj.bias.zero_()
    h0 = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logits = head(h0)
    assert logits.tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    p = torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0)  # causal-mtl eq. 19
    target = torch.tensor([1, IGNORE])
    assert head.loss(logits, target, torch.tensor([True, True])).item() == pytest.approx(-math.log(p[1]), rel=1e-5)
    assert head.decode(logits)[0].item() == 2
    pair = build_head(TaskSpec("s", "classify", ("a", "b"), pairwise=True), 4, pair_dim=4, pair_mode="interact")
    out = pair(torch.randn(3, 4), None, pair=torch.randn(3, 4))
    assert out.shape == (3, 2) and pair.proj.in_features == 16
    cat = build_head(TaskSpec("s", "classify", ("a", "b"), pairwise=True), 4, pair_dim=3)
    assert cat(torch.randn(3, 5, 4), _mask([5, 1, 2], 5), pair=torch.randn(3, 3)).shape == (3, 2)
    with pytest.raises(ValueError, match="pair"):
        cat(torch.randn(3, 4))


def test_build_head_options():
    assert isinstance(build_head(TaskSpec("r", "relation", ("a",)), 4, crf=True, rel_dim=3), RelationHead)
    with pytest.raises(TypeError, match="unknown"):
        build_head(TaskSpec("r", "relation", ("a",)), 4, bogus=1)
