"""Episode actors on Ray: teacher rollouts for datasets and evaluation of symbolic policies."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import ray

from nsrl_ray.pipeline.episodes import EpisodeRecord, play_episodes


@ray.remote
class EpisodeActor:
    """Holds one environment's teacher (and optionally a formula policy) and plays episode chunks."""

    def __init__(self, env_name: str, teacher_module: str, action_kind: str, card: dict | None = None,
                 action_bounds: tuple | None = None) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

        self.env_name = env_name
        self.teacher = TeacherPolicy(teacher_module, action_kind, action_bounds)
        self.formula = None
        if card is not None:
            from nsrl_ray.explain.policy_card import card_from_dict

            self.formula = card_from_dict(card).policy()
            perception = (card.get("provenance") or {}).get("perception")
            if perception:  # formulas over perceived objects (INSIGHT): the CNN turns frames into their variables
                from pathlib import Path

                from nsrl_ray.rl_modules.insight_rollout import PerceivedFormulaPolicy

                # A relative path is inside the trial's artifacts, the teacher module's folder.
                self.formula = PerceivedFormulaPolicy(self.formula, Path(teacher_module).parent / perception)

    def _teacher_view(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.teacher.logits(batch)
        return logits, self.teacher.greedy(logits)

    def play(self, who: str, seeds: Sequence[int], record: bool = False, epsilon: float = 0.0) -> list[EpisodeRecord]:
        """`who` is "teacher" or "formula"; the teacher's view is recorded on every step either way."""
        if who == "teacher":
            policy: Callable[[np.ndarray], np.ndarray] = lambda batch: self._teacher_view(batch)[1]
        elif who == "formula" and self.formula is not None:
            policy = self.formula.act
        else:
            raise ValueError(f"cannot play {who!r}: expected 'teacher', or 'formula' when a card was given")
        return play_episodes(self.env_name, seeds, policy, teacher=self._teacher_view, record=record, epsilon=epsilon)


def split_chunks(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """Contiguous, nearly equal chunks, so results reassemble in the original order."""
    parts = max(1, min(parts, len(items)))
    bounds = np.linspace(0, len(items), parts + 1).round().astype(int)
    return [list(items[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def play_on_actors(
    actors: Sequence[Any],
    who: str,
    seeds: Sequence[int],
    record: bool = False,
    epsilon: float = 0.0,
    on_chunk: Callable[[int, int], None] | None = None,
) -> list[EpisodeRecord]:
    """Send seed chunks to the actors (all submitted first), gather with ray.wait, return in seed order."""
    chunks = split_chunks(seeds, len(actors) * 2) if len(actors) > 1 else [list(seeds)]
    pending = {
        actors[i % len(actors)].play.remote(who, chunk, record, epsilon): i for i, chunk in enumerate(chunks)
    }
    results: dict[int, list[EpisodeRecord]] = {}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        results[index] = ray.get(done[0])
        if on_chunk is not None:
            on_chunk(len(results), len(chunks))
    return [record for i in range(len(chunks)) for record in results[i]]


def start_actors(count: int, cpus: float, *args: Any) -> list[Any]:
    """Start ``count`` EpisodeActors with ``cpus`` each; inside a Tune trial they land in its placement group."""
    return [EpisodeActor.options(num_cpus=cpus).remote(*args) for _ in range(count)]


def stop_actors(actors: Sequence[Any]) -> None:
    for actor in actors:
        ray.kill(actor)
