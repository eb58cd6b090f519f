"""Stage `collect`: roll the teacher out on Ray actors into dataset shards (obs, teacher action, logits)."""

from __future__ import annotations

import time

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.pipeline.actors import play_on_actors, start_actors, stop_actors
from nsrl_ray.pipeline.context import DATASET, TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds
from nsrl_ray.pipeline.teacher_units import teacher_action_bounds

SHARD_EPISODES = 10  # episodes per shard file: small enough to stream, few enough to list quickly


def run_collect(ctx: StageContext) -> dict:
    settings = ctx.config.stages.collect
    assert settings is not None
    spec = get_env_spec(ctx.config.env)
    seeds = episode_seeds(ctx.seed, "collect", settings.episodes)
    started = time.perf_counter()
    actors = start_actors(
        settings.num_actors, ctx.config.resources.cpus_per_actor,
        ctx.config.env, str(ctx.path(TEACHER_MODULE)), spec.action_kind, None, teacher_action_bounds(ctx),
    )
    try:
        progress = lambda done, total: ctx.report("collect", {"chunks_done": done, "chunks_total": total})
        records = play_on_actors(actors, "teacher", seeds, record=True, epsilon=settings.epsilon, on_chunk=progress)
    finally:
        stop_actors(actors)
    folder = ctx.path(DATASET)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("shard_*.npz"):
        old.unlink()
    for shard, start in enumerate(range(0, len(records), SHARD_EPISODES)):
        part = records[start : start + SHARD_EPISODES]
        np.savez_compressed(
            folder / f"shard_{shard:04d}.npz",
            obs=np.concatenate([r.obs for r in part]),
            teacher_action=np.concatenate([r.teacher_action for r in part]),
            teacher_logits=np.concatenate([r.teacher_logits for r in part]),
            episode=np.concatenate([np.full(r.length, start + i) for i, r in enumerate(part)]),
        )
    returns = np.array([r.episode_return for r in records])
    metrics = {
        "episodes": len(records),
        "samples": int(sum(r.length for r in records)),
        "teacher_return_mean": float(returns.mean()),
        "time_s": time.perf_counter() - started,
    }
    ctx.report("collect", metrics)
    return metrics

