"""Population-evaluation throughput on the shared evaluator pool: 1, 2, 4 actors, one node and two nodes.

    python scripts/bench_scaling.py           # 400 Karel programs × 10 instances per measurement
    python scripts/bench_scaling.py --smoke   # tiny population (checks the script works)

Speed-up and efficiency are against the 1-actor figure of the same cluster. The two-node cluster
is two raylets on this machine (Ray's own cluster_utils), so it shows the overhead of placing
actors on a second node, not extra hardware.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import ray  # noqa: E402

from nsrl_ray.search.pool import EvaluatorPool, LocalPool  # noqa: E402
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory  # noqa: E402
from nsrl_ray.symbolic.karel.sampler import ProgramSampler  # noqa: E402


def population(size: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    sampler = ProgramSampler()
    return [sampler.program(rng) for _ in range(size)]


def throughput(pool, populations: list[list], seeds: list[int]) -> float:
    """Programs scored per second (each program on every seed), best over the populations.

    Every population is new to the pool: evaluators cache scores by program, so a repeated
    population would time cache hits, not evaluation.
    """
    pool.evaluate(population(8, seed=10_000), seeds)  # warm up: actors built, factory unpickled
    best = 0.0
    for programs in populations:
        started = time.perf_counter()
        pool.evaluate(programs, seeds)
        best = max(best, len(programs) / (time.perf_counter() - started))
    return best


def measure(label: str, counts: list[int], factory, populations: list[list], seeds: list[int], rows: list) -> None:
    base = None
    for count in counts:
        with EvaluatorPool(factory, count, cpus_per_actor=1, spread=True) as pool:
            rate = throughput(pool, populations, seeds)
        base = base or rate
        rows.append((label, count, rate, rate / base, rate / base / count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--population", type=int, default=400)
    parser.add_argument("--task", default="harvester")
    args = parser.parse_args()
    size, repeats = (24, 1) if args.smoke else (args.population, 3)
    factory = KarelEvaluatorFactory(args.task, height=8, width=8)
    populations = [population(size, seed=repeat) for repeat in range(repeats)]
    seeds = list(range(10))
    counts = [1, 2] if args.smoke else [1, 2, 4]

    rows: list[tuple[str, int, float, float, float]] = []
    plain = throughput(LocalPool(factory), populations, seeds)

    ray.init(address="local", num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
    try:
        measure("one node", counts, factory, populations, seeds, rows)
    finally:
        ray.shutdown()

    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": max(counts) // 2 or 1, "include_dashboard": False})
    cluster.add_node(num_cpus=max(max(counts) // 2, 1))
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        cluster.wait_for_nodes()
        measure("two nodes", counts, factory, populations, seeds, rows)
    finally:
        ray.shutdown()
        cluster.shutdown()

    print(f"## Population evaluation: {size} {args.task} programs × {len(seeds)} instances, {os.cpu_count()} cores")
    print("| cluster | actors | programs/s | speed-up | efficiency |")
    print("|---|---|---|---|---|")
    print(f"| plain loop (no Ray) | 0 | {plain:,.0f} | – | – |")
    for label, count, rate, speedup, efficiency in rows:
        print(f"| {label} | {count} | {rate:,.0f} | {speedup:.2f}× | {efficiency:.0%} |")


if __name__ == "__main__":
    main()
