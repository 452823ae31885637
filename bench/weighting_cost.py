#!/usr/bin/env python
"""Per-step cost of each loss weighting method (train.weighting.method, docs/weighting.md).

CMTL on SemEval-2014 restaurants at bench/reproduce.py's small budget (hidden 64, label_dim 64,
batch 32), one process, 1 torch thread, raymtl's own loop (no Ray). Each method trains
``--epochs`` epochs of ``--steps`` steps; the first epoch is warm-up, the rest give CPU
milliseconds per step from the loop's own ``train/cpu_seconds`` (the training thread's CPU time,
so other users of the cores inflate it less than wall time) and wall milliseconds per step.

    python bench/weighting_cost.py                 # ~3 min on 2 busy CPUs
    python bench/weighting_cost.py --steps 20 --methods fixed,pcgrad

Writes bench/results/weighting_cost.json (or --out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, print_table, write_json_atomic  # noqa: E402

CONFIG = REPO / "configs" / "absa_cmtl.yaml"


def measure(method: str, steps: int, epochs: int, vectors: str) -> dict:
    import torch

    from raymtl.train.config import TrainConfig
    from raymtl.train.loop import Runner
    from raymtl.train.reporter import LocalReporter
    from raymtl.train.trainer import validate

    torch.set_num_threads(1)
    cfg = TrainConfig.load(CONFIG, [f"train.weighting.method={method}", f"train.epochs={epochs}",
                                    f"train.max_steps_per_epoch={steps}", "train.patience=0",
                                    "data.max_eval_examples=64", "train.eval_test=false",
                                    f"data.vectors={vectors}"] + ([] if vectors else ["model.embedding=random"]))
    cfg.model.update(hidden=64, label_dim=64)
    locations = validate(cfg, log=lambda m: None)
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(cfg, locations, reporter=LocalReporter(Path(tmp)), run_dir=Path(tmp), log=lambda m: None)
        shared = sum(p.numel() for p in runner.param_split[0])
        rest = sum(p.numel() for p in runner.param_split[1])
        hist = runner.fit()["history"][1:]
    n = sum(h["train/steps"] for h in hist)
    return {"method": method, "steps": n, "cpu_ms_per_step": 1000 * sum(h["train/cpu_seconds"] for h in hist) / n,
            "wall_ms_per_step": 1000 * sum(h["train/seconds"] for h in hist) / n,
            "shared_params": shared, "other_params": rest}


def main(argv: list[str] | None = None) -> int:
    from raymtl.train.weighting import METHODS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per method (the first is warm-up)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    ap.add_argument("--vectors", default="glove-6b-50d", help="data.vectors ('' = random embeddings)")
    ap.add_argument("--out", default=str(RESULTS / "weighting_cost.json"))
    args = ap.parse_args(argv)
    info = machine_info()
    rows = [measure(m, args.steps, args.epochs, args.vectors) for m in args.methods.split(",")]
    base = next((r["cpu_ms_per_step"] for r in rows if r["method"] == "fixed"), None)
    for r in rows:
        r["cpu_vs_fixed"] = r["cpu_ms_per_step"] / base if base else None
    print_table(["method", "CPU ms/step", "wall ms/step", "x fixed (CPU)", "shared params"],
                [[r["method"], f"{r['cpu_ms_per_step']:.1f}", f"{r['wall_ms_per_step']:.1f}",
                  f"{r['cpu_vs_fixed']:.2f}" if r["cpu_vs_fixed"] else "-", r["shared_params"]] for r in rows])
    write_json_atomic(args.out, {"machine": info, "config": str(CONFIG.relative_to(REPO)), "steps": args.steps,
                                 "epochs": args.epochs, "vectors": args.vectors, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
