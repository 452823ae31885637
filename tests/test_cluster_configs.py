"""cluster/gpu.yaml validates against the cluster-config schema shipped inside `ray`; the KubeRay
job runs the same entry point."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray.autoscaler
import yaml

REPO = Path(__file__).resolve().parent.parent


def test_gpu_cluster_yaml_matches_rays_schema():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())
    jsonschema.validate(config, schema)
    assert config["head_node_type"] in config["available_node_types"]
    gpu = [t for t in config["available_node_types"].values() if t.get("resources", {}).get("GPU")]
    assert gpu and gpu[0]["max_workers"] >= 1 and gpu[0]["min_workers"] == 0  # autoscaling GPU workers
    setup = " ".join(config["setup_commands"] + config["head_setup_commands"])
    assert "pip install" in setup and "raymtl data prepare" in setup
    assert config["file_mounts"] == {"~/src/raymtl": "."}  # not ~/raymtl: it would shadow raymtl in ~


def test_gpu_cluster_yaml_schema_rejects_a_typo():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())
    config["max_worker"] = config.pop("max_workers")
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("the schema accepted an unknown top-level key")



def test_onprem_cluster_yaml_is_a_local_provider_config_ray_accepts():
    from ray.autoscaler._private.local.config import prepare_local

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster" / "onprem.yaml").read_text())
    jsonschema.validate(config, schema)
    provider = config["provider"]
    assert provider["type"] == "local" and provider["head_ip"] and len(provider["worker_ips"]) >= 1
    assert "available_node_types" not in config  # the local provider makes its own single node type
    prepared, _ = prepare_local(config)  # what `ray up` does first (aborts on what on-prem cannot take)
    node_type = prepared["available_node_types"]["local.cluster.node"]
    assert node_type["min_workers"] == node_type["max_workers"] == len(provider["worker_ips"])
    assert config["file_mounts"]["~/src/raymtl"] == "."
    setup = " ".join(config["setup_commands"])
    assert "cd ~/src/raymtl" in setup and "pip install" in setup and "RAYMTL_SHARDS_DIR=$HOME/raymtl-shards" in setup
    # Shards prepared once on the head into the directory synced to every worker, checked there.
    assert "raymtl data prepare" in " ".join(config["head_setup_commands"])
    assert "--out ~/raymtl-shards" in " ".join(config["head_setup_commands"])
    assert config["cluster_synced_files"] == ["~/raymtl-shards"]
    assert "raymtl data inspect" in " ".join(config["worker_setup_commands"]) and "--verify" in " ".join(
        config["worker_setup_commands"])
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("--num-gpus=" in c for c in starts if c.startswith("ray start"))  # GPUs per node declared


def _run_in_home(command: str, home: Path) -> str:
    import subprocess

    subprocess.run(["bash", "-c", command], env={"HOME": str(home), "PATH": "/usr/bin:/bin",
                                                  "RAY_TMPDIR": str(home), "RAY_HEAD_IP": "10.0.0.7"},
                   check=True, timeout=30)
    return (home / ".bashrc").read_text()


def test_cluster_configs_export_the_head_address_to_every_login_shell(tmp_path):
    """The start commands write RAY_ADDRESS into ~/.bashrc (which Ray's command runner sources for
    ray submit / ray exec); re-running `ray up` keeps one line."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("10.0.0.7:6379")
    (tmp_path / ".bashrc").write_text("export KEEP=1\n")
    for name in ("gpu.yaml", "onprem.yaml"):
        config = yaml.safe_load((REPO / "cluster" / name).read_text())
        for kind in ("head_start_ray_commands", "worker_start_ray_commands"):
            export = [c for c in config[kind] if "RAY_ADDRESS" in c]
            assert len(export) == 1, (name, kind)
            assert config[kind].index(export[0]) > [i for i, c in enumerate(config[kind]) if "ray start" in c][0]
            (tmp_path / ".bashrc").write_text("export KEEP=1\nexport RAY_ADDRESS=stale:1\n")
            _run_in_home(export[0], tmp_path)
            bashrc = _run_in_home(export[0], tmp_path)
            assert bashrc == "export KEEP=1\nexport RAY_ADDRESS=10.0.0.7:6379\n", (name, kind, bashrc)

