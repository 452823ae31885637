"""Shared fixtures. Real data comes from $RAYMTL_DATA_DIR (default ../shared/data beside the repo).

When the data is missing the tests that need it fail under CI=true and skip (loudly) elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from raymtl.paths import data_dir as _data_dir


def _require(path: Path) -> Path:
    if path.exists():
        return path
    msg = f"real data not found at {path} (set RAYMTL_DATA_DIR)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(_data_dir())


@pytest.fixture(scope="session")
def dataset_dir(data_dir):
    """``dataset_dir("conll04")`` -> the folder of one corpus, failing under CI when absent."""

    def get(folder: str) -> Path:
        return _require(data_dir / folder)

    return get


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, data_dir):
    """``prepared("conll04")`` -> directory of that dataset's shards, prepared once per session."""
    from raymtl.data.prepare import prepare
    from raymtl.data.registry import default_registry

    root = tmp_path_factory.mktemp("shards")
    registry = default_registry()
    done: dict[str, Path] = {}

    def get(name: str, **options) -> Path:
        key = name + repr(sorted(options.items()))
        if key not in done:
            entry = registry.get(name)
            out = root / f"opt{len(done)}"
            done[key] = prepare(entry, _require(entry.source_dir(data_dir)), out, options=options,
                                log=lambda _m: None).path
        return done[key]

    return get


@pytest.fixture(scope="session")
def real_batch(prepared):
    """``real_batch("conll04", n=16)`` -> a Batch of the first n train examples, plus tasks and vocab."""
    from raymtl.data.batch import BatchEncoder
    from raymtl.data.manifest import Manifest
    from raymtl.data.shards import open_split
    from raymtl.data.vocab import Vocab

    def get(name: str, n: int = 16, split: str = "train", tasks: list[str] | None = None, **options):
        path = prepared(name, **options)
        manifest = Manifest.load(path)
        specs = [t for t in manifest.tasks if tasks is None or t.name in tasks]
        vocab = Vocab.from_manifests([manifest])
        table = open_split(path, split, manifest=manifest)
        enc = BatchEncoder(vocab, specs)
        return enc.encode(table, list(range(min(n, table.num_rows)))), specs, vocab

    return get


@pytest.fixture(scope="session")
def shards_root(prepared, tmp_path_factory):
    """``shards_root("conll04", "fnc1")`` -> one directory holding those datasets' shards (symlinks to
    the session's prepared copies), for configs that read ``data.shards``/``RAYMTL_SHARDS_DIR``."""
    root = tmp_path_factory.mktemp("shards-root")

    def get(*names: str) -> Path:
        for name in names:
            link = root / name
            if not link.exists():
                link.symlink_to(prepared(name))
        return root

    return get


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A random 2-layer BERT and a word-piece tokenizer written locally, saved with save_pretrained."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "food", "was", "great", "##s", "good",
             "serv", "##ice", "pizza", "##s"]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast.from_pretrained(str(root))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=37))
    out = root / "model"
    tok.save_pretrained(str(out))
    model.save_pretrained(str(out))
    return out


@pytest.fixture(autouse=True)
def _no_ray_left_behind():
    """An in-process Ray that a test started ends with it, so the next test starts clean whatever the
    order (a module's shared Ray, started by a wider-scoped fixture before this one, is left alone)."""
    import sys

    before = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    yield
    ray = sys.modules.get("ray")
    if ray is not None and not before and ray.is_initialized():
        ray.shutdown()


def pytest_configure(config):
    # Tiny tensors on a 2-core machine shared with Ray workers run far slower with intra-op threads.
    import torch

    torch.set_num_threads(1)
