"""Scaling observations by the env's bounds: the map, its refusals, and the teacher option's checks."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.config import ConfigError, load_experiment
from nsrl_ray.envs.observation_bounds import bounds_scaling, observation_scaling


def test_bounds_map_to_minus_one_and_one():
    offset, scale = bounds_scaling([-1.2, -0.07], [0.6, 0.07])
    low, high = (np.array([-1.2, -0.07]) - offset) / scale, (np.array([0.6, 0.07]) - offset) / scale
    assert np.allclose(low, -1.0) and np.allclose(high, 1.0)
    assert np.allclose(offset, [-0.3, 0.0]) and np.allclose(scale, [0.9, 0.07])


@pytest.mark.parametrize("low, high", [([0.0, -np.inf], [1.0, 2.0]), ([0.0], [0.0]), ([1.0], [0.0])])
def test_unusable_bounds_are_refused_with_the_observation_named(low, high):
    with pytest.raises(ValueError, match=r"observation \d has bounds"):
        bounds_scaling(low, high)


def test_mountaincar_scales_and_cartpole_has_unbounded_velocities():
    offset, scale = observation_scaling("MountainCar-v0")
    assert np.allclose(scale, [0.9, 0.07], atol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        observation_scaling("CartPole-v1")


def _experiment(tmp_path, env: str, teacher: str) -> object:
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: t\nenv: {env}\nstages:\n  teacher:\n{teacher}  collect:\n  symbolic:\n    learner: kan\n")
    return load_experiment(path)


def test_the_teacher_option_is_refused_where_it_cannot_apply(tmp_path):
    assert _experiment(tmp_path, "MountainCar-v0", "    scale_observations: true\n").stages.teacher.scale_observations
    with pytest.raises(ConfigError, match="scale_observations.*finite"):
        _experiment(tmp_path, "CartPole-v1", "    scale_observations: true\n")
    with pytest.raises(ConfigError, match="scale_observations applies to model 'mlp' only"):
        _experiment(tmp_path, "PongPixels-v0", "    model: ife\n    scale_observations: true\n")
