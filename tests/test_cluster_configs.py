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


def test_gpu_cluster_yaml_schema_rejects_a_typo():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())
    config["max_worker"] = config.pop("max_workers")
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("the schema accepted an unknown top-level key")


def test_kuberay_job_runs_the_tune_entry_point():
    job = yaml.safe_load((REPO / "cluster" / "kuberay-job.yaml").read_text())
    assert job["kind"] == "RayJob" and job["apiVersion"] == "ray.io/v1"
    entry = job["spec"]["entrypoint"]
    assert "raymtl/tune.py" in entry and "search_spaces/" in entry and "--gpus-per-worker 1" in entry
    space = entry.split("search_spaces/")[1].split()[0]
    assert (REPO / "search_spaces" / space).exists()
    workers = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert workers["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
