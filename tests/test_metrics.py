from __future__ import annotations

import math
import random

import pytest
import torch
from seqeval.metrics import accuracy_score as seq_acc
from seqeval.metrics import f1_score as seq_f1
from seqeval.metrics import precision_score as seq_p
from seqeval.metrics import recall_score as seq_r

from raymtl.data.batch import IGNORE, Batch
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.train.metrics import (MetricTracker, classify_metrics, main_metric_name, metric_mode,
                                  relation_counts_strict)

NER = TaskSpec("ner", "tagging", ("O", "B-PER", "I-PER", "B-LOC", "I-LOC"), scheme="BIO")
POS = TaskSpec("pos", "tagging", ("NN", "VB", "DT"), metric="acc")
REL = TaskSpec("re", "relation", ("Work_For", "Live_In"))
CAT = TaskSpec("acd", "multilabel", ("food", "service", "price"))
SENT = TaskSpec("pol", "classify", ("positive", "negative", "neutral"))


def tag_tensor(spec: TaskSpec, seqs: list[list[str]], width: int | None = None) -> torch.Tensor:
    ids = {lab: i for i, lab in enumerate(spec.labels)}
    width = width or max(map(len, seqs))
    out = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor([ids[t] for t in s])
    return out


def strict_metrics(ent: TaskSpec, gold, gold_tags, pred, pred_tags) -> dict[str, float]:
    """compute() of one sentence's relations (REL, key re) and entities (key ent), strict setting."""
    n = gold.shape[1]
    batch = Batch(ids=["a"], words=[["w"] * n], tokens=torch.zeros(1, n, dtype=torch.long),
                  mask=torch.ones(1, n, dtype=torch.bool), targets={"re": gold, "ent": gold_tags},
                  present={"re": torch.tensor([True]), "ent": torch.tensor([True])})
    tracker = MetricTracker({"re": REL, "ent": ent}, strict_entities={"re": "ent"})
    tracker.update_batch({"re": pred, "ent": pred_tags}, batch)
    return tracker.compute()


def test_span_f1_partial_overlap_counts_wrong():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "I-LOC", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "I-LOC", "O"]]  # "B-PER" alone overlaps gold PER
    t = MetricTracker([NER])
    y = tag_tensor(NER, gold)
    p = tag_tensor(NER, pred).clamp(min=0)  # predictions carry some id at padding; must be ignored
    t.update("ner", p, y, torch.tensor([True, True]), y != IGNORE)
    # gold spans 3, predicted 3, correct 2 (the partial PER span is a fp and a fn)
    assert t.state()["ner"]["tp"] == 2 and t.state()["ner"]["fp"] == 1 and t.state()["ner"]["fn"] == 1
    m = t.compute()
    assert m["ner/p"] == pytest.approx(2 / 3) and m["ner/r"] == pytest.approx(2 / 3)
    assert m["ner/f1"] == pytest.approx(2 / 3) == pytest.approx(seq_f1(gold, pred))
    assert m["ner/acc"] == pytest.approx(6 / 7)
    assert m["ner/main"] == m["ner/f1"] and m["mean/main"] == m["ner/f1"]


def test_not_present_rows_are_ignored():
    y = tag_tensor(NER, [["B-PER"], ["B-LOC"]])
    p = tag_tensor(NER, [["B-PER"], ["O"]])
    t = MetricTracker([NER])
    t.update("ner", p, y, present=torch.tensor([True, False]))
    assert t.compute()["ner/f1"] == 1.0


def _corrupt(tags: list[str], rng: random.Random) -> list[str]:
    types = ["PER", "LOC", "ORG", "MISC"]
    out = list(tags)
    for i in range(len(out)):
        r = rng.random()
        if r < 0.05:
            out[i] = "O"
        elif r < 0.08:
            out[i] = f"I-{rng.choice(types)}"  # ill-formed I- (no B-) as models emit
        elif r < 0.11:
            out[i] = f"B-{rng.choice(types)}"
    return out


