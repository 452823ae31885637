"""Auxiliary-task selection, its ledger: each (subset, λ, seed) point and its keys, the append-only
``ledger.jsonl`` of finished trials (written the moment a trial ends, by a Tune callback in the
driver), and what a resumed run still has to do.
"""

from __future__ import annotations

import json
import os
import sys
import time
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from raymtl import atomic
from raymtl.errors import ConfigError
from raymtl.search import aux as auxenc

if typing.TYPE_CHECKING:  # pragma: no cover
    from raymtl.search.aux_select import AuxSelectOptions

LEDGER = "ledger.jsonl"


def point_params(pool: Sequence[str], subset: Iterable[str], weights: Mapping[str, float], seed: int) -> dict:
    chosen = set(subset)
    p: dict[str, Any] = {auxenc.flag_name(t): t in chosen for t in pool}
    for t in pool:
        if t in chosen:
            p[auxenc.weight_name(t)] = float(weights[t])
    p["train.seed"] = int(seed)
    return p


def weights_code(weights: Mapping[str, float]) -> str:
    return ",".join(f"{t}={float(w):.4g}" for t, w in sorted(weights.items()))


def config_key(subset: Sequence[str], weights: Mapping[str, float]) -> str:
    return f"{auxenc.encode_subset(subset)}|{weights_code(weights)}"


def trial_key(subset: Sequence[str], weights: Mapping[str, float], seed: int) -> str:
    return f"{config_key(subset, weights)}|seed={int(seed)}"


def decode_params(params: Mapping[str, Any], pool: Sequence[str]) -> tuple[tuple[str, ...], dict[str, float], int]:
    subset = auxenc.chosen_subset(params, pool)
    weights = {t: float(params[auxenc.weight_name(t)]) for t in subset if auxenc.weight_name(t) in params}
    return subset, weights, int(params.get("train.seed", 0))


def read_ledger(exp_dir: Path) -> list[dict]:
    path = Path(exp_dir) / LEDGER
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash mid-write: ignore, the trial re-runs
            print(f"warning: {path}:{i}: unreadable ledger line ignored", file=sys.stderr)
    return out


def finished(ledger: Iterable[dict]) -> dict[str, dict]:
    """trial key -> record of every full-budget (not early-stopped by the scheduler) finished trial."""
    return {r["key"]: r for r in ledger if r.get("complete")}


def append_ledger(exp_dir: Path, record: dict) -> None:
    path = Path(exp_dir) / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def ledger_callback_cls():
    """The Tune callback class (built lazily: importing this module needs no Ray)."""
    from ray.tune import Callback

    class LedgerCallback(Callback):
        """Appends each finished trial to the ledger as soon as it finishes (in the driver)."""

        def __init__(self, exp_dir: str, pool: list[str], points: list[dict] | None, phase: str, round_name: str,
                     test_key: str):
            self.exp_dir, self.pool, self.points = exp_dir, pool, points
            self.phase, self.round_name, self.test_key = phase, round_name, test_key

        def _record(self, trial, error: str | None = None) -> None:
            cfg = dict(trial.config or {})
            params = self.points[int(cfg["point"])] if self.points is not None and "point" in cfg else cfg
            subset, weights, seed = decode_params(params, self.pool)
            m = dict(trial.last_result or {})
            rec = {"key": trial_key(subset, weights, seed), "config": config_key(subset, weights),
                   "subset": list(subset), "weights": weights, "seed": seed,
                   "complete": bool(m.get("final")) and error is None, "phase": self.phase,
                   "round": self.round_name, "trial": trial.trial_id, "epochs": m.get("epoch"),
                   "dev": m.get("best_dev_score", m.get("dev_score")), "test": m.get(self.test_key),
                   "metrics": {k: v for k, v in m.items() if k.startswith(("dev/", "test/"))
                               and isinstance(v, (int, float))},
                   "wall_time_s": m.get("time_total_s"), "error": error, "finished_at": time.time()}
            append_ledger(Path(self.exp_dir), rec)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._record(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._record(trial, error="trial failed (see its Tune log)")

    return LedgerCallback


def exhaustive_points(pool: Sequence[str], seeds: Sequence[int], weight: float) -> list[dict]:
    """Every subset (main only first) × seed, seed-major: a partial budget covers subsets evenly."""
    out = []
    for seed in seeds:
        for subset in auxenc.all_subsets(pool):
            ordered = [t for t in pool if t in subset]
            out.append(point_params(pool, ordered, {t: weight for t in ordered}, seed))
    return out


def pending_points(points: list[dict], pool: Sequence[str], done: Mapping[str, dict]) -> list[dict]:
    return [p for p in points if trial_key(*decode_params(p, pool)) not in done]


def write_meta(exp_dir: Path, opts: AuxSelectOptions, seeds: list[int], test_key: str, single_arch: str) -> None:
    """``aux_select.json``: the settings a resumed run must share with the first (else a ConfigError)."""
    meta = {"single_arch": single_arch, "main": opts.main, "pool": list(opts.pool), "strategy": opts.strategy, "seeds": seeds,
            "weights": opts.weights, "weight": opts.weight, "base": str(opts.base), "overrides": opts.overrides,
            "smoke_test": opts.smoke_test, "test_key": test_key}
    path = exp_dir / "aux_select.json"
    if path.exists():
        old = json.loads(path.read_text())
        for k in ("main", "pool", "weights", "weight", "base", "overrides", "smoke_test", "single_arch"):
            if old.get(k) != meta[k]:
                raise ConfigError(f"{exp_dir} was started with {k} = {old.get(k)!r}, not {meta[k]!r}; finished "
                                  "trials would not be comparable (choose another --name)", key=f"--{k}")
    atomic.write_json(path, meta)
