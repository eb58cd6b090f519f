"""Evaluate stage for program cards: score the program on held-out task instances and on larger grids.

The instances come from the `evaluate` seed stream, so they differ from the ones the search saw.
Scoring is cheap (milliseconds per instance), so it runs in the trial process. Generalisation plays
the same program, unchanged, on each size in the learner's `generalisation_sizes` (tasks with a
fixed map are skipped), with the node-call budget scaled by the number of interior cells.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from nsrl_ray.envs.karel.tasks import TASKS
from nsrl_ray.explain.program_card import program_card_from_dict
from nsrl_ray.pipeline.context import EVALUATION, FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds
from nsrl_ray.symbolic.karel.policy import scaled_budget


def evaluate_program(ctx: StageContext, card_data: dict[str, Any]) -> dict:
    settings = ctx.config.stages.evaluate
    assert settings is not None
    card = program_card_from_dict(card_data, where=str(ctx.path(FORMULAS)))
    policy = card.policy()
    seeds = episode_seeds(ctx.seed, "evaluate", settings.episodes)
    started = time.perf_counter()
    returns = np.array(policy.returns(seeds))
    metrics: dict[str, Any] = {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "episodes": len(seeds),
        "complexity": card.complexity,
        "solved": float(returns.mean() >= 1.0),
    }
    generalisation: dict[str, Any] = {}
    sizes = getattr(ctx.config.stages.symbolic, "generalisation_sizes", ())
    for height, width in sizes:
        label = f"{height}x{width}"
        if not TASKS[card.task].resizable:
            generalisation[label] = {"skipped": f"{card.task} has a fixed {card.height}x{card.width} map"}
            continue
        budget = scaled_budget(card.max_calls, (card.height, card.width), (height, width))
        big = np.array(policy.returns(seeds, height, width, max_calls=budget))
        generalisation[label] = {"returns": big.tolist(), "max_calls": budget}
        metrics[f"return_mean_{label}"] = float(big.mean())
        metrics[f"return_std_{label}"] = float(big.std())
    metrics["time_s"] = time.perf_counter() - started
    ctx.write_json(EVALUATION, {"metrics": metrics, "seeds": seeds, "returns": returns.tolist(), "generalisation": generalisation})
    updated = dataclasses.replace(card, metrics={**card.metrics, **{f"evaluate/{k}": v for k, v in metrics.items()}})
    ctx.write_json(FORMULAS, updated.to_dict())
    ctx.report("evaluate", metrics)
    return metrics
