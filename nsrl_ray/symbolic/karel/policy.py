"""A Karel program as a callable policy: run it on a world, or score it on task instances (no Ray, no torch).

A program is a closed-loop controller, not a map from one observation to one action (its loops
keep state), so the policy acts on a whole world: `policy(world)` runs the program on it in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nsrl_ray.envs.karel.tasks import KarelTask, make_task
from nsrl_ray.envs.karel.world import KarelWorld
from nsrl_ray.symbolic.karel.evaluation import run_on_instances
from nsrl_ray.symbolic.karel.interpreter import CompiledProgram, ExecutionResult, execute
from nsrl_ray.symbolic.karel.program import Program, to_text


def scaled_budget(max_calls: int, reference: tuple[int, int], size: tuple[int, int]) -> int:
    """The node-call budget for a bigger grid: scaled with the number of interior cells (every task has a
    wall border), never below ``max_calls``."""
    ratio = ((size[0] - 2) * (size[1] - 2)) / ((reference[0] - 2) * (reference[1] - 2))
    return max(max_calls, int(np.ceil(max_calls * ratio)))


class ProgramPolicy:
    """Runs one program under a node-call budget on the worlds of one task."""

    def __init__(
        self,
        program: Program,
        task: str,
        height: int | None = None,
        width: int | None = None,
        max_calls: int = 220,
        task_options: dict[str, Any] | None = None,
    ) -> None:
        self.program = program
        self.task_options = dict(task_options or {})
        self.task: KarelTask = make_task(task, height, width, **self.task_options)
        self.max_calls = max_calls
        self._compiled = CompiledProgram(program, max_calls)

    def __repr__(self) -> str:
        return f"ProgramPolicy({to_text(self.program)!r}, task={self.task!r}, max_calls={self.max_calls})"

    @property
    def text(self) -> str:
        return to_text(self.program)

    def __call__(self, world: KarelWorld) -> ExecutionResult:
        """Run the program on ``world`` in place."""
        return self._compiled.run(world)

    def trace(self, instance_seed: int) -> tuple[float, list[tuple[str, int, int, int]]]:
        """Score and (action, row, col, heading) trace of one run on the task instance of ``instance_seed``."""
        world, episode = self.task.start(self.task.instance(instance_seed))
        _, trace = execute(self.program, world, self.max_calls, trace=True)
        return self.task.score(world, episode), trace

    def returns(self, seeds: Sequence[int], height: int | None = None, width: int | None = None, max_calls: int | None = None) -> list[float]:
        """Task score on the instance of each seed; another grid size plays the same task on that grid.

        On a larger grid the budget defaults to this policy's budget scaled with the interior's area.
        """
        task = self.task
        if height is not None or width is not None:
            task = make_task(self.task.name, height or self.task.height, width or self.task.width, **self.task_options)
        if max_calls is None:
            max_calls = scaled_budget(self.max_calls, (self.task.height, self.task.width), (task.height, task.width))
        return run_on_instances(self.program, task, task.instances(list(seeds)), max_calls)
