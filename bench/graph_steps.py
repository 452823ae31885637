"""Graph-mtl step times before and after issue 20 (the ``graph`` measurement of train_overhead.py).

One training step = forward, loss, backward, gradient clipping and the optimiser step of
``configs/fudan16_graph.yaml`` (16 review domains, GloVe 50d, hidden 200, batch 8, reviews cut at
200 tokens, AdaDelta), on 1 torch thread. The batches are the trainer's: each task's length-bucketed
batch sampler, tasks drawn uniformly (graph-mtl's Algorithm 1), the first ``steps`` draws of epoch 0.
``*_before`` runs the pre-issue-20 recurrence and optimizer (``bench/graph_reference.py``: the
per-step autograd loop, torch's Adadelta) on a copy of the same model, ``*_after`` the current one
(the written-out backward, the whole LSTM† loop and the Adadelta update as compiled kernels of
``raymtl.ckernels``, the embedding's gradient row-sparse as the loop makes it), alternating, ``repeats`` times; a figure is the best repeat's mean per step (the
least disturbed by other load). Ablations: ``*_eager``, today's recurrence with its eager torch ops and
torch's Adadelta (no compiled kernel); ``sg_mtl_before_ftz``, the old code with float32 denormals flushed
to 0 for the whole step (``torch.set_flush_denormal``; today's kernel flushes them in its backward);
``sg_mtl_after_dense``, today's code with a dense embedding gradient (``optim.sparse_embeddings: false``).
``*_t200`` rows: the 8 longest reviews of one domain (every row 200 tokens), the worst case.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, Callable

from _common import REPO

GRAPH_CONFIG = REPO / "configs" / "fudan16_graph.yaml"


def row(measure: str, path: str, value: float, unit: str) -> dict[str, Any]:
    return {"measure": measure, "path": path, "value": value, "unit": unit}


def trainer_batches(cfg, data, steps: int) -> list:
    """The first ``steps`` batches of epoch 0 in the order the trainer draws them."""
    from raymtl.data.batching import BucketBatchSampler
    from raymtl.train.sampling import TaskSampler, pass_epoch

    streams = {s.name: s for s in data.streams(cfg.data.train_split, limit=cfg.data.max_train_examples)}
    samplers = {n: BucketBatchSampler(s.lengths.tolist(), cfg.train.batch_size, seed=cfg.train.seed,
                                      bucket=cfg.train.bucket) for n, s in streams.items()}
    cache = {}
    for n, smp in samplers.items():
        smp.set_epoch(0)
        cache[(n, 0)] = list(smp)
    tasks = TaskSampler({n: len(v) for (n, _), v in cache.items()}, strategy=cfg.train.sampling,
                        seed=cfg.train.seed, temperature=cfg.train.temperature)
    tasks.set_epoch(0, batches={n: len(v) for (n, _), v in cache.items()})
    out = []
    for draw in tasks.draws():
        key = (draw.task, draw.pass_index)
        if key not in cache:
            samplers[draw.task].set_epoch(pass_epoch(0, draw.pass_index))
            cache[key] = list(samplers[draw.task])
        out.append(streams[draw.task].batch(cache[key][draw.batch_index]))
        if len(out) == steps:
            break
    return out


def longest_batch(cfg, data):
    import numpy as np

    stream = data.streams(cfg.data.train_split, limit=cfg.data.max_train_examples)[0]
    return stream.batch(np.argsort(-stream.lengths, kind="stable")[:cfg.train.batch_size].tolist())


class Stepper:
    """A model + optimiser doing the trainer's step on given batches, timed per step."""

    def __init__(self, cfg, model, optimizer=None, flush_denormals: bool = False, sparse: bool = False):
        import torch

        from raymtl.train.build import build_optimizer
        from raymtl.train.sparse_grads import enable_sparse_embeddings

        self.cfg, self.model, self.flush_denormals = cfg, model.train(), flush_denormals
        self.opt = (optimizer or build_optimizer)(cfg, model.parameters())
        # as the loop does on one CPU worker (optim.sparse_embeddings): row-sparse embedding gradients
        self.sparse = sparse and enable_sparse_embeddings(model, self.opt, device=torch.device("cpu"), world=1,
                                                          mixed_precision=False, gradient_weighting=False)
        self.weights = {t.name: t.weight for t in cfg.tasks}

    def step(self, batch, seed: int) -> float:
        import torch

        if self.flush_denormals:  # the whole step with float32 denormals computed as 0 (ablation)
            torch.set_flush_denormal(True)
            try:
                return self._step(batch, seed)
            finally:
                torch.set_flush_denormal(False)
        return self._step(batch, seed)

    def _step(self, batch, seed: int) -> float:
        import torch

        from raymtl.train.sparse_grads import clip_grad_norm

        torch.manual_seed(seed)  # the same dropout masks for before and after
        out = self.model(batch)
        loss = sum(self.weights.get(k, 1.0) * v for k, v in out.losses.items()) + sum(out.extra_losses.values())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(self.model.parameters(), self.cfg.optim.clip)  # the loop's (torch's for dense gradients)
        self.opt.step()
        return float(loss.detach())

    def time(self, batches) -> tuple[float, float, list[float]]:
        """(wall s, thread CPU s) per step over ``batches``, and the losses."""
        w0, c0 = time.perf_counter(), time.thread_time()
        losses = [self.step(b, i) for i, b in enumerate(batches)]
        n = len(batches)
        return (time.perf_counter() - w0) / n, (time.thread_time() - c0) / n, losses


