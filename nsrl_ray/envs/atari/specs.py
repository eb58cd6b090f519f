"""Registry specs (`nsrl envs`) for both kinds of every Atari game, built from the slot tables.

`<Game>Objects-v0`: the observation is the named object vector (slots x 2 frames x (x, y, present)).
`<Game>Pixels-v0`: the observation is a (4, 84, 84) frame stack; its named features are what
the perception CNN predicts from it (slots x 4 frames x (x, y, present)), the EQL actor's inputs.
"""

from __future__ import annotations

from nsrl_ray.envs.atari import MAX_EPISODE_STEPS, object_env_id, pixel_env_id
from nsrl_ray.envs.atari.games import ATARI_GAMES, AtariGame
from nsrl_ray.envs.atari.slots import SlotTable
from nsrl_ray.envs.registry import EnvSpec

__all__ = ["OBJECT_FRAMES", "PIXEL_FRAMES", "PIXEL_SHAPE", "builtin_specs", "object_spec", "pixel_spec"]

OBJECT_FRAMES = 2
PIXEL_FRAMES = 4
PIXEL_SHAPE = (PIXEL_FRAMES, 84, 84)
_ATTRIBUTES = ("x", "y")
_COORDINATES = (
    "Object coordinates are the centre of the object's box normalised by the 160x210 Atari screen: "
    "x from 0 (left edge) to 1 (right edge), y from 0 (top) to 1 (bottom), so y grows downwards. "
    "Suffix t0 is the newest frame, t1 one agent step (4 frames) earlier, and so on. An absent "
    "object has present = 0 and coordinates 0."
)


def _spec(game: AtariGame, name: str, n_frames: int, kind: str, observation_shape: tuple[int, ...] = ()) -> EnvSpec:
    table = SlotTable(game)
    return EnvSpec(
        name=name,
        gym_id=f"nsrl_ray.envs.atari:{name}",
        feature_names=table.feature_names(n_frames, _ATTRIBUTES),
        feature_descriptions=table.feature_descriptions(n_frames, _ATTRIBUTES),
        action_kind="discrete",
        action_names=game.action_names,
        description=f"{game.description} {kind}",
        solved_return=None,
        max_episode_steps=MAX_EPISODE_STEPS,
        feature_ranges=tuple((0.0, 1.0) for _ in range(table.n_slots * n_frames * (len(_ATTRIBUTES) + 1))),
        coordinates=_COORDINATES,
        observation_shape=observation_shape,
    )


def object_spec(game: AtariGame) -> EnvSpec:
    return _spec(
        game, object_env_id(game.name), OBJECT_FRAMES,
        "Observation: OCAtari RAM objects in fixed slots, newest and previous agent step.",
    )


def pixel_spec(game: AtariGame) -> EnvSpec:
    return _spec(
        game, pixel_env_id(game.name), PIXEL_FRAMES,
        "Observation: 4 stacked 84x84 grey frames (DeepMind preprocessing); the named features are "
        "the object slots a perception CNN predicts from them.",
        PIXEL_SHAPE,
    )


def builtin_specs() -> tuple[EnvSpec, ...]:
    """Both kinds of every game, objects first."""
    return tuple(s for g in ATARI_GAMES.values() for s in (object_spec(g), pixel_spec(g)))
