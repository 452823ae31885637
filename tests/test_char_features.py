"""Character features (model.char_features: cnn | bilstm) beside the word vectors, in every architecture."""

from __future__ import annotations

import math

import pytest
import torch

from raymtl.data.batch import Batch
from raymtl.data.schema import TaskSpec
from raymtl.models.base import StepContext
from raymtl.models.config import BaseConfig
from raymtl.models.embeddings import CHAR_BUCKETS, CharBiLSTM, CharCNN, WithCharFeatures, build_embedder
from raymtl.models.registry import default_registry

REG = default_registry()


def test_char_cnn_by_hand():
    cnn = CharCNN(char_dim=1, filters=1)
    with torch.no_grad():
        cnn.emb.weight.zero_()
        for ch, v in (("a", 1.0), ("b", 2.0), ("A", -1.0)):
            cnn.emb.weight[ord(ch) % (CHAR_BUCKETS - 2) + 2, 0] = v
        cnn.conv.weight.copy_(torch.tensor([[[1.0, 10.0, 100.0]]]))  # taps on chars c-1, c, c+1
        cnn.conv.bias.fill_(-5.0)
    mask = torch.tensor([[True, True, False]])
    out = cnn([["ab", "Ab"]], mask)
    # "ab" = [1, 2]: position 0: 10*1 + 100*2 - 5 = 205; position 1: 1*1 + 10*2 - 5 = 16 -> max 205
    # "Ab" = [-1, 2]: -10 + 200 - 5 = 185; -1 + 20 - 5 = 14 -> 185 (case is seen); padding word: 0
    assert out.shape == (1, 3, 1)
    assert out[0, :, 0].tolist() == pytest.approx([205.0, 185.0, 0.0])
    assert torch.equal(CharCNN.char_ids([["é"]], 1)[0, 0, :2], torch.tensor([ord("é") + 2, 0]))


def test_char_bilstm_by_hand():
    # one unit, no recurrent weights; gates i = o = 1 and f = 0 (biases ±1000): each direction's final
    # state is tanh(tanh(w_g x)) of the character it ends on: the last one forward, the first backward
    lstm = CharBiLSTM(char_dim=1, hidden=1)
    with torch.no_grad():
        lstm.emb.weight.zero_()
        for ch, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            lstm.emb.weight[ord(ch) % (CHAR_BUCKETS - 2) + 2, 0] = v
        for suffix, w_g in (("", 1.0), ("_reverse", -0.5)):
            getattr(lstm.lstm, f"weight_hh_l0{suffix}").zero_()
            getattr(lstm.lstm, f"weight_ih_l0{suffix}").copy_(torch.tensor([[0.0], [0.0], [w_g], [0.0]]))
            getattr(lstm.lstm, f"bias_ih_l0{suffix}").copy_(torch.tensor([1000.0, -1000.0, 0.0, 1000.0]))
            getattr(lstm.lstm, f"bias_hh_l0{suffix}").zero_()
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = lstm([["abc", "b"], ["ca"]], mask)
    f = lambda x: math.tanh(math.tanh(x))  # noqa: E731
    assert out.shape == (2, 3, 2)
    assert out[0, 0].tolist() == pytest.approx([f(3.0), f(-0.5 * 1.0)])  # "abc": ends on c, starts with a
    assert out[0, 1].tolist() == pytest.approx([f(2.0), f(-0.5 * 2.0)])  # "b" beside a longer word
    assert out[1, 0].tolist() == pytest.approx([f(1.0), f(-0.5 * 3.0)])  # "ca"
    assert out[0, 2].tolist() == [0.0, 0.0] and out[1, 1:].abs().sum() == 0  # padding words


def test_config_and_wrapper():
    with pytest.raises(ValueError, match="char_features"):
        BaseConfig(char_features="lstm2")
    emb = build_embedder(BaseConfig(emb_dim=8, char_features="cnn", char_filters=5), 20)
    assert isinstance(emb, WithCharFeatures) and emb.out_dim == 13
    tokens = torch.tensor([[3, 4]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = emb(tokens, mask, [["New", "york"]])
    assert torch.equal(out[..., :8], emb.words(tokens, mask, None))
    assert torch.equal(out[..., 8:], emb.chars([["New", "york"]], mask))
    emb = build_embedder(BaseConfig(emb_dim=8, char_features="bilstm", char_dim=4, char_hidden=3), 20)
    assert isinstance(emb.chars, CharBiLSTM) and emb.out_dim == 8 + 6
    assert emb(tokens, mask, [["New", "york"]]).shape == (1, 2, 14)


def _batch(tasks) -> Batch:
    g = torch.Generator().manual_seed(0)
    lengths = (5, 3, 4)
    mask = torch.arange(5)[None] < torch.tensor(lengths)[:, None]
    words = [["The", "Pizza", "was", "GREAT", "!"][:n] for n in lengths]
    return Batch(ids=["0", "1", "2"], words=words, tokens=torch.randint(2, 30, (3, 5), generator=g) * mask,
                 mask=mask, targets={t.name: torch.tensor([0, 1, 0]) for t in tasks},
                 present={t.name: torch.ones(3, dtype=torch.bool) for t in tasks})


@pytest.mark.parametrize("kind,module", [("cnn", CharCNN), ("bilstm", CharBiLSTM)])
@pytest.mark.parametrize("arch", [a.name for a in REG])
def test_every_architecture_trains_its_char_features(arch, kind, module):
    tasks = [TaskSpec("a", "classify", ("x", "y")), TaskSpec("b", "classify", ("u", "v"))]
    params = {"emb_dim": 8, "hidden": 6, "char_features": kind, "char_dim": 4, "char_filters": 3, "char_hidden": 2}
    fields = REG.get(arch).config_cls.__dataclass_fields__
    params.update({k: v for k, v in {"filters": 4, "label_dim": 4, "rel_dim": 4}.items() if k in fields})
    torch.manual_seed(0)
    model = REG.build(arch, params, tasks, 30).train()
    chars = [m for m in model.modules() if isinstance(m, module)]
    assert chars, f"{arch}: no character {kind}"
    out = model(_batch(tasks), StepContext(tau=0.5))
    sum(out.losses.values()).backward()
    assert any(c.emb.weight.grad is not None and c.emb.weight.grad.abs().sum() > 0 for c in chars)
