"""Random Karel programs from LEAPS's probabilistic grammar, and subtree mutation.

Sampling follows LEAPS's `random_tokens` (karel_env/dsl/dsl_prob.py; karel.md §2.2): a statement
is WHILE 0.15, REPEAT 0.03, a sequence S S 0.5, an action 0.2, IF 0.08, IFELSE 0.04; a condition is
plain 0.9 or negated 0.1; perceptions 0.5/0.15/0.15/0.1/0.1; actions move 0.5, the turns 0.15 each,
pick/put 0.1 each; REPEAT counts uniform 0..19. Each grammar level adds 1 to a depth; a statement
deeper than `max_depth` (6) or nested deeper than `max_nesting` (4) is forced to be an action.

Mutation follows prog_policies's hill climbing (karel.md §8.1): pick a node uniformly among all
non-root nodes (statements, sequence nodes, conditions, the perception under a `not`, REPEAT
counts) and replace it with a freshly sampled node of the same kind, redrawing until the program
fits the size limits. All randomness comes from the `random.Random` passed in.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from nsrl_ray.envs.karel.world import ACTIONS, PERCEPTIONS
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
    longest_block,
    nesting_depth,
    token_count,
)

STATEMENT_KINDS: tuple[str, ...] = ("WHILE", "REPEAT", "SEQUENCE", "ACTION", "IF", "IFELSE")


@dataclass(frozen=True)
class GrammarProbabilities:
    """Production probabilities of the Karel grammar; the defaults are LEAPS's."""

    statement: tuple[float, ...] = (0.15, 0.03, 0.5, 0.2, 0.08, 0.04)
    """WHILE, REPEAT, sequence, action, IF, IFELSE."""
    negate: float = 0.1
    """Probability that a condition is `not c( P c)`."""
    perception: tuple[float, ...] = (0.5, 0.15, 0.15, 0.1, 0.1)
    """frontIsClear, leftIsClear, rightIsClear, markersPresent, noMarkersPresent."""
    action: tuple[float, ...] = (0.5, 0.15, 0.15, 0.1, 0.1)
    """move, turnLeft, turnRight, pickMarker, putMarker."""

    def __post_init__(self) -> None:
        for name, values, size in (("statement", self.statement, 6), ("perception", self.perception, 5), ("action", self.action, 5)):
            if len(values) != size or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
                raise ValueError(f"{name} probabilities: got {list(values)}, expected {size} non-negative numbers summing to 1.")
        if not 0.0 <= self.negate <= 1.0:
            raise ValueError(f"negate: got {self.negate}, expected a probability in [0, 1].")


LEAPS_PROBABILITIES = GrammarProbabilities()


@dataclass(frozen=True)
class ProgramLimits:
    """Size limits a sampled or mutated program must meet (prog_policies's hill-climbing limits)."""

    max_tokens: int = 45
    """Tokens, counting DEF run m( ... m) (LEAPS's decoder length)."""
    max_nesting: int = 3
    """Control structures nested in one another (prog_policies's height 4 = nesting 3)."""
    max_block: int = 6
    """Statements in one block."""

    def fits(self, program: Program) -> bool:
        return (
            nesting_depth(program) <= self.max_nesting
            and longest_block(program) <= self.max_block
            and token_count(program) <= self.max_tokens
        )


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    return list(itertools.accumulate(weights))


class ProgramSampler:
    """Draws programs (and statement blocks) from a probabilistic grammar with LEAPS's depth rules."""

    def __init__(
        self,
        probabilities: GrammarProbabilities = LEAPS_PROBABILITIES,
        max_depth: int = 6,
        max_nesting: int = 4,
    ) -> None:
        self.probabilities = probabilities
        self.max_depth = max_depth
        self.max_nesting = max_nesting
        self._stmt = _cumulative(probabilities.statement)
        self._perc = _cumulative(probabilities.perception)
        self._act = _cumulative(probabilities.action)

    @staticmethod
    def _pick(rng: random.Random, cumulative: list[float], items):
        return items[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(items) - 1)]

    def action(self, rng: random.Random) -> Action:
        return Action(self._pick(rng, self._act, ACTIONS))

    def perception(self, rng: random.Random) -> str:
        return self._pick(rng, self._perc, PERCEPTIONS)

    def condition(self, rng: random.Random) -> Condition:
        negated = rng.random() < self.probabilities.negate
        return Condition(self.perception(rng), negated)

    def count(self, rng: random.Random) -> int:
        return rng.randrange(MAX_REPEAT + 1)

    def statements(self, rng: random.Random, depth: int = 1, nesting: int = 0) -> list:
        """A block drawn from `S` at grammar depth ``depth`` (the program's top block is at depth 1)."""
        if nesting > self.max_nesting or depth > self.max_depth:
            kind = "ACTION"
        else:
            kind = self._pick(rng, self._stmt, STATEMENT_KINDS)
        if kind == "ACTION":
            return [self.action(rng)]
        if kind == "SEQUENCE":
            return self.statements(rng, depth + 2, nesting) + self.statements(rng, depth + 2, nesting)
        if kind == "REPEAT":
            count = self.count(rng)
            return [Repeat(count, tuple(self.statements(rng, depth + 2, nesting + 1)))]
        cond = self.condition(rng)
        body = tuple(self.statements(rng, depth + 2, nesting + 1))
        if kind == "WHILE":
            return [While(cond, body)]
        if kind == "IF":
            return [If(cond, body)]
        return [IfElse(cond, body, tuple(self.statements(rng, depth + 2, nesting + 1)))]

    def program(self, rng: random.Random, limits: ProgramLimits | None = None, max_tries: int = 10_000) -> Program:
        """A random program; with ``limits``, redrawn until it fits them."""
        for _ in range(max_tries):
            program = Program(tuple(self.statements(rng)))
            if limits is None or limits.fits(program):
                return program
        raise RuntimeError(f"no program within {limits} after {max_tries} draws; loosen the limits.")