def compare(variants: dict[str, Stepper], batches, repeats: int, log: Callable[[str], None]) -> dict[str, dict]:
    """Best-of-``repeats`` per-step times of each variant on the same batches, alternating variants."""
    for s in variants.values():  # warm-up (allocator, first-call costs), not timed
        s.step(batches[0], 0)
    best: dict[str, dict] = {}
    for rep in range(repeats):
        for name, s in variants.items():
            # reset to the same weights and optimiser state each repeat: same work every time
            state = copy.deepcopy((s.model.state_dict(), s.opt.state_dict()))
            wall, cpu, losses = s.time(batches)
            s.model.load_state_dict(state[0])
            s.opt.load_state_dict(state[1])
            log(f"   {name}: {wall:.3f} s/step wall, {cpu:.3f} s/step CPU (repeat {rep + 1})")
            b = best.setdefault(name, {"wall": wall, "cpu": cpu, "losses": losses})
            b["wall"], b["cpu"] = min(b["wall"], wall), min(b["cpu"], cpu)
    return best


def measure_graph(steps: int = 8, repeats: int = 3, worst_case: bool = True, config: Path = GRAPH_CONFIG,
                  log: Callable[[str], None] = print) -> tuple[list[dict], dict]:
    """Rows ``step_s`` for sg_mtl/cg_mtl before/after and fs_mtl, plus CPU-second and speed-up rows."""
    import torch

    from graph_reference import reference_optimizer, use_reference
    from raymtl.train.config import TrainConfig
    from raymtl.train.data import TrainData
    from raymtl.train.build import build_model
    from raymtl.train.trainer import validate

    torch.set_num_threads(1)
    rows: list[dict] = [row("loadavg_at_start", "graph", os.getloadavg()[0], "load (1 min)")]
    details: dict[str, Any] = {"config": str(config.relative_to(REPO) if REPO in config.parents else config),
                               "steps": steps, "repeats": repeats, "torch_threads": 1}
    base = TrainConfig.load(config, [])
    locations = validate(base, log=lambda _m: None)
    data = TrainData(base, locations)
    batches = trainer_batches(base, data, steps)
    details["batch_lengths"] = [int(b.tokens.shape[1]) for b in batches]
    details["batch_tasks"] = [sorted(b.tasks) for b in batches]
    worst = longest_batch(base, data) if worst_case else None
    for arch in ("sg_mtl", "cg_mtl", "fs_mtl"):
        cfg = TrainConfig.load(config, [f"model.arch={arch}"])
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg, data, log=lambda _m: None)
        variants = {}
        if arch != "fs_mtl":  # (copies made before the "after" stepper makes its embedding sparse)
            # ablation: today's recurrence with the eager attention and torch's Adadelta (no C kernels)
            eager = copy.deepcopy(model)
            eager.cfg.fused_attention = False
            variants = {"before": Stepper(cfg, use_reference(copy.deepcopy(model)), reference_optimizer),
                        "eager": Stepper(cfg, eager, reference_optimizer)}
            if arch == "sg_mtl":
                # ablations: how much of the old step was float32 denormals; today's code with the
                # embedding's gradient dense (optim.sparse_embeddings: false)
                variants["before_ftz"] = Stepper(cfg, use_reference(copy.deepcopy(model)), reference_optimizer,
                                                 flush_denormals=True)
                variants["after_dense"] = Stepper(cfg, copy.deepcopy(model))
        variants["after"] = Stepper(cfg, model, sparse=True)
        sets = [("", batches)] + ([("_t200", [worst])] if worst is not None and arch != "fs_mtl" else [])
        for suffix, bs in sets:
            log(f"... {arch}{suffix}: {len(bs)} batches of {cfg.train.batch_size}, lengths "
                f"{[int(b.tokens.shape[1]) for b in bs]}")
            best = compare(variants, bs, repeats, log)
            for name, r in best.items():
                path = arch if arch == "fs_mtl" else f"{arch}_{name}"
                rows.append(row("step_s", path + suffix, r["wall"], "s"))
                rows.append(row("step_cpu_s", path + suffix, r["cpu"], "s"))
            if "before" in best:
                a, b = best["after"], best["before"]
                rows.append(row("speedup", arch + suffix, b["wall"] / a["wall"], "x (before / after, wall)"))
                rows.append(row("speedup_cpu", arch + suffix, b["cpu"] / a["cpu"], "x (before / after, CPU)"))
                # the same weights, batches and dropout: the losses must agree (first repeat's run)
                diff = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
                rows.append(row("max_abs_loss_diff", arch + suffix, diff, "loss"))
                e = best["eager"]
                rows.append(row("speedup_cpu", f"{arch}_kernels{suffix}", e["cpu"] / a["cpu"],
                                "x (eager / after, CPU: what the compiled kernels add)"))
                diff = max(abs(x - y) for x, y in zip(a["losses"], e["losses"]))
                rows.append(row("max_abs_loss_diff", f"{arch}_kernels{suffix}", diff, "loss"))
                if "after_dense" in best:
                    rows.append(row("speedup_cpu", f"{arch}_sparse_embeddings{suffix}",
                                    best["after_dense"]["cpu"] / a["cpu"],
                                    "x (dense / row-sparse embedding gradients, CPU: what the sparse update adds)"))
                    diff = max(abs(x - y) for x, y in zip(a["losses"], best["after_dense"]["losses"]))
                    rows.append(row("max_abs_loss_diff", f"{arch}_sparse_embeddings{suffix}", diff, "loss"))
                if "before_ftz" in best:
                    rows.append(row("speedup_cpu", f"{arch}_before_ftz{suffix}", b["cpu"] / best["before_ftz"]["cpu"],
                                    "x (before / before with denormals flushed, CPU: what denormals cost the old code)"))
        del variants, model
    return rows, details
