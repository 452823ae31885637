"""Training schedules: gold-label pretraining, Gumbel τ annealing, LTN start, adversarial ramp, LR.

Model-facing values (τ, gold labels, LTN, adversarial weight) change only at epoch boundaries:
causal-mtl switches from gold lower-task labels to Gumbel sampling after whole epochs (§5.3:
"pre-train our model for 5 epochs with gold labels and train the next 5 epochs with GS") and
uses one fixed τ (0.05); disparate-label-spaces starts the LTN / semi-supervised loss once the
base model has trained for a while (§3.4). Holding them fixed within an epoch keeps each epoch's
dev score tied to one setting and makes them loggable per epoch. Only the learning rate moves per
optimiser step (warmup needs it).

τ annealing counts epochs from the first Gumbel epoch (``epoch - gold_epochs``): τ is unused
while gold labels are fed, so annealing starts where sampling does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from typing import TYPE_CHECKING

from raymtl.errors import ConfigError

if TYPE_CHECKING:  # models import torch; configs (and `raymtl --help`) must not wait for it
    from raymtl.models.base import StepContext

TauDecay = Literal["constant", "linear", "exponential"]
LrDecay = Literal["none", "linear", "exponential", "step"]


@dataclass
class TauSchedule:
    """Gumbel-softmax temperature per epoch (causal-mtl eq. 9), ``e`` = epochs since sampling began.

    constant: τ = tau_start. linear: τ_e = tau_start − tau_rate·e. exponential:
    τ_e = tau_start·exp(−tau_rate·e). With ``tau_rate`` unset the rate is chosen so that τ reaches
    ``tau_end`` at the last epoch. τ is never below ``tau_floor``.
    """

    tau_start: float = 1.0
    tau_end: float = 0.1
    tau_decay: TauDecay = "constant"
    tau_rate: float | None = None
    tau_floor: float = 0.01

    def __post_init__(self) -> None:
        if self.tau_decay not in ("constant", "linear", "exponential"):
            raise ConfigError(f"unknown tau_decay {self.tau_decay!r}", key="schedule.tau.tau_decay")
        if not 0 < self.tau_floor <= self.tau_start:
            raise ConfigError(f"need 0 < tau_floor ({self.tau_floor}) <= tau_start ({self.tau_start})",
                              key="schedule.tau.tau_floor")
        if self.tau_end <= 0:
            raise ConfigError("tau_end must be > 0", key="schedule.tau.tau_end")
        if self.tau_rate is not None and self.tau_rate < 0:
            raise ConfigError("tau_rate must be >= 0", key="schedule.tau.tau_rate")

    def value(self, e: int, n_epochs: int) -> float:
        """τ at the ``e``-th sampling epoch (0-based) of ``n_epochs`` sampling epochs."""
        e = max(0, e)
        span = max(1, n_epochs - 1)
        if self.tau_decay == "linear":
            rate = self.tau_rate if self.tau_rate is not None else (self.tau_start - self.tau_end) / span
            tau = self.tau_start - rate * e
        elif self.tau_decay == "exponential":
            rate = self.tau_rate if self.tau_rate is not None else math.log(self.tau_start / self.tau_end) / span
            tau = self.tau_start * math.exp(-rate * e)
        else:
            tau = self.tau_start
        return max(tau, self.tau_floor)


@dataclass
class ScheduleConfig:
    """Schedules of one training run (the ``schedule:`` section of a train config).

    ``gold_epochs``: epochs fed gold lower-task labels before Gumbel sampling (causal-mtl §4.4;
    5 of 10 for LJP). ``ltn_start_epoch``: first epoch with the LTN / semi-supervised losses.
    ``ltn_start_patience`` > 0 starts them instead once the base model has converged — after that
    many epochs in a row without dev improvement (disparate-label-spaces §3.4: "we first train the
    base MTL model until convergence"); early stopping then counts afresh from the LTN's start.
    ``adv_weight`` reached linearly over ``adv_ramp_epochs`` (0 at epoch 0; 0 = no ramp).
    LR factor for ``LambdaLR``: linear warmup over ``warmup_steps`` optimiser steps, then
    ``lr_decay``: linear to ``lr_min_factor`` at the last step; exponential ×``lr_gamma`` per
    epoch (applied smoothly per step); step ×``lr_gamma`` every ``lr_step_epochs`` epochs.
    The factor never drops below ``lr_min_factor`` after warmup.
    """

    gold_epochs: int = 0
    tau: TauSchedule = field(default_factory=TauSchedule)
    ltn_start_epoch: int = 0
    ltn_start_patience: int = 0
    adv_weight: float = 0.05
    adv_ramp_epochs: int = 0
    warmup_steps: int = 0
    lr_decay: LrDecay = "none"
    lr_gamma: float = 0.5
    lr_step_epochs: int = 1
    lr_min_factor: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gold_epochs", "ltn_start_epoch", "ltn_start_patience", "adv_ramp_epochs", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", key=f"schedule.{name}")
        if self.adv_weight < 0:
            raise ConfigError("adv_weight must be >= 0", key="schedule.adv_weight")
        if self.lr_decay not in ("none", "linear", "exponential", "step"):
            raise ConfigError(f"unknown lr_decay {self.lr_decay!r}", key="schedule.lr_decay")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError("lr_gamma must be in (0, 1]", key="schedule.lr_gamma")
        if self.lr_step_epochs < 1:
            raise ConfigError("lr_step_epochs must be >= 1", key="schedule.lr_step_epochs")
        if not 0 <= self.lr_min_factor <= 1:
            raise ConfigError("lr_min_factor must be in [0, 1]", key="schedule.lr_min_factor")


class Schedule:
    """Schedule values of a run of ``epochs`` epochs of ``steps_per_epoch`` optimiser steps each."""

    def __init__(self, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
        if epochs < 1 or steps_per_epoch < 1:
            raise ValueError(f"epochs ({epochs}) and steps_per_epoch ({steps_per_epoch}) must be >= 1")
        self.cfg = cfg
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.ltn_started: int | None = None  # first LTN epoch under ltn_start_patience (None: not yet)

    def gold_labels(self, epoch: int) -> bool:
        return epoch < self.cfg.gold_epochs

    def tau(self, epoch: int) -> float:
        return self.cfg.tau.value(epoch - self.cfg.gold_epochs, self.epochs - self.cfg.gold_epochs)

    def ltn_active(self, epoch: int) -> bool:
        if self.cfg.ltn_start_patience > 0:
            return self.ltn_started is not None and epoch >= self.ltn_started
        return epoch >= self.cfg.ltn_start_epoch

    def observe_dev(self, epoch: int, bad_epochs: int) -> bool:
        """After ``epoch``'s dev evaluation with ``bad_epochs`` epochs in a row without improvement:
        True when the base model counts as converged now, so the LTN starts with the next epoch."""
        if self.cfg.ltn_start_patience > 0 and self.ltn_started is None and bad_epochs >= self.cfg.ltn_start_patience:
            self.ltn_started = epoch + 1
            return True
        return False

    def state_dict(self) -> dict:
        return {"ltn_started": self.ltn_started}

    def load_state_dict(self, state: dict) -> None:
        self.ltn_started = state.get("ltn_started")

    def adv_weight(self, epoch: int) -> float:
        ramp = self.cfg.adv_ramp_epochs
        return self.cfg.adv_weight * (min(1.0, epoch / ramp) if ramp else 1.0)

    def context(self, epoch: int, step: int = 0) -> StepContext:
        """The :class:`StepContext` of a training step (``step`` is informative: the global step)."""
        from raymtl.models.base import StepContext

        return StepContext(tau=self.tau(epoch), gold_labels=self.gold_labels(epoch),
                           ltn_active=self.ltn_active(epoch), adv_weight=self.adv_weight(epoch),
                           epoch=epoch, step=step, training=True)

    def eval_context(self, epoch: int) -> StepContext:
        """Evaluation: predicted lower-task labels (gold ones are not available at test time)."""
        ctx = self.context(epoch)
        ctx.gold_labels = False
        ctx.training = False
        return ctx

    def lr_lambda(self, global_step: int) -> float:
        """LR multiplier for ``torch.optim.lr_scheduler.LambdaLR(opt, schedule.lr_lambda)``.

        Warmup gives (s+1)/warmup_steps, so the very first step already learns (LambdaLR applies
        lr_lambda(0) to step 0) and step warmup_steps−1 runs at the full rate.
        """
        c = self.cfg
        s = max(0, global_step)
        if s < c.warmup_steps:
            return (s + 1) / c.warmup_steps
        t = s - c.warmup_steps
        if c.lr_decay == "linear":
            span = max(1, self.epochs * self.steps_per_epoch - c.warmup_steps)
            f = 1.0 - (1.0 - c.lr_min_factor) * min(1.0, t / span)
        elif c.lr_decay == "exponential":
            f = c.lr_gamma ** (t / self.steps_per_epoch)
        elif c.lr_decay == "step":
            f = c.lr_gamma ** ((s // self.steps_per_epoch) // c.lr_step_epochs)
        else:
            return 1.0
        return max(f, c.lr_min_factor)

    def as_dict(self, epoch: int) -> dict[str, float]:
        """Schedule values of an epoch, for TensorBoard / Ray reports (booleans as 0/1)."""
        return {"tau": self.tau(epoch), "gold_labels": float(self.gold_labels(epoch)),
                "ltn_active": float(self.ltn_active(epoch)), "adv_weight": self.adv_weight(epoch)}
