from __future__ import annotations

import math

import pytest
import torch

from raymtl.errors import ConfigError
from raymtl.train.schedules import Schedule, ScheduleConfig, TauSchedule


def test_defaults_match_step_context():
    s = Schedule(ScheduleConfig(), epochs=3, steps_per_epoch=10)
    ctx = s.context(0, 5)
    assert (ctx.tau, ctx.gold_labels, ctx.ltn_active, ctx.adv_weight) == (1.0, False, True, 0.05)
    assert (ctx.epoch, ctx.step, ctx.training) == (0, 5, True)


def test_tau_linear_values():
    cfg = ScheduleConfig(tau=TauSchedule(tau_start=1.0, tau_end=0.2, tau_decay="linear"))
    s = Schedule(cfg, epochs=5, steps_per_epoch=1)
    assert [s.tau(e) for e in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    # explicit rate continues down to the floor
    cfg = ScheduleConfig(tau=TauSchedule(tau_start=1.0, tau_decay="linear", tau_rate=0.3, tau_floor=0.15))
    s = Schedule(cfg, epochs=10, steps_per_epoch=1)
    assert [s.tau(e) for e in range(5)] == pytest.approx([1.0, 0.7, 0.4, 0.15, 0.15])


def test_tau_exponential_values_and_floor():
    cfg = ScheduleConfig(tau=TauSchedule(tau_start=1.0, tau_end=0.01, tau_decay="exponential", tau_floor=0.001))
    s = Schedule(cfg, epochs=3, steps_per_epoch=1)
    assert [s.tau(e) for e in range(3)] == pytest.approx([1.0, 0.1, 0.01])
    cfg = ScheduleConfig(tau=TauSchedule(tau_start=2.0, tau_decay="exponential", tau_rate=0.5, tau_floor=0.5))
    s = Schedule(cfg, epochs=10, steps_per_epoch=1)
    assert s.tau(1) == pytest.approx(2 * math.exp(-0.5))
    assert s.tau(2) == pytest.approx(2 * math.exp(-1.0))
    assert s.tau(9) == 0.5  # floor
    assert min(s.tau(e) for e in range(100)) >= 0.5


def test_gold_to_gumbel_switch_and_tau_starts_with_sampling():
    cfg = ScheduleConfig(gold_epochs=5, tau=TauSchedule(tau_start=1.0, tau_end=0.5, tau_decay="linear"))
    s = Schedule(cfg, epochs=10, steps_per_epoch=4)
    assert [s.context(e).gold_labels for e in range(10)] == [True] * 5 + [False] * 5
    assert s.tau(0) == s.tau(5) == 1.0  # annealing counts from the first Gumbel epoch
    assert s.tau(9) == pytest.approx(0.5)
    assert s.eval_context(2).gold_labels is False and s.eval_context(2).training is False


def test_causal_mtl_ljp_setting():
    # causal-mtl §5.3: τ = 0.05, 5 gold epochs then 5 Gumbel epochs
    s = Schedule(ScheduleConfig(gold_epochs=5, tau=TauSchedule(tau_start=0.05, tau_floor=0.05)), 10, 1)
    assert {s.tau(e) for e in range(10)} == {0.05}
    assert sum(s.gold_labels(e) for e in range(10)) == 5


def test_ltn_starts_when_the_base_model_converged():
    s = Schedule(ScheduleConfig(ltn_start_epoch=1, ltn_start_patience=2), 10, 1)
    assert not s.ltn_active(1)  # ltn_start_epoch does not apply under ltn_start_patience
    # dev: improves at epochs 0 and 1, then not at 2 and 3 -> converged after epoch 3, LTN from epoch 4
    assert [s.observe_dev(e, bad) for e, bad in enumerate([0, 0, 1, 2])] == [False, False, False, True]
    assert [s.ltn_active(e) for e in range(6)] == [False] * 4 + [True] * 2
    assert not s.observe_dev(4, 2)  # it starts once
    restored = Schedule(ScheduleConfig(ltn_start_patience=2), 10, 1)
    restored.load_state_dict(s.state_dict())
    assert restored.ltn_active(4) and not restored.ltn_active(3)
    with pytest.raises(ConfigError, match="ltn_start_patience"):
        ScheduleConfig(ltn_start_patience=-1)


def test_ltn_start_and_adv_ramp():
    s = Schedule(ScheduleConfig(ltn_start_epoch=3, adv_weight=0.1, adv_ramp_epochs=4), 8, 1)
    assert [s.ltn_active(e) for e in range(5)] == [False, False, False, True, True]
    assert [s.adv_weight(e) for e in range(6)] == pytest.approx([0, 0.025, 0.05, 0.075, 0.1, 0.1])
    assert s.as_dict(3) == pytest.approx({"tau": 1.0, "gold_labels": 0.0, "ltn_active": 1.0, "adv_weight": 0.075})


def test_lr_warmup_and_decays():
    s = Schedule(ScheduleConfig(warmup_steps=4), epochs=2, steps_per_epoch=10)
    assert [s.lr_lambda(i) for i in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    lin = Schedule(ScheduleConfig(warmup_steps=4, lr_decay="linear"), epochs=2, steps_per_epoch=10)
    assert lin.lr_lambda(4) == 1.0 and lin.lr_lambda(12) == pytest.approx(0.5) and lin.lr_lambda(20) == 0.0
    exp = Schedule(ScheduleConfig(lr_decay="exponential", lr_gamma=0.5), epochs=3, steps_per_epoch=10)
    assert exp.lr_lambda(10) == pytest.approx(0.5) and exp.lr_lambda(5) == pytest.approx(0.5 ** 0.5)
    step = Schedule(ScheduleConfig(lr_decay="step", lr_gamma=0.1, lr_step_epochs=2, lr_min_factor=0.05), 6, 10)
    assert [step.lr_lambda(e * 10) for e in range(6)] == pytest.approx([1, 1, 0.1, 0.1, 0.05, 0.05])


def test_lambda_lr_integration():
    s = Schedule(ScheduleConfig(warmup_steps=2), epochs=1, steps_per_epoch=5)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, s.lr_lambda)
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.05, 0.1, 0.1])
    sched.state_dict()  # must not fail (checkpointing)


@pytest.mark.parametrize("kwargs", [{"gold_epochs": -1}, {"lr_decay": "cosine"}, {"lr_gamma": 0.0},
                                    {"adv_weight": -0.1}])
def test_config_errors(kwargs):
    with pytest.raises(ConfigError):
        ScheduleConfig(**kwargs)


def test_tau_config_errors():
    with pytest.raises(ConfigError, match="tau_floor"):
        TauSchedule(tau_start=0.05, tau_floor=0.1)
    with pytest.raises(ConfigError):
        TauSchedule(tau_decay="cosine")  # type: ignore[arg-type]


def test_from_mapping_nested():
    from raymtl.configs import from_mapping

    cfg = from_mapping(ScheduleConfig, {"gold_epochs": 2, "tau": {"tau_decay": "linear", "tau_end": 0.3}})
    assert cfg.gold_epochs == 2 and cfg.tau.tau_decay == "linear" and cfg.tau.tau_end == 0.3
