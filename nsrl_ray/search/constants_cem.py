"""Cross-entropy search over a formula policy's constants, with the episode return as fitness.

The structure of the formulas stays; only their constants move. Each constant is sampled
around the current mean with a standard deviation relative to its own size (a velocity
coefficient of 0.002 and an offset of 3 are searched on their own scales), the elites set the
next mean and spread, and the best vector ever scored is kept, so the result never scores
below the start on the fitness seeds. All randomness comes from the caller's generator, so a
seed gives the same search whatever evaluates the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CEMResult", "cem_constants"]

#: Scores a batch of constant vectors (higher is better); -inf marks a failed candidate.
Score = Callable[[Sequence[np.ndarray]], Sequence[float]]


@dataclass
class CEMResult:
    """The best constants found, their fitness, and one row per iteration."""

    best: np.ndarray
    best_fitness: float
    start_fitness: float
    evaluations: int
    history: list[dict[str, float]] = field(default_factory=list)


def cem_constants(
    start: Sequence[float],
    score: Score,
    *,
    rng: np.random.Generator,
    iterations: int,
    population: int,
    elite_fraction: float = 0.25,
    sigma: float = 0.3,
    min_scale: float = 0.01,
    initial_std: Sequence[float] | None = None,
    on_iteration: Callable[[int, dict[str, float], np.ndarray], None] | None = None,
    target: float | None = None,
    rescore_best: bool = False,
) -> CEMResult:
    """Search constants around ``start``; ``sigma`` is relative to max(|constant|, ``min_scale``), unless
    ``initial_std`` gives each constant's first spread outright (a search that starts from zeros).
    The search ends early once the best fitness reaches ``target``.

    ``rescore_best``: for a ``score`` that draws fresh episodes on every call. The best vector so far is
    scored again with each population and its fitness is the mean of all its scores, so one lucky
    draw cannot keep a poor vector on top for the rest of the search."""
    if population < 2:
        raise ValueError(f"population: got {population}, expected at least 2.")
    if not 0 < elite_fraction <= 1:
        raise ValueError(f"elite_fraction: got {elite_fraction}, expected a number in (0, 1].")
    mean = np.asarray(start, dtype=np.float64)
    best = mean.copy()
    best_fitness = float(score([best])[0])
    start_fitness = best_fitness
    evaluations = 1
    history: list[dict[str, float]] = []
    if mean.size == 0:  # nothing to tune: the formulas have no constants
        return CEMResult(best, best_fitness, start_fitness, evaluations, history)
    if initial_std is not None:
        std = np.asarray(initial_std, dtype=np.float64)
        if std.shape != mean.shape or not np.all(std > 0):
            raise ValueError(f"initial_std: expected {mean.size} positive values, got {std.tolist()}.")
    else:
        std = sigma * np.maximum(np.abs(mean), min_scale)
    floor = 0.05 * std  # the spread never collapses entirely: late iterations still explore a little
    n_elite = max(1, int(round(elite_fraction * population)))
    best_scores = [best_fitness]
    for iteration in range(1, iterations + 1):
        samples = mean + std * rng.standard_normal((population, mean.size))
        scored = np.asarray(score(list(samples) + ([best] if rescore_best else [])), dtype=np.float64)
        evaluations += len(scored)
        scored = np.where(np.isfinite(scored), scored, -math.inf)
        fitness = scored[:population]
        if rescore_best:
            best_scores.append(float(scored[-1]))
            best_fitness = float(np.mean(best_scores))
        order = np.argsort(-fitness, kind="stable")
        if fitness[order[0]] > best_fitness:
            best, best_fitness = samples[order[0]].copy(), float(fitness[order[0]])
            best_scores = [best_fitness]
        elites = samples[order[:n_elite]]
        mean = elites.mean(axis=0)
        std = np.maximum(elites.std(axis=0), floor)
        finite = fitness[np.isfinite(fitness)]
        row = {
            "iteration": float(iteration),
            "best_fitness": best_fitness,
            "population_best": float(fitness[order[0]]),
            "population_mean": float(finite.mean()) if finite.size else -math.inf,
            "relative_sigma": float(np.mean(std / np.maximum(np.abs(mean), min_scale))),
            "evaluations": float(evaluations),
        }
        history.append(row)
        if on_iteration is not None:
            on_iteration(iteration, row, best)
        if target is not None and best_fitness >= target:
            break
    return CEMResult(best, best_fitness, start_fitness, evaluations, history)
