"""DeepMind-style Atari wrappers that gymnasium's `AtariPreprocessing` leaves out; one effect each."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

__all__ = ["ClipReward", "EpisodicLife", "FireReset", "GameReturn", "SeedFirstReset"]


def _ale(env: gymnasium.Env):
    return env.unwrapped.ale  # type: ignore[attr-defined]


class GameReturn(gymnasium.Wrapper):
    """Reports the raw (unclipped) reward and, when a game ends, its raw return and length.

    Sits below `EpisodicLife` and `ClipReward`, so ``info['raw_reward']`` is the game's score
    change and ``info['raw_episode_return']`` the whole game's score, whatever the agent sees.
    """

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self._return = 0.0
        self._length = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._return, self._length = 0.0, 0
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        info = dict(info)
        info["raw_reward"] = float(reward)
        info["game_over"] = bool(terminated or truncated)
        if terminated or truncated:
            info["raw_episode_return"] = self._return
            info["raw_episode_length"] = self._length
        return obs, reward, terminated, truncated, info


class EpisodicLife(gymnasium.Wrapper):
    """Ends the agent's episode when a life is lost; the game itself only resets when it is over.

    Training-only (Mnih et al. 2015): values bootstrap at a life loss, yet every life is seen.
    A seeded `reset` always starts a new game.
    """

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self._lives = 0
        self._game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated or truncated)
        lives = _ale(self.env).lives()
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            # Continue the same game: one no-op step past the lost life.
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        self._game_over = False
        self._lives = _ale(self.env).lives()
        return obs, info


class FireReset(gymnasium.Wrapper):
    """Presses FIRE (then the next action) after a reset, for games that wait for it to start."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ValueError(f"FireReset needs FIRE at action 1 and at least 3 actions, got {meanings}.")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info


class ClipReward(gymnasium.RewardWrapper):
    """Clips rewards to their sign (-1, 0, +1); the raw reward stays in ``info['raw_reward']``."""

    def reward(self, reward):
        return float(np.sign(reward))


class SeedFirstReset(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Seeds the first `reset()` called without a seed (and the action space) with a fixed seed."""

    def __init__(self, env: gymnasium.Env, seed: int) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(self, seed=seed)
        gymnasium.Wrapper.__init__(self, env)
        self._pending: int | None = int(seed)
        self.env.action_space.seed(int(seed))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            seed = self._pending
        self._pending = None
        return self.env.reset(seed=seed, options=options)
