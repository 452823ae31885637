"""HPS-MTL + LEL + Label Transfer Network + semi-supervised pseudo-labels (disparate-label-spaces §3.3–3.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F

from raymtl.data.batch import IGNORE
from raymtl.data.schema import TaskSpec
from raymtl.errors import ConfigError
from raymtl.models.architectures._disparate_common import (DIVERSITY_DIM, LabelTransferNetwork, diversity_tensor,
                                                           output_label_embedding, pseudo_label_mse)
from raymtl.models.architectures.hps_lel import HPSLEL, HPSLELConfig

PREDICT_WITH = ("main", "ltn")


@dataclass
class HPSLELLTNConfig(HPSLELConfig):
    """LTN fields.

    ``ltn_hidden``: width of the LTN's MLP. ``diversity_features``: append the §3.5 features to the
    LTN input. ``ltn_main_preds``: also feed the main task's own prediction p^{T_T} (Table 5's
    "+ main preds feats"). ``semi_supervised``: add eq. 7. ``ltn_weight`` / ``pseudo_weight``
    weight L_LTN / L_pseudo. ``predict_with``: ``main`` (the main model's output; the paper's best,
    "…, main model") or ``ltn`` (the relabelling function's output) for the main task.
    """

    ltn_hidden: int = 100
    diversity_features: bool = True
    ltn_main_preds: bool = False
    semi_supervised: bool = True
    ltn_weight: float = 1.0
    pseudo_weight: float = 1.0
    predict_with: str = "main"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.predict_with not in PREDICT_WITH:
            raise ValueError(f"predict_with: expected one of {PREDICT_WITH}, got {self.predict_with!r}")
        if self.ltn_hidden < 1 or self.ltn_weight < 0 or self.pseudo_weight < 0:
            raise ValueError("ltn_hidden must be >= 1, ltn_weight and pseudo_weight >= 0")


class HPSLELLTN(HPSLEL):
    """HPS + LEL, plus a Label Transfer Network that predicts the main task T_T from the auxiliary
    tasks' output label embeddings ``o_i = Σ_j p_j^{T_i} l_j`` (eq. 5): ``z = softmax(MLP([o_1, …,
    o_{T-1}, diversity features]))`` (eq. 6).

    Extra losses (already weighted; both only while ``ctx.ltn_active`` — the paper first trains the
    base model, then adds the LTN):

    - ``ltn``: ``ltn_weight`` · NLL of z on the examples **labelled with the main task** (L_LTN);
    - ``pseudo``: ``pseudo_weight`` · ``||p^{T_T} − z||²`` (eq. 7, squared L2 per example, mean over
      examples) on the examples **without a main-task label** — auxiliary-task examples and
      unlabelled ones — with z detached (a pseudo-label: eq. 7 trains the main model, not the LTN).

    ``extras["ltn_probs"]``: z for every example ``[B, L_T]``. Diversity features (§3.5, Ruder &
    Plank 2017) weigh each example's words by the term distribution of its task's training data
    (:meth:`set_task_term_distributions`, which the training loop calls); without one, by the
    example's own word frequencies.

    DDP: ``find_unused_parameters=True`` — the LTN is unused before ``ltn_active`` (and in batches
    without main-task examples when ``semi_supervised`` is off), task layers of absent tasks too.
    """

    name = "hps_lel_ltn"
    paper = "disparate-label-spaces"
    equations = "2-7"
    find_unused_parameters = True

    def __init__(self, cfg: HPSLELLTNConfig, tasks: list[TaskSpec], vocab_size: int, *,
                 vectors: torch.Tensor | None = None):
        super().__init__(cfg, tasks, vocab_size, vectors=vectors)
        self.aux_tasks = [t for t in self.task_names if t != self.main_task]
        if not self.aux_tasks:
            raise ConfigError("hps_lel_ltn needs at least one auxiliary task besides the main task "
                              f"{self.main_task!r}", key="tasks")
        n_main = self.tasks[self.main_task].num_labels
        in_dim = len(self.aux_tasks) * cfg.label_dim + (DIVERSITY_DIM if cfg.diversity_features else 0) \
            + (n_main if cfg.ltn_main_preds else 0)
        self.ltn = LabelTransferNetwork(in_dim, cfg.ltn_hidden, n_main)
        self.term_dist: Mapping[str, float] | None = None
        self.task_term_dists: Mapping[str, Mapping[str, float]] = {}

    def set_term_distribution(self, term_dist: Mapping[str, float] | None) -> None:
        """One corpus word distribution for every example's diversity features; not checkpointed."""
        self.term_dist = term_dist

    def set_task_term_distributions(self, dists: Mapping[str, Mapping[str, float]]) -> None:
        """Per task key, the word distribution of its training data: an example's diversity
        features use that of the (first) task it is labelled with, else the main task's."""
        self.task_term_dists = dict(dists)

    def diversity(self, batch, device) -> torch.Tensor:
        if not self.task_term_dists:
            return diversity_tensor(batch.words, self.term_dist, device=device)
        rows = {}
        for i in range(batch.size):
            task = next((t for t in self.task_names if t in batch.present and bool(batch.present[t][i])),
                        self.main_task)
            rows.setdefault(task, []).append(i)
        out = torch.zeros(batch.size, DIVERSITY_DIM)
        for task, idx in rows.items():
            out[idx] = diversity_tensor([batch.words[i] for i in idx], self.task_term_dists.get(task, self.term_dist))
        return out.to(device)

    def ltn_logits(self, batch, h: torch.Tensor, logits: dict[str, torch.Tensor]) -> torch.Tensor:
        # disparate-label-spaces eq. 5: o_i = Σ_j p_j^{T_i} l_j for every auxiliary task
        os = [output_label_embedding(torch.softmax(logits[t], -1), self.lel.label_matrix(t)) for t in self.aux_tasks]
        feats = []
        if self.cfg.diversity_features:
            feats.append(self.diversity(batch, h.device).to(h.dtype))
        if self.cfg.ltn_main_preds:
            feats.append(torch.softmax(logits[self.main_task], -1))
        return self.ltn(os, torch.cat(feats, -1) if feats else None)  # disparate-label-spaces eq. 6

    def extend_output(self, out, batch, h, logits, ctx):
        main = self.main_task
        z_logits = self.ltn_logits(batch, h, logits)
        z = torch.softmax(z_logits, -1)
        out.extras["ltn_probs"] = z.detach()
        if self.cfg.predict_with == "ltn":
            out.predictions[main] = z_logits.argmax(-1)
            out.scores[main] = z_logits.detach()
        if not ctx.ltn_active:
            return
        if main in batch.present and main in batch.targets:
            labelled = batch.present[main] & (batch.targets[main] != IGNORE)
        else:
            labelled = torch.zeros(batch.size, dtype=torch.bool, device=h.device)
        if labelled.any() and self.cfg.ltn_weight > 0:  # L_LTN: NLL of the LTN on main-task labels
            out.extra_losses["ltn"] = self.cfg.ltn_weight * F.cross_entropy(z_logits[labelled],
                                                                            batch.targets[main][labelled])
        unl = ~labelled
        if self.cfg.semi_supervised and unl.any() and self.cfg.pseudo_weight > 0:
            p_main = torch.softmax(logits[main][unl], -1)
            mse = pseudo_label_mse(p_main, z[unl].detach())  # disparate-label-spaces eq. 7
            out.extra_losses["pseudo"] = self.cfg.pseudo_weight * mse
