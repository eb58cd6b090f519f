"""Pixel Atari for IFE's games (Boxing, Assault, SpaceInvaders, and the INSIGHT games), named `<Game>Pixels-v0`.

The preprocessing is the Atari package's (`nsrl_ray.envs.atari.pixel.build_pixel_env`); this
module only adds the games IFE offers checkpoints for that INSIGHT's table lacks, and registers
the pixel envs with gymnasium and the project's env registry on demand (the registry describes
flat feature vectors; a pixel env gets one pseudo-feature, `frames`). No Ray here.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from nsrl_ray.envs.atari import ATARI_GAMES, MAX_EPISODE_STEPS, AtariGame

__all__ = ["IFE_GAMES", "PIXEL_SUFFIX", "ensure_pixel_env", "ife_game", "make_ife_pixel_env", "pixel_game"]

#: Suffix of the pixel env names: `BoxingPixels-v0`.
PIXEL_SUFFIX = "Pixels-v0"

_FULL_ACTIONS = ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT", "UPFIRE",
                 "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE")

#: IFE's games missing from INSIGHT's table (random returns: DQN Nature paper's random agent).
IFE_GAMES: dict[str, AtariGame] = {
    "Boxing": AtariGame("Boxing", "boxing", _FULL_ACTIONS, (),
                        "Boxing: punch the opponent (black) as the white boxer; +1/+2 per landed punch, −1/−2 per punch taken; "
                        "two minutes or a knock-out (100 points).", 0.1),
    "Assault": AtariGame("Assault", "assault", ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"), (),
                         "Assault: shoot the alien ships from the cannon at the bottom without overheating it.", 222.4),
}


def ife_game(game: str) -> AtariGame:
    """The game description: INSIGHT's table first, then IFE's extra games."""
    key = game.split("/")[-1].split("-")[0].removesuffix("Pixels")
    for table in (ATARI_GAMES, IFE_GAMES):
        for entry in table.values():
            if key.lower() in (entry.name.lower(), entry.rom):
                return entry
    known = sorted({*ATARI_GAMES, *IFE_GAMES})
    raise ValueError(f"unknown Atari game {game!r}; expected one of {known}.")


def pixel_game(env_name: str) -> str | None:
    """'BoxingPixels-v0' -> 'Boxing'; None for a name that is not a pixel env of a known game."""
    if not env_name.endswith(PIXEL_SUFFIX):
        return None
    try:
        return ife_game(env_name[: -len(PIXEL_SUFFIX)]).name
    except ValueError:
        return None


def _registered_env(game: str, training: bool = True, **kwargs: Any) -> gymnasium.Env:
    from nsrl_ray.envs.atari.pixel import build_pixel_env

    return build_pixel_env(ife_game(game), training=training, **kwargs)


def make_ife_pixel_env(game: str, *, training: bool = True, seed: int | None = None, **kwargs: Any) -> gymnasium.Env:
    """(4, 84, 84) uint8 frame stacks of any known game, with the Atari package's preprocessing."""
    name = ife_game(game).name
    if name in ATARI_GAMES:
        from nsrl_ray.envs.atari.pixel import make_pixel_env

        return make_pixel_env(name, training=training, seed=seed, **kwargs)
    from nsrl_ray.envs.atari.wrappers import SeedFirstReset

    _register_gym_id(name)
    env = gymnasium.make(f"{name}{PIXEL_SUFFIX}", training=training, **kwargs)
    return SeedFirstReset(env, seed) if seed is not None else env


def _register_gym_id(name: str) -> None:
    if f"{name}{PIXEL_SUFFIX}" not in gymnasium.registry:
        gymnasium.register(id=f"{name}{PIXEL_SUFFIX}", entry_point="nsrl_ray.rl_modules.ife_envs:_registered_env",
                           kwargs={"game": name}, max_episode_steps=MAX_EPISODE_STEPS)


def ensure_pixel_env(env_name: str) -> str:
    """Make sure `<Game>Pixels-v0` is known to gymnasium and to the env registry; return the game.

    Raises ValueError for any other name (a pixel model needs a pixel env).
    """
    from nsrl_ray.envs import EnvSpec, list_envs, register_env_spec
    from nsrl_ray.envs.atari import register_gym_ids

    game = pixel_game(env_name)
    if game is None:
        examples = ", ".join(f"{g}{PIXEL_SUFFIX}" for g in ("Boxing", "Assault", "SpaceInvaders", "Pong"))
        raise ValueError(f"env {env_name!r} is not a pixel Atari env; expected `<Game>{PIXEL_SUFFIX}`, e.g. {examples}.")
    register_gym_ids()
    _register_gym_id(game)
    if env_name not in list_envs():
        entry = ife_game(game)
        register_env_spec(EnvSpec(
            name=env_name, gym_id=env_name, feature_names=("frames",),
            feature_descriptions=("4 stacked grey 84×84 frames (uint8), the newest last",),
            action_kind="discrete", action_names=entry.action_names, description=entry.description,
            solved_return=None, max_episode_steps=MAX_EPISODE_STEPS,
        ))
    return game