def _check_against_seqeval(gold: list[list[str]], labels: tuple[str, ...]) -> None:
    rng = random.Random(0)
    pred = [_corrupt(s, rng) for s in gold]
    spec = TaskSpec("ner", "tagging", labels, scheme="BIO")
    ranks = [MetricTracker([spec]), MetricTracker([spec])]
    for start in range(0, len(gold), 16):  # batches dealt to two "ranks"
        g, p = gold[start:start + 16], pred[start:start + 16]
        y = tag_tensor(spec, g)
        ranks[(start // 16) % 2].update("ner", tag_tensor(spec, p).clamp(min=0), y, mask=y != IGNORE)
    m = ranks[0].compute(MetricTracker.merge([r.state() for r in ranks]))
    assert m["ner/f1"] == pytest.approx(seq_f1(gold, pred), abs=1e-12)
    assert m["ner/p"] == pytest.approx(seq_p(gold, pred), abs=1e-12)
    assert m["ner/r"] == pytest.approx(seq_r(gold, pred), abs=1e-12)
    assert m["ner/acc"] == pytest.approx(seq_acc(gold, pred), abs=1e-12)


TYPES = ("PER", "LOC", "ORG", "MISC")
BIO4 = ("O",) + tuple(f"{p}-{t}" for t in TYPES for p in "BI")


def test_span_f1_equals_seqeval_synthetic():
    rng = random.Random(1)
    gold = []
    for _ in range(200):
        s: list[str] = []
        while len(s) < rng.randint(3, 25):
            if rng.random() < 0.3:
                t = rng.choice(TYPES)
                s += [f"B-{t}"] + [f"I-{t}"] * rng.randint(0, 3)
            else:
                s.append("O")
        gold.append(s)
    _check_against_seqeval(gold, BIO4)


def test_span_f1_equals_seqeval_on_conll2003(dataset_dir):
    gold: list[list[str]] = []
    sent: list[str] = []
    for line in (dataset_dir("conll2003") / "eng.testa").read_text().splitlines():
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if sent:
                gold.append(sent)
            sent = []
            continue
        tag = cols[-1]
        if tag.startswith("I-") and (not sent or sent[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]  # IOB1 -> IOB2
        sent.append(tag)
        if len(gold) >= 400:
            break
    _check_against_seqeval(gold, BIO4)


def test_token_accuracy_for_pos():
    y = tag_tensor(POS, [["DT", "NN", "VB"], ["NN"]])
    p = tag_tensor(POS, [["DT", "VB", "VB"], ["NN"]]).clamp(min=0)
    t = MetricTracker([POS])
    t.update("pos", p, y)
    m = t.compute()
    assert m["pos/acc"] == pytest.approx(3 / 4) and "pos/f1" not in m and m["pos/main"] == m["pos/acc"]


def test_relation_triples():
    gold = torch.zeros(2, 4, 4, 2)
    gold[0, 1, 3, 0] = 1  # (1, 3, Work_For)
    gold[0, 3, 1, 1] = 1
    gold[1, 0, 2, 1] = 1
    pred = torch.zeros(2, 4, 4, 2, dtype=torch.bool)
    pred[0, 1, 3, 0] = True  # tp
    pred[0, 3, 1, 0] = True  # wrong type: fp + the gold one is a fn
    pred[1, 0, 3, 1] = True  # token 3 is padding in example 1: ignored
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    t = MetricTracker([REL])
    t.update("re", pred, gold, torch.tensor([True, True]), mask)
    assert t.state()["re"] == {"tp": 1, "fp": 1, "fn": 2}
    m = t.compute()
    assert m["re/p"] == pytest.approx(1 / 2) and m["re/r"] == pytest.approx(1 / 3)
    assert m["re/f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_relation_strict_entities():
    ent = TaskSpec("ent", "tagging", ("O", "B-PER", "I-PER", "B-ORG", "I-ORG"), scheme="BIO")
    gold_tags = tag_tensor(ent, [["B-PER", "I-PER", "O", "B-ORG", "I-ORG"]])
    pred_tags = tag_tensor(ent, [["O", "B-PER", "O", "B-ORG", "I-ORG"]])  # PER start wrong
    gold = torch.zeros(1, 5, 5, 2)
    gold[0, 1, 4, 0] = 1  # last token of PER -> last token of ORG
    pred = gold.bool()
    tr = MetricTracker({"re": REL})
    tr.update("re", pred, gold)
    assert tr.compute()["re/f1"] == 1.0  # relaxed: last tokens and type match
    assert relation_counts_strict(pred, gold, pred_tags, gold_tags, ent.labels) == {
        "tp": 0, "fp": 1, "fn": 1, "types": [[0, 1, 1], [0, 0, 0]]}
    assert relation_counts_strict(pred, gold, gold_tags, gold_tags, ent.labels) == {
        "tp": 1, "fp": 0, "fn": 0, "types": [[1, 0, 0], [0, 0, 0]]}
    # via update_batch with strict_entities
    m = strict_metrics(ent, gold, gold_tags, pred, pred_tags)
    assert m["re/f1"] == 0.0 and m["ent/f1"] == pytest.approx(0.5)
    assert m["re/f1_boundaries"] == 1.0  # the lenient figure beside the strict one


def test_macro_f1_over_entity_and_relation_types_by_hand():
    """f1_macro = the mean over types of each type's F1 (Bekoulis et al.'s CoNLL04 figures); a type
    with neither gold nor predicted instances is left out of the mean."""
    ent = TaskSpec("ent", "tagging", ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"), scheme="BIO")
    gold_seq = [["B-PER", "O", "B-ORG", "O", "B-PER", "O"]]
    pred_seq = [["B-PER", "O", "B-PER", "O", "B-PER", "O"]]  # ORG predicted as PER
    gold_tags, pred_tags = tag_tensor(ent, gold_seq), tag_tensor(ent, pred_seq)
    # PER: tp 2, fp 1 (token 2), fn 0 -> P 2/3, R 1, F1 0.8; ORG: fn 1 -> F1 0; LOC: none -> left out
    gold = torch.zeros(1, 6, 6, 2)
    gold[0, 0, 2, 0] = 1  # PER(0) -Work_For-> ORG(2): its tail entity is mistyped -> fn
    gold[0, 0, 4, 1] = 1  # PER(0) -Live_In-> PER(4): both entities right -> tp
    pred = torch.zeros(1, 6, 6, 2, dtype=torch.bool)
    pred[0, 0, 2, 0] = True  # counted wrong (strict): fp
    pred[0, 0, 4, 1] = True  # tp
    m = strict_metrics(ent, gold, gold_tags, pred, pred_tags)
    assert m["ent/f1_macro"] == pytest.approx((0.8 + 0.0) / 2)
    assert m["ent/f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))  # micro: tp 2, fp 1, fn 1
    # Work_For: tp 0, fp 1, fn 1 -> 0; Live_In: tp 1 -> 1
    assert m["re/f1_macro"] == pytest.approx(0.5) and m["re/f1"] == pytest.approx(0.5)


def test_multilabel_micro():
    gold = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]], dtype=torch.float)
    pred = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    t = MetricTracker([CAT])
    t.update("acd", pred, gold, torch.tensor([True, True, False]))
    # rows 0-1: tp 2 (food, service), fp 1 (service in row 0), fn 1 (price in row 0)
    m = t.compute()
    assert (m["acd/p"], m["acd/r"], m["acd/f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_classify_macro_and_error():
    gold = torch.tensor([0, 0, 0, 1, 1, 2, IGNORE])
    pred = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    t = MetricTracker([SENT])
    t.update("pol", pred, gold, gold != IGNORE)
    m = t.compute()
    # confusion rows=gold: [[2,1,0],[0,1,1],[0,0,1]]
    p = [1.0, 0.5, 0.5]
    r = [2 / 3, 0.5, 1.0]
    f = [2 * a * b / (a + b) for a, b in zip(p, r)]
    assert m["pol/acc"] == pytest.approx(4 / 6) and m["pol/error"] == pytest.approx(2 / 6)
    assert m["pol/p_macro"] == pytest.approx(sum(p) / 3) and m["pol/r_macro"] == pytest.approx(sum(r) / 3)
    assert m["pol/f1_macro"] == pytest.approx(sum(f) / 3)
    assert m["pol/rho_pn"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert main_metric_name(SENT) == "acc"


def test_classify_task_specific():
    stance = ["AGAINST", "FAVOR", "NONE"]
    cm = [[3, 1, 0], [0, 2, 2], [1, 0, 1]]
    m = classify_metrics(cm, stance)
    f_against, f_favor = 2 * 3 / (4 + 4), 2 * 2 / (4 + 3)
    assert m["f1_fa"] == pytest.approx((f_against + f_favor) / 2)
    five = ["-2", "-1", "0", "1", "2"]
    cm5 = [[0] * 5 for _ in range(5)]
    cm5[0][1] = 2  # gold -2, off by 1, twice
    cm5[4][4] = 1  # exact
    m5 = classify_metrics(cm5, five)
    assert m5["mae_m"] == pytest.approx((1.0 + 0.0) / 2)  # macro over gold classes -2 and 2
    assert metric_mode("topic5/mae_m") == "min" and metric_mode("x/f1") == "max"


def test_f1_fa_no_none_by_hand():
    # gold A, F, N, A; argmax N, N, N, F (f1_fa 0); without NONE: A, F, A, F
    stance = TaskSpec("stance", "classify", ("AGAINST", "FAVOR", "NONE"), metric="f1_fa")
    scores = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0], [0.5, 0.0, 1.0], [0.0, 2.0, 1.0]])
    t = MetricTracker([stance])
    t.update("stance", scores.argmax(-1), torch.tensor([0, 1, 2, 0]), scores=scores)
    m = t.compute()
    assert m["stance/f1_fa"] == 0.0 and m["stance/main"] == 0.0  # the main metric is the plain argmax's
    f_against, f_favor = 2 * 1 / (2 + 2), 2 * 1 / (1 + 2)  # A: tp 1, 2 gold, 2 predicted; F: tp 1, 1 gold, 2 predicted
    assert m["stance/f1_fa_no_none"] == pytest.approx((f_against + f_favor) / 2)
    # no logits (or no NONE class): no such metric
    t2 = MetricTracker([stance, SENT])
    t2.update("stance", scores.argmax(-1), torch.tensor([0, 1, 2, 0]))
    t2.update("pol", torch.tensor([0, 1]), torch.tensor([0, 1]), scores=torch.zeros(2, 3))
    assert not any(k.endswith("f1_fa_no_none") for k in t2.compute())


def test_merge_equals_union():
    rng = torch.Generator().manual_seed(0)
    gold = torch.randint(0, 3, (40,), generator=rng)
    pred = torch.randint(0, 3, (40,), generator=rng)
    ml_g = torch.randint(0, 2, (40, 3), generator=rng).float()
    ml_p = torch.randint(0, 2, (40, 3), generator=rng).bool()
    whole = MetricTracker([SENT, CAT])
    whole.update("pol", pred, gold)
    whole.update("acd", ml_p, ml_g)
    a, b = MetricTracker([SENT, CAT]), MetricTracker([SENT, CAT])
    a.update("pol", pred[:13], gold[:13])
    b.update("pol", pred[13:], gold[13:])
    b.update("acd", ml_p, ml_g)  # a never saw acd: missing tasks merge as zero
    merged = MetricTracker.merge([a.state(), b.state()])
    assert merged == whole.state()
    assert whole.compute(merged) == whole.compute()
    assert a.state()["pol"] is not a._state["pol"]  # state() is a copy


def test_keys_with_colon_and_means():
    stance = TaskSpec("stance", "classify", ("AGAINST", "FAVOR", "NONE"), metric="f1_fa")
    t = MetricTracker({"semeval16-stance:stance": stance, "absa:pol": SENT})
    t.update("semeval16-stance:stance", torch.tensor([0, 1]), torch.tensor([0, 1]))
    t.update("absa:pol", torch.tensor([0, 1]), torch.tensor([0, 0]))
    m = t.compute()
    assert m["semeval16-stance:stance/f1_fa"] == 1.0 and m["absa:pol/acc"] == 0.5
    assert m["mean/main"] == pytest.approx(0.75) and m["mean/acc"] == 0.5 and m["mean/f1_fa"] == 1.0
    with pytest.raises(KeyError, match="unknown task key"):
        t.update("stance", torch.tensor([0]), torch.tensor([0]))


def test_bad_metric_name_is_config_error():
    with pytest.raises(ConfigError, match="f1_fa"):
        MetricTracker([TaskSpec("pol", "classify", ("positive", "negative"), metric="f1_fa")])


def test_empty_compute():
    m = MetricTracker([SENT]).compute()
    assert math.isnan(m["mean/main"])


@pytest.mark.parametrize("prefixes", ["BIO", "BIOES", "BILOU"])
def test_spans_equal_seqeval_get_entities_on_any_tag_sequence(prefixes):
    """raymtl's chunker is seqeval's (conlleval's rules), ill-formed sequences included: I or E after O or
    another type, E without B, a type change inside a chunk; BILOU read as BIOES."""
    from seqeval.metrics.sequence_labeling import get_entities

    from raymtl.data.tagging import seqeval_tags
    from raymtl.train.metrics import spans

    rng = random.Random(7)
    tags = ["O"] + [f"{p}-{t}" for p in prefixes if p != "O" for t in ("PER", "LOC", "X-Y")]
    for _ in range(3000):
        seq = [rng.choice(tags) for _ in range(rng.randint(0, 9))]
        assert spans(seq) == get_entities(seqeval_tags(seq)), seq
