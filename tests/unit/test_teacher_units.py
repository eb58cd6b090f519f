"""The teacher's continuous actions are mapped to env units the way RLlib's connector maps them."""

from __future__ import annotations

import numpy as np

from nsrl_ray.config import parse_experiment
from nsrl_ray.pipeline.context import StageContext
from nsrl_ray.pipeline.teacher_units import teacher_normalised, to_env_units


def test_unsquash_matches_rllib_and_clips():
    from ray.rllib.utils.spaces.space_utils import unsquash_action
    import gymnasium as gym

    space = gym.spaces.Box(np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 1.0], dtype=np.float32))
    actions = np.array([[-1.0, 1.0], [0.25, -0.5], [0.9, 0.0]])
    expected = np.stack([unsquash_action(a.astype(np.float32), space) for a in actions])
    np.testing.assert_allclose(to_env_units(actions, (-2.0, 0.0), (2.0, 1.0)), expected, rtol=1e-6)
    assert to_env_units(np.array([[3.0, -3.0]]), (-2.0, 0.0), (2.0, 1.0)).tolist() == [[2.0, 0.0]]


def test_the_teacher_stage_trains_in_normalised_units():
    config = parse_experiment({"name": "x", "env": "Pendulum-v1", "stages": {"teacher": {}}})
    assert teacher_normalised(StageContext(config=config, seed=0, artifacts=None, reporter=None))  # type: ignore[arg-type]
    no_teacher = parse_experiment({"name": "x", "env": "Pendulum-v1", "stages": {"symbolic": {"learner": "gp_search"}}})
    assert not teacher_normalised(StageContext(config=no_teacher, seed=0, artifacts=None, reporter=None))  # type: ignore[arg-type]


def test_teacher_action_bounds_are_given_only_to_normalised_continuous_teachers():
    from nsrl_ray.pipeline.teacher_units import teacher_action_bounds

    def bounds(env: str, stages: dict) -> object:
        config = parse_experiment({"name": "x", "env": env, "stages": stages})
        return teacher_action_bounds(StageContext(config=config, seed=0, artifacts=None, reporter=None))  # type: ignore[arg-type]

    assert bounds("Pendulum-v1", {"teacher": {}}) == ((-2.0,), (2.0,))
    assert bounds("CartPole-v1", {"teacher": {}}) is None
    assert bounds("Pendulum-v1", {"symbolic": {"learner": "gp_search"}}) is None