def test_kuberay_job_runs_the_tune_entry_point():
    job = yaml.safe_load((REPO / "cluster" / "kuberay-job.yaml").read_text())
    assert job["kind"] == "RayJob" and job["apiVersion"] == "ray.io/v1"
    entry = job["spec"]["entrypoint"]
    assert "raymtl/tune.py" in entry and "search_spaces/" in entry and "--gpus-per-worker 1" in entry
    space = entry.split("search_spaces/")[1].split()[0]
    assert (REPO / "search_spaces" / space).exists()
    workers = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert workers["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


# ---- paths under `ray submit` / `ray job submit` -------------------------------------------------
def test_relative_space_missing_in_cwd_is_found_in_the_repository(tmp_path, monkeypatch):
    from raymtl.paths import REPO_ROOT, resolve_input

    monkeypatch.chdir(tmp_path)
    path, note = resolve_input("search_spaces/quickstart.yaml")
    assert path == REPO_ROOT / "search_spaces" / "quickstart.yaml" and path.exists()
    assert note and str(path) in note and str(tmp_path) in note
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "quickstart.yaml").write_text("name: mine\n")
    assert resolve_input("search_spaces/quickstart.yaml") == (Path("search_spaces/quickstart.yaml"), None)
    assert resolve_input("search_spaces/nowhere.yaml") == (Path("search_spaces/nowhere.yaml"), None)


def test_submitted_script_alone_resolves_the_space_against_the_repository(tmp_path):
    """What `ray submit` does: the script copied alone to ~; a checkout named raymtl beside it must
    not shadow the installed package."""
    import subprocess
    import sys

    (tmp_path / "tune.py").write_text((REPO / "raymtl" / "tune.py").read_text())
    (tmp_path / "raymtl").symlink_to(REPO)
    out = subprocess.run([sys.executable, "tune.py", "search_spaces/quickstart.yaml", "--set", "bogus.key=1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr  # the space was found and parsed: its bad key is reported
    first = out.stdout.splitlines()[0]
    assert first.startswith("search_spaces/quickstart.yaml: not found in") and str(REPO / "search_spaces") in first
    assert "bogus.key" in out.stderr and "Traceback" not in out.stderr


def test_own_space_naming_a_repository_config_finds_it(tmp_path, monkeypatch):
    from raymtl.search.space import load_space

    monkeypatch.chdir(tmp_path)
    space = tmp_path / "mine.yaml"
    space.write_text("name: mine\nbase: configs/absa_cmtl.yaml\nparams:\n  optim.lr: [0.001, 0.002]\n")
    loaded = load_space(space)
    assert Path(loaded.base_file) == (REPO / "configs" / "absa_cmtl.yaml").resolve()


def test_outputs_default_outside_a_ray_job_working_dir(tmp_path, monkeypatch):
    from raymtl.paths import RAY_JOB_ENV, default_storage

    cache = tmp_path / "session_2026" / "runtime_resources" / "working_dir_files" / "_ray_pkg_ab12"
    cache.mkdir(parents=True)
    monkeypatch.chdir(cache)
    monkeypatch.delenv(RAY_JOB_ENV, raising=False)
    assert default_storage(None) == "runs/tune"  # not a Ray job: the working directory
    monkeypatch.setenv(RAY_JOB_ENV, "{}")
    monkeypatch.setenv("RAYMTL_RUNS_DIR", str(tmp_path / "durable"))
    assert default_storage(None) == str(tmp_path / "durable" / "tune")
    monkeypatch.delenv("RAYMTL_RUNS_DIR")
    assert default_storage(None) == str(Path.home() / "raymtl-runs" / "tune")
    assert default_storage("s3://b/runs") == "s3://b/runs"  # --storage given: used as is
    monkeypatch.chdir(tmp_path)  # a job without --working-dir runs where Ray was started: kept
    assert default_storage(None, "aux") == "runs/aux"
