"""The contract between models and the training loop.

A model is an ``nn.Module`` built from (config, tasks, vocab size). ``forward(batch, ctx)`` returns
a :class:`ModelOutput` holding the *unweighted* loss of every task present in the batch, extra
losses (adversarial, orthogonality, label-transfer, semi-supervised) and predictions. One forward
computes every present task, so DDP works with any active subset of tasks. Models know tensors
and task specs, nothing of Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from raymtl.data.batch import Batch
from raymtl.data.schema import TaskSpec


@dataclass
class StepContext:
    """Schedule values for one step, set by the training loop (see raymtl.train.schedules).

    ``tau``: Gumbel-softmax temperature (causal-mtl eq. 9). ``gold_labels``: feed gold lower-task
    labels instead of Gumbel samples (causal-mtl gold-label pretraining). ``ltn_active``: the
    label-transfer / semi-supervised losses are on (disparate-label-spaces). ``adv_weight``: the
    weight of the adversarial loss (SP-MTL ramp). ``epoch``/``step`` are informative.
    """

    tau: float = 1.0
    gold_labels: bool = False
    ltn_active: bool = True
    adv_weight: float = 0.05
    epoch: int = 0
    step: int = 0
    training: bool = True


@dataclass
class ModelOutput:
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # task key -> unweighted mean loss
    extra_losses: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> already-weighted loss
    predictions: dict[str, torch.Tensor] = field(default_factory=dict)  # task key -> decoded output
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. "alpha", "beta" for analysis
    # classify task key -> logits [B, L], detached (for metrics of other decision rules: stance's
    # f1_fa_no_none); a tensor in the graph here would make DDP expect gradients for every head
    scores: dict[str, torch.Tensor] = field(default_factory=dict)


class MTLModel(nn.Module):
    """Base class: subclasses set the class attributes and implement ``forward``.

    Predictions per kind: tagging ``[B, T]`` label ids; relation ``[B, T, T, R]`` bool;
    multilabel ``[B, L]`` bool; classify ``[B]`` label ids.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    equations: ClassVar[str] = ""
    task_kinds: ClassVar[tuple[str, ...]] = ("tagging", "relation", "multilabel", "classify")
    # DDP needs find_unused_parameters when a batch may leave parameters unused (task-specific
    # parts of tasks absent from the batch, or schedule-gated modules).
    find_unused_parameters: ClassVar[bool] = True

    def __init__(self, tasks: list[TaskSpec]):
        super().__init__()
        self.tasks = {t.name: t for t in tasks}

    def forward(self, batch: Batch, ctx: StepContext | None = None) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters frozen for leave-one-task-out transfer (default: none)."""
        return []

    def freeze_shared(self) -> None:
        for p in self.shared_parameters():
            p.requires_grad_(False)

    def label_embeddings(self) -> dict[str, tuple[torch.Tensor, list[str]]]:
        """Learned label embeddings per task (matrix [L, d], label names), for projector/PCA maps."""
        return {}


def check_task_kinds(model_cls: type[MTLModel], tasks: list[TaskSpec]) -> None:
    from raymtl.errors import ConfigError

    for t in tasks:
        if t.kind not in model_cls.task_kinds:
            raise ConfigError(f"architecture {model_cls.name!r} cannot serve task {t.name!r} of kind {t.kind!r} "
                              f"(it supports {', '.join(model_cls.task_kinds)})", key="tasks")


def config_fields(config_cls: type) -> list[tuple[str, str, Any]]:
    """(name, type, default) of a dataclass config, for `raymtl models NAME`."""
    import dataclasses

    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        out.append((f.name, str(f.type), default))
    return out
