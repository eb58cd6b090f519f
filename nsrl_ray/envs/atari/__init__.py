"""Atari for INSIGHT: pixel frame stacks (`pixel`) and object-centric feature vectors (`objects`).

Importing this package registers the gymnasium ids (`PongPixels-v0`, `PongObjects-v0`, ...)
without importing ale-py or OCAtari; those load when an env is made.
"""

from __future__ import annotations

import gymnasium

from nsrl_ray.envs.atari.games import ATARI_GAMES, AtariGame, SlotGroup, get_game, slot_names

__all__ = [
    "ATARI_GAMES",
    "AtariGame",
    "SlotGroup",
    "get_game",
    "make_object_env",
    "make_pixel_env",
    "object_env_id",
    "pixel_env_id",
    "register_gym_ids",
    "slot_names",
]

#: Agent steps per episode (ALE's 108 000 frames / frame skip 4).
MAX_EPISODE_STEPS = 27_000


def pixel_env_id(game: str) -> str:
    """'Pong' -> 'PongPixels-v0'."""
    return f"{get_game(game).name}Pixels-v0"


def object_env_id(game: str) -> str:
    """'Pong' -> 'PongObjects-v0'."""
    return f"{get_game(game).name}Objects-v0"


def register_gym_ids() -> None:
    """Register both kinds of every game with gymnasium (idempotent)."""
    for game in ATARI_GAMES.values():
        if pixel_env_id(game.name) not in gymnasium.registry:
            gymnasium.register(
                id=pixel_env_id(game.name), entry_point="nsrl_ray.envs.atari.pixel:_registered_pixel_env",
                kwargs={"game": game.name}, max_episode_steps=MAX_EPISODE_STEPS,
            )
        if object_env_id(game.name) not in gymnasium.registry:
            gymnasium.register(
                id=object_env_id(game.name), entry_point="nsrl_ray.envs.atari.objects:_registered_object_env",
                kwargs={"game": game.name}, max_episode_steps=MAX_EPISODE_STEPS,
            )


def make_pixel_env(game: str, *, training: bool = True, seed: int | None = None, **kwargs):
    """See `nsrl_ray.envs.atari.pixel.make_pixel_env`."""
    from nsrl_ray.envs.atari.pixel import make_pixel_env as make

    return make(game, training=training, seed=seed, **kwargs)


def make_object_env(game: str, *, seed: int | None = None, **kwargs):
    """See `nsrl_ray.envs.atari.objects.make_object_env`."""
    from nsrl_ray.envs.atari.objects import make_object_env as make

    return make(game, seed=seed, **kwargs)


register_gym_ids()
