"""The Karel world and its ten benchmark tasks (numpy only); the gymnasium env lives in `gym_env`."""

from __future__ import annotations

from nsrl_ray.envs.karel.tasks import (
    HARD_TASKS,
    LEAPS_TASKS,
    TASKS,
    Episode,
    KarelTask,
    TaskInstance,
    canonical_task_name,
    make_task,
)
from nsrl_ray.envs.karel.world import ACTIONS, DIRECTIONS, PERCEPTIONS, HaltExecution, KarelWorld, KarelWorldError

__all__ = [
    "ACTIONS", "DIRECTIONS", "PERCEPTIONS", "HARD_TASKS", "LEAPS_TASKS", "TASKS",
    "Episode", "HaltExecution", "KarelTask", "KarelWorld", "KarelWorldError", "TaskInstance",
    "canonical_task_name", "gym_id", "make_task",
]


def gym_id(task: str) -> str:
    """Gymnasium id of a task: 'harvester' -> 'KarelHarvester-v0' (registered by importing `gym_env`)."""
    return "Karel" + "".join(part.capitalize() for part in canonical_task_name(task).split("_")) + "-v0"
