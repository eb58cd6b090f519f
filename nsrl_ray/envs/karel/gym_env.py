"""A gymnasium environment over a Karel task, for neural baselines and for playing programs step by step.

Reward per step is the change in the task's return, so an episode's return telescopes to the task
score at its last step (LEAPS's final-state score; HPRL's progress). The episode terminates when the
task is done or solved (return 1) and is truncated after `max_steps` actions.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium import spaces

from nsrl_ray.envs.karel.tasks import KarelTask, make_task
from nsrl_ray.envs.karel.world import ACTIONS, N_CHANNELS, HaltExecution

#: Default horizon: LEAPS's 220 node calls allow at most 219 actions.
DEFAULT_MAX_STEPS = 220


class KarelEnv(gymnasium.Env):
    """Karel task as an MDP: 5 discrete actions; observation = the 5 perceptions or the H×W×16 grid."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        task: str | KarelTask = "harvester",
        height: int | None = None,
        width: int | None = None,
        observation: Literal["perception", "grid"] = "perception",
        max_steps: int = DEFAULT_MAX_STEPS,
        render_mode: str | None = None,
    ) -> None:
        self.task = task if isinstance(task, KarelTask) else make_task(task, height, width)
        if observation not in ("perception", "grid"):
            raise ValueError(f"observation: got {observation!r}, expected 'perception' (5 booleans) or 'grid' (H×W×16).")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps <= 0:
            raise ValueError(f"max_steps: got {max_steps!r}, expected a positive integer.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: got {render_mode!r}, expected None or one of {self.metadata['render_modes']}.")
        self.observation_kind = observation
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(len(ACTIONS))
        if observation == "perception":
            self.observation_space = spaces.Box(0.0, 1.0, shape=(5,), dtype=np.float32)
        else:
            shape = (self.task.height, self.task.width, N_CHANNELS)
            self.observation_space = spaces.Box(0, 1, shape=shape, dtype=np.uint8)
        self.world = None
        self.episode = None
        self._value = 0.0

    def _observe(self) -> np.ndarray:
        if self.observation_kind == "perception":
            return np.array(self.world.perceive(), dtype=np.float32)
        return self.world.to_tensor().astype(np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        instance_seed = int(self.np_random.integers(2**31 - 1))
        if options and "instance_seed" in options:
            instance_seed = int(options["instance_seed"])
        instance = self.task.instance(instance_seed)
        self.world, self.episode = self.task.start(instance)
        self._value = 0.0
        return self._observe(), {"instance_seed": instance_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.world is None:
            raise RuntimeError("step() called before reset(); call env.reset() first.")
        if not self.action_space.contains(action):
            raise ValueError(f"action: got {action!r}, expected an integer 0..4 ({', '.join(ACTIONS)}).")
        try:
            self.world.act(int(action))
        except HaltExecution:
            pass  # the task is done; the episode's value is final
        value = self.task.score(self.world, self.episode)
        reward = value - self._value
        self._value = value
        terminated = bool(self.episode.done or value >= 1.0)
        truncated = (not terminated) and self.world.steps >= self.max_steps
        return self._observe(), float(reward), terminated, bool(truncated), {"return": value}

    def render(self) -> str | None:
        if self.render_mode == "ansi" and self.world is not None:
            return self.world.render_text()
        return None


def register_gym_ids() -> None:
    """Register `Karel<Task>-v0` for every task (idempotent); importing this module does it."""
    from nsrl_ray.envs.karel import TASKS, gym_id

    for name in TASKS:
        if gym_id(name) not in gymnasium.registry:
            gymnasium.register(
                id=gym_id(name),
                entry_point="nsrl_ray.envs.karel.gym_env:KarelEnv",
                kwargs={"task": name},
                max_episode_steps=DEFAULT_MAX_STEPS,
                reward_threshold=1.0,
            )


register_gym_ids()
