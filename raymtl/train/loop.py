"""The training loop: one class, :class:`Runner`, used alike by Ray Train workers and plain runs.

The runner knows models and batches; it talks to the outside through a :class:`Reporter`
(``ray.train.report`` in a Ray Train worker, a local directory otherwise), so the same loop is
measured against a plain PyTorch loop in ``bench/train_overhead.py``.

Determinism: batch order depends only on (seed, epoch) and every epoch reseeds torch with
(seed, epoch, rank), so a run resumed from an epoch checkpoint ends where a straight run ends.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist

from raymtl import atomic
from raymtl.data.batching import BucketBatchSampler
from raymtl.errors import RaymtlError
from raymtl.models.base import MTLModel
from raymtl.train.build import build_model, build_optimizer
from raymtl.train.checkpoint import BEST_FILE, STATE_FILE, load_tensors, remove_restore_copy, staging_dir
from raymtl.train.config import TrainConfig
from raymtl.train.data import Stream, TrainData
from raymtl.train.faults import DivergenceError, EmptyBatchError, NonFiniteLossError, chaos_beat
from raymtl.train.metrics import MetricTracker, main_metric_name
from raymtl.train.reporter import Reporter
from raymtl.train.sampling import TaskSampler, pass_epoch
from raymtl.train.schedules import Schedule
from raymtl.train.sparse_grads import clip_grad_norm, enable_sparse_embeddings
from raymtl.train.weighting import WeightingStep, build_weighting, split_parameters


def _unwrap(model: torch.nn.Module) -> MTLModel:
    return model.module if hasattr(model, "module") else model  # type: ignore[return-value]


class Runner:
    """Trains ``cfg`` on this process's share of the data (rank ``rank`` of ``world``)."""

    def __init__(self, cfg: TrainConfig, locations: dict[str, str], *, reporter: Reporter, run_dir: Path,
                 rank: int = 0, world: int = 1, device: torch.device | str = "cpu",
                 wrap_model: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
                 log: Callable[[str], None] | None = None, info: dict[str, Any] | None = None,
                 data: TrainData | None = None):
        self.cfg = cfg
        self.info = dict(info or {})  # recorded in results.json (e.g. the node rank 0 ran on)
        self.rank, self.world = rank, world
        self.device = torch.device(device)
        self.reporter = reporter
        self.run_dir = Path(run_dir)
        self.log = log or (print if rank == 0 else (lambda _m: None))
        # ``data``: a TrainData of an earlier trial with the same data config (a reused Tune actor).
        self.data = data if data is not None else TrainData(cfg, locations)
        limit_train, limit_eval = cfg.data.max_train_examples, cfg.data.max_eval_examples
        self.train_streams = self.data.streams(cfg.data.train_split, limit=limit_train,
                                               per_dataset=cfg.data.train_splits)
        self.dev_streams = self.data.streams(cfg.data.dev_split, limit=limit_eval, per_dataset=cfg.data.dev_splits)
        test_split = {ds: cfg.data.test_splits.get(ds, cfg.data.test_split) for ds in self.data.manifests}
        self.test_streams = (self.data.streams(cfg.data.test_split, limit=limit_eval, per_dataset=test_split)
                             if cfg.train.eval_test and all(test_split[ds] in m.splits
                                                            for ds, m in self.data.manifests.items()) else [])
        model = build_model(cfg, self.data, log=self.log).to(self.device)
        self.model = wrap_model(model) if wrap_model else model
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.weighting = build_weighting(cfg.train.weighting, [t.name for t in cfg.tasks],
                                         {t.name: t.weight for t in cfg.tasks}, seed=cfg.train.seed,
                                         device=self.device, mixed_precision=cfg.train.mixed_precision)
        if self.weighting.parameters():  # e.g. uw's log-variances: trained alongside, never decayed
            self.optimizer.add_param_group({"params": self.weighting.parameters(), "weight_decay": 0.0})
        self.param_split = split_parameters(self.core, self.core.shared_parameters())
        self.samplers = {s.name: BucketBatchSampler(s.lengths.tolist(), cfg.train.batch_size, rank=rank,
                                                    world_size=world, seed=cfg.train.seed, bucket=cfg.train.bucket)
                         for s in self.train_streams}
        self.task_sampler = TaskSampler({s.name: len(self.samplers[s.name]) for s in self.train_streams},
                                        strategy=self._sampling_strategy(), seed=cfg.train.seed,
                                        temperature=cfg.train.temperature)
        steps = self._steps_per_epoch()
        self.schedule = Schedule(cfg.schedule, epochs=cfg.train.epochs, steps_per_epoch=steps)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule.lr_lambda)
        self.amp = cfg.train.mixed_precision and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        if cfg.optim.sparse_embeddings:
            sparse = enable_sparse_embeddings(self.model, self.optimizer, device=self.device, world=world,
                                              mixed_precision=self.amp,
                                              gradient_weighting=self.weighting.gradient_based)
            if sparse:
                self.log(f"row-sparse embedding gradients: {', '.join(sparse)}")
        self.weights = {t.name: t.weight for t in cfg.tasks}  # this trial's λ, not a cached TrainData's
        self.main_key = cfg.main_task
        self.epoch = 0
        self.global_step = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []
        self.skipped_batches = 0
        self.writer = None
        if rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    # ---- set-up helpers -------------------------------------------------------------------
    def _sampling_strategy(self) -> str:
        s = self.cfg.train.sampling
        if s == "auto":
            return "joint" if len(self.train_streams) == 1 else "proportional"
        return s

    def _steps_per_epoch(self) -> int:
        n = len(self.task_sampler)
        cap = self.cfg.train.max_steps_per_epoch
        return min(n, cap) if cap else n

    @property
    def core(self) -> MTLModel:
        return _unwrap(self.model)

    # ---- one epoch ------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> Iterator[tuple[str, list[int]]]:
        """(stream name, positions) in the order the task sampler picks, equal on every rank.

        A stream exhausted under uniform/temperature sampling restarts with a new pass, whose
        batch order comes from ``pass_epoch(epoch, pass)``.
        """
        cache: dict[tuple[str, int], list[list[int]]] = {}
        counts = {}
        for name, sampler in self.samplers.items():
            sampler.set_epoch(epoch)
            cache[(name, 0)] = list(sampler)
            counts[name] = len(cache[(name, 0)])
        self.task_sampler.set_epoch(epoch, batches=counts)
        for draw in self.task_sampler.draws():
            key = (draw.task, draw.pass_index)
            if key not in cache:
                sampler = self.samplers[draw.task]
                sampler.set_epoch(pass_epoch(epoch, draw.pass_index))
                cache[key] = list(sampler)
            yield draw.task, cache[key][draw.batch_index]

    def _loss(self, out, batch) -> tuple[torch.Tensor, dict[str, float]]:
        total = torch.zeros((), device=self.device)
        parts: dict[str, float] = {}
        for key, loss in out.losses.items():
            total = total + self.weights.get(key, 1.0) * loss
            parts[key] = float(loss.detach())
        for key, loss in out.extra_losses.items():
            total = total + loss
            parts[f"extra/{key}"] = float(loss.detach())
        return total, parts

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed * 100003 + epoch * 1009 + self.rank)
        self.model.train()
        streams = {s.name: s for s in self.train_streams}
        sums: dict[str, float] = {}
        n_steps = examples = tokens = 0
        padded = 0
        started, started_cpu = time.perf_counter(), time.thread_time()
        cap = cfg.train.max_steps_per_epoch
        # Divergence: each stream's batch losses against its first-batch loss of the run (kept in
        # history[0] as train/loss_start/<stream>, so a resumed run keeps the same reference).
        start = {k[len("train/loss_start/"):]: v for k, v in (self.history[0] if self.history else {}).items()
                 if k.startswith("train/loss_start/")}
        new_start: dict[str, float] = {}
        self.loss_growth = 0.0
        for name, positions in self._epoch_batches(epoch):
            if cap and n_steps >= cap:
                break
            if len(positions) == 0 or int(streams[name].lengths[positions].sum()) == 0:
                self._handle_empty_batch(epoch, name, len(positions))
                continue
            chaos_beat(self.run_dir, self.rank, "step", epoch=epoch, step=n_steps, **self.info)
            batch = self.data.drop_words(streams[name].batch(positions)).to(self.device)
            ctx = self.schedule.context(epoch, self.global_step)
            with torch.autocast(device_type=self.device.type, enabled=self.amp), \
                    self.weighting.forward_context(self.model):
                out = self.model(batch, ctx)
                loss, parts = self._loss(out, batch)
            self.optimizer.zero_grad(set_to_none=True)
            # The weighting method back-propagates (and, for gradient methods, all-reduces);
            # ``loss`` stays the λ-weighted sum, comparable across methods in train/loss.
            self.weighting.backward(out.losses, out.extra_losses,
                                    WeightingStep(*self.param_split, epoch=epoch, step=self.global_step,
                                                  world=self.world, scaler=self.scaler))
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            grad_norm = clip_grad_norm(params, cfg.optim.clip if cfg.optim.clip > 0 else float("inf"))
            # Gradients are already averaged over ranks by DDP, so every rank sees the same verdict.
            if not (torch.isfinite(grad_norm) and torch.isfinite(loss.detach())):
                if not self._handle_nonfinite(epoch, name, parts):
                    continue
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.lr_scheduler.step()
            self.global_step += 1
            n_steps += 1
            examples += batch.size
            lens = batch.lengths
            tokens += int(lens.sum())
            padded += int(lens.max()) * batch.size
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            if name not in start:
                start[name] = new_start[name] = float(loss.detach())
            self.loss_growth = max(self.loss_growth, float(loss.detach()) / max(start[name], 1e-8))
            if self.world == 1 and cfg.train.diverge_factor and self.loss_growth > cfg.train.diverge_factor:
                break  # no use finishing a diverged epoch (DDP ranks go on to agree on it in fit)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        elapsed = time.perf_counter() - started
        # CPU seconds of this thread: the loop's own cost, whatever else shares the cores.
        cpu = time.thread_time() - started_cpu
        stats = {f"train/loss/{k}" if k != "loss" else "train/loss": v / max(n_steps, 1) for k, v in sums.items()}
        stats.update({"train/steps": n_steps, "train/examples_per_s": examples * self.world / max(elapsed, 1e-9),
                      "train/padding_efficiency": tokens / max(padded, 1), "train/seconds": elapsed,
                      "train/cpu_seconds": cpu, **self.weighting.end_epoch(epoch, self.world),
                      "lr": self.optimizer.param_groups[0]["lr"]})
        stats.update({f"train/loss_start/{k}": v for k, v in new_start.items()})
        return stats

    def check_divergence(self, epoch: int, stats: dict[str, float], skipped: int) -> None:
        """Raise DivergenceError when the epoch diverged or skipped every batch (same verdict on every rank)."""
        factor = self.cfg.train.diverge_factor
        loss, first = stats.get("train/loss"), (self.history[0] if self.history else stats).get("train/loss")
        reasons = []
        if stats.get("train/steps", 0) == 0 and skipped > 0:
            reasons.append(f"all {skipped} batches of the epoch were skipped (non-finite or empty)")
        if factor and self.loss_growth > factor:
            reasons.append(f"a batch loss reached {self.loss_growth:.3g}x its stream's first-batch loss "
                           f"(train.diverge_factor {factor:g})")
        if factor and loss is not None and first and loss > factor * first:
            reasons.append(f"mean loss {loss:.4g} > {factor:g} x the first epoch's {first:.4g}")
        failed = bool(reasons)
        if self.world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([float(failed)], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            failed = bool(flag.item())
            reasons = reasons or ["another rank diverged"]
        if failed:
            raise DivergenceError(f"training diverged at epoch {epoch + 1}: {'; '.join(reasons)}. Lower optim.lr, "
                                  "set optim.clip, or check the data; the last good checkpoint is kept")

    def _handle_empty_batch(self, epoch: int, stream: str, rows: int) -> None:
        """An empty batch (no rows, or rows without tokens): skipped under skip_batch/lower_lr on one
        worker; else an error (DDP ranks cannot skip a step alone without desynchronising)."""
        what = "no examples" if rows == 0 else f"{rows} examples without tokens"
        if self.cfg.train.nonfinite == "fail" or self.world > 1:
            raise EmptyBatchError(
                f"empty training batch ({what}) of {stream} at epoch {epoch}, step {self.global_step}"
                f"{f' on rank {self.rank} of {self.world}' if self.world > 1 else ''}: the split has too few "
                "examples (or empty ones) for train.batch_size x workers; lower the workers or batch size, fix the "
                "data" + (", or set train.nonfinite=skip_batch to skip such batches" if self.world == 1 else ""))
        self.skipped_batches += 1
        self.log(f"empty batch ({what}) of {stream} at epoch {epoch}, step {self.global_step}: skipped")

    def _handle_nonfinite(self, epoch: int, stream: str, parts: dict[str, float]) -> bool:
        """False: skip this batch. Raises under the ``fail`` policy."""
        policy = self.cfg.train.nonfinite
        self.optimizer.zero_grad(set_to_none=True)
        self.skipped_batches += 1
        if policy == "fail":
            raise NonFiniteLossError(
                f"non-finite loss or gradient at epoch {epoch}, step {self.global_step} (batch of {stream}; "
                f"losses {parts}); the last good checkpoint is kept. Lower optim.lr, set optim.clip, or set "
                "train.nonfinite=skip_batch|lower_lr")
        if policy == "lower_lr":
            for g in self.optimizer.param_groups:
                g["lr"] *= 0.5
            self.lr_scheduler.base_lrs = [b * 0.5 for b in self.lr_scheduler.base_lrs]
            self.log(f"non-finite loss at step {self.global_step}: batch skipped, learning rate halved")
        return False

    # ---- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, streams: list[Stream], epoch: int) -> dict[str, float]:
        self.model.eval()
        core = self.core
        tracker = MetricTracker(self.data.specs, strict_entities=self.data.strict_entities())
        ctx = self.schedule.eval_context(epoch)
        for s in streams:
            sampler = BucketBatchSampler(s.lengths.tolist(), self.cfg.train.eval_batch_size, rank=self.rank,
                                         world_size=self.world, shuffle=False) if len(s.indices) >= self.world \
                else None
            if sampler is None:
                continue
            for positions in sampler:
                batch = s.batch(positions).to(self.device)
                out = core(batch, ctx)
                # strict relations need the batch's entity predictions too: update_batch pairs them
                tracker.update_batch({k: v for k, v in out.predictions.items() if k in s.tasks}, batch, out.scores)
        state = tracker.state()
        if self.world > 1 and dist.is_initialized():
            states: list[Any] = [None] * self.world
            dist.all_gather_object(states, state)
            state = MetricTracker.merge(states)
        return tracker.compute(state)

    def monitor_value(self, metrics: dict[str, float]) -> float:
        how = self.cfg.train.monitor
        if how == "main":
            spec = self.data.spec(self.main_key)
            return metrics[f"{self.main_key}/{main_metric_name(spec)}"]
        if how == "mean":
            return metrics["mean/main"]
        if how not in metrics:
            raise RaymtlError(f"train.monitor {how!r} is not a dev metric; dev metrics: {', '.join(sorted(metrics))}")
        return metrics[how]

    # ---- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.core.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "samplers": {k: s.state_dict() for k, s in self.samplers.items()},
            "task_sampler": self.task_sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "schedule": self.schedule.state_dict(),
            "history": json.dumps(self.history),
            "skipped_batches": self.skipped_batches,
            "weighting": self.weighting.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], best: dict[str, torch.Tensor] | None) -> None:
        self.core.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        for k, s in state["samplers"].items():
            if k in self.samplers:
                self.samplers[k].load_state_dict(s)
        self.task_sampler.load_state_dict(state["task_sampler"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.best_score = float(state["best_score"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.schedule.load_state_dict(state.get("schedule", {}))
        self.history = json.loads(state["history"])
        self.skipped_batches = int(state["skipped_batches"])
        self.weighting.load_state_dict(state.get("weighting", {}))
        self.best_state = best

    def save_checkpoint(self, directory: Path) -> None:
        torch.save(self.state_dict(), directory / STATE_FILE)
        if self.best_state is not None:
            torch.save(self.best_state, directory / BEST_FILE)
        (directory / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=1))
        (directory / "vocab.json").write_text(json.dumps(list(self.data.vocab.itos)))

    def restore(self, directory: Path) -> None:
        state = load_tensors(directory / STATE_FILE, map_location=self.device)  # CheckpointError names the file
        best = None
        if (directory / BEST_FILE).exists():
            best = load_tensors(directory / BEST_FILE, map_location=self.device)
        self.load_state_dict(state, best)
        self.log(f"resumed from {directory} at epoch {self.epoch}")

    # ---- the whole run ----------------------------------------------------------------------
    def _tensorboard(self, metrics: dict[str, Any], epoch: int) -> None:
        if self.writer is None:
            return
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.writer.add_scalar(k, v, epoch)
        self.writer.flush()

    def fit(self) -> dict[str, Any]:
        cfg = self.cfg
        ckpt = self.reporter.latest_checkpoint()
        if ckpt is not None:
            try:
                self.restore(ckpt)
            finally:
                remove_restore_copy(ckpt)  # a local copy made to resume from, on success or failure
        chaos_beat(self.run_dir, self.rank, "start", epoch=self.epoch, **self.info)
        if self.rank == 0:  # where and how the run trains, also for a run the scheduler stops early
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.run_dir / "run_info.json", {
                "pid": os.getpid(), "started": time.time(), "from_epoch": self.epoch, "world_size": self.world,
                **self.info}, default=str)
        total_epochs = cfg.train.epochs
        run_started = time.perf_counter()
        first_epoch = self.epoch
        stopped_early = False
        while self.epoch < total_epochs:
            epoch = self.epoch
            skipped_before = self.skipped_batches
            train_stats = self.train_epoch(epoch)
            self.check_divergence(epoch, train_stats, self.skipped_batches - skipped_before)
            dev = self.evaluate(self.dev_streams, epoch)
            score = self.monitor_value(dev)
            # select "last": every epoch is the selected one (a refit of a fixed length, patience 0)
            improved = score > self.best_score or cfg.train.select == "last"
            if improved:
                self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
                self.best_state = {k: v.detach().clone() for k, v in self.core.state_dict().items()}
            else:
                self.bad_epochs += 1
            if self.schedule.observe_dev(epoch, self.bad_epochs):  # schedule.ltn_start_patience
                self.bad_epochs = 0  # the LTN starts: early stopping counts from here
                self.log(f"the base model converged (no dev improvement for {self.cfg.schedule.ltn_start_patience} "
                         f"epochs): the LTN starts at epoch {epoch + 2}")
            self.epoch = epoch + 1
            sched = self.schedule.as_dict(epoch)
            metrics: dict[str, Any] = {
                "epoch": self.epoch, **train_stats, **{f"dev/{k}": v for k, v in dev.items()},
                "dev_score": score, "best_dev_score": self.best_score, "best_epoch": self.best_epoch + 1,
                **{f"schedule/{k}": (float(v) if not isinstance(v, str) else v) for k, v in sched.items()},
            }
            extras = getattr(self.core, "epoch_summaries", None)
            if callable(extras):
                metrics.update(extras())
            self.history.append({k: v for k, v in metrics.items() if isinstance(v, (int, float, str))})
            self._tensorboard(metrics, self.epoch)
            per_epoch = (time.perf_counter() - run_started) / max(self.epoch - first_epoch, 1)
            eta = per_epoch * (total_epochs - self.epoch)
            self.log(f"epoch {self.epoch}/{total_epochs} | loss {train_stats.get('train/loss', float('nan')):.4f} | "
                     f"{train_stats['train/examples_per_s']:.0f} ex/s | dev {cfg.train.monitor} {score:.4f} "
                     f"(best {self.best_score:.4f} @ {self.best_epoch + 1}) | ETA {eta:.0f}s")
            stop = cfg.train.patience > 0 and self.bad_epochs >= cfg.train.patience
            self._report(metrics)
            if stop and self.epoch < total_epochs:
                stopped_early = True
                self.log(f"early stop: no dev improvement for {self.bad_epochs} epochs")
                break
        final = self.finish(stopped_early)
        return final

    def _report(self, metrics: dict[str, Any]) -> None:
        if self.rank == 0:
            with staging_dir() as tmp:  # <pid>-named: a killed run's copy is swept by the next
                self.save_checkpoint(tmp)
                self.reporter.report(metrics, tmp)
        else:
            self.reporter.report(metrics, None)

    def finish(self, stopped_early: bool) -> dict[str, Any]:
        """Test metrics at the best dev epoch; results.json in the run directory."""
        test: dict[str, float] = {}
        if self.best_state is not None:
            self.core.load_state_dict(self.best_state)
        if self.test_streams:
            test = self.evaluate(self.test_streams, max(self.best_epoch, 0))
        best_dev = next((h for h in self.history if h["epoch"] == self.best_epoch + 1), {})
        summary = {
            "name": self.cfg.name,
            "epochs_run": self.epoch,
            "stopped_early": stopped_early,
            "best_epoch": self.best_epoch + 1,
            "best_dev_score": self.best_score,
            "dev": {k[4:]: v for k, v in best_dev.items() if k.startswith("dev/")},
            "test": test,
            "skipped_batches": self.skipped_batches,
            "world_size": self.world,
            "vocab": self.data.vocab_report,  # where the words came from, <unk> rate per split
            **self.info,
            "config": self.cfg.to_dict(),
            "history": self.history,
        }
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.run_dir / "results.json", summary, default=float)
            if self.writer is not None:
                for k, v in test.items():
                    self.writer.add_scalar(f"test/{k}", v, self.epoch)
                from raymtl.analysis.tensorboard import write_run_review

                write_run_review(self)  # projector embeddings + review figures (best weights loaded)
                self.writer.close()
        # A last report (every rank, no checkpoint) carries the test metrics to Ray Tune.
        self.reporter.report({"epoch": self.epoch, "dev_score": self.best_score, "best_dev_score": self.best_score,
                              "best_epoch": self.best_epoch + 1, "final": 1,
                              # the last epoch's train/* too: a search's objective may be train/seconds
                              **{k: v for k, v in (self.history[-1] if self.history else {}).items()
                                 if k.startswith("train/")},
                              **{f"dev/{k}": v for k, v in summary["dev"].items()},
                              **{f"test/{k}": v for k, v in test.items()}}, None)
        return summary
