"""`raymtl data ...` as users run it, and the download/verify path of the dataset registry.

Nothing touches the network: downloads are exercised with file:// URLs of the local copies."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from raymtl.data.commands import download_file, verify_files
from raymtl.data.registry import RemoteFile, default_registry
from raymtl.data.shards import sha256_file
from raymtl.errors import DataError

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raymtl.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=300)


def test_every_registered_file_verifies_against_the_local_copy(data_dir):
    checked = 0
    for entry in default_registry():
        if not entry.folder:
            continue
        assert verify_files(entry, entry.source_dir(data_dir)) == [f.name for f in entry.files]
        checked += len(entry.files)
    assert checked >= 60


def test_download_verifies_sha256_and_extracts_members(dataset_dir, tmp_path):
    src = dataset_dir("conll04") / "dev.txt"
    good = sha256_file(src)
    out = download_file(src.as_uri(), tmp_path / "dev.txt", good)
    assert sha256_file(out) == good
    with pytest.raises(DataError, match="checksum mismatch"):
        download_file(src.as_uri(), tmp_path / "bad.txt", "0" * 64)
    assert not (tmp_path / "bad.txt").exists() and [p.name for p in tmp_path.iterdir()] == ["dev.txt"]
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src, "folder/dev.txt")
    member = download_file(archive.as_uri(), tmp_path / "m" / "dev.txt", good, member="dev.txt")
    assert member.read_bytes() == src.read_bytes()


def test_download_command_with_a_registry_entry(dataset_dir, tmp_path, monkeypatch):
    import raymtl.data.commands as commands

    entry = default_registry().get("conll04")
    local = dataclasses.replace(entry, files=tuple(
        RemoteFile(f.name, (dataset_dir("conll04") / f.name).as_uri(), f.sha256) for f in entry.files))

    class OneEntry:
        def get(self, name):
            return local

    monkeypatch.setattr(commands, "default_registry", lambda: OneEntry())
    assert commands.download_cmd("conll04", tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.txt", "test.txt", "train.txt"]


def test_cli_list_prepare_inspect(data_dir, tmp_path):
    r = cli("data", "list")
    assert r.returncode == 0 and "conll04" in r.stdout and "found" in r.stdout
    r = cli("data", "prepare", "conll04", "--out", str(tmp_path), "--rows-per-shard", "500")
    assert r.returncode == 0, r.stderr
    assert "train: 910 examples in 2 shard(s)" in r.stdout and "re" in r.stdout
    r = cli("data", "prepare", "conll04", "--out", str(tmp_path), "--rows-per-shard", "500")
    assert r.returncode == 0 and "up to date" in r.stdout
    r = cli("data", "inspect", str(tmp_path / "conll04"), "--verify")
    assert r.returncode == 0 and "all shard checksums match" in r.stdout


def test_cli_errors_name_the_problem(tmp_path):
    r = cli("data", "prepare", "nope", "--out", str(tmp_path))
    assert r.returncode == 2 and "unknown dataset 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = cli("data", "prepare", "conll04", "--source", str(tmp_path / "missing"), "--out", str(tmp_path))
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad"
    shutil.copytree(Path(default_registry().get("conll04").source_dir(Path(os.environ.get(
        "RAYMTL_DATA_DIR", REPO.parent / "shared" / "data")))), bad)
    for p in bad.iterdir():
        p.chmod(0o644)
    lines = (bad / "dev.txt").read_text().splitlines()
    lines[5] = "\t".join(lines[5].split("\t")[:3])  # a line missing two columns
    (bad / "dev.txt").write_text("\n".join(lines) + "\n")
    r = cli("data", "prepare", "conll04", "--source", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "dev.txt:6" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "conll04").exists()


def test_help_explains_every_command():
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("data", "models", "train", "tune"):
        assert cmd in r.stdout
    r = cli("train", "--help")
    assert "--smoke-test" in r.stdout and "--workers" in r.stdout
    r = cli("tune", "--help")
    assert "--resume" in r.stdout and "--max-concurrent" in r.stdout


def test_models_command_lists_every_architecture():
    r = cli("models")
    assert r.returncode == 0
    for name in ("cmtl", "sg_mtl", "cg_mtl", "hps_lel_ltn", "stl_bilstm", "sp_mtl"):
        assert name in r.stdout
    r = cli("models", "cmtl")
    assert "label_dim" in r.stdout and "causal-mtl" in r.stdout


def test_output_piped_into_a_reader_that_stops_early_is_no_traceback(data_dir):
    """`raymtl data list --verbose | head -1`: the reader has closed the pipe; raymtl ends quietly (141)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write fails with EPIPE
    proc = subprocess.run([sys.executable, "-m", "raymtl.cli", "data", "list", "--verbose"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "RAYMTL_DATA_DIR": str(data_dir)})
    os.close(write_end)
    assert proc.returncode == 141 and not proc.stderr.strip(), proc.stderr
