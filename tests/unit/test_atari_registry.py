"""The Atari games in the env registry: both kinds of all nine games, named features, real spaces."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from nsrl_ray.envs import get_env_spec, list_envs, make_env, verify_env_spec
from nsrl_ray.envs.atari import ATARI_GAMES, object_env_id, pixel_env_id

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ALL_ATARI = tuple(name for g in ATARI_GAMES for name in (object_env_id(g), pixel_env_id(g)))


def test_all_nine_games_registered_in_both_kinds() -> None:
    assert len(ALL_ATARI) == 18 and set(ALL_ATARI) <= set(list_envs())


def test_specs_name_objects_and_pixel_shape() -> None:
    objects, pixels = get_env_spec("PongObjects-v0"), get_env_spec("PongPixels-v0")
    assert objects.observation_shape == () and pixels.observation_shape == (4, 84, 84)
    assert "ball_x_t0" in objects.feature_names and "player_y_t1" in objects.feature_names
    assert "ball_y_t3" in pixels.feature_names and "ball_y_t4" not in pixels.feature_names
    assert objects.action_names == ("noop", "fire", "right", "left", "right_fire", "left_fire")
    assert all(r == (0.0, 1.0) for r in objects.feature_ranges)
    assert "y grows downwards" in objects.coordinates


@pytest.mark.parametrize("name", ALL_ATARI)
def test_spec_matches_env(name: str) -> None:
    env = make_env(name)
    try:
        verify_env_spec(name, env)
        assert env.spec.max_episode_steps == get_env_spec(name).max_episode_steps
    finally:
        env.close()


def test_verify_refuses_wrong_pixel_shape() -> None:
    env = make_env("PongObjects-v0")
    try:
        with pytest.raises(ValueError, match="observation_shape"):
            verify_env_spec("PongPixels-v0", env)
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.parametrize("game", list(ATARI_GAMES))
def test_object_env_checker_every_game(game: str) -> None:
    env = make_env(object_env_id(game))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
    assert not [str(w.message) for w in caught]
