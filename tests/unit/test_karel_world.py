"""The Karel world: LEAPS's action semantics, perceptions, the 16-channel state, the gymnasium env."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nsrl_ray.envs.karel import KarelWorld
from nsrl_ray.envs.karel.gym_env import KarelEnv
from nsrl_ray.envs.karel.world import LEAPS_MARKER_CAP, MOVE, PUT_MARKER, TURN_LEFT, WorldCrashed


def world(text: str, **kwargs) -> KarelWorld:
    return KarelWorld.from_text(text, **kwargs)


def test_move_turns_and_blocked_move_turns_around_in_place() -> None:
    w = world("""
        #####
        #>..#
        #####
    """)
    w.move()
    w.move()
    assert w.agent == (1, 3, 1)
    w.move()  # wall ahead: LEAPS turns the agent 180 degrees and stays put
    assert w.agent == (1, 3, 3)
    assert w.steps == 3
    w.turn_left()
    assert w.agent[2] == 2  # west -> south
    w.turn_right()
    w.turn_right()
    assert w.agent[2] == 0  # south -> west -> north


def test_grid_edge_blocks_like_a_wall_on_any_size_without_border() -> None:
    w = world(">.")
    assert w.front_is_clear() and not w.left_is_clear() and not w.right_is_clear()
    w.move()
    assert not w.front_is_clear()
    w.move()  # off the grid: same as a wall
    assert w.agent == (0, 1, 3)
    big = KarelWorld.empty(100, 100, (50, 50, 1), border=False)
    for _ in range(60):
        big.move()
    assert big.agent == (50, 89, 3)  # 49 moves east, the 50th turned it round, 10 moves back west


def test_pick_and_put_limits_are_counted_noops() -> None:
    w = world("#>#")
    w.pick_marker()  # nothing to pick: a no-op that still counts
    assert w.markers_at(0, 1) == 0 and w.steps == 1 and w.last_delta == 0
    for _ in range(12):
        w.put_marker()
    assert w.markers_at(0, 1) == LEAPS_MARKER_CAP == 9  # LEAPS refuses a put above 9
    assert w.last_delta == 0 and w.steps == 13
    w.pick_marker()
    assert w.markers_at(0, 1) == 8 and w.last_delta == -1
    capped = world("#>#", marker_cap=2)
    for _ in range(3):
        capped.put_marker()
    assert capped.markers_at(0, 1) == 2


def test_crashable_world_flags_invalid_actions_and_does_not_turn() -> None:
    w = world("#>#", crashable=True)
    with pytest.raises(WorldCrashed):
        w.move()
    assert w.crashed and w.agent == (0, 1, 1) and w.steps == 1


def test_perceptions_follow_the_heading() -> None:
    w = world("""
        #.#
        .^#
        ###
    """)
    assert w.perceive() == (True, True, False, False, True)
    w.put_marker()
    assert w.markers_present() and not w.no_markers_present()
    w.turn_right()  # east: wall ahead, north on the left, south wall on the right
    assert (w.front_is_clear(), w.left_is_clear(), w.right_is_clear()) == (False, True, False)


def test_tensor_round_trip_and_channels() -> None:
    rng = np.random.default_rng(0)
    walls = rng.random((5, 7)) < 0.2
    walls[2, 3] = False
    markers = np.where(walls, 0, rng.integers(0, 11, size=(5, 7))).astype(np.uint8)
    w = KarelWorld(walls, markers, (2, 3, 2))
    state = w.to_tensor()
    assert state.shape == (5, 7, 16) and state.dtype == bool
    assert state[2, 3, 2] and state[:, :, :4].sum() == 1
    assert (state[:, :, 4] == walls).all()
    assert (state[:, :, 5:].argmax(axis=2) == markers).all() and (state[:, :, 5:].sum(axis=2) == 1).all()
    back = KarelWorld.from_tensor(state)
    assert back.agent == w.agent and (back.marker_grid() == markers).all() and (back.wall_grid() == walls).all()


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: KarelWorld.from_tensor(np.zeros((3, 3, 16), bool)), "found 0 agent"),
        (lambda: KarelWorld(np.ones((2, 2), bool), np.zeros((2, 2)), (0, 0, 1)), "stands on a wall"),
        (lambda: KarelWorld(np.zeros((2, 2), bool), np.full((2, 2), 11), (0, 0, 1)), "0..10"),
        (lambda: KarelWorld(np.zeros((2, 2), bool), np.zeros((2, 2)), (0, 0, 4)), "heading"),
        (lambda: KarelWorld.from_text("#>#").act(7), "expected an integer 0..4"),
    ],
)
def test_bad_states_are_refused(build, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()


def test_trace_and_observer_see_every_action() -> None:
    seen = []
    w = world("#>..#")
    w.trace = []
    w.observer = lambda world, code, before: seen.append((code, world.coords(before)))
    w.act(MOVE)
    w.act(TURN_LEFT)
    w.act(PUT_MARKER)
    assert w.trace == [(0, 0, 2, 1), (1, 0, 2, 0), (4, 0, 2, 0)]
    assert seen == [(0, (0, 1)), (1, (0, 2)), (4, (0, 2))]


def test_copy_is_independent() -> None:
    w = world("#>1#")
    c = w.copy()
    c.move()
    c.pick_marker()
    assert w.agent == (0, 1, 1) and w.markers_at(0, 2) == 1
    assert c.agent == (0, 2, 1) and c.markers_at(0, 2) == 0


def test_gym_env_passes_checker_for_both_observations() -> None:
    for observation in ("perception", "grid"):
        env = KarelEnv("top_off", height=6, width=6, observation=observation)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env, skip_render_check=True)
        assert not [str(w.message) for w in caught]


def test_gym_env_return_telescopes_to_the_task_score() -> None:
    env = gymnasium.make("nsrl_ray.envs.karel.gym_env:KarelHarvester-v0")
    env.reset(seed=3)
    total, steps = 0.0, 0
    # Sweep the bottom row: pick, move five times, then pick the last cell and bump the wall.
    for action in [3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0]:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
    assert not terminated and not truncated
    assert total == pytest.approx(info["return"]) == pytest.approx(6 / 36)


def test_gym_env_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="observation"):
        KarelEnv("maze", observation="pixels")
    with pytest.raises(ValueError, match="Did you mean 'harvester'"):
        KarelEnv("harvestr")
