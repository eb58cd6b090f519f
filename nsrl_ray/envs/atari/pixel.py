"""Pixel Atari with the standard DeepMind preprocessing, on ale-py: (4, 84, 84) uint8 frame stacks.

Chain (inside -> out): ALE (frameskip 1, no sticky actions) -> gymnasium's `AtariPreprocessing`
(no-op reset <= 30, frame skip 4 with max-pool over the last two frames, 84x84 grey) ->
`GameReturn` (raw score in info) -> [training: `EpisodicLife`] -> `FireReset` (games with FIRE)
-> [training: `ClipReward`] -> 4-frame stack -> `TimeLimit` (27 000 agent steps = 108 000 frames).
"""

from __future__ import annotations

from typing import Any

import gymnasium
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from nsrl_ray.envs.atari import MAX_EPISODE_STEPS, pixel_env_id, register_gym_ids
from nsrl_ray.envs.atari.games import AtariGame, get_game
from nsrl_ray.envs.atari.wrappers import ClipReward, EpisodicLife, FireReset, GameReturn, SeedFirstReset

__all__ = [
    "MAX_EPISODE_STEPS",
    "build_pixel_env",
    "make_pixel_env",
    "make_pixel_vector_env",
    "pixel_env_id",
]



def _register_ale() -> None:
    import ale_py

    gymnasium.register_envs(ale_py)


def build_pixel_env(
    game: str | AtariGame,
    *,
    training: bool = True,
    noop_max: int = 30,
    frame_skip: int = 4,
    screen_size: int = 84,
    frame_stack: int = 4,
    repeat_action_probability: float = 0.0,
    fire_reset: bool = True,
    render_mode: str | None = None,
) -> gymnasium.Env:
    """The preprocessed env without a time limit (the registered ids add it); see the module doc."""
    spec = get_game(game)
    for label, value, low in (("noop_max", noop_max, 0), ("frame_skip", frame_skip, 1),
                              ("screen_size", screen_size, 8), ("frame_stack", frame_stack, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be an int >= {low}, got {value!r}.")
    _register_ale()
    env = gymnasium.make(
        spec.ale_id, frameskip=1, repeat_action_probability=float(repeat_action_probability),
        full_action_space=False, render_mode=render_mode,
    )
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                             terminal_on_life_loss=False, grayscale_obs=True)
    env = GameReturn(env)
    if training:
        env = EpisodicLife(env)
    if fire_reset and "FIRE" in spec.actions[1:2]:
        env = FireReset(env)
    if training:
        env = ClipReward(env)
    return FrameStackObservation(env, frame_stack)


def _registered_pixel_env(game: str, training: bool = True, **kwargs: Any) -> gymnasium.Env:
    """Entry point of the registered ids (gymnasium adds the TimeLimit)."""
    return build_pixel_env(game, training=training, **kwargs)


def make_pixel_env(game: str, *, training: bool = True, seed: int | None = None, **kwargs: Any) -> gymnasium.Env:
    """Preprocessed pixel Atari: observations (4, 84, 84) uint8, the newest frame last.

    `training` turns on episodic life and reward clipping; either way ``info['raw_reward']``
    is the unclipped reward and, when a game ends, ``info['raw_episode_return']`` its score.
    `seed` seeds the first reset made without a seed and the action space. Other keyword
    arguments go to `build_pixel_env` (noop_max, frame_skip, screen_size, frame_stack,
    repeat_action_probability, fire_reset, render_mode) or `max_episode_steps`.
    """
    register_gym_ids()
    env = gymnasium.make(pixel_env_id(game), training=training, **kwargs)
    if seed is not None:
        env = SeedFirstReset(env, seed)
    return env


def make_pixel_vector_env(game: str, num_envs: int, *, training: bool = True, seed: int | None = None,
                          num_threads: int = 0, **kwargs: Any) -> gymnasium.vector.VectorEnv:
    """ale-py's native C++ vector env with the same preprocessing (fast batched rollouts).

    Unlike `make_pixel_env` it does not report raw returns when `training` clips rewards;
    use it for throughput (datasets, benchmarks), the single env for evaluation.
    """
    from ale_py.vector_env import AtariVectorEnv

    env = AtariVectorEnv(
        get_game(game).rom, num_envs, num_threads=num_threads, noop_max=30, frameskip=4, stack_num=4,
        img_height=84, img_width=84, grayscale=True, maxpool=True, episodic_life=training,
        reward_clipping=training, use_fire_reset=True, repeat_action_probability=0.0,
        max_num_frames_per_episode=4 * MAX_EPISODE_STEPS, **kwargs,
    )
    if seed is not None:
        env.reset(seed=seed)
    return env
