"""The CLI refuses bad input with exit code 2 and a message that names the problem."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def _copy_quickstart(repo: Path, tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    text = (repo / "tune_configs" / "quickstart.yaml").read_text()
    if replace:
        assert replace[0] in text, "the quickstart file changed; update this test"
        text = text.replace(*replace)
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def test_validate_accepts_the_quickstart(nsrl, repo):
    result = nsrl("validate", "tune_configs/quickstart.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "population_size: 1000" in result.stdout


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (("population_size:", "populaton_size:"), r"stages\.symbolic\.populaton_size.*did you mean 'population_size'"),
        (("env: CartPole-v1", "env: Cartpole-v1"), r"Cartpole-v1.*CartPole-v1"),
        (("episodes: 20\n    epsilon", "episodes: many\n    epsilon"), r"stages\.collect\.episodes.*'many'.*integer"),
        (("seeds: [0]", "seeds: []"), r"seeds"),
        (("  collect:", "  colect:"), r"stages\.colect.*did you mean 'collect'"),
    ],
)
def test_validate_refuses_bad_files(nsrl, repo, tmp_path, replace, expected):
    path = _copy_quickstart(repo, tmp_path, replace)
    result = nsrl("validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert re.search(expected, result.stderr, re.IGNORECASE), result.stderr


def test_run_refuses_bad_file_before_starting_ray(nsrl, repo, tmp_path):
    path = _copy_quickstart(repo, tmp_path, ("max_iterations: 30", "max_iterations: -3"))
    result = nsrl("run", str(path), "--storage-path", str(tmp_path / "results"))
    assert result.returncode == 2
    assert "max_iterations" in result.stderr and "-3" in result.stderr
    assert not (tmp_path / "results").exists(), "a refused run must not create results"


def test_missing_file_and_broken_yaml(nsrl, tmp_path):
    missing = nsrl("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nstages: [teacher\n")
    result = nsrl("validate", str(broken))
    assert result.returncode == 2 and "not valid YAML" in result.stderr


def test_bad_override(nsrl):
    result = nsrl("validate", "tune_configs/quickstart.yaml", "--set", "stages.teacher.lr=fast")
    assert result.returncode == 2 and "stages.teacher.lr" in result.stderr
    result = nsrl("validate", "tune_configs/quickstart.yaml", "--set", "no_equals_sign")
    assert result.returncode == 2 and "KEY=VALUE" in result.stderr


def test_show_refuses_a_corrupt_card(nsrl, tmp_path):
    card = tmp_path / "policy.json"
    card.write_text('{"format": "nsrl_ray.policy_card", "version": 1, ')
    result = nsrl("show", str(card))
    assert result.returncode == 2 and "corrupt" in result.stderr
    data = {"format": "nsrl_ray.policy_card", "version": 1, "kind": "formula", "env": "CartPole-v1",
            "learner": "gp_distill", "variables": ["pole_angle"], "action_kind": "discrete",
            "actions": [{"name": "push_left", "formula": "0.0"}, {"name": "push_right", "formula": "__import__('os')"}]}
    card.write_text(json.dumps(data))
    result = nsrl("show", str(card))
    assert result.returncode == 2 and "actions[1]" in result.stderr


def test_envs_lists_classic_control(nsrl):
    result = nsrl("envs")
    assert result.returncode == 0
    for name in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "LunarLander-v3"):
        assert name in result.stdout
    assert "pole_angular_velocity" in result.stdout
