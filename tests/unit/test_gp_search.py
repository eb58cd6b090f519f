"""GP with episode-return fitness, scored in process: fitness = returns, determinism, exact resume, it learns CartPole."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nsrl_ray.pipeline.episodes import play_episodes
from nsrl_ray.search.episode_fitness import EpisodeReturnFactory
from nsrl_ray.search.gp import GPParams, GPState, gp_search, pick_best
from nsrl_ray.search.pool import LocalPool
from nsrl_ray.symbolic import parse_expression
from nsrl_ray.symbolic.gp_operators import TreeFactory
from nsrl_ray.symbolic.tree_policy import TreeEncoding

CARTPOLE = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
FACTORY = EpisodeReturnFactory("CartPole-v1", CARTPOLE, ("push_left", "push_right"), "discrete")
ENCODING = TreeEncoding("discrete", 2, reference_action=True)
TREES = TreeFactory(("add", "sub", "mul", "gt", "tanh"), CARTPOLE)


def params(**changes) -> GPParams:
    base = dict(population_size=40, generations=4, tournament_size=3, elitism=2, parsimony_coefficient=0.01,
                init_depth=(1, 3), max_nodes=20, p_crossover=0.5, p_subtree_mutation=0.15, p_hoist_mutation=0.05,
                p_point_mutation=0.15, p_constant_mutation=0.1)
    return GPParams(**{**base, **changes})


def search(seed: int = 0, **kwargs):
    return gp_search(LocalPool(FACTORY), [11, 12], TREES, ENCODING, kwargs.pop("params", params()), seed=seed, **kwargs)


def test_fitness_is_the_mean_return_that_play_episodes_gives():
    formulas = ENCODING.formulas((parse_expression("pole_angle + 0.3 * pole_angular_velocity - 0.01 * cart_position"),))
    seeds = [3, 4, 5]
    evaluator = FACTORY()
    expected = [r.episode_return for r in play_episodes("CartPole-v1", seeds, FACTORY.policy(formulas).act)]
    np.testing.assert_array_equal(evaluator.returns(formulas, seeds), expected)
    assert evaluator([formulas], seeds) == [pytest.approx(np.mean(expected))]

    pendulum = EpisodeReturnFactory("Pendulum-v1", ("cos_theta", "sin_theta", "angular_velocity"), ("torque",),
                                    "continuous", (-2.0,), (2.0,))
    squashed = TreeEncoding("continuous", 1, low=(-2.0,), high=(2.0,)).formulas((parse_expression("-3.0 * sin_theta - angular_velocity"),))
    expected = [r.episode_return for r in play_episodes("Pendulum-v1", [7, 8], pendulum.policy(squashed).act)]
    np.testing.assert_allclose(pendulum().returns(squashed, [7, 8]), expected)


def test_a_policy_that_overflows_gets_the_worst_fitness():
    pendulum = EpisodeReturnFactory("Pendulum-v1", ("cos_theta", "sin_theta", "angular_velocity"), ("torque",),
                                    "continuous", (-2.0,), (2.0,))
    assert pendulum()([(parse_expression("exp(exp(exp(exp(10.0)))) - exp(exp(exp(exp(10.0))))"),)], [1]) == [-np.inf]


def test_same_seed_same_search_and_another_seed_differs():
    first, second, other = search(0), search(0), search(1)
    assert first.best == second.best and first.best_fitness == second.best_fitness
    assert _without_rates(first) == _without_rates(second)
    assert [str(t) for ind in first.state.population for t in ind] == [str(t) for ind in second.state.population for t in ind]
    assert [str(t) for ind in other.state.population for t in ind] != [str(t) for ind in first.state.population for t in ind]


def _without_rates(result):
    return [{k: v for k, v in row.items() if k != "search/evaluations_per_s"} for row in result.state.history]


def test_a_resumed_search_ends_exactly_like_an_uninterrupted_one():
    full = search(5)
    saved = {}

    def keep_generation_one(state, metrics):
        if state.generation == 1:
            saved["state"] = json.loads(json.dumps(state.to_dict()))  # through JSON, like the checkpoint file

    search(5, params=params(generations=2), on_generation=keep_generation_one)
    resumed = search(5, state=GPState.from_dict(saved["state"]))
    assert resumed.best == full.best and resumed.best_fitness == full.best_fitness
    assert resumed.evaluations == full.evaluations and resumed.generations == full.generations == 4
    assert _without_rates(resumed) == _without_rates(full)


def test_metrics_of_each_generation():
    rows = []
    search(2, on_generation=lambda state, metrics: rows.append(metrics))
    assert [row["search/generation"] for row in rows] == [0, 1, 2, 3]
    for key in ("search/best_fitness", "search/mean_fitness", "search/best_complexity", "search/evaluations",
                "search/evaluations_per_s", "search/best_formula"):
        assert key in rows[-1]
    assert isinstance(rows[-1]["search/best_formula"], str) and rows[-1]["search/best_formula"]
    best = [row["search/best_fitness"] for row in rows]
    assert best == sorted(best)  # elitism: the best never gets worse
    evaluations = [row["search/evaluations"] for row in rows]
    assert evaluations[0] <= 40 and all(b > a for a, b in zip(evaluations, evaluations[1:]))


def test_warm_start_opens_the_first_population():
    seed_tree = (parse_expression("pole_angle + pole_angular_velocity"),)
    rows = []
    result = search(3, params=params(generations=1), initial=[seed_tree], initial_copies=5,
                    on_generation=lambda state, metrics: rows.append(metrics))
    assert result.state.population[0] == seed_tree
    assert all(len(ind) == 1 for ind in result.state.population[:5])
    assert rows[0]["search/best_fitness"] == 500.0  # the seed balances the pole on both fitness seeds
    with pytest.raises(ValueError, match="expected 1"):
        search(3, initial=[seed_tree * 2])


def test_gp_learns_cartpole_from_scratch():
    result = search(0, params=params(population_size=80, generations=12, init_depth=(2, 4), target=500.0))
    assert result.best_fitness == 500.0
    best, held_out, _ = pick_best(LocalPool(FACTORY), result.state, ENCODING, list(range(100, 110)), 5, 0.01)
    assert held_out >= 400.0, (best, held_out)
