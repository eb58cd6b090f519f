"""The cluster launcher configs pass Ray's own validation and keep secrets out."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_cluster_config_passes_ray_validation(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((REPO / name).read_text())
    prepared = prepare_config(copy.deepcopy(raw))  # fills Ray's provider defaults, as `ray up` does
    validate_config(prepared)
    assert prepared["cluster_name"].startswith("nsrl")


def test_aws_config_has_gpu_and_cpu_workers_and_no_secrets():
    raw = yaml.safe_load((REPO / "cluster.yaml").read_text())
    types = raw["available_node_types"]
    assert types[raw["head_node_type"]]["resources"].get("GPU", 0) == 0
    assert any(t["resources"].get("GPU", 0) >= 1 and t["max_workers"] > 0 for t in types.values())
    assert any(t["resources"].get("GPU", 0) == 0 and t["max_workers"] > 0 for t in types.values())
    text = (REPO / "cluster.yaml").read_text().lower()
    for secret in ("aws_secret_access_key", "aws_access_key_id", "password", "ssh_private_key"):
        assert secret not in text
    assert any("pip install -e ." in command for command in raw["setup_commands"])


def test_a_broken_config_is_refused_by_the_same_check():
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((REPO / "cluster-local.yaml").read_text())
    raw["max_wrokers"] = 3
    with pytest.raises(jsonschema.ValidationError, match="max_wrokers"):
        validate_config(prepare_config(raw))
