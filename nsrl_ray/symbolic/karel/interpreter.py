"""Run Karel programs on a KarelWorld with LEAPS's node-call budget (shared/reference/karel.md §3.1).

LEAPS counts node calls with a counter n that starts at 0, and every node first checks n > limit
(220), aborting the whole run silently when it fails. The program root and every statement
wrapper add 1; a sequence node adds 1 more before its first child and re-checks before its
second; IF, IFELSE and WHILE add 1 on the first condition check (later WHILE re-checks only
check); REPEAT adds 1 once. Sequences are left-associative. A program is compiled once into
closures with these counts folded in, then run on any number of worlds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nsrl_ray.envs.karel.world import (
    ACTION_METHODS,
    ACTIONS,
    PERCEPTION_METHODS,
    PERCEPTIONS,
    HaltExecution,
    KarelWorld,
    WorldCrashed,
)
from nsrl_ray.symbolic.karel.program import Action, Block, Condition, If, Program, Repeat, While

#: LEAPS's MAX_FUNC_CALL.
LEAPS_MAX_CALLS = 220

_ACTION_CODE = {name: code for code, name in enumerate(ACTIONS)}
_PERCEPTION_INDEX = {name: index for index, name in enumerate(PERCEPTIONS)}

Runner = Callable[[KarelWorld, int], int]


class BudgetExhausted(HaltExecution):
    """The node-call budget ran out; actions done so far stay done."""


@dataclass(frozen=True)
class ExecutionResult:
    """How a run ended."""

    calls: int
    """The node-call counter at the end (LEAPS's n), or at the check that stopped the run."""
    steps: int
    """Actions executed."""
    stop: Literal["end", "budget", "task", "crash"]
    """'end': the program finished; 'budget': out of node calls; 'task': the task said done; 'crash'."""


def _condition(cond: Condition) -> Callable[[KarelWorld], bool]:
    test = PERCEPTION_METHODS[_PERCEPTION_INDEX[cond.perception]]
    if cond.negated:
        return lambda world: not test(world)
    return test


class _Compiler:
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def block(self, block: Block) -> Runner:
        first, *rest = [self.statement(stmt) for stmt in block]
        if not rest:
            return first
        limit = self.limit
        # k statements hang under k-1 left-nested sequence nodes, each with its wrapper: 2 calls
        # apiece before the first statement runs, then a check before every later statement.
        pre = 2 * len(rest)

        def run_block(world: KarelWorld, n: int) -> int:
            n += pre
            if n - 1 > limit:
                raise BudgetExhausted(n)
            n = first(world, n)
            for statement in rest:
                if n > limit:
                    raise BudgetExhausted(n)
                n = statement(world, n)
            return n

        return run_block

    def statement(self, stmt) -> Runner:
        limit = self.limit
        if isinstance(stmt, Action):
            act = ACTION_METHODS[_ACTION_CODE[stmt.name]]

            def run_action(world: KarelWorld, n: int) -> int:
                n += 1  # the statement wrapper; the action node then checks the new count
                if n > limit:
                    raise BudgetExhausted(n)
                act(world)
                return n

            return run_action
        if isinstance(stmt, Repeat) and len(stmt.body) == 1 and isinstance(stmt.body[0], Action):
            act, count = ACTION_METHODS[_ACTION_CODE[stmt.body[0].name]], range(stmt.count)

            def run_repeat_action(world: KarelWorld, n: int) -> int:
                if n + 1 > limit:
                    raise BudgetExhausted(n + 1)
                n += 2
                for _ in count:
                    n += 1
                    if n > limit:
                        raise BudgetExhausted(n)
                    act(world)
                return n

            return run_repeat_action
        if isinstance(stmt, Repeat):
            body, count = self.block(stmt.body), range(stmt.count)

            def run_repeat(world: KarelWorld, n: int) -> int:
                if n + 1 > limit:  # checks at the wrapper and the REPEAT node, then +1 each
                    raise BudgetExhausted(n + 1)
                n += 2
                for _ in count:
                    n = body(world, n)
                return n

            return run_repeat
        test = _condition(stmt.cond)
        body = self.block(stmt.body)
        if isinstance(stmt, While) and len(stmt.body) == 1 and isinstance(stmt.body[0], Action):
            act = ACTION_METHODS[_ACTION_CODE[stmt.body[0].name]]

            def run_while_action(world: KarelWorld, n: int) -> int:
                # `WHILE c( P c) w( action w)` inlined: the most common loop, one call less per turn.
                n += 2
                if n > limit:
                    raise BudgetExhausted(n)
                while test(world):
                    n += 1
                    if n > limit:
                        raise BudgetExhausted(n)
                    act(world)
                return n

            return run_while_action
        if isinstance(stmt, While):

            def run_while(world: KarelWorld, n: int) -> int:
                n += 2
                if n > limit:
                    raise BudgetExhausted(n)
                while test(world):
                    n = body(world, n)
                    if n > limit:  # every later condition check still checks the budget
                        raise BudgetExhausted(n)
                return n

            return run_while
        if isinstance(stmt, If):

            def run_if(world: KarelWorld, n: int) -> int:
                n += 2
                if n > limit:
                    raise BudgetExhausted(n)
                if test(world):
                    n = body(world, n)
                return n

            return run_if
        orelse = self.block(stmt.orelse)

        def run_ifelse(world: KarelWorld, n: int) -> int:
            n += 2
            if n > limit:
                raise BudgetExhausted(n)
            return body(world, n) if test(world) else orelse(world, n)

        return run_ifelse


class CompiledProgram:
    """A program compiled for repeated runs under one node-call budget."""

    __slots__ = ("program", "max_calls", "_body")

    def __init__(self, program: Program, max_calls: int = LEAPS_MAX_CALLS) -> None:
        if not isinstance(program, Program):
            raise TypeError(f"expected a Program (see parse_program), got {type(program).__name__}.")
        if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
            raise ValueError(f"max_calls: got {max_calls!r}, expected a positive integer (LEAPS: {LEAPS_MAX_CALLS}).")
        self.program = program
        self.max_calls = max_calls
        self._body = _Compiler(max_calls).block(program.body)

    def run_fast(self, world: KarelWorld) -> None:
        """Run on ``world`` in place, ignoring how it ended (the search's hot path)."""
        try:
            self._body(world, 1)  # the root checked 0 > limit and added 1
        except HaltExecution:
            pass

    def run(self, world: KarelWorld) -> ExecutionResult:
        """Run on ``world`` in place and say how the run ended."""
        stop: Literal["end", "budget", "task", "crash"] = "end"
        try:
            calls = self._body(world, 1)
        except BudgetExhausted as halt:
            calls, stop = halt.args[0], "budget"
        except WorldCrashed:
            calls, stop = -1, "crash"
        except HaltExecution:
            calls, stop = -1, "task"
        return ExecutionResult(calls=calls, steps=world.steps, stop=stop)


def execute(program: Program, world: KarelWorld, max_calls: int = LEAPS_MAX_CALLS, trace: bool = False) -> tuple[ExecutionResult, list]:
    """Run once on ``world`` (in place); with ``trace``, also return (action, row, col, heading) per action."""
    world.trace = [] if trace else None
    result = CompiledProgram(program, max_calls).run(world)
    recorded = world.trace or []
    world.trace = None
    return result, [(ACTIONS[code], row, col, heading) for code, row, col, heading in recorded]
