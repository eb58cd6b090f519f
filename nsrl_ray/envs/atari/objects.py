"""Object-centric Atari: OCAtari (RAM mode) objects as a fixed-size, named feature vector.

`ObjectCentricAtari` owns an OCAtari env and repairs its `step`, which returns
`(obs, reward, truncated, terminated, info)` -- the two flags swapped against the gymnasium
contract (ocatari/core.py, OCAtari.step, ``return obs, reward, truncated, terminated, info``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from nsrl_ray.envs.atari import object_env_id, register_gym_ids
from nsrl_ray.envs.atari.games import AtariGame, get_game
from nsrl_ray.envs.atari.slots import SlotFrame, SlotTable
from nsrl_ray.envs.atari.wrappers import ClipReward, EpisodicLife, FireReset, GameReturn, SeedFirstReset

__all__ = ["ObjectCentricAtari", "make_object_env"]


class ObjectCentricAtari(gymnasium.Env):
    """Atari whose observation is the game's object slots over the last `n_frames` agent steps.

    Feature names: `self.feature_names` (`ball_x_t0`, `ball_present_t0`, `ball_x_t1`, ...);
    values in [0, 1]. Frame skip 4 on ALE (RAM needs no max-pooling), no sticky actions,
    up to `noop_max` random no-ops after reset so deterministic ALE episodes still differ.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        game: str | AtariGame = "Pong",
        *,
        n_frames: int = 2,
        attributes: Sequence[str] = ("x", "y"),
        frame_skip: int = 4,
        noop_max: int = 30,
        repeat_action_probability: float = 0.0,
        render_mode: str | None = None,
        max_num_frames_per_episode: int = 108_000,
    ) -> None:
        self.game = get_game(game)
        if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"n_frames must be an int >= 1, got {n_frames!r}.")
        if isinstance(noop_max, bool) or not isinstance(noop_max, int) or noop_max < 0:
            raise ValueError(f"noop_max must be an int >= 0, got {noop_max!r}.")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}.")
        self.table = SlotTable(self.game)
        self.n_frames = n_frames
        self.attributes = SlotTable.check_attributes(attributes)
        self.noop_max = noop_max
        self.render_mode = render_mode
        self.feature_names = self.table.feature_names(n_frames, self.attributes)

        import ale_py
        from ocatari.core import OCAtari

        from nsrl_ray.envs.atari.ocatari_compat import apply_patches

        apply_patches()
        gymnasium.register_envs(ale_py)
        # obs_mode 'ori' + no buffer stacks: OCAtari then only detects objects, no per-step copies.
        self._oc = OCAtari(
            self.game.ale_id, mode="ram", hud=False, obs_mode="ori", create_buffer_stacks=[],
            render_mode="rgb_array" if render_mode else None, frameskip=frame_skip,
            repeat_action_probability=float(repeat_action_probability), full_action_space=False,
            max_num_frames_per_episode=max_num_frames_per_episode,
        )
        self.ale = self._oc._ale
        self.action_space = spaces.Discrete(int(self._oc.action_space.n))
        self.observation_space = spaces.Box(0.0, 1.0, (len(self.feature_names),), np.float32)
        self._history: deque[SlotFrame] = deque(maxlen=n_frames)

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        with np.errstate(over="ignore"):  # OCAtari's uint8 RAM arithmetic wraps on purpose
            _, info = self._oc.reset(seed=seed, options=options)
        for _ in range(int(self.np_random.integers(0, self.noop_max + 1)) if self.noop_max else 0):
            _, _, terminated, truncated, info = self._oc_step(0)
            if terminated or truncated:
                with np.errstate(over="ignore"):
                    _, info = self._oc.reset(options=options)
        frame = self.current_slots()
        self._history.clear()
        self._history.extend([frame] * self.n_frames)
        return self._observation(), dict(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self._oc_step(int(action))
        self._history.appendleft(self.current_slots())
        return self._observation(), float(reward), terminated, truncated, dict(info)

    def render(self):
        if self.render_mode == "rgb_array":
            return self.ale.getScreenRGB()
        return None

    def close(self) -> None:
        self._oc.close()

    # -- helpers ----------------------------------------------------------------------------
    def _oc_step(self, action: int):
        # OCAtari.step returns (obs, reward, truncated, terminated, info): read it in that order.
        with np.errstate(over="ignore"):  # OCAtari's uint8 RAM arithmetic wraps on purpose
            obs, reward, truncated, terminated, info = self._oc.step(action)
        return obs, reward, bool(terminated), bool(truncated), info

    def get_action_meanings(self) -> list[str]:
        return list(self.game.actions)

    def current_slots(self) -> SlotFrame:
        """The slots of the current frame, from OCAtari's RAM objects."""
        return self.table.extract(self._oc.objects)

    def _observation(self) -> np.ndarray:
        return self.table.to_vector(list(self._history), self.attributes)


def _registered_object_env(game: str, training: bool = True, **kwargs: Any) -> gymnasium.Env:
    """Entry point of the registered ids: the core env plus the training wrappers."""
    env: gymnasium.Env = GameReturn(ObjectCentricAtari(game, **kwargs))
    if training:
        env = EpisodicLife(env)
    if "FIRE" in get_game(game).actions[1:2]:
        env = FireReset(env)
    if training:
        env = ClipReward(env)
    return env


def make_object_env(game: str, *, training: bool = True, seed: int | None = None, **kwargs: Any) -> gymnasium.Env:
    """Object-centric Atari through its registered id (`PongObjects-v0`), same flags as the pixel env.

    `training` adds episodic life and reward clipping (raw rewards stay in info); other keyword
    arguments go to `ObjectCentricAtari` (n_frames, attributes, noop_max, ...).
    """
    register_gym_ids()
    env = gymnasium.make(object_env_id(game), training=training, **kwargs)
    if seed is not None:
        env = SeedFirstReset(env, seed)
    return env
