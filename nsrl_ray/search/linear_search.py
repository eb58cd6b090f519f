"""Random search over linear policies on the episode return (ARS's finding, by the cross-entropy method).

One linear formula c0 + c1*x1 + ... per GP tree, all weights searched together; each weight's first
spread is ``sigma`` divided by its input's half-range, so a velocity living in [-0.07, 0.07] and a
position in [-1.2, 0.6] are pushed equally hard. Used to warm-start the GP without a teacher
(`warm_start: linear_search`): where the teacher fails (MountainCar's sparse reward), a linear
switching rule found on the return is a far better first population than random trees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsrl_ray.search.constants_cem import cem_constants
from nsrl_ray.search.pool import Pool
from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.linear_distill import linear_formula
from nsrl_ray.symbolic.tree_policy import TreeEncoding

__all__ = ["LinearSearchResult", "linear_search"]


@dataclass(frozen=True)
class LinearSearchResult:
    """The best linear trees, their mean return on the search seeds, candidates scored, one row per iteration."""

    trees: tuple[Expr, ...]
    fitness: float
    evaluations: int
    history: list[dict[str, float]]


def half_ranges(ranges: Sequence[tuple[float, float] | None], n_variables: int) -> np.ndarray:
    """Each input's half-range from the env's feature ranges (1 where a range is unknown or empty)."""
    out = np.ones(n_variables)
    for i, bounds in enumerate(list(ranges)[:n_variables]):
        if bounds is not None and bounds[1] > bounds[0]:
            out[i] = (bounds[1] - bounds[0]) / 2.0
    return out


def linear_search(
    pool: Pool,
    seeds: Sequence[int],
    encoding: TreeEncoding,
    variables: tuple[str, ...],
    ranges: Sequence[tuple[float, float] | None],
    *,
    rng: np.random.Generator,
    iterations: int,
    population: int,
    sigma: float,
) -> LinearSearchResult:
    """The best linear trees found (one per tree of ``encoding``) and their mean return on ``seeds``."""
    n_vars = len(variables)
    per_tree = np.concatenate([[sigma], sigma / half_ranges(ranges, n_vars)])
    initial_std = np.tile(per_tree, encoding.n_trees)

    def trees(vector: np.ndarray) -> tuple[Expr, ...]:
        rows = vector.reshape(encoding.n_trees, n_vars + 1)
        return tuple(linear_formula(row[1:], float(row[0]), variables) for row in rows)

    def score(vectors: Sequence[np.ndarray]) -> list[float]:
        return [float(s) for s in pool.evaluate([encoding.formulas(trees(v)) for v in vectors], list(seeds))]

    result = cem_constants(np.zeros(initial_std.size), score, rng=rng, iterations=iterations, population=population,
                           initial_std=initial_std)
    return LinearSearchResult(trees(result.best), result.best_fitness, result.evaluations, result.history)
