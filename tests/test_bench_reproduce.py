"""bench/reproduce.py: the transformer rows (model extraction, configs) and one end-to-end smoke run."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import reproduce  # noqa: E402
import reproduce_suites  # noqa: E402


def _zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + str(f.relative_to(src)))
    return dest


@pytest.mark.parametrize("prefix", ["", "nested/model/"])
def test_extract_model_loads_with_from_pretrained(tiny_bert, tmp_path, prefix):
    from transformers import AutoModel

    archive = _zip_dir(tiny_bert, tmp_path / "model.zip", prefix)
    target = tmp_path / "models" / "tiny-0.1"
    assert reproduce.extract_model(archive, target) == target
    model = AutoModel.from_pretrained(str(target))
    assert model.config.hidden_size == 32
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny-0.1"]  # no temporary directory left


def test_extract_model_refuses_a_zip_without_a_model(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "no model here")
    with pytest.raises(SystemExit, match="no config.json"):
        reproduce.extract_model(archive, tmp_path / "models" / "x")
    assert list((tmp_path / "models").iterdir()) == []


def test_find_transformer_paths(tiny_bert, tmp_path):
    assert reproduce.find_transformer("none") is None
    assert reproduce.find_transformer(str(tiny_bert)) == tiny_bert
    with pytest.raises(SystemExit, match="config.json"):
        reproduce.find_transformer(str(tmp_path))


def test_transformer_rows_config(tiny_bert):
    model = next(m for m in reproduce_suites.ABSA.models if m.key == "cmtl+minilm")
    cfg, d, _ = reproduce.build_config(reproduce_suites.ABSA, model, "small", "glove", 2, tiny_bert)
    assert d["model"]["embedding"] == "transformer" and d["model"]["transformer"] == str(tiny_bert)
    assert d["model"]["transformer_layers"] == "mix"  # ELMo-style scalar mix, as causal-mtl's BERT rows
    assert d["data"]["vectors"] == "" and d["train"]["epochs"] == 6 and d["train"]["seed"] == 2
    assert model.paper == {"ate": 87.93, "acd": 91.00}
    glove = next(m for m in reproduce_suites.ABSA.models if m.key == "cmtl")
    _, g, _ = reproduce.build_config(reproduce_suites.ABSA, glove, "small", "glove", 2)
    assert g["model"]["embedding"] == "vectors" and g["train"]["epochs"] == 12
    with pytest.raises(ValueError, match="--transformer"):
        reproduce.build_config(reproduce_suites.ABSA, model, "small", "glove", 1)


def test_smoke_run_writes_rows_for_glove_and_transformer(tiny_bert, shards_root, monkeypatch, tmp_path):
    """Real data, tiny budget: the GloVe and '+minilm' CMTL rows train and land in quality.json."""
    monkeypatch.setenv("RAYMTL_SHARDS_DIR", str(shards_root("semeval14-restaurants")))
    monkeypatch.setenv("RAYMTL_REVIEW", "0")  # main() sets it for its runs; keep it from leaking into later tests
    out = tmp_path / "quality.json"
    rc = reproduce.main(["--budget", "smoke", "--suites", "absa", "--models", "cmtl", "cmtl+minilm",
                         "--transformer", str(tiny_bert), "--out", str(out), "--work", str(tmp_path / "work"),
                         "--records", str(tmp_path / "records")])
    assert rc == 0
    rows = json.loads(out.read_text())
    by = {(r["model"], r["task"]): r for r in rows}
    assert set(by) == {("CMTL", "ate"), ("CMTL", "acd"), ("CMTL + MiniLM-L6", "ate"), ("CMTL + MiniLM-L6", "acd")}
    for r in rows:
        assert r["seeds"] == 1 and 0.0 <= r["mean"] <= 100.0
    assert by[("CMTL + MiniLM-L6", "ate")]["embeddings"].startswith("model (frozen")
    assert by[("CMTL", "ate")]["embeddings"] == "glove-6b-50d"
    assert by[("CMTL + MiniLM-L6", "acd")]["paper"] == 91.00
    meta = json.loads((tmp_path / "quality_meta.json").read_text())
    assert meta["runs"] == {"total": 2, "cached": 0, "trained": 2, "failed": 0}
    assert any("MiniLM" in n for n in meta["notes"])
    md = (tmp_path / "quality.md").read_text()
    assert "| CMTL + MiniLM-L6 |" in md and "--budget smoke" in md and "| 91.00 |" in md
    # one small JSON per finished run, named by suite, model, seed and config hash
    recs = sorted(p.name for p in (tmp_path / "records").glob("*.json"))
    assert len(recs) == 2 and recs[0].startswith("absa__cmtl+minilm__seed1__")
    rec = json.loads((tmp_path / "records" / recs[1]).read_text())
    assert rec["config"]["model"]["arch"] == "cmtl" and rec["seed"] == 1 and "ate/f1" in rec["test"]
    assert rec["vocab"]["pretrained_only_words"] > 0 and "semeval14-restaurants/test" in rec["vocab"]["oov"]
    assert by[("CMTL + MiniLM-L6", "ate")]["embeddings"].endswith("(frozen, scalar mix of all layers)")
    # --cached-only tabulates the records and trains nothing: seed 2 is left out, seed 1 comes from its record
    # (another work directory: the records alone make the table)
    assert reproduce.main(["--budget", "smoke", "--suites", "absa", "--models", "cmtl", "--seeds", "2",
                           "--transformer", "none", "--cached-only", "--out", str(out),
                           "--work", str(tmp_path / "work2"), "--records", str(tmp_path / "records")]) == 0
    again = {(r["model"], r["task"]): r for r in json.loads(out.read_text())}
    assert set(again) == {("CMTL", "ate"), ("CMTL", "acd")}
    assert again[("CMTL", "ate")]["seeds"] == 1 and again[("CMTL", "ate")]["mean"] == by[("CMTL", "ate")]["mean"]
    runs = json.loads((tmp_path / "quality_meta.json").read_text())["runs"]
    assert (runs["trained"], runs["cached"], len(runs["not_run"])) == (0, 1, 1)


def test_searched_row_trains_the_best_config_as_is(tmp_path):
    import yaml

    best = yaml.safe_load((Path(reproduce.REPO) / "configs" / "absa_cmtl.yaml").read_text())
    best["model"].update(hidden=32, label_dim=32)
    best["optim"]["lr"] = 0.0021
    best["train"].update(epochs=7, seed=99)
    path = tmp_path / "best_config.yaml"
    path.write_text(yaml.safe_dump(best))
    model = reproduce_suites.Model("cmtl+search", "CMTL (raymtl search)", "cmtl", tuned=str(path))
    _, d, dropped = reproduce.build_config(reproduce_suites.ABSA, model, "small", "glove", 3)
    assert (d["model"]["hidden"], d["optim"]["lr"], d["train"]["epochs"], d["train"]["seed"]) == (32, 0.0021, 7, 3)
    assert dropped == []
    _, smoke, _ = reproduce.build_config(reproduce_suites.ABSA, model, "smoke", "glove", 1)
    assert smoke["train"]["epochs"] == 1 and smoke["data"]["max_train_examples"] == 48
    with pytest.raises(ValueError, match="small"):
        reproduce.build_config(reproduce_suites.ABSA, model, "paper", "glove", 1)
    assert any(m.tuned == "bench/results/tuned/absa_cmtl_small.yaml" for m in reproduce_suites.ABSA.models)


def test_refit_row_trains_on_train_and_dev_for_the_recorded_best_epoch(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAYMTL_REVIEW", "0")  # main() sets it for its runs; keep it from leaking into later tests
    refit = next(m for m in reproduce_suites.JERE.models if m.refit_of)
    base = next(m for m in reproduce_suites.JERE.models if m.key == refit.refit_of)
    args = ["--budget", "small", "--suites", "jere", "--models", refit.key, "--seeds", "2", "--records", str(tmp_path),
            "--plan"]
    with pytest.raises(SystemExit):  # no record of the base run: nothing to refit
        reproduce.main(args)
    assert f"no record of {base.key} seed 1" in capsys.readouterr().out
    cfg, d, drop = reproduce.build_config(reproduce_suites.JERE, base, "small", "glove", 2)
    stem = reproduce.Run(reproduce_suites.JERE, base, 2, cfg, d, drop).stem
    (tmp_path / f"{stem}.json").write_text(json.dumps({"best_epoch": 7}))  # seed 2's base run stopped at 7
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    assert f"skipped: jere/{refit.key} seed 1 (no record" in out and "1 runs; records" in out  # seed 2 is planned
    assert f"skipped: jere/{refit.key} seed 2" not in out
    assert reproduce.recorded_best_epoch(reproduce_suites.JERE, base.key, "small", "glove", 2, None, tmp_path) == 7
    _, r, _ = reproduce.build_config(reproduce_suites.JERE, refit, "small", "glove", 2, refit_epochs=7)
    assert r["data"]["train_splits"] == {"conll04": "train+dev"}
    assert (r["train"]["epochs"], r["train"]["patience"], r["train"]["select"]) == (7, 0, "last")
    assert r["model"] == d["model"] and r["optim"] == d["optim"]  # the same model, only the protocol differs
    with pytest.raises(ValueError, match="epochs"):
        reproduce.build_config(reproduce_suites.JERE, refit, "small", "glove", 2)


def test_cache_key_ignores_fields_at_their_default_and_follows_settings():
    model = next(m for m in reproduce_suites.ABSA.models if m.key == "cmtl")
    _, d, _ = reproduce.build_config(reproduce_suites.ABSA, model, "small", "glove", 1)
    key = reproduce.config_hash(d)
    older = {**d, "data": {k: v for k, v in d["data"].items() if k != "test_splits"}}  # before that field existed
    assert reproduce.config_hash(older) == key
    assert reproduce.config_hash({**d, "optim": {**d["optim"], "lr": 1e-3}}) != key
    assert reproduce.config_hash({**d, "train": {**d["train"], "seed": 2}}) != key
    assert reproduce.config_hash({**d, "data": {**d["data"], "test_splits": {"x": "y"}}}) != key


def test_commit_record_commits_that_file_only(tmp_path):
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "other.py").write_text("x = 1\n")
    git("add", "other.py")
    git("commit", "-q", "-m", "start")
    (tmp_path / "other.py").write_text("x = 2\n")  # someone's unstaged edit
    (tmp_path / "staged.py").write_text("y = 1\n")
    git("add", "staged.py")  # and someone's staged file
    rec = tmp_path / "runs" / "small" / "absa__cmtl__seed1__abc.json"
    rec.parent.mkdir(parents=True)
    rec.write_text("{}")
    assert reproduce.commit_record(rec, "reproduce (small): absa/cmtl seed 1", repo=tmp_path)
    assert git("show", "--name-only", "--format=%s", "HEAD").split() == [
        "reproduce", "(small):", "absa/cmtl", "seed", "1", "runs/small/absa__cmtl__seed1__abc.json"]
    status = git("status", "--porcelain")
    assert " M other.py" in status and "A  staged.py" in status
