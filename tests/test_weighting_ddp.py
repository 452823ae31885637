"""Weighting methods under DDP: exact against one process (gloo, 2 processes) and trained by 2 Ray Train workers.

Each rank holds different data; DDP's contract is that every rank applies the gradient of the mean
loss over ranks. For the toy's linear losses that is the single-process gradient at the mean of the
ranks' a_k, so each method's DDP update must equal its single-process update there.
"""

from __future__ import annotations

import gc
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from raymtl.train.config import TrainConfig, WeightingConfig
from raymtl.train.weighting import METHODS, WeightingStep, build_weighting, split_parameters
from raymtl.train.cluster import start_local  # Ray Train's helpers find it beside other Rays

REPO = Path(__file__).resolve().parent.parent
TASKS = ["a", "b"]
# per rank: (a_a, a_b, offset_a, offset_b); the mean over ranks is what one process sees
RANK_DATA = [((1.0, 0.0), (-1.0, 1.0), 0.0, 1.0), ((3.0, 0.0), (1.0, 1.0), 2.0, -1.0)]
MEAN = ((2.0, 0.0), (0.0, 1.0), 1.0, 0.0)
RAY_TRAIN_METHODS = ["dwa", "gradnorm", "uw"]


class Toy(nn.Module):
    def __init__(self, data):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.5, -0.5]))
        self.heads = nn.ParameterDict({"a": nn.Parameter(torch.tensor(1.0)), "b": nn.Parameter(torch.tensor(2.0))})
        self.a = {"a": torch.tensor(data[0]), "b": torch.tensor(data[1])}
        self.off = {"a": data[2], "b": data[3]}

    def forward(self) -> torch.Tensor:
        return torch.stack([self.a[k] @ self.theta + self.heads[k] ** 2 + self.off[k] for k in TASKS])


def run_methods(data, world: int, wrap) -> dict[str, dict]:
    """Two steps (an epoch boundary between them) of every method; theta/head grads and weights."""
    out = {}
    for name in sorted(METHODS):
        torch.manual_seed(0)
        core = Toy(data)
        model = wrap(core)
        m = build_weighting(WeightingConfig(method=name, gradnorm_lr=0.1, gradnorm_alpha=1.0), TASKS,
                            {"a": 1.0, "b": 0.5}, seed=3)
        opt = torch.optim.SGD(list(core.parameters()) + m.parameters(), lr=0.05)
        shared, rest = split_parameters(core, [core.theta])
        rec = []
        for step in range(3):
            opt.zero_grad(set_to_none=True)
            with m.forward_context(model):
                losses = model()
            w = m.backward({"a": losses[0], "b": losses[1]}, {}, WeightingStep(shared, rest, step=step, world=world))
            rec.append({"w": w, "theta": core.theta.grad.tolist(), "head_b": float(core.heads["b"].grad)})
            opt.step()
            if step == 1:
                m.end_epoch(0, world)
        out[name] = rec
    return out


def ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        res = run_methods(RANK_DATA[rank], world,
                          lambda mod: nn.parallel.DistributedDataParallel(mod, find_unused_parameters=True))
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(res))
    finally:
        # The DDP wrappers sit in reference cycles; freed only at interpreter exit, after the group is
        # gone, their reducers abort the process (SIGABRT, ~1 run in 6). Free them while it exists.
        gc.collect()
        dist.destroy_process_group()


def test_ddp_update_equals_single_process_update(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    single = run_methods(MEAN, 1, lambda mod: mod)
    for name in METHODS:
        for step in range(3):
            for r in range(2):
                got, want = ranks[r][name][step], single[name][step]
                assert got["theta"] == pytest.approx(want["theta"], abs=1e-5), (name, step, r)
                assert got["head_b"] == pytest.approx(want["head_b"], abs=1e-5), (name, step, r)
                assert got["w"] == pytest.approx(want["w"], abs=1e-5), (name, step, r)
    # Projecting on each rank and letting DDP average (the wrong order) gives another update: rank 0's
    # tasks conflict, the mean gradients do not. So the check above tells the two apart.
    per_rank = [run_methods(RANK_DATA[r], 1, lambda mod: mod)["pcgrad"][0]["theta"] for r in range(2)]
    naive = [(x + y) / 2 for x, y in zip(*per_rank)]
    assert naive != pytest.approx(ranks[0]["pcgrad"][0]["theta"], abs=1e-3)


@pytest.mark.slow
def test_each_kind_of_method_trains_under_two_ray_train_workers(shards_root, tmp_path):
    """One Ray, short 2-worker (gloo) TorchTrainer runs of CMTL on SemEval-2014 restaurants, one per
    distinct path through the loop: an epoch-end all-reduce (dwa), learned loss weights in the
    optimiser (uw), per-task gradients (gradnorm, whose weights follow its own update). Every
    method's DDP update is checked exactly against one process above; each TorchTrainer run costs
    ~17 s of start-up."""
    import ray

    from raymtl.train.run import run_train

    os.environ["RAYMTL_SHARDS_DIR"] = str(shards_root("semeval14-restaurants"))  # inherited by the workers
    start_local(2, dashboard=True, log_to_driver=False)
    try:
        for name in RAY_TRAIN_METHODS:
            cfg = TrainConfig.load(REPO / "configs" / "absa_cmtl.yaml", [
                "data.max_train_examples=96", "data.max_eval_examples=32", "data.vectors=",
                "model.embedding=random", "model.emb_dim=16", "model.hidden=16", "train.epochs=2",
                "train.batch_size=16", "train.patience=0", f"train.weighting.method={name}"])
            cfg.model["label_dim"] = 16
            s = run_train(cfg, workers=2, storage=str(tmp_path), name=name, quiet=True)
            assert s["world_size"] == 2 and s["epochs_run"] == 2, name
            assert s["config"]["train"]["weighting"]["method"] == name
            for h in s["history"]:
                assert math.isfinite(h["train/loss"]) and h["weighting/ate"] > 0 and h["weighting/acd"] > 0, name
    finally:
        ray.shutdown()


def test_ray_train_methods_cover_each_kind_of_method():
    """The Ray Train run above takes one method of each kind: if one is renamed, this says so."""
    kinds = {n: (METHODS[n].gradient_based, bool(build_weighting(WeightingConfig(method=n), TASKS,
                                                                 {"a": 1.0, "b": 1.0}).parameters()))
             for n in RAY_TRAIN_METHODS}
    assert set(RAY_TRAIN_METHODS) <= set(METHODS)
    assert {(False, False), (False, True), (True, False)} <= set(kinds.values()), kinds
