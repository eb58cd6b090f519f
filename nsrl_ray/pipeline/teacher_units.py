"""Where the teacher's continuous actions live: RLlib's normalised [-1, 1] space or the env's own units.

RLlib trains with `normalize_actions=True` by default: the teacher module's Gaussian mean is in
[-1, 1]-ish units that RLlib's connector maps to the env's bounds before stepping. Anything that
reads the module directly (the recorded dataset's teacher actions, a KL to its distribution) must
apply the same mapping to speak env units.
"""

from __future__ import annotations

import numpy as np

from nsrl_ray.pipeline.context import StageContext


def teacher_normalised(ctx: StageContext) -> bool:
    """Whether the trial's teacher was trained in RLlib's normalised action space (its own config says)."""
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config

    teacher = ctx.config.stages.teacher
    return bool(teacher is not None and build_ppo_config(ctx.config.env, teacher, 0, 1.0).normalize_actions)


def to_env_units(actions: np.ndarray, low: tuple[float, ...], high: tuple[float, ...]) -> np.ndarray:
    """RLlib's unsquash: [-1, 1] -> [low, high] (linear), then clipped to the bounds."""
    low_a, high_a = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.float64).reshape(len(actions), -1)
    return np.clip(low_a + (actions + 1.0) * (high_a - low_a) / 2.0, low_a, high_a)


def teacher_action_bounds(ctx: StageContext) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The env's action bounds when the trial's teacher acts in RLlib's normalised space, else None.

    Handed to `TeacherPolicy` so that the teacher's greedy actions, played and recorded, are env units.
    """
    from nsrl_ray.envs import get_env_spec
    from nsrl_ray.pipeline.stages.symbolic import action_bounds

    if get_env_spec(ctx.config.env).action_kind != "continuous" or not teacher_normalised(ctx):
        return None
    low, high = action_bounds(ctx.config.env)
    return (low, high) if low is not None and high is not None else None
