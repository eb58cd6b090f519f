"""Program-space search without Ray: learning on tiny budgets, determinism, settings refused."""

from __future__ import annotations

import pytest

from nsrl_ray.search.pool import LocalPool, make_pool
from nsrl_ray.search.program_search import ProgramDistribution, _Prior, cross_entropy, hill_climb
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory
from nsrl_ray.symbolic.karel.program import to_text
from nsrl_ray.symbolic.karel.sampler import ProgramLimits, ProgramSampler
from nsrl_ray.symbolic.karel.syntax import parse_program

SEEDS = list(range(100, 110))


def pool(task: str, **kwargs) -> LocalPool:
    return LocalPool(KarelEvaluatorFactory(task, **kwargs))


def test_local_pool_scores_in_order_and_matches_direct_runs() -> None:
    local = pool("harvester")
    texts = [
        "DEF run m( pickMarker move pickMarker move m)",
        "DEF run m( move m)",
        "DEF run m( WHILE c( markersPresent c) w( pickMarker move w) m)",
    ]
    scores = local.evaluate([parse_program(t) for t in texts], SEEDS)
    assert scores == pytest.approx([2 / 36, 0.0, 6 / 36])
    assert local.evaluate(texts, SEEDS) == scores  # program text is accepted too
    assert local.evaluate([], SEEDS) == []
    assert isinstance(make_pool(KarelEvaluatorFactory("maze"), 0), LocalPool)
    with pytest.raises(TypeError, match="picklable zero-argument callable"):
        LocalPool("maze")  # type: ignore[arg-type]


def test_hill_climbing_solves_small_tasks_and_stops_at_the_target() -> None:
    for task, budget in (("stair_climber", 5000), ("four_corner", 40000)):
        result = hill_climb(pool(task, height=8, width=8), SEEDS, seed=0, neighbours=100, batch_size=20, max_evaluations=budget)
        assert result.best_return == 1.0, (task, result.best_text)
        assert result.evaluations < budget  # stopped at the target, not at the budget
        assert result.history[-1]["search/best_return"] == 1.0


def test_hill_climbing_beats_random_sampling_on_harvester() -> None:
    import random

    budget = 5000
    result = hill_climb(pool("harvester"), SEEDS, seed=0, neighbours=100, batch_size=25, max_evaluations=budget)
    rng = random.Random(1)
    sampler = ProgramSampler()
    randoms = pool("harvester").evaluate([sampler.program(rng, ProgramLimits()) for _ in range(2 * budget)], SEEDS)
    assert result.evaluations == budget
    # Random programs top out at 20/36 (a lucky sweep); climbing from them gets further with half the budget.
    assert result.best_return >= max(randoms) + 0.1, (result.best_return, max(randoms))


def test_cross_entropy_solves_a_small_task() -> None:
    result = cross_entropy(
        pool("four_corner", height=8, width=8), SEEDS, seed=0, population=100, elite_fraction=0.05,
        smoothing=0.5, floor=0.01, patience=10, max_evaluations=20000,
    )
    assert result.best_return == 1.0, result.best_text
    assert result.generations == len(result.history)


def test_cross_entropy_distribution_concentrates_on_the_elites() -> None:
    import random

    limits = ProgramLimits()
    distribution = ProgramDistribution(_Prior.from_sampler(ProgramSampler(), limits.max_block), limits)
    target = parse_program("DEF run m( WHILE c( frontIsClear c) w( move putMarker w) turnLeft m)")
    for _ in range(8):
        distribution.update([target], smoothing=0.7, floor=0.001)
    rng = random.Random(0)
    draws = [distribution.sample(rng) for _ in range(200)]
    assert sum(d == target for d in draws) > 150


def test_same_seed_same_result_and_budget_respected() -> None:
    kwargs = dict(seed=5, neighbours=60, batch_size=15, max_evaluations=1500)
    a = hill_climb(pool("harvester", height=6, width=6), SEEDS, **kwargs)
    b = hill_climb(pool("harvester", height=6, width=6), SEEDS, **kwargs)
    assert to_text(a.best_program) == to_text(b.best_program) and a.best_return == b.best_return
    assert a.evaluations == 1500
    c = hill_climb(pool("harvester", height=6, width=6), SEEDS, **{**kwargs, "seed": 6})
    assert to_text(c.best_program) != to_text(a.best_program)


@pytest.mark.parametrize(
    "search, kwargs, fragment",
    [
        (hill_climb, dict(seed=0, neighbours=0, batch_size=5, max_evaluations=10), "neighbours"),
        (hill_climb, dict(seed=0, neighbours=5, batch_size=5, max_evaluations=True), "max_evaluations"),
        (cross_entropy, dict(seed=0, population=1, elite_fraction=0.1, smoothing=0.5, floor=0.0, patience=3, max_evaluations=10), "population"),
        (cross_entropy, dict(seed=0, population=10, elite_fraction=0.0, smoothing=0.5, floor=0.0, patience=3, max_evaluations=10), "elite_fraction"),
    ],
)
def test_bad_search_settings_are_refused(search, kwargs, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        search(pool("maze"), SEEDS, **kwargs)
