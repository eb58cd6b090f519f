"""Genetic programming with episode-return fitness, scored on the shared evaluator pool.

An individual is a tuple of trees (one per action or action dimension, see
`symbolic.tree_policy`). Each generation: elitism keeps the best individuals unchanged, the rest
are bred from tournament winners by crossover, subtree / hoist / point / constant mutation or
reproduction; selection compares fitness minus a parsimony penalty per node. Fitness is the mean
return over fixed evaluation seeds, computed by `pool.evaluate` (the pool cuts the new
candidates into chunks for its actors and collects them with `ray.wait`). Every random draw is
made here on the driver from one seed and the pool returns scores in input order, so the same
seed gives the same best program with any number of actors. The whole search state (population,
scores, generator state, counters) is plain data after each generation, so a stopped search
resumes exactly where it stood.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsrl_ray.search.pool import Pool
from nsrl_ray.symbolic.expression import Expr, complexity
from nsrl_ray.symbolic.gp_operators import TreeFactory, node_count
from nsrl_ray.symbolic.text import parse_expression, to_display_text, to_text
from nsrl_ray.symbolic.tree_policy import TreeEncoding

__all__ = ["GPParams", "GPResult", "GPState", "Individual", "gp_search", "pick_best"]

Individual = tuple[Expr, ...]
#: Called after every generation with the state and that generation's `search/...` metrics.
GenerationCallback = Callable[["GPState", dict[str, Any]], None]


@dataclass(frozen=True)
class GPParams:
    """How the population evolves (built from the experiment's settings, which hold the defaults)."""

    population_size: int
    generations: int
    """Populations scored, the initial one included."""
    tournament_size: int
    elitism: int
    """Best individuals copied unchanged into the next generation."""
    parsimony_coefficient: float
    """Selection fitness = return - coefficient * nodes (in return units per node)."""
    init_depth: tuple[int, int]
    max_nodes: int
    """A child tree larger than this is replaced by its parent's tree (bloat control)."""
    p_crossover: float
    p_subtree_mutation: float
    p_hoist_mutation: float
    p_point_mutation: float
    p_constant_mutation: float
    """What is left to 1 is plain reproduction."""
    target: float | None = None
    """Stop once the best return reaches this."""

    def __post_init__(self) -> None:
        for name in ("population_size", "generations", "tournament_size", "max_nodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a positive integer.")
        if not 0 <= self.elitism < self.population_size:
            raise ValueError(f"elitism: got {self.elitism}, expected 0 <= elitism < population_size ({self.population_size}).")
        if self.tournament_size > self.population_size:
            raise ValueError(f"tournament_size ({self.tournament_size}) must not exceed population_size ({self.population_size}).")
        probabilities = (self.p_crossover, self.p_subtree_mutation, self.p_hoist_mutation, self.p_point_mutation,
                         self.p_constant_mutation)
        if any(p < 0 for p in probabilities) or sum(probabilities) > 1.0 + 1e-9:
            raise ValueError(f"operator probabilities: got {probabilities}, expected non-negative values summing to <= 1.")


@dataclass
class GPState:
    """Where a search stands after scoring generation ``generation`` (plain data: see to_dict)."""

    generation: int
    population: list[Individual]
    fitness: list[float]
    rng_state: dict[str, Any]
    evaluations: int = 0
    """Candidates scored so far (duplicates within a generation and carried-over elites are not rescored)."""
    best: Individual | None = None
    best_fitness: float = -math.inf
    best_score: float = -math.inf
    """The best individual ever seen by selection score (return minus the parsimony penalty)."""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [[to_text(tree) for tree in ind] for ind in self.population],
            "fitness": [_finite_or_none(f) for f in self.fitness],
            "rng_state": self.rng_state,
            "evaluations": self.evaluations,
            "best": None if self.best is None else [to_text(tree) for tree in self.best],
            "best_fitness": _finite_or_none(self.best_fitness),
            "best_score": _finite_or_none(self.best_score),
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GPState":
        parse = lambda texts: tuple(parse_expression(t) for t in texts)  # noqa: E731
        return cls(
            generation=int(data["generation"]),
            population=[parse(ind) for ind in data["population"]],
            fitness=[_none_to_inf(f) for f in data["fitness"]],
            rng_state=data["rng_state"],
            evaluations=int(data["evaluations"]),
            best=None if data["best"] is None else parse(data["best"]),
            best_fitness=_none_to_inf(data["best_fitness"]),
            best_score=_none_to_inf(data["best_score"]),
            history=list(data["history"]),
        )


def _finite_or_none(value: float) -> float | None:
    # JSON has no -inf; None stands for "scored, but the worst possible".
    return float(value) if math.isfinite(value) else None


def _none_to_inf(value: float | None) -> float:
    return -math.inf if value is None else float(value)


@dataclass(frozen=True)
class GPResult:
    """The best individual and what the search cost."""

    best: Individual
    best_fitness: float
    generations: int
    evaluations: int
    seconds: float
    state: GPState


def _key(individual: Individual) -> tuple[str, ...]:
    return tuple(to_text(tree) for tree in individual)


class _Search:
    """One search: the operators, the pool and the bookkeeping shared by every generation."""

    def __init__(self, pool: Pool, seeds: Sequence[int], trees: TreeFactory, encoding: TreeEncoding,
                 params: GPParams, on_generation: GenerationCallback | None) -> None:
        self.pool, self.seeds, self.trees, self.encoding, self.params = pool, list(seeds), trees, encoding, params
        self.on_generation = on_generation
        self.started = time.perf_counter()
        self.evaluated_here = 0

    def size(self, individual: Individual) -> int:
        return sum(complexity(f) for f in self.encoding.formulas(individual))

    def score(self, fitness: float, individual: Individual) -> float:
        return fitness - self.params.parsimony_coefficient * self.size(individual) if math.isfinite(fitness) else -math.inf

    def evaluate(self, population: list[Individual], known: dict[tuple[str, ...], float]) -> tuple[list[float], int]:
        """Fitness of every individual; only keys not in ``known`` (nor repeated) go to the pool."""
        keys = [_key(ind) for ind in population]
        fresh: dict[tuple[str, ...], int] = {}
        for key, ind in zip(keys, population):
            if key not in known and key not in fresh:
                fresh[key] = len(fresh)
        unique = [None] * len(fresh)
        for key, ind in zip(keys, population):
            if key in fresh and unique[fresh[key]] is None:
                unique[fresh[key]] = self.encoding.formulas(ind)
        scores = self.pool.evaluate(unique, self.seeds) if unique else []
        table = dict(known)
        table.update({key: float(scores[i]) for key, i in fresh.items()})
        self.evaluated_here += len(unique)
        return [table[key] for key in keys], len(unique)

    def tournament(self, rng: np.random.Generator, scores: list[float]) -> int:
        contenders = rng.integers(0, len(scores), size=self.params.tournament_size)
        # Ties go to the first drawn: deterministic whatever the float values.
        return int(max(contenders, key=lambda i: scores[int(i)]))

    def breed(self, rng: np.random.Generator, population: list[Individual], fitness: list[float]) -> list[Individual]:
        params, trees = self.params, self.trees
        scores = [self.score(f, ind) for f, ind in zip(fitness, population)]
        order = sorted(range(len(population)), key=lambda i: (-scores[i], i))
        children: list[Individual] = []
        seen: set[tuple[str, ...]] = set()
        for i in order:  # elites: the best distinct individuals, unchanged
            if len(children) >= params.elitism:
                break
            key = _key(population[i])
            if key not in seen:
                seen.add(key)
                children.append(population[i])
        thresholds = np.cumsum([params.p_crossover, params.p_subtree_mutation, params.p_hoist_mutation,
                                params.p_point_mutation, params.p_constant_mutation])
        while len(children) < params.population_size:
            parent = population[self.tournament(rng, scores)]
            which = int(rng.integers(len(parent)))
            tree = parent[which]
            draw = rng.random()
            if draw < thresholds[0]:
                donor = population[self.tournament(rng, scores)]
                new = trees.crossover(rng, tree, donor[which])
            elif draw < thresholds[1]:
                new = trees.subtree_mutation(rng, tree, params.init_depth)
            elif draw < thresholds[2]:
                new = trees.hoist_mutation(rng, tree)
            elif draw < thresholds[3]:
                new = trees.point_mutation(rng, tree)
            elif draw < thresholds[4]:
                new = trees.constant_mutation(rng, tree)
            else:
                new = tree
            if node_count(new) > params.max_nodes:
                new = tree
            children.append(parent[:which] + (new,) + parent[which + 1:])
        return children

    def record(self, state: GPState, new_evaluations: int) -> dict[str, Any]:
        """Update the best-ever individual and append this generation's metrics."""
        for ind, fit in zip(state.population, state.fitness):
            score = self.score(fit, ind)
            if score > state.best_score:
                state.best, state.best_fitness, state.best_score = ind, fit, score
        finite = [f for f in state.fitness if math.isfinite(f)]
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        metrics: dict[str, Any] = {
            "search/generation": state.generation,
            "search/best_fitness": state.best_fitness,
            "search/mean_fitness": float(np.mean(finite)) if finite else -math.inf,
            "search/best_complexity": self.size(state.best) if state.best is not None else 0,
            "search/evaluations": state.evaluations,
            "search/episodes": state.evaluations * len(self.seeds),
            "search/new_evaluations": new_evaluations,
            "search/evaluations_per_s": self.evaluated_here / elapsed,
        }
        state.history.append({k: v for k, v in metrics.items()})
        if state.best is not None:
            metrics["search/best_formula"] = "\n".join(to_display_text(f) for f in self.encoding.formulas(state.best))
        if self.on_generation is not None:
            self.on_generation(state, metrics)
        return metrics


def gp_search(
    pool: Pool,
    seeds: Sequence[int],
    trees: TreeFactory,
    encoding: TreeEncoding,
    params: GPParams,
    *,
    seed: int,
    initial: Sequence[Individual] = (),
    initial_copies: int = 0,
    state: GPState | None = None,
    on_generation: GenerationCallback | None = None,
) -> GPResult:
    """Evolve a population; ``initial`` individuals (a warm start) open the first population,
    followed by mutants of them (point and constant mutation) up to ``initial_copies`` in all.

    With ``state`` (from a checkpoint) the search continues after that state's generation and
    ends exactly as an uninterrupted search with the same seed would.
    """
    search = _Search(pool, seeds, trees, encoding, params, on_generation)
    for ind in initial:
        if len(ind) != encoding.n_trees:
            raise ValueError(f"a warm-start individual has {len(ind)} trees, expected {encoding.n_trees}.")
    if state is None:
        rng = np.random.default_rng(seed)
        population = list(initial)[: params.population_size]
        target = min(params.population_size, max(initial_copies, len(population)))
        while population and len(population) < target:
            source = population[len(population) % len(initial)]
            population.append(tuple(trees.constant_mutation(rng, trees.point_mutation(rng, tree)) for tree in source))
        while len(population) < params.population_size:
            population.append(tuple(trees.ramped(rng, params.init_depth) for _ in range(encoding.n_trees)))
        fitness, new = search.evaluate(population, {})
        state = GPState(0, population, fitness, rng.bit_generator.state, evaluations=new)
        search.record(state, new)
    else:
        rng = np.random.default_rng()
        rng.bit_generator.state = state.rng_state
    while state.generation + 1 < params.generations and not _reached(state, params.target):
        children = search.breed(rng, state.population, state.fitness)
        known = {_key(ind): f for ind, f in zip(state.population, state.fitness)}
        fitness, new = search.evaluate(children, known)
        state = GPState(state.generation + 1, children, fitness, rng.bit_generator.state,
                        evaluations=state.evaluations + new, best=state.best, best_fitness=state.best_fitness,
                        best_score=state.best_score, history=state.history)
        search.record(state, new)
    assert state.best is not None
    return GPResult(state.best, state.best_fitness, state.generation + 1, state.evaluations,
                    time.perf_counter() - search.started, state)


def _reached(state: GPState, target: float | None) -> bool:
    return target is not None and state.best_fitness >= target


def pick_best(
    pool: Pool,
    state: GPState,
    encoding: TreeEncoding,
    seeds: Sequence[int],
    top: int,
    parsimony_coefficient: float,
) -> tuple[Individual, float, list[tuple[Individual, float]]]:
    """Re-score the ``top`` best distinct individuals (the best ever included) on fresh ``seeds`` and
    return the winner by that score minus the parsimony penalty, its mean return there, and all scores.

    A return averaged over a few fixed seeds flatters the individuals that happen to suit them;
    unseen seeds tell which of the leaders generalise.
    """
    size = lambda ind: sum(complexity(f) for f in encoding.formulas(ind))  # noqa: E731
    ranked = sorted(
        range(len(state.population)),
        key=lambda i: (-(state.fitness[i] - parsimony_coefficient * size(state.population[i])), i),
    )
    candidates: list[Individual] = [] if state.best is None else [state.best]
    seen = {_key(ind) for ind in candidates}
    for i in ranked:
        if len(candidates) >= top:
            break
        key = _key(state.population[i])
        if key not in seen and math.isfinite(state.fitness[i]):
            seen.add(key)
            candidates.append(state.population[i])
    scores = pool.evaluate([encoding.formulas(ind) for ind in candidates], list(seeds))
    scored = list(zip(candidates, [float(s) for s in scores]))
    winner = max(range(len(scored)), key=lambda i: (scored[i][1] - parsimony_coefficient * size(scored[i][0]), -i))
    return scored[winner][0], scored[winner][1], scored
