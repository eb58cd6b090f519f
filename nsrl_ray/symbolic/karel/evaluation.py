"""Score Karel programs on a fixed set of task instances: the fitness every program search uses.

A program's return is the mean over the instances of the task score of one run (LEAPS: 10
instances, 220 node calls, final-state scores, no +0.1 validity bonus). `KarelEvaluatorFactory` is a
small picklable spec, so Ray actors can build the same evaluator once and score chunks of programs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsrl_ray.envs.karel.tasks import KarelTask, TaskInstance, make_task
from nsrl_ray.symbolic.karel.interpreter import LEAPS_MAX_CALLS, CompiledProgram
from nsrl_ray.symbolic.karel.program import Program, to_text
from nsrl_ray.symbolic.karel.syntax import parse_program

#: LEAPS's `num_demo_per_program`: instances per evaluation.
LEAPS_INSTANCES = 10


def run_on_instances(
    program: Program, task: KarelTask, instances: Sequence[TaskInstance], max_calls: int = LEAPS_MAX_CALLS
) -> list[float]:
    """The task score of one run of ``program`` on each instance."""
    compiled = CompiledProgram(program, max_calls)
    scores = []
    for instance in instances:
        world, episode = task.start(instance)
        compiled.run_fast(world)
        scores.append(task.score(world, episode))
    return scores


class KarelEvaluator:
    """Mean return of programs on one task's instances; remembers recent programs' returns."""

    def __init__(self, task: KarelTask, max_calls: int = LEAPS_MAX_CALLS, cache_size: int = 200_000) -> None:
        self.task = task
        self.max_calls = max_calls
        self.cache_size = cache_size
        self._instances: dict[tuple[int, ...], list[TaskInstance]] = {}
        self._cache: OrderedDict[tuple[tuple[int, ...], str], float] = OrderedDict()

    def instances(self, seeds: Sequence[int]) -> list[TaskInstance]:
        key = tuple(int(s) for s in seeds)
        if key not in self._instances:
            self._instances[key] = self.task.instances(key)
        return self._instances[key]

    def returns(self, program: Program | str, seeds: Sequence[int]) -> list[float]:
        """Per-instance scores (no cache)."""
        program = parse_program(program) if isinstance(program, str) else program
        return run_on_instances(program, self.task, self.instances(seeds), self.max_calls)

    def evaluate_one(self, program: Program | str, seeds: Sequence[int]) -> float:
        text = program if isinstance(program, str) else to_text(program)
        key = (tuple(seeds), text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        value = float(np.mean(self.returns(program, seeds)))
        self._cache[key] = value
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return value

    def __call__(self, candidates: Sequence[Program | str], seeds: Sequence[int]) -> list[float]:
        """The evaluator protocol of nsrl_ray.search: mean returns, in the candidates' order."""
        return [self.evaluate_one(candidate, seeds) for candidate in candidates]


@dataclass(frozen=True)
class KarelEvaluatorFactory:
    """Picklable recipe for a KarelEvaluator (what an evaluation actor is built from)."""

    task: str
    """Task name (see nsrl_ray.envs.karel.TASKS)."""
    height: int | None = None
    """Grid height; None uses the task's reference size."""
    width: int | None = None
    """Grid width; None uses the task's reference size."""
    max_calls: int = LEAPS_MAX_CALLS
    """Node-call budget per run (LEAPS: 220)."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Extra task settings (e.g. top_off's last_cell_marked)."""

    def make_task(self) -> KarelTask:
        return make_task(self.task, self.height, self.width, **self.task_options)

    def __call__(self) -> KarelEvaluator:
        return KarelEvaluator(self.make_task(), self.max_calls)
