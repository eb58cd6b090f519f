"""A search spreads its evaluator actors over two Ray nodes and survives losing one of them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ray

SEARCH = dict(seed=3, neighbours=40, batch_size=20, max_evaluations=600)


@pytest.fixture
def two_nodes():
    """A real two-node Ray cluster on this machine (two raylets), Ray's own test utility."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 3, "include_dashboard": False})
    second = cluster.add_node(num_cpus=2, resources={"second_node": 2})
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster, second
    ray.shutdown()
    cluster.shutdown()


def _cpus_in_use_per_node() -> dict[str, float]:
    import ray
    from ray._private.state import available_resources_per_node

    total = {node["NodeID"]: node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]}
    free = available_resources_per_node()
    return {node: total[node] - free.get(node, {}).get("CPU", 0) for node in total}


def test_search_spreads_over_both_nodes_and_survives_losing_one(two_nodes):
    from nsrl_ray.search.pool import EvaluatorPool, LocalPool
    from nsrl_ray.search.program_search import hill_climb
    from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory

    cluster, second = two_nodes
    factory = KarelEvaluatorFactory("harvester", height=6, width=6)
    seeds = list(range(10))
    reference = hill_climb(LocalPool(factory), seeds, **SEARCH)

    pool = EvaluatorPool(factory, 3, cpus_per_actor=1, spread=True)
    try:
        pool.evaluate([], seeds)
        import ray

        ray.get([actor.pid.remote() for actor in pool.actors])  # all three placed and running
        in_use = _cpus_in_use_per_node()
        assert sum(1 for used in in_use.values() if used >= 1) == 2, f"actors not spread: {in_use}"

        removed = []

        def lose_the_second_node(progress) -> None:
            if not removed and progress.evaluations >= 100:
                cluster.remove_node(second)  # kills that node's raylet and every actor on it
                removed.append(True)

        result = hill_climb(pool, seeds, on_progress=lose_the_second_node, **SEARCH)
    finally:
        pool.close()
    assert removed, "the search ended before the node could be removed"
    assert pool.restarts >= 1 and pool.events, "losing a node went unnoticed"
    assert (result.best_text, result.best_return, result.evaluations) == (
        reference.best_text, reference.best_return, reference.evaluations)
