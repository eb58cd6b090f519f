"""Stage `evaluate`: the symbolic policy and the teacher play the same fixed seeds on Ray actors."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import card_from_dict
from nsrl_ray.pipeline.actors import play_on_actors, start_actors, stop_actors
from nsrl_ray.pipeline.context import EVALUATION, FORMULAS, TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds
from nsrl_ray.pipeline.teacher_units import teacher_action_bounds


def run_evaluate(ctx: StageContext) -> dict:
    settings = ctx.config.stages.evaluate
    assert settings is not None
    spec = get_env_spec(ctx.config.env)
    card_data = ctx.read_json(FORMULAS)
    if card_data.get("kind") == "program":  # a Karel program: scored on task instances, no teacher
        from nsrl_ray.pipeline.stages.evaluate_program import evaluate_program

        return evaluate_program(ctx, card_data)
    card = card_from_dict(card_data, where=str(ctx.path(FORMULAS)))
    seeds = episode_seeds(ctx.seed, "evaluate", settings.episodes)
    started = time.perf_counter()
    actors = start_actors(
        settings.num_actors, ctx.config.resources.cpus_per_actor,
        ctx.config.env, str(ctx.path(TEACHER_MODULE)), spec.action_kind, card_data, teacher_action_bounds(ctx),
    )
    try:
        formula_runs = play_on_actors(actors, "formula", seeds)
        teacher_runs = play_on_actors(actors, "teacher", seeds)
    finally:
        stop_actors(actors)
    returns = np.array([r.episode_return for r in formula_runs])
    teacher_returns = np.array([r.episode_return for r in teacher_runs])
    metrics = {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "teacher_return_mean": float(teacher_returns.mean()),
        "teacher_return_std": float(teacher_returns.std()),
        "complexity": card.complexity,
        "episodes": len(seeds),
        "time_s": time.perf_counter() - started,
    }
    if spec.action_kind == "discrete":
        # Step-weighted: the share of all visited states where the formula picks the teacher's action.
        steps = np.array([r.length for r in formula_runs])
        metrics["agreement"] = float(np.sum([r.agreement * r.length for r in formula_runs]) / steps.sum())
    if spec.solved_return is not None:
        metrics["solved"] = float(metrics["return_mean"] >= spec.solved_return)
    ctx.write_json(EVALUATION, {"metrics": metrics, "seeds": seeds, "returns": returns.tolist(), "teacher_returns": teacher_returns.tolist()})
    updated = dataclasses.replace(card, metrics={**card.metrics, **{f"evaluate/{k}": v for k, v in metrics.items()}})
    ctx.write_json(FORMULAS, updated.to_dict())
    ctx.report("evaluate", metrics)
    return metrics
