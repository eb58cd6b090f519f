"""GP on the Ray evaluator pool: the same best program with 0, 1 and 2 actors; a killed actor loses nothing."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from nsrl_ray.search.episode_fitness import EpisodeReturnFactory  # noqa: E402
from nsrl_ray.search.gp import GPParams, gp_search  # noqa: E402
from nsrl_ray.search.pool import EvaluatorPool, LocalPool  # noqa: E402
from nsrl_ray.symbolic.gp_operators import TreeFactory  # noqa: E402
from nsrl_ray.symbolic.tree_policy import TreeEncoding  # noqa: E402

pytestmark = pytest.mark.ray

ACROBOT = ("cos_joint1_angle", "sin_joint1_angle", "cos_joint2_angle", "sin_joint2_angle",
           "joint1_angular_velocity", "joint2_angular_velocity")
CARTPOLE = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
FACTORY = EpisodeReturnFactory("CartPole-v1", CARTPOLE, ("push_left", "push_right"), "discrete")
ENCODING = TreeEncoding("discrete", 2, reference_action=True)
TREES = TreeFactory(("add", "sub", "mul", "gt", "ifelse", "tanh"), CARTPOLE)
PARAMS = GPParams(population_size=40, generations=4, tournament_size=3, elitism=2, parsimony_coefficient=0.01,
                  init_depth=(1, 3), max_nodes=20, p_crossover=0.5, p_subtree_mutation=0.15, p_hoist_mutation=0.05,
                  p_point_mutation=0.15, p_constant_mutation=0.1)
SEEDS = [21, 22]


def _outcome(result):
    history = [{k: v for k, v in row.items() if k != "search/evaluations_per_s"} for row in result.state.history]
    return [str(tree) for tree in result.best], result.best_fitness, result.evaluations, history


def test_same_seed_same_best_program_with_0_1_and_2_actors(ray_session):
    outcomes = {}
    for actors in (0, 1, 2):
        pool = LocalPool(FACTORY) if actors == 0 else EvaluatorPool(FACTORY, actors, cpus_per_actor=0.5)
        try:
            outcomes[actors] = _outcome(gp_search(pool, SEEDS, TREES, ENCODING, PARAMS, seed=7))
        finally:
            pool.close()
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_a_killed_evaluator_is_replaced_and_its_candidates_rescored(ray_session):
    undisturbed = _outcome(gp_search(LocalPool(FACTORY), SEEDS, TREES, ENCODING, PARAMS, seed=8))
    pool = EvaluatorPool(FACTORY, 2, cpus_per_actor=0.5, chunks_per_actor=3)
    victim = pool.actors[1]
    victim_pid = ray.get(victim.pid.remote())
    killed: list[int] = []

    def kill_once(done: int, total: int) -> None:
        # In the first population, after one chunk came back: the victim still holds queued chunks.
        if not killed and total >= 4:
            killed.append(victim_pid)
            ray.kill(victim)

    pool.on_chunk = kill_once
    try:
        disturbed = _outcome(gp_search(pool, SEEDS, TREES, ENCODING, PARAMS, seed=8))
        assert killed and pool.restarts == 1
        assert ray.get(pool.actors[1].pid.remote()) != victim_pid
    finally:
        pool.close()
    assert disturbed == undisturbed
