"""The training config: datasets, tasks with λ weights, architecture, optimiser, loop, schedules.

A config is YAML (see configs/*.yaml). Task references are ``TASK`` when one dataset is used and
``DATASET:TASK`` otherwise; that reference is the task's key everywhere (batches, losses,
metrics, TensorBoard). ``validate`` checks everything that can be checked before a worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from raymtl.configs import apply_overrides, from_mapping, load_yaml, naming_overrides, to_dict
from raymtl.errors import ConfigError
from raymtl.numeric import check_number
from raymtl.train.schedules import ScheduleConfig


@dataclass
class DataConfig:
    datasets: list[str] = field(default_factory=list)
    shards: str = ""  # root of prepared shards (default: $RAYMTL_SHARDS_DIR or ~/.cache/raymtl/shards)
    prepare: bool = True  # prepare registered datasets from the data dir when their shards are missing
    train_split: str = "train"
    dev_split: str = "dev"
    test_split: str = "test"
    # per-dataset test split, overriding test_split, e.g. {semeval16-stance: test_b} (SemEval-2016
    # subtask B: the unseen target Donald Trump, as disparate-label-spaces evaluates)
    test_splits: dict[str, str] = field(default_factory=dict)
    # per-dataset train and dev splits, overriding train_split/dev_split; "a+b" is the union of two
    # splits, e.g. {semeval16-stance: train+dev} trains on the whole subtask A file
    train_splits: dict[str, str] = field(default_factory=dict)
    dev_splits: dict[str, str] = field(default_factory=dict)
    max_train_examples: int | None = None  # per dataset, for quick runs (--smoke-test sets it)
    max_eval_examples: int | None = None
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = 120
    max_pair_len: int | None = 60
    vectors: str = ""  # "" | "glove-6b-50d" | path to a GloVe/word2vec text file
    # words of every split (dev, test, ...) that have a pretrained vector get it, not <unk>; only
    # their tokens are read, never their labels. false: the train split's words only
    vectors_all_splits: bool = True
    # α of word dropout: a training token becomes <unk> with probability α / (α + its train count)
    # (Kiperwasser & Goldberg 2016), so <unk> is trained on rare words; 0 = off
    unk_dropout: float = 0.25
    tagging_scheme: Literal["BIO", "BILOU"] = "BIO"  # BILOU: BIO tagging tasks train on BILOU tags


@dataclass
class TaskConfig:
    name: str  # TASK or DATASET:TASK
    weight: float = 1.0  # λ
    main: bool = False


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "rmsprop", "adadelta", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0  # l2
    clip: float = 5.0  # max gradient norm; 0 = off
    momentum: float = 0.0
    # fine-tuned embedding tables get row-sparse gradients where the update stays exact
    # (raymtl/train/sparse_grads.py: adadelta, l2 0, one CPU worker); false: always dense
    sparse_embeddings: bool = True


@dataclass
class WeightingConfig:
    """How task losses combine (raymtl/train/weighting/, docs/weighting.md)."""

    method: Literal["fixed", "equal", "uw", "dwa", "gradnorm", "pcgrad", "cagrad"] = "fixed"
    dwa_temperature: float = 2.0  # T of DWA (Liu et al. 2019 eq. 7; the paper's 2)
    gradnorm_alpha: float = 1.5  # α of GradNorm (Chen et al. 2018 eq. 1)
    gradnorm_lr: float = 0.025  # step size of GradNorm's own weight update
    cagrad_c: float = 0.5  # c of CAGrad (Liu et al. 2021; the paper's 0.4-0.5)


@dataclass
class LoopConfig:
    batch_size: int = 32
    eval_batch_size: int = 128
    epochs: int = 10
    patience: int = 5  # epochs without dev improvement before stopping; 0 = never stop early
    seed: int = 1
    sampling: Literal["auto", "joint", "proportional", "uniform", "temperature", "round_robin"] = "auto"
    temperature: float = 2.0
    monitor: str = "main"  # "main" (main task's metric), "mean", or a metric key like "ate/f1"
    # which epoch's weights are tested and saved as the run's result: "best" (the best dev epoch) or
    # "last" (a refit for a fixed number of epochs, e.g. on data.train_splits train+dev as Bekoulis et
    # al. 2018 do; needs train.patience 0, as dev no longer selects anything)
    select: Literal["best", "last"] = "best"
    bucket: bool = True
    mixed_precision: bool = False  # bf16/fp16 autocast on GPU only
    nonfinite: Literal["fail", "skip_batch", "lower_lr"] = "fail"
    max_steps_per_epoch: int | None = None
    # The run fails as diverged (DivergenceError) when a training batch's loss exceeds this factor
    # times its stream's first-batch loss of the run, or an epoch's mean loss this factor times the
    # first epoch's; null = off. Large because length buckets alone spread batch losses ~10-100x
    diverge_factor: float | None = 1000.0
    eval_test: bool = True
    weighting: WeightingConfig = field(default_factory=WeightingConfig)


# Ranges of the numeric fields (raymtl.numeric.check_number keywords); "null" is the documented "no
# limit" wherever none_ok is set, so 0 or a negative count never silently means "everything".
NUMERIC_RANGES: dict[str, dict[str, Any]] = {
    "data.max_train_examples": {"integer": True, "low": 1, "none_ok": True},
    "data.max_eval_examples": {"integer": True, "low": 1, "none_ok": True},
    "data.min_freq": {"integer": True, "low": 1},
    "data.max_vocab": {"integer": True, "low": 1, "none_ok": True},
    "data.max_len": {"integer": True, "low": 1, "none_ok": True},
    "data.max_pair_len": {"integer": True, "low": 1, "none_ok": True},
    "data.unk_dropout": {"low": 0},
    "optim.lr": {"low": 0, "low_open": True},  # too large a one diverges: train.diverge_factor
    "optim.weight_decay": {"low": 0},
    "optim.clip": {"low": 0, "hint": "0 turns clipping off"},
    "optim.momentum": {"low": 0, "high": 1, "high_open": True},
    "train.batch_size": {"integer": True, "low": 1},
    "train.eval_batch_size": {"integer": True, "low": 1},
    "train.epochs": {"integer": True, "low": 1},
    "train.patience": {"integer": True, "low": 0, "hint": "0 never stops early"},
    "train.seed": {"integer": True, "low": 0, "high": 2**32 - 1},
    "train.temperature": {"low": 0, "low_open": True},
    "train.max_steps_per_epoch": {"integer": True, "low": 1, "none_ok": True},
    "train.diverge_factor": {"low": 1, "low_open": True, "none_ok": True},
}


@dataclass
class TrainConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    tasks: list[TaskConfig] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)  # {"arch": NAME, **architecture fields}
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    @property
    def arch(self) -> str:
        return str(self.model.get("arch", ""))

    @property
    def arch_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model.items() if k != "arch"}

    @property
    def main_task(self) -> str:
        mains = [t.name for t in self.tasks if t.main]
        return mains[0] if mains else self.tasks[0].name

    def task_ref(self, ref: str) -> tuple[str, str]:
        """(dataset, task) of a task reference."""
        if ":" in ref:
            ds, task = ref.split(":", 1)
            return ds, task
        if len(self.data.datasets) != 1:
            raise ConfigError(f"task {ref!r} must be written DATASET:TASK when several datasets are used",
                              key="tasks")
        return self.data.datasets[0], ref

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict, *, file: str | Path | None = None) -> "TrainConfig":
        cfg = from_mapping(cls, data, file=file)
        cfg.check_shape(file=file)
        return cfg

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> "TrainConfig":
        data = load_yaml(path)
        with naming_overrides(overrides):
            return cls.from_dict(apply_overrides(data, overrides), file=path)

    def check_shape(self, *, file: str | Path | None = None) -> None:
        """Checks that need no data: presence of required keys, consistent task references."""
        if not self.data.datasets:
            raise ConfigError("at least one dataset is required", file=file, key="data.datasets")
        if not self.tasks:
            raise ConfigError("at least one task is required", file=file, key="tasks")
        if not self.arch:
            raise ConfigError("model.arch is required (see `raymtl models`)", file=file, key="model.arch")
        self.check_datasets(file=file)
        seen = set()
        for i, t in enumerate(self.tasks):
            try:
                ds, _ = self.task_ref(t.name)
            except ConfigError as e:
                raise ConfigError(str(e).split(": ", 1)[-1], file=file, key=f"tasks[{i}].name") from None
            if ds not in self.data.datasets:
                raise ConfigError(f"dataset {ds!r} of task {t.name!r} is not in data.datasets", file=file,
                                  key=f"tasks[{i}].name")
            if t.name in seen:
                raise ConfigError(f"task {t.name!r} listed twice", file=file, key=f"tasks[{i}].name")
            if t.weight < 0:
                raise ConfigError("λ weight must be >= 0", file=file, key=f"tasks[{i}].weight")
            seen.add(t.name)
        if sum(t.main for t in self.tasks) > 1:
            raise ConfigError("only one task can be main", file=file, key="tasks")
        self.check_numbers(file=file)

    def check_datasets(self, *, file: str | Path | None = None) -> None:
        """Each dataset is prepared under the shards root or registered (then prepared on first use)."""
        if self.data.shards and "://" in self.data.shards:
            return  # remote shards: checked when their manifests are read
        from raymtl.paths import shards_dir

        root = Path(self.data.shards) if self.data.shards else shards_dir()
        registered = None
        for i, ds in enumerate(self.data.datasets):
            if (root / str(ds) / "manifest.json").exists():
                continue
            if registered is None:
                from raymtl.data.registry import default_registry

                registered = [e.name for e in default_registry()]
            if ds not in registered:
                raise ConfigError(f"unknown dataset {ds!r}: not prepared in {root} and not registered "
                                  f"(registered: {', '.join(registered)}; a corpus of your own: "
                                  "`raymtl data prepare READER --name NAME`)", file=file, key=f"data.datasets[{i}]")

    def check_numbers(self, *, file: str | Path | None = None) -> None:
        """Every numeric field within its range (NUMERIC_RANGES; λ weights >= 0), before any worker starts."""
        for key, rule in NUMERIC_RANGES.items():
            section, name = key.split(".")
            check_number(getattr(getattr(self, section), name), key=key, file=file, **rule)
        for i, t in enumerate(self.tasks):
            check_number(t.weight, key=f"tasks[{i}].weight", file=file, low=0)
        for name, rule in (("dwa_temperature", {"low_open": True}), ("gradnorm_alpha", {}),
                           ("gradnorm_lr", {"low_open": True}), ("cagrad_c", {})):
            check_number(getattr(self.train.weighting, name), key=f"train.weighting.{name}", file=file, low=0, **rule)
        if self.train.select == "last" and self.train.patience > 0:
            raise ConfigError("train.select 'last' tests the last epoch: it has no early stopping, set "
                              "train.patience: 0", file=file, key="train.patience")
        if not self.data.unk_dropout >= 0:
            raise ConfigError(f"expected α >= 0, got {self.data.unk_dropout!r}", file=file, key="data.unk_dropout")
