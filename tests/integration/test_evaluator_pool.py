"""The shared Ray evaluator pool: input order, replacing a killed actor, same search result for 1 and 2 actors."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

ray = pytest.importorskip("ray")

from nsrl_ray.search.pool import EvaluatorPool, LocalPool  # noqa: E402
from nsrl_ray.search.program_search import cross_entropy, hill_climb  # noqa: E402
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory  # noqa: E402

pytestmark = pytest.mark.ray


class _SlowSquares:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __call__(self, candidates, seeds):
        time.sleep(self.delay * len(candidates))
        return [c * c + sum(seeds) for c in candidates]


@dataclass(frozen=True)
class SlowSquaresFactory:
    """Scores c -> c^2 + sum(seeds), slowly, so a test can kill an actor mid-evaluation."""

    delay: float = 0.0

    def __call__(self) -> _SlowSquares:
        return _SlowSquares(self.delay)


def test_results_come_back_in_input_order_for_any_number_of_actors(ray_session) -> None:
    candidates = list(range(37))
    expected = [c * c + 3 for c in candidates]
    for actors in (1, 2):
        with EvaluatorPool(SlowSquaresFactory(), actors, cpus_per_actor=0.5, chunks_per_actor=3) as pool:
            assert pool.evaluate(candidates, [1, 2]) == expected
            assert pool.evaluate([], [1]) == []
    assert LocalPool(SlowSquaresFactory()).evaluate(candidates, [1, 2]) == expected


def test_a_killed_actor_is_replaced_and_its_chunks_resubmitted(ray_session) -> None:
    killed = []
    pool = EvaluatorPool(SlowSquaresFactory(delay=0.02), 2, cpus_per_actor=0.5, chunks_per_actor=4)
    victim = pool.actors[1]
    victim_pid = ray.get(victim.pid.remote())  # asked now: later it would queue behind the chunks

    def kill_once(done: int, total: int) -> None:
        if not killed:  # after the first chunk, while the other actor still holds queued chunks
            killed.append(victim_pid)
            ray.kill(victim)

    pool.on_chunk = kill_once
    try:
        candidates = list(range(40))
        assert pool.evaluate(candidates, [0]) == [c * c for c in candidates]
        assert pool.restarts == 1 and killed
        assert ray.get(pool.actors[1].pid.remote()) != killed[0]  # a fresh actor took the slot
        pool.on_chunk = None
        assert pool.evaluate([3, 4], [0]) == [9, 16]
    finally:
        pool.close()


def test_search_finds_the_same_program_with_one_and_two_actors(ray_session) -> None:
    factory = KarelEvaluatorFactory("harvester", height=6, width=6)
    seeds = list(range(10))
    results = {}
    for actors in (0, 1, 2):
        pool = LocalPool(factory) if actors == 0 else EvaluatorPool(factory, actors, cpus_per_actor=0.5)
        try:
            hc = hill_climb(pool, seeds, seed=3, neighbours=40, batch_size=20, max_evaluations=600)
            cem = cross_entropy(pool, seeds, seed=3, population=40, elite_fraction=0.1, smoothing=0.5,
                                floor=0.01, patience=4, max_evaluations=400)
        finally:
            pool.close()
        results[actors] = (hc.best_text, hc.best_return, hc.evaluations, cem.best_text, cem.best_return)
    assert results[0] == results[1] == results[2]
