"""Stage `finetune`, method `constants_cem`: tune the card's constants by the cross-entropy method on the return.

Where PPO's gradient through the formulas is weak (sparse rewards, argmax boundaries set by
tiny coefficients, as on MountainCar), a population of constant vectors scored by their
episode return on the evaluator actors still moves. Candidates are scored on fixed fitness
seeds; every `validate_every` iterations the best vector so far plays the validation seeds,
and the card keeps the original constants unless a tuned vector beats them there.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nsrl_ray.config.schema import ConstantsCEMSettings
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.pipeline.context import FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.search.constants_cem import cem_constants
from nsrl_ray.search.episode_fitness import EpisodeReturnFactory
from nsrl_ray.search.pool import make_pool
from nsrl_ray.symbolic.constants import constants_of, drop_unit_gains, with_constants, with_variable_gains
from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.text import to_display_text


def split_constants(formulas: tuple[Expr, ...]) -> tuple[np.ndarray, list[int]]:
    """All constants of the formulas as one vector, and how many belong to each formula."""
    per_formula = [constants_of(f) for f in formulas]
    flat = [value for values in per_formula for value in values]
    return np.asarray(flat, dtype=np.float64), [len(values) for values in per_formula]


def join_constants(formulas: tuple[Expr, ...], counts: list[int], vector: np.ndarray) -> tuple[Expr, ...]:
    """The formulas with the constants of ``vector`` (the inverse of `split_constants`)."""
    out, offset = [], 0
    for formula, count in zip(formulas, counts):
        out.append(with_constants(formula, vector[offset:offset + count]))
        offset += count
    return tuple(out)


def run_constants_cem(ctx: StageContext, card: PolicyCard, factory: EpisodeReturnFactory) -> dict[str, Any]:
    settings = ctx.config.stages.finetune
    assert isinstance(settings, ConstantsCEMSettings)
    started = time.perf_counter()
    original = card.formulas
    tunable = tuple(with_variable_gains(f) for f in original) if settings.variable_gains else original
    start, counts = split_constants(tunable)
    fitness_seeds = episode_seeds(ctx.seed, "finetune_fitness", settings.episodes)
    validation_seeds = episode_seeds(ctx.seed, "finetune", settings.validation_episodes)
    rng = np.random.default_rng(stage_seed(ctx.seed, "finetune"))
    pool = make_pool(factory, settings.num_actors, ctx.config.resources.cpus_per_actor)
    evaluator = factory()
    best_validated = {"return": 0.0, "formulas": original, "iteration": 0}
    validations = [0]

    def validate(formulas: tuple[Expr, ...]) -> float:
        validations[0] += 1
        return float(np.mean(evaluator.returns(formulas, validation_seeds)))

    def score(vectors: list[np.ndarray]) -> list[float]:
        return pool.evaluate([join_constants(tunable, counts, v) for v in vectors], fitness_seeds)

    def on_iteration(iteration: int, row: dict[str, float], best: np.ndarray) -> None:
        metrics: dict[str, Any] = {**row, "iteration": iteration, "iterations": settings.iterations,
                                   "time_s": time.perf_counter() - started}
        if iteration % settings.validate_every == 0 or iteration == settings.iterations:
            tuned = tuple(drop_unit_gains(f) for f in join_constants(tunable, counts, best))
            value = validate(tuned)
            metrics["validation_return"] = value
            if value > best_validated["return"]:
                best_validated.update({"return": value, "formulas": tuned, "iteration": iteration})
                metrics["formula"] = "\n".join(to_display_text(f) for f in tuned)
        ctx.report("finetune", metrics)

    try:
        best_validated["return"] = before = validate(original)
        result = cem_constants(
            start, score, rng=rng, iterations=settings.iterations, population=settings.population,
            elite_fraction=settings.elite_fraction, sigma=settings.sigma, min_scale=settings.min_scale,
            on_iteration=on_iteration,
        )
    finally:
        pool.close()
        evaluator.close()
    best_formulas = best_validated["formulas"]
    accepted = best_validated["iteration"] > 0
    summary = {
        "return_before": before,
        "return_after": best_validated["return"],
        "accepted": float(accepted),
        "best_iteration": best_validated["iteration"],
        "constants": float(start.size),
        "variable_gains": float(settings.variable_gains),
        "fitness_before": result.start_fitness,
        "fitness_after": result.best_fitness,
        "env_episodes": result.evaluations * len(fitness_seeds) + validations[0] * len(validation_seeds),
        "time_s": time.perf_counter() - started,
    }
    from nsrl_ray.pipeline.stages.finetune import write_finetuned_card  # finetune imports this module lazily

    return write_finetuned_card(ctx, card, best_formulas, summary,
                                {"method": settings.method, "fitness_seeds": fitness_seeds,
                                 "validation_seeds": validation_seeds, "accepted": accepted})
