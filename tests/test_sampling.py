from __future__ import annotations

from collections import Counter

import pytest

from raymtl.train.sampling import Draw, TaskSampler, pass_epoch

COUNTS = {"books:sent": 30, "dvd:sent": 10, "mr:sent": 0, "apparel:sent": 5}


def test_proportional_uses_every_batch_once():
    s = TaskSampler(COUNTS, "proportional", seed=3)
    seq = list(s)
    assert Counter(seq) == {k: v for k, v in COUNTS.items() if v}
    assert len(s) == len(seq) == 45
    plan = s.plan()
    assert all(d.pass_index == 0 for d in plan)
    assert sorted(d.batch_index for d in plan if d.task == "dvd:sent") == list(range(10))
    assert sum(x != y for x, y in zip(seq, seq[1:])) > 3  # interleaved, not task after task


def test_same_seed_epoch_same_sequence_across_ranks_and_dict_order():
    a = TaskSampler(COUNTS, "uniform", seed=7)
    b = TaskSampler(dict(reversed(list(COUNTS.items()))), "uniform", seed=7)  # another rank's dict order
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    other = list(a.plan(3))
    assert [d.task for d in a.plan(2)] != [d.task for d in other]
    assert list(TaskSampler(COUNTS, "uniform", seed=8).plan(2)) != a.plan(2)


@pytest.mark.parametrize("strategy", ["proportional", "temperature"])
def test_epochs_differ(strategy):
    s = TaskSampler(COUNTS, strategy, seed=0)
    assert s.plan(0) != s.plan(1)
    assert s.plan(0) == s.plan(0)


def test_uniform_restarts_exhausted_tasks():
    s = TaskSampler({"a": 2, "b": 40}, "uniform", seed=0)
    plan = s.plan()
    assert len(plan) == 42
    a = [d for d in plan if d.task == "a"]
    assert len(a) > 2  # ~21 expected
    assert [(d.pass_index, d.batch_index) for d in a[:5]] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    assert all(d.pass_index == 0 for d in plan if d.task == "b")
    assert abs(len(a) - 21) < 10


def test_round_robin_alternates_tasks_in_turn():
    s = TaskSampler(COUNTS, "round_robin", seed=0)
    plan = s.plan()
    assert len(plan) == 45  # as many steps as batches in total
    # keys sorted, the empty task skipped: apparel, books, dvd, apparel, books, dvd, ...
    assert [d.task for d in plan[:6]] == ["apparel:sent", "books:sent", "dvd:sent"] * 2
    assert Counter(d.task for d in plan) == {"apparel:sent": 15, "books:sent": 15, "dvd:sent": 15}
    apparel = [(d.pass_index, d.batch_index) for d in plan if d.task == "apparel:sent"]
    assert apparel[4:7] == [(0, 4), (1, 0), (1, 1)]  # 5 batches, then a second pass
    assert max(d.batch_index for d in plan if d.task == "books:sent") == 14  # half of books is seen
    assert s.plan(0) == s.plan(1)  # the order is fixed; the batches within a task are shuffled per epoch


def test_temperature_frequencies_follow_formula():
    counts = {"big": 900, "mid": 90, "small": 10}
    T = 2.0
    s = TaskSampler(counts, "temperature", seed=0, temperature=T, steps=200_000)
    freq = Counter(s)
    w = {k: n ** (1 / T) for k, n in counts.items()}
    z = sum(w.values())
    for k in counts:
        assert freq[k] / 200_000 == pytest.approx(w[k] / z, abs=0.005)
    assert s.probabilities() == pytest.approx({k: v / z for k, v in w.items()})


def test_uniform_probabilities_skip_empty_tasks():
    p = TaskSampler(COUNTS, "uniform").probabilities()
    assert p["mr:sent"] == 0 and p["books:sent"] == pytest.approx(1 / 3)


def test_joint_single_stream():
    s = TaskSampler({"conll04": 4}, "joint")
    assert list(s.draws()) == [Draw("conll04", 0, i) for i in range(4)]
    with pytest.raises(ValueError, match="joint"):
        TaskSampler({"a": 1, "b": 1}, "joint")


def test_state_dict_resumes_mid_epoch():
    s = TaskSampler(COUNTS, "temperature", seed=5)
    s.set_epoch(4)
    it = iter(s)
    first = [next(it) for _ in range(7)]
    state = s.state_dict()
    rest = list(it)
    r = TaskSampler(COUNTS, "temperature", seed=0)
    r.load_state_dict(state)
    assert r.epoch == 4 and list(r) == rest
    assert first + rest == [d.task for d in s.plan()]
    assert len(list(r)) == len(s)  # a second iteration replays the full epoch
    r.set_epoch(5)
    assert r.state_dict()["position"] == 0


def test_errors_and_pass_epoch():
    with pytest.raises(ValueError, match="unknown sampling"):
        TaskSampler({"a": 1}, "roundrobin")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TaskSampler({"a": 1}, "temperature", temperature=0)
    with pytest.raises(ValueError, match="uniform"):
        TaskSampler({"a": 1}, "uniform").load_state_dict({"seed": 0, "epoch": 0, "strategy": "joint"})
    assert pass_epoch(3, 0) == 3
    assert len({pass_epoch(e, k) for e in range(5) for k in range(5)}) == 25
    assert list(TaskSampler({"a": 0}, "uniform")) == []
