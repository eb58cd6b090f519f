"""The affine map that takes an env's bounded observations to [-1, 1], for networks that learn poorly on raw units."""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["bounds_scaling", "observation_scaling"]


def bounds_scaling(low: Sequence[float], high: Sequence[float]) -> tuple[list[float], list[float]]:
    """Offset (the bounds' middle) and scale (half their range) that map [low, high] to [-1, 1].

    ValueError when a bound is infinite or a range is empty: such an observation has no scale to use.
    """
    if len(low) != len(high):
        raise ValueError(f"observation bounds differ in length: {len(low)} lows, {len(high)} highs.")
    offset, scale = [], []
    for index, (lo, hi) in enumerate(zip(low, high)):
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            raise ValueError(
                f"observation {index} has bounds [{lo}, {hi}], but scaling by the env's bounds needs finite "
                "bounds with low < high; turn scale_observations off for this env."
            )
        offset.append((lo + hi) / 2.0)
        scale.append((hi - lo) / 2.0)
    return offset, scale


def observation_scaling(env_name: str) -> tuple[list[float], list[float]]:
    """`bounds_scaling` of a registered env's (flat Box) observation space; ValueError when it has none."""
    import numpy as np
    from gymnasium import spaces

    from nsrl_ray.envs.registry import make_env

    env = make_env(env_name)
    try:
        space = env.observation_space
    finally:
        env.close()
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{env_name} observes {space}, but scaling needs a flat Box of features.")
    return bounds_scaling(np.asarray(space.low).tolist(), np.asarray(space.high).tolist())
