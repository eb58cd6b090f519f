"""Benchmark the quickstart: wall time per stage, and the formula's actions/s beside the teacher network's.

    python scripts/bench_quickstart.py            # runs the quickstart, then times the policies
    python scripts/bench_quickstart.py --smoke    # tiny budgets (seconds; checks the script works)
    python scripts/bench_quickstart.py --trial-dir nsrl_results/quickstart/seed_0_…   # time an existing run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "tune_configs" / "quickstart.yaml"
TARGET_TOTAL_S = 180.0  # the aim for the whole quickstart on a 2-core machine


def _rate(act, obs: np.ndarray, min_seconds: float) -> float:
    """Actions per second of ``act`` on batches of ``obs``, timed over at least ``min_seconds``."""
    act(obs)  # warm up (first-call allocations, torch dispatch caches)
    calls, started = 0, time.perf_counter()
    while True:
        act(obs)
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return calls * len(obs) / elapsed


def run_quickstart(smoke: bool, storage: Path) -> tuple[Path, float]:
    from nsrl_ray.config import load_experiment
    from nsrl_ray.pipeline.runner import run_experiment

    config = load_experiment(QUICKSTART, smoke=smoke).replace(storage_path=str(storage))
    started = time.perf_counter()
    summary = run_experiment(config)
    total = time.perf_counter() - started
    if summary.failed:
        sys.exit(f"the quickstart failed: {summary.failed[0].error}")
    return summary.trials[0].path, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--trial-dir", type=Path, default=None)
    parser.add_argument("--storage-path", type=Path, default=Path("/tmp/nsrl_bench"))
    parser.add_argument("--seconds", type=float, default=1.0, help="timing window per measurement")
    args = parser.parse_args()
    if args.smoke:
        args.seconds = min(args.seconds, 0.2)

    import torch

    torch.set_num_threads(1)
    total = None
    trial = args.trial_dir
    if trial is None:
        trial, total = run_quickstart(args.smoke, args.storage_path)
    artifacts = trial / "artifacts"
    stages = json.loads((artifacts / "stage_results.json").read_text())
    evaluation = json.loads((artifacts / "evaluation.json").read_text())["metrics"]

    print(f"## Quickstart wall time per stage ({trial})")
    print("| stage | wall s |")
    print("|---|---|")
    for name, result in stages.items():
        print(f"| {name} | {result['wall_s']:.1f} |")
    stage_sum = sum(r["wall_s"] for r in stages.values())
    print(f"| sum of stages | {stage_sum:.1f} |")
    if total is not None:
        print(f"| whole run (Ray start, Tune, stages) | {total:.1f} (target < {TARGET_TOTAL_S:.0f}) |")
    print()
    print("## Returns over the evaluation episodes")
    print("| policy | return mean ± std |")
    print("|---|---|")
    print(f"| teacher (PPO MLP, greedy) | {evaluation['teacher_return_mean']:.1f} ± {evaluation['teacher_return_std']:.1f} |")
    print(f"| formula ({evaluation['complexity']} nodes) | {evaluation['return_mean']:.1f} ± {evaluation['return_std']:.1f} |")
    print()

    import nsrl_ray
    from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

    formula = nsrl_ray.load_policy(artifacts)
    teacher = TeacherPolicy(artifacts / "teacher_module", "discrete")
    rng = np.random.default_rng(0)
    print("## Actions per second (one core)")
    print("| batch | teacher network (torch) | formula (numpy) | formula / teacher |")
    print("|---|---|---|---|")
    for batch in (1, 1024):
        obs = rng.normal(scale=0.5, size=(batch, 4))
        teacher_rate = _rate(teacher.act, obs.astype(np.float32), args.seconds)
        formula_rate = _rate(formula.act, obs, args.seconds)
        print(f"| {batch} | {teacher_rate:,.0f} | {formula_rate:,.0f} | {formula_rate / teacher_rate:.1f}× |")


if __name__ == "__main__":
    main()
