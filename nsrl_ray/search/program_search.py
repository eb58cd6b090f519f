"""Search in Karel program space: stochastic hill climbing and the cross-entropy method.

Both run on the driver and send candidates to a pool (`nsrl_ray.search.pool`): all randomness is
drawn on the driver from one seed, candidates are scored in fixed-size batches whose size never
depends on the number of actors, and the pool returns scores in order, so the same seed gives the
same best program with any number of actors.

Hill climbing follows prog_policies's HC (karel.md §8.1): from a random program, score up to `k`
mutation neighbours in order and move to the first strictly better one; when none is better, restart
from a new random program; stop at the target return or when the evaluation budget is spent.
Neighbours are scored in batches of `batch_size`, and every scored program counts as an evaluation.

The cross-entropy method keeps a probability distribution over programs that is indexed by the
position in the syntax tree: for every block, a distribution over its length, and for every
statement slot, distributions over the statement kind, action, condition and REPEAT count. Each
generation draws a population, keeps the elite fraction, and moves every distribution the elites
used toward the elites' choices (smoothed); a stalled distribution is restarted from the prior.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nsrl_ray.envs.karel.world import ACTIONS, PERCEPTIONS
from nsrl_ray.search.pool import Pool
from nsrl_ray.symbolic.karel.program import (
    MAX_REPEAT,
    Action,
    Block,
    Condition,
    If,
    IfElse,
    Program,
    Repeat,
    While,
    to_text,
)
from nsrl_ray.symbolic.karel.sampler import Mutator, ProgramLimits, ProgramSampler

#: Called after every scored batch with the progress so far (metrics keys are in `SearchProgress.metrics`).
ProgressCallback = Callable[["SearchProgress"], None]


@dataclass
class SearchProgress:
    """Where a search stands; the metrics it reports per generation."""

    generation: int = 0
    evaluations: int = 0
    best_return: float = -math.inf
    best_program: Program | None = None
    restarts: int = 0
    started: float = field(default_factory=time.perf_counter)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def metrics(self) -> dict[str, float]:
        elapsed = max(self.elapsed, 1e-9)
        return {
            "search/best_return": float(self.best_return),
            "search/evaluations": float(self.evaluations),
            "search/evaluations_per_s": self.evaluations / elapsed,
            "search/generation": float(self.generation),
            "search/restarts": float(self.restarts),
        }

    def offer(self, program: Program, score: float) -> bool:
        if score > self.best_return:
            self.best_return, self.best_program = score, program
            return True
        return False


@dataclass(frozen=True)
class SearchResult:
    """The best program a search found and what it cost."""

    best_program: Program
    best_return: float
    evaluations: int
    generations: int
    restarts: int
    seconds: float
    history: tuple[dict[str, float], ...]

    @property
    def best_text(self) -> str:
        return to_text(self.best_program)


def _finish(progress: SearchProgress) -> SearchResult:
    assert progress.best_program is not None
    return SearchResult(
        best_program=progress.best_program,
        best_return=float(progress.best_return),
        evaluations=progress.evaluations,
        generations=progress.generation,
        restarts=progress.restarts,
        seconds=progress.elapsed,
        history=tuple(progress.history),
    )


class _Scorer:
    """Counts evaluations and keeps the best; one pool call per batch."""

    def __init__(self, pool: Pool, seeds: Sequence[int], progress: SearchProgress, on_progress: ProgressCallback | None) -> None:
        self.pool, self.seeds, self.progress, self.on_progress = pool, list(seeds), progress, on_progress

    def __call__(self, programs: list[Program]) -> list[float]:
        scores = self.pool.evaluate(programs, self.seeds)
        progress = self.progress
        progress.evaluations += len(programs)
        for program, score in zip(programs, scores):
            progress.offer(program, score)
        progress.generation += 1
        row = progress.metrics()
        progress.history.append(row)
        if self.on_progress is not None:
            self.on_progress(progress)
        return scores


def hill_climb(
    pool: Pool,
    seeds: Sequence[int],
    *,
    seed: int,
    neighbours: int,
    batch_size: int,
    max_evaluations: int,
    target: float = 1.0,
    limits: ProgramLimits = ProgramLimits(),
    sampler: ProgramSampler | None = None,
    on_progress: ProgressCallback | None = None,
) -> SearchResult:
    """Stochastic hill climbing with restarts in program space (prog_policies's HC)."""
    for name, value in (("neighbours", neighbours), ("batch_size", batch_size), ("max_evaluations", max_evaluations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: got {value!r}, expected a positive integer.")
    rng = random.Random(seed)
    sampler = sampler or ProgramSampler()
    mutator = Mutator(sampler, limits)
    progress = SearchProgress()
    score = _Scorer(pool, seeds, progress, on_progress)

    def budget_left() -> int:
        return max_evaluations - progress.evaluations

    while budget_left() > 0 and progress.best_return < target:
        current = sampler.program(rng, limits)
        current_score = score([current])[0]
        while budget_left() > 0 and progress.best_return < target:
            moved = False
            tried = 0
            while tried < neighbours and budget_left() > 0:
                size = min(batch_size, neighbours - tried, budget_left())
                batch = [mutator.mutate(current, rng) for _ in range(size)]
                tried += size
                scores = score(batch)
                better = next((i for i, s in enumerate(scores) if s > current_score), None)
                if better is not None:
                    current, current_score, moved = batch[better], scores[better], True
                    break
            if not moved:
                break  # a local maximum: restart
        progress.restarts += 1
    progress.restarts -= 1  # the last loop exit is not a restart
    return _finish(progress)


# ------------------------------------------------------------------------------------------ CEM
_KINDS = ("ACTION", "WHILE", "REPEAT", "IF", "IFELSE")
_CONDITIONS = tuple((p, negated) for negated in (False, True) for p in PERCEPTIONS)


def _normalise(weights: list[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


@dataclass(frozen=True)
class _Prior:
    """LEAPS's grammar probabilities turned into per-slot distributions (sequences become block lengths)."""

    kind: tuple[float, ...]
    action: tuple[float, ...]
    condition: tuple[float, ...]
    count: tuple[float, ...]
    length: tuple[float, ...]

    @classmethod
    def from_sampler(cls, sampler: ProgramSampler, max_block: int) -> "_Prior":
        p = sampler.probabilities
        w, r, _, a, i, e = p.statement
        kind = _normalise([a, w, r, i, e])
        condition = [(1 - p.negate) * q for q in p.perception] + [p.negate * q for q in p.perception]
        # A sequence S S is drawn with probability 0.5, so a block's length is roughly geometric.
        length = _normalise([0.5 ** k for k in range(max_block)])
        return cls(tuple(kind), tuple(p.action), tuple(condition), tuple([1 / (MAX_REPEAT + 1)] * (MAX_REPEAT + 1)), tuple(length))


class ProgramDistribution:
    """A distribution over programs with one categorical per syntax-tree position (lazily created from the prior)."""

    def __init__(self, prior: _Prior, limits: ProgramLimits) -> None:
        self.prior = prior
        self.limits = limits
        self.tables: dict[tuple, list[float]] = {}

    def table(self, key: tuple) -> list[float]:
        table = self.tables.get(key)
        if table is None:
            table = list(getattr(self.prior, key[0]))
            self.tables[key] = table
        return table

    @staticmethod
    def _draw(rng: random.Random, table: list[float]) -> int:
        x = rng.random()
        for index, p in enumerate(table):
            x -= p
            if x < 0:
                return index
        return len(table) - 1

    def _block(self, rng: random.Random, path: tuple, nesting: int) -> Block:
        length = 1 + self._draw(rng, self.table(("length", path)))
        out = []
        for index in range(length):
            slot = path + (index,)
            kinds = self.table(("kind", slot))
            kind = _KINDS[self._draw(rng, kinds)] if nesting < self.limits.max_nesting else "ACTION"
            if kind == "ACTION":
                out.append(Action(ACTIONS[self._draw(rng, self.table(("action", slot)))]))
                continue
            if kind == "REPEAT":
                count = self._draw(rng, self.table(("count", slot)))
                out.append(Repeat(count, self._block(rng, slot + ("body",), nesting + 1)))
                continue
            perception, negated = _CONDITIONS[self._draw(rng, self.table(("condition", slot)))]
            cond = Condition(perception, negated)
            body = self._block(rng, slot + ("body",), nesting + 1)
            if kind == "WHILE":
                out.append(While(cond, body))
            elif kind == "IF":
                out.append(If(cond, body))
            else:
                out.append(IfElse(cond, body, self._block(rng, slot + ("orelse",), nesting + 1)))
        return tuple(out)

    def sample(self, rng: random.Random, max_tries: int = 200) -> Program:
        """A program within the limits; nesting is bounded by construction, length and size by redrawing.

        If ``max_tries`` draws all break the limits (the floor keeps long choices possible, so this is
        rare), the last draw is returned as it is: the limits bound CEM's search space only softly.
        """
        for _ in range(max_tries):
            program = Program(self._block(rng, (), 0))
            if self.limits.fits(program):
                return program
        return program

    @staticmethod
    def choices(program: Program) -> list[tuple[tuple, int]]:
        """The (table key, chosen index) pairs that produce ``program``."""
        out: list[tuple[tuple, int]] = []

        def walk(block: Block, path: tuple) -> None:
            out.append((("length", path), len(block) - 1))
            for index, stmt in enumerate(block):
                slot = path + (index,)
                if isinstance(stmt, Action):
                    out.append((("kind", slot), 0))
                    out.append((("action", slot), ACTIONS.index(stmt.name)))
                    continue
                if isinstance(stmt, Repeat):
                    out.append((("kind", slot), 2))
                    out.append((("count", slot), stmt.count))
                    walk(stmt.body, slot + ("body",))
                    continue
                kind = 1 if isinstance(stmt, While) else 3 if isinstance(stmt, If) else 4
                out.append((("kind", slot), kind))
                out.append((("condition", slot), _CONDITIONS.index((stmt.cond.perception, stmt.cond.negated))))
                walk(stmt.body, slot + ("body",))
                if isinstance(stmt, IfElse):
                    walk(stmt.orelse, slot + ("orelse",))

        walk(program.body, ())
        return out

    def update(self, elites: Sequence[Program], smoothing: float, floor: float) -> None:
        """Move every table the elites used toward their empirical choice frequencies."""
        counts: dict[tuple, list[float]] = {}
        for program in elites:
            for key, choice in self.choices(program):
                row = counts.setdefault(key, [0.0] * len(self.table(key)))
                row[choice] += 1.0
        for key, row in counts.items():
            total = sum(row)
            table = self.table(key)
            mixed = [(1 - smoothing) * old + smoothing * (c / total) for old, c in zip(table, row)]
            # A floor keeps every choice possible, so the search can still leave a wrong mode.
            self.tables[key] = _normalise([max(p, floor) for p in mixed])


def cross_entropy(
    pool: Pool,
    seeds: Sequence[int],
    *,
    seed: int,
    population: int,
    elite_fraction: float,
    smoothing: float,
    floor: float,
    patience: int,
    max_evaluations: int,
    target: float = 1.0,
    limits: ProgramLimits = ProgramLimits(),
    sampler: ProgramSampler | None = None,
    on_progress: ProgressCallback | None = None,
) -> SearchResult:
    """CEM over program space with restarts when the elites stop improving for ``patience`` generations."""
    if isinstance(population, bool) or not isinstance(population, int) or population < 2:
        raise ValueError(f"population: got {population!r}, expected an integer >= 2.")
    if not 0.0 < elite_fraction <= 1.0:
        raise ValueError(f"elite_fraction: got {elite_fraction}, expected a number in (0, 1].")
    if not 0.0 < smoothing <= 1.0:
        raise ValueError(f"smoothing: got {smoothing}, expected a number in (0, 1].")
    rng = random.Random(seed)
    prior = _Prior.from_sampler(sampler or ProgramSampler(), limits.max_block)
    progress = SearchProgress()
    score = _Scorer(pool, seeds, progress, on_progress)
    n_elite = max(1, int(round(population * elite_fraction)))
    while progress.evaluations < max_evaluations and progress.best_return < target:
        distribution = ProgramDistribution(prior, limits)
        best_elite_mean, stalled = -math.inf, 0
        while progress.evaluations < max_evaluations and progress.best_return < target and stalled < patience:
            size = min(population, max_evaluations - progress.evaluations)
            programs = [distribution.sample(rng) for _ in range(size)]
            scores = score(programs)
            order = sorted(range(size), key=lambda i: (-scores[i], i))[:n_elite]
            elite_mean = sum(scores[i] for i in order) / len(order)
            if elite_mean > best_elite_mean + 1e-9:
                best_elite_mean, stalled = elite_mean, 0
            else:
                stalled += 1
            distribution.update([programs[i] for i in order], smoothing, floor)
        progress.restarts += 1
    progress.restarts -= 1
    return _finish(progress)


def search_metrics(result: SearchResult) -> dict[str, Any]:
    """Final numbers of a search, for reports and the policy card."""
    return {
        "best_return": result.best_return,
        "evaluations": result.evaluations,
        "generations": result.generations,
        "restarts": result.restarts,
        "search_time_s": result.seconds,
        "evaluations_per_s": result.evaluations / max(result.seconds, 1e-9),
    }
