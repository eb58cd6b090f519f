"""Frame-object datasets recorded on Ray actors: shards of `nsrl_ray.perception.record_frames`.

Work is cut into fixed-size shards, each seeded from the driver's seed by its index, so the
dataset depends on (seed, steps, shard_steps) and not on how many actors record it. Actors
return the shards and the driver writes them, which also works when actors run on other nodes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import ray

from nsrl_ray.perception.dataset import FrameDataset, Policy, record_frames, write_shard

__all__ = ["FrameRecorder", "collect_frame_dataset", "shard_seeds"]


@ray.remote
class FrameRecorder:
    """Records shards of one game with one labeller (and optionally a policy) per actor."""

    def __init__(self, game: str, labeller: str, labeller_options: dict[str, Any], policy: Policy | None) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from nsrl_ray.perception.labellers import make_labeller

        self.game = game
        self.labeller = make_labeller(labeller, game, **labeller_options)
        self.policy = policy

    def record(self, steps: int, seed: int, epsilon: float) -> FrameDataset:
        return record_frames(self.game, steps, seed=seed, epsilon=epsilon, policy=self.policy, labeller=self.labeller)


def shard_seeds(seed: int, n_shards: int) -> list[int]:
    """Independent per-shard seeds drawn from the driver's seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_shards)]


def collect_frame_dataset(
    game: str,
    out_dir: str | Path,
    *,
    steps: int,
    shard_steps: int = 1000,
    num_actors: int = 2,
    cpus_per_actor: float = 1.0,
    seed: int = 0,
    epsilon: float = 1.0,
    policy: Policy | None = None,
    labeller: str = "ocatari_ram",
    labeller_options: dict[str, Any] | None = None,
    on_shard: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Record `steps` labelled steps into `out_dir/shard_XXXXX.npz`; returns the shard paths in order."""
    if steps < 1 or shard_steps < 1 or num_actors < 1:
        raise ValueError(f"steps, shard_steps and num_actors must be >= 1, got {steps}, {shard_steps}, {num_actors}.")
    out_dir = Path(out_dir)
    n_shards = math.ceil(steps / shard_steps)
    sizes = [min(shard_steps, steps - i * shard_steps) for i in range(n_shards)]
    seeds = shard_seeds(seed, n_shards)
    actors = [
        FrameRecorder.options(num_cpus=cpus_per_actor).remote(game, labeller, dict(labeller_options or {}), policy)
        for _ in range(min(num_actors, n_shards))
    ]
    try:
        # Submit everything first, then collect as shards finish.
        pending = {actors[i % len(actors)].record.remote(sizes[i], seeds[i], epsilon): i for i in range(n_shards)}
        paths: dict[int, Path] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            paths[index] = write_shard(ray.get(done[0]), out_dir / f"shard_{index:05d}.npz")
            if on_shard is not None:
                on_shard(len(paths), n_shards)
    finally:
        for actor in actors:
            ray.kill(actor)
    return [paths[i] for i in range(n_shards)]