# ------------------------------------------------------------------------------------------ mutation
# A block is addressed by a path of (statement index, field) steps from the program body.
BlockPath = tuple[tuple[int, str], ...]


def _nodes(block: Block, path: BlockPath, out: list) -> None:
    for index, stmt in enumerate(block):
        out.append(("statement", path, index))
        if index <= len(block) - 2:
            out.append(("sequence", path, index))  # the sequence node block[index:] (chains through the second child)
        if isinstance(stmt, Repeat):
            out.append(("count", path, index))
        if isinstance(stmt, (While, If, IfElse)):
            out.append(("condition", path, index))
            if stmt.cond.negated:
                out.append(("perception", path, index))
        for field in ("body", "orelse"):
            child = getattr(stmt, field, None)
            if child is not None:
                _nodes(child, path + ((index, field),), out)


def mutation_sites(program: Program) -> list[tuple[str, BlockPath, int]]:
    """Every node a mutation may replace: (kind, block path, statement index)."""
    out: list = []
    _nodes(program.body, (), out)
    return out


def _rebuild(block: Block, path: BlockPath, change) -> Block:
    if not path:
        return change(block)
    (index, field), rest = path[0], path[1:]
    stmt = block[index]
    new_stmt = _replace_field(stmt, field, _rebuild(getattr(stmt, field), rest, change))
    return block[:index] + (new_stmt,) + block[index + 1 :]


def _replace_field(stmt, field: str, value):
    if isinstance(stmt, While):
        return While(stmt.cond, value)
    if isinstance(stmt, Repeat):
        return Repeat(stmt.count, value)
    if isinstance(stmt, If):
        return If(stmt.cond, value)
    if field == "body":
        return IfElse(stmt.cond, value, stmt.orelse)
    return IfElse(stmt.cond, stmt.body, value)


def _with_condition(stmt, cond: Condition):
    if isinstance(stmt, While):
        return While(cond, stmt.body)
    if isinstance(stmt, If):
        return If(cond, stmt.body)
    return IfElse(cond, stmt.body, stmt.orelse)


class Mutator:
    """Replaces one random node of a program with a freshly sampled one of the same kind."""

    def __init__(
        self,
        sampler: ProgramSampler | None = None,
        limits: ProgramLimits = ProgramLimits(),
        subtree_depth: int = 3,
    ) -> None:
        self.sampler = sampler or ProgramSampler()
        self.limits = limits
        #: New statement subtrees are drawn from this grammar depth, so they are at most two levels deep.
        self.subtree_depth = subtree_depth

    def _replacement(self, rng: random.Random, program: Program, site: tuple[str, BlockPath, int]) -> Program:
        kind, path, index = site
        sampler = self.sampler
        if kind in ("statement", "sequence"):
            new = tuple(sampler.statements(rng, self.subtree_depth, 0))
            end = index + 1 if kind == "statement" else None

            def change(block: Block) -> Block:
                return block[:index] + new + (block[end:] if end is not None else ())

        elif kind == "count":
            count = sampler.count(rng)

            def change(block: Block) -> Block:
                return block[:index] + (Repeat(count, block[index].body),) + block[index + 1 :]

        elif kind == "condition":
            cond = sampler.condition(rng)

            def change(block: Block) -> Block:
                return block[:index] + (_with_condition(block[index], cond),) + block[index + 1 :]

        else:  # the perception under a `not`
            perception = sampler.perception(rng)

            def change(block: Block) -> Block:
                return block[:index] + (_with_condition(block[index], Condition(perception, True)),) + block[index + 1 :]

        return Program(_rebuild(program.body, path, change))

    def mutate(self, program: Program, rng: random.Random, max_tries: int = 1000) -> Program:
        """One neighbour of ``program`` within the limits (it may equal the program, as in prog_policies)."""
        sites = mutation_sites(program)
        for _ in range(max_tries):
            candidate = self._replacement(rng, program, sites[rng.randrange(len(sites))])
            if self.limits.fits(candidate):
                return candidate
        raise RuntimeError(f"no mutation of {program} within {self.limits} after {max_tries} tries.")
