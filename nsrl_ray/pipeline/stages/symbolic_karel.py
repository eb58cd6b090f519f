"""Symbolic learners `karel_hill_climb` and `karel_cem`: search Karel programs on the task, write a program card.

No teacher: a program is scored directly on task instances whose seeds the driver draws. The search
runs in the trial process and scores programs on an evaluator pool of Ray actors (or in process for
`num_actors: 0`). Per scored batch it reports `search/best_return`, `search/evaluations` and
`search/evaluations_per_s` (throttled to one report per `report_every_s`, plus every improvement),
and the best program's text under `text/best_program`.
"""

from __future__ import annotations

import time
from typing import Any

from nsrl_ray.config.schema import KarelCEMSettings, KarelHillClimbSettings, KarelLatentCEMSettings
from nsrl_ray.envs.karel import TASKS, gym_id
from nsrl_ray.explain.program_card import ProgramCard
from nsrl_ray.pipeline.context import FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.search.pool import make_pool
from nsrl_ray.search.program_search import SearchProgress, SearchResult, cross_entropy, hill_climb, search_metrics
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory
from nsrl_ray.symbolic.karel.program import node_count, to_text, token_count
from nsrl_ray.symbolic.karel.sampler import ProgramLimits


def task_for_env(env: str) -> str:
    """The Karel task behind a registered env name ('KarelHarvester-v0' -> 'harvester')."""
    for name in TASKS:
        if gym_id(name) == env:
            return name
    raise ValueError(f"env {env!r} is not a Karel task env; expected one of {[gym_id(n) for n in TASKS]}.")


def _reporter(ctx: StageContext, every_s: float):
    state = {"last": -float("inf"), "best": -float("inf")}

    def on_progress(progress: SearchProgress) -> None:
        now = time.perf_counter()
        improved = progress.best_return > state["best"]
        if improved or now - state["last"] >= every_s:
            metrics: dict[str, Any] = progress.metrics()
            if improved and progress.best_program is not None:
                metrics["text/best_program"] = to_text(progress.best_program)
            ctx.report("symbolic", metrics)
            state["last"], state["best"] = now, progress.best_return

    return on_progress


def _run(ctx: StageContext, settings: KarelHillClimbSettings | KarelCEMSettings | KarelLatentCEMSettings) -> dict:
    task = task_for_env(ctx.config.env)
    factory = KarelEvaluatorFactory(task, settings.height, settings.width, settings.max_calls)
    made = factory.make_task()
    seeds = episode_seeds(ctx.seed, "symbolic", settings.instances)
    search_seed = stage_seed(ctx.seed, "symbolic")
    limits = ProgramLimits(settings.max_tokens, settings.max_nesting, settings.max_block)
    on_progress = _reporter(ctx, settings.report_every_s)
    model = None
    if isinstance(settings, KarelLatentCEMSettings):  # refuse a missing or wrong model before starting actors
        from nsrl_ray.pipeline.stages.symbolic_karel_vae import launch_path
        from nsrl_ray.symbolic.karel.embedding.vae import load_vae

        model, _ = load_vae(launch_path(settings.model))
    pool = make_pool(factory, settings.num_actors, ctx.config.resources.cpus_per_actor)
    try:
        common = dict(seed=search_seed, max_evaluations=settings.max_evaluations, target=settings.target,
                      limits=limits, on_progress=on_progress)
        if isinstance(settings, KarelHillClimbSettings):
            result: SearchResult = hill_climb(pool, seeds, neighbours=settings.neighbours, batch_size=settings.batch_size, **common)
        elif isinstance(settings, KarelLatentCEMSettings):
            from nsrl_ray.search.latent_cem import latent_cross_entropy, resolve_setting

            setting = resolve_setting(task, settings.population, settings.elite_fraction, settings.sigma,
                                      settings.exp_decay, settings.init, settings.init_scale)
            del common["limits"]  # the decoder's max_tokens bounds the programs
            result = latent_cross_entropy(
                pool, seeds, model, setting=setting, min_sigma=settings.min_sigma, decay_epochs=settings.decay_epochs,
                max_epochs=settings.max_epochs, early_stop_window=settings.early_stop_window, decode=settings.decode,
                weighted_mean=settings.weighted_mean, restart_patience=settings.restart_patience, **common,
            )
        else:
            result = cross_entropy(
                pool, seeds, population=settings.population, elite_fraction=settings.elite_fraction,
                smoothing=settings.smoothing, floor=settings.floor, patience=settings.patience, **common,
            )
    finally:
        pool.close()
    final = {**search_metrics(result), "tokens": token_count(result.best_program), "complexity": node_count(result.best_program)}
    ctx.report("symbolic", {**result.history[-1], "text/best_program": result.best_text, **final})
    card = ProgramCard(
        env=ctx.config.env,
        learner=settings.learner,
        program=result.best_program,
        task=task,
        height=made.height,
        width=made.width,
        max_calls=settings.max_calls,
        metrics={f"symbolic/{k}": v for k, v in final.items()},
        provenance={"seed": ctx.seed, "experiment": ctx.config.name, "search_seed": search_seed,
                    "instance_seeds": seeds, "num_actors": settings.num_actors,
                    **({"model": settings.model} if isinstance(settings, KarelLatentCEMSettings) else {})},
    )
    ctx.write_json(FORMULAS, card.to_dict())
    return {"program": result.best_text, **final}


def learn_karel_hill_climb(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    if not isinstance(settings, KarelHillClimbSettings):
        raise TypeError(f"learn_karel_hill_climb needs KarelHillClimbSettings, got {type(settings).__name__}.")
    return _run(ctx, settings)


def learn_karel_cem(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    if not isinstance(settings, KarelCEMSettings):
        raise TypeError(f"learn_karel_cem needs KarelCEMSettings, got {type(settings).__name__}.")
    return _run(ctx, settings)


def learn_karel_latent_cem(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    if not isinstance(settings, KarelLatentCEMSettings):
        raise TypeError(f"learn_karel_latent_cem needs KarelLatentCEMSettings, got {type(settings).__name__}.")
    return _run(ctx, settings)
