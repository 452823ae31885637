"""raymtl.atomic: the target is the old content or the new one, never half; no temporary is left."""

from __future__ import annotations

import json
import os
from pathlib import Path
import stat

import pytest
import yaml

from raymtl import atomic


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_text_json_yaml_round_trip_and_leave_only_the_target(tmp_path):
    t = atomic.write_text(tmp_path / "a" / "notes.md", "héllo\n")
    assert t.read_text(encoding="utf-8") == "héllo\n"
    j = atomic.write_json(tmp_path / "a" / "s.json", {"x": [1, 2.5], "p": tmp_path}, default=str, newline=True)
    assert json.loads(j.read_text()) == {"x": [1, 2.5], "p": str(tmp_path)} and j.read_text().endswith("}\n")
    y = atomic.write_yaml(tmp_path / "a" / "c.yaml", {"b": 1, "a": {"lr": 1e-3}})
    assert yaml.safe_load(y.read_text()) == {"b": 1, "a": {"lr": 1e-3}}
    assert list(yaml.safe_load(y.read_text())) == ["b", "a"]  # key order kept (sort_keys=False)
    assert _siblings(t) == ["c.yaml", "notes.md", "s.json"]


def test_new_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o027)
    try:
        p = atomic.write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = atomic.write_text(tmp_path / "results.csv", "old\n")
    with pytest.raises(TypeError):  # not JSON-serialisable: fails before anything is renamed
        atomic.write_json(target, {"x": object()})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            assert tmp.parent == target.parent and tmp.suffix == ".csv" and tmp.name.startswith(".")
            raise RuntimeError("writer died")
    assert target.read_text() == "old\n"
    assert _siblings(target) == ["results.csv"]


def test_atomic_path_renames_what_the_writer_wrote(tmp_path):
    with atomic.atomic_path(tmp_path / "fig.png") as tmp:
        tmp.write_bytes(b"\x89PNG...")
        assert not (tmp_path / "fig.png").exists()  # not visible before the block ends
    assert (tmp_path / "fig.png").read_bytes() == b"\x89PNG..."
    assert _siblings(tmp_path / "fig.png") == ["fig.png"]


def test_stem_keeps_a_watched_name_out_of_the_temporary(tmp_path):
    target = tmp_path / "events.out.tfevents.raymtl-hparams"
    with atomic.atomic_path(target, stem="raymtl-hparams") as tmp:
        assert "tfevents" not in tmp.name and tmp.suffix == ".raymtl-hparams"
        tmp.write_bytes(b"event")
    assert target.read_bytes() == b"event"


def test_swap_dir_replaces_the_whole_directory(tmp_path):
    target = tmp_path / "shards"
    target.mkdir()
    (target / "old.arrow").write_text("1")
    new = tmp_path / ".shards.tmp"
    new.mkdir()
    (new / "new.arrow").write_text("2")
    atomic.swap_dir(new, target)
    assert sorted(p.name for p in target.iterdir()) == ["new.arrow"]  # no mix of old and new files
    assert _siblings(target) == ["shards"]  # the old copy is removed


def test_new_dir_swaps_on_success_and_keeps_the_old_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with atomic.new_dir(target) as d:
        (d / "state.pt").write_text("v1")
        assert not target.exists()
    assert (target / "state.pt").read_text() == "v1"
    with pytest.raises(RuntimeError):
        with atomic.new_dir(target) as d:
            (d / "state.pt").write_text("v2-half")
            raise RuntimeError("crash while writing")
    assert (target / "state.pt").read_text() == "v1"
    assert _siblings(target) == ["ckpt"]


def test_a_failed_rename_puts_the_old_directory_back(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep").write_text("old")
    new = tmp_path / "incoming"
    new.mkdir()
    real = os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # target -> old worked; tmp -> target fails (e.g. a full disk)
            raise OSError("rename failed")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OSError):
        atomic.swap_dir(new, target)
    assert (target / "keep").read_text() == "old"


def test_leftovers_of_a_killed_swap_are_found_and_removed(tmp_path, monkeypatch):
    target = tmp_path / "latest"
    with atomic.new_dir(target) as d:
        (d / "state.pt").write_text("epoch 1")
    (tmp_path / "latest2").mkdir()  # another name's directory is none of target's leftovers
    real = os.replace

    def killed_after_first_rename(src, dst):
        real(src, dst)
        if ".old-" in Path(dst).name:
            raise KeyboardInterrupt("killed between the renames")

    monkeypatch.setattr(os, "replace", killed_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic.new_dir(target) as d:
            (d / "state.pt").write_text("epoch 2")
    monkeypatch.setattr(os, "replace", real)
    assert not target.exists()
    old = atomic.leftovers(target, "old")
    assert len(old) == 1 and (old[0] / "state.pt").read_text() == "epoch 1"  # the whole previous version
    assert atomic.leftovers(target, "tmp") == []  # new_dir removed its temporary
    atomic.remove_leftovers(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest2"]
