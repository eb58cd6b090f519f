"""Pixel and object-centric Atari envs: preprocessing flags, slots, OCAtari's flag swap, numpy-2 patches."""

from __future__ import annotations

import inspect
import warnings
from types import SimpleNamespace

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nsrl_ray.envs.atari import ATARI_GAMES, get_game, make_object_env, make_pixel_env, object_env_id, pixel_env_id
from nsrl_ray.envs.atari.objects import ObjectCentricAtari
from nsrl_ray.envs.atari.pixel import make_pixel_vector_env
from nsrl_ray.envs.atari.slots import SlotTable

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _play(env: gymnasium.Env, steps: int, seed: int = 0, policy=None):
    """Random play; yields (obs, reward, terminated, truncated, info) and resets when done."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(steps):
        action = policy(rng) if policy else int(rng.integers(env.action_space.n))
        out = env.step(action)
        yield out
        if out[2] or out[3]:
            env.reset()


# -- games table --------------------------------------------------------------------------------

def test_games_table_names_and_lookup() -> None:
    assert list(ATARI_GAMES) == ["Pong", "BeamRider", "Enduro", "Qbert", "SpaceInvaders", "Seaquest",
                                 "Breakout", "Freeway", "MsPacman"]
    assert get_game("ALE/SpaceInvaders-v5") is get_game("space_invaders") is ATARI_GAMES["SpaceInvaders"]
    assert get_game("Seaquest").action_names[-1] == "down_left_fire"
    with pytest.raises(ValueError, match="Did you mean 'Pong'"):
        get_game("Pongg")


# -- pixel env -------------------------------------------------------------------------------------

def test_pixel_env_shape_id_and_checker() -> None:
    env = make_pixel_env("Pong", training=True, seed=0)
    assert env.spec.id == pixel_env_id("Pong") == "PongPixels-v0"
    assert env.observation_space == gymnasium.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "env differs from env.unwrapped": we check the whole chain on purpose
        check_env(env, skip_render_check=True)
    env.close()


def test_pixel_env_seed_is_deterministic_and_frames_shift() -> None:
    runs = []
    for _ in range(2):
        env = make_pixel_env("Breakout", training=False, seed=7)
        obs, _ = env.reset()
        frames = [obs]
        for out in _play_no_reset(env, 20):
            frames.append(out[0])
        runs.append(np.stack(frames))
        env.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    # The stack slides by one frame per step: the newest frame of step k is the second newest at k + 1.
    np.testing.assert_array_equal(runs[0][5][-1], runs[0][6][-2])


def _play_no_reset(env, steps):
    rng = np.random.default_rng(1)
    for _ in range(steps):
        yield env.step(int(rng.integers(env.action_space.n)))


def test_pixel_training_clips_rewards_and_keeps_raw_ones() -> None:
    # SpaceInvaders pays 5..30 per alien: the agent sees sign(reward), info keeps the score.
    seen, raw = set(), set()
    for _, reward, _, _, info in _play(make_pixel_env("SpaceInvaders", training=True), 400):
        seen.add(reward)
        raw.add(info["raw_reward"])
    assert seen <= {0.0, 1.0} and 1.0 in seen
    assert max(raw) >= 5.0
    evaluation = {r for _, r, *_ in _play(make_pixel_env("SpaceInvaders", training=False), 400)}
    assert max(evaluation) >= 5.0


def test_pixel_episodic_life_in_training_only() -> None:
    env = make_pixel_env("Breakout", training=True, seed=0)
    env.reset()
    ale = env.unwrapped.ale
    lives_before = ale.lives()
    rng = np.random.default_rng(0)
    for _ in range(2000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if terminated or truncated:
            break
    assert terminated and not info["game_over"], "a lost life ends the training episode, not the game"
    assert ale.lives() == lives_before - 1
    env.reset()
    assert ale.lives() == lives_before - 1, "reset after a lost life continues the same game"
    env.close()

    evaluation = make_pixel_env("Breakout", training=False, seed=0)
    for _, _, terminated, truncated, info in _play(evaluation, 3000):
        if terminated or truncated:
            assert info["game_over"] and "raw_episode_return" in info
            break
    else:
        pytest.fail("no game ended in 3000 random Breakout steps")


def test_pixel_vector_env_matches_shapes() -> None:
    env = make_pixel_vector_env("Pong", 2, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    obs, reward, *_ = env.step(np.zeros(2, dtype=np.int64))
    assert obs.shape == (2, 4, 84, 84) and reward.shape == (2,)
    env.close()


# -- slot table ------------------------------------------------------------------------------------

def _obj(category, x, y, w, h):
    return SimpleNamespace(category=category, xywh=(x, y, w, h), visible=True)


class _Absent:
    category = "Ball"

    def __bool__(self):
        return False


def test_slot_table_fills_slots_by_category() -> None:
    table = SlotTable("Freeway")
    assert table.slot_names[:3] == ("chicken1", "chicken2", "car1")
    objects = [_obj("Chicken", 44, 100, 6, 8), _Absent(), _obj("Car", 0, 20, 8, 10), _obj("Unknown", 1, 1, 1, 1)]
    objects += [_obj("Car", 150 + i, 30, 8, 10) for i in range(12)]  # more cars than slots: extras dropped
    frame = table.extract(objects)
    np.testing.assert_allclose(frame.centre[0], [(44 + 3) / 160, (100 + 4) / 210])
    np.testing.assert_allclose(frame.size[0], [6 / 160, 8 / 210])
    assert frame.present.tolist() == [1, 0] + [1] * 10
    assert frame.centre.max() <= 1.0 and frame.centre[2].tolist() == pytest.approx([4 / 160, 25 / 210])


def test_feature_names_and_vector_layout() -> None:
    table = SlotTable("Pong")
    names = table.feature_names(2, ("x", "y"))
    assert names[:6] == ("player_x_t0", "player_y_t0", "player_present_t0",
                         "player_x_t1", "player_y_t1", "player_present_t1")
    assert len(names) == 3 * 2 * 3 and "ball_y_t1" in names and "enemy_present_t0" in names
    a = table.extract([_obj("Player", 140, 50, 4, 16), _obj("Ball", 80, 100, 2, 4)])
    b = table.extract([_obj("Player", 140, 60, 4, 16)])
    vec = dict(zip(names, table.to_vector([a, b])))
    assert vec["player_y_t0"] == pytest.approx(58 / 210) and vec["player_y_t1"] == pytest.approx(68 / 210)
    assert vec["ball_present_t0"] == 1 and vec["ball_present_t1"] == 0 and vec["ball_x_t1"] == 0
    with pytest.raises(ValueError, match="attributes"):
        table.feature_names(2, ("x", "speed"))


# -- object env ------------------------------------------------------------------------------------

def test_object_env_passes_checker_and_names_features() -> None:
    env = make_object_env("Pong", training=False)
    assert env.spec.id == object_env_id("Pong") == "PongObjects-v0"
    core = env.unwrapped
    assert isinstance(core, ObjectCentricAtari)
    assert core.observation_space.shape == (len(core.feature_names),) == (18,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(core, skip_render_check=True)
    assert not [str(w.message) for w in caught]
    env.close()


def test_object_env_t1_is_previous_t0_and_values_in_range() -> None:
    env = ObjectCentricAtari("Pong", noop_max=0)
    names = env.feature_names
    t0 = [i for i, n in enumerate(names) if n.endswith("_t0")]
    t1 = [names.index(names[i][:-1] + "1") for i in t0]
    prev, _ = env.reset(seed=0)
    np.testing.assert_array_equal(prev[t0], prev[t1])  # the history starts filled with the first frame
    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(200):
        obs, *_ = env.step(int(rng.integers(6)))
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs[t1], prev[t0])
        moved += not np.array_equal(obs[t0], prev[t0])
        prev = obs
    assert moved > 100
    present = dict(zip(names, prev))
    assert present["player_present_t0"] == 1 and present["enemy_present_t0"] == 1


def test_ocatari_step_swaps_terminated_and_truncated_upstream() -> None:
    # The bug being fixed, as installed: OCAtari.step returns the two flags in the wrong order.
    from ocatari.core import OCAtari

    assert "return obs, reward, truncated, terminated, info" in inspect.getsource(OCAtari.step)
    oc = OCAtari("ALE/Pong-v5", mode="ram", hud=False, obs_mode="ori", create_buffer_stacks=[],
                 frameskip=4, repeat_action_probability=0.0, max_num_frames_per_episode=100)
    oc.reset(seed=0)
    for _ in range(100):
        _, _, third, fourth, _ = oc.step(0)
        if third or fourth:
            break
    # ALE truncated the episode at 100 frames, yet OCAtari reports it in the `terminated` position.
    assert oc._ale.game_truncated() and (third, fourth) == (True, False)
    oc.close()


def test_object_env_reports_truncation_as_truncated() -> None:
    env = ObjectCentricAtari("Pong", noop_max=0, max_num_frames_per_episode=100)
    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break
    assert (terminated, truncated) == (False, True)
    env.close()


def test_object_env_reports_game_over_as_terminated() -> None:
    env = ObjectCentricAtari("Pong", noop_max=0)
    env.reset(seed=0)
    for step in range(5000):  # a random Pong game lasts ~850 agent steps
        _, _, terminated, truncated, _ = env.step(step % 6)
        if terminated or truncated:
            break
    assert (terminated, truncated) == (True, False)
    assert env.ale.game_over(with_truncation=False)
    env.close()


def test_object_env_training_flags() -> None:
    env = make_object_env("Breakout", training=True, seed=0)
    env.reset()
    for _, _, terminated, truncated, info in _play_no_reset(env, 2000):
        if terminated or truncated:
            break
    assert terminated and not info["game_over"]  # a life, not the game
    env.close()


@pytest.mark.parametrize(("game", "steps"), [("Enduro", 300), ("SpaceInvaders", 2000), ("Seaquest", 300)])
def test_numpy2_patched_games_run(game: str, steps: int) -> None:
    # Unpatched, these raise OverflowError under numpy 2 (Enduro at once, Seaquest within ~10 steps,
    # SpaceInvaders after ~1900 random steps).
    env = ObjectCentricAtari(game)
    seen = np.zeros(env.observation_space.shape)
    for obs, *_ in _play(env, steps):
        seen = np.maximum(seen, obs)
    present = {n.rsplit("_present", 1)[0] for n, v in zip(env.feature_names, seen) if n.endswith("present_t0") and v}
    assert "player" in present and len(present) >= 3
    env.close()
