"""cluster.yaml and cluster.local.yaml pass Ray's own schema; a broken copy does not."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(os.path.dirname(ray.__file__)) / "autoscaler" / "ray-schema.json")
                    .read_text())
FILES = ["cluster.yaml", "cluster.local.yaml"]


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", FILES)
def test_cluster_file_passes_rays_schema(name: str) -> None:
    jsonschema.validate(_load(name), SCHEMA)


@pytest.mark.parametrize("name", FILES)
def test_cluster_file_semantics(name: str) -> None:
    cfg = _load(name)
    setup = " ".join(cfg["setup_commands"])
    assert "uv sync --frozen" in setup  # installs exactly the lock file
    head = " ".join(cfg["head_start_ray_commands"])
    assert "ray start --head" in head
    server = " ".join(cfg["head_setup_commands"])
    assert "prune-sweep server" in server and "0.0.0.0" not in server
    assert "--host" in server
    for node in cfg["available_node_types"].values():
        assert node.get("min_workers", 0) <= node.get("max_workers", cfg["max_workers"])
    assert "PRUNE_SWEEP_STORAGE" in setup and "s3://" not in setup.split("STORAGE=")[1]
    # What docs/cluster.md says every cluster needs, in both files alike:
    assert "pip install --user" not in setup  # PEP 668 refuses it on current distros
    assert "RAY_AUTH_MODE=token" in setup
    assert any(str(dst).endswith(".ray/auth_token") for dst in cfg["file_mounts"])
    runs_dir = server.split("--runs-dir")[1].split()[0]
    assert not runs_dir.startswith("/mnt/"), "the sqlite store must not live on NFS"
    starts = " ".join(cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"])
    assert starts.count("prune-sweep.env") >= 3  # token mode and the locked Ray on every node


def test_aws_workers_request_gpus_and_head_takes_no_trials() -> None:
    cfg = _load("cluster.yaml")
    types = cfg["available_node_types"]
    assert types[cfg["head_node_type"]]["resources"] == {"CPU": 0}
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c.update(max_worker=2),  # misspelled top-level key
        lambda c: next(iter(c["available_node_types"].values())).pop("node_config"),
        lambda c: c.update(max_workers="eight"),
        lambda c: c.pop("provider"),
    ],
    ids=["misspelled-key", "missing-node-config", "wrong-type", "no-provider"],
)
def test_broken_copy_fails_schema(breakage) -> None:  # noqa: ANN001
    broken = copy.deepcopy(_load("cluster.yaml"))
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
