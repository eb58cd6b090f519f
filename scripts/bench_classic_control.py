"""Benchmark DiffSES's stages II-III on classic control, and the GP's evaluation throughput on Ray actors.

Table 1, per environment (tune_configs/gp_<env>.yaml, one trial per seed): the teacher's return,
the GP's warm start (a gplearn distillation, a linear fit to the teacher, or a linear search on the
return; random trees show "—"), the GP search's, the fine-tuned formulas'
(mean ± std over the evaluation episodes of all seeds), the final formula size, the environment
episodes spent (teacher training, teacher dataset, GP fitness and re-scoring, PPO fine-tuning;
the measurement episodes of this table are not counted) and the wall time per seed. Each final card
is also re-measured on 200 unseen seeds (`--unseen-episodes`): 20 episodes of Pendulum or
LunarLander leave a standard error of about 25.

Table 2: candidate evaluations per second of one GP population, scored by a plain single-process
loop, by the evaluator pool with 1 actor and with 2 actors, measured in one run.

    python scripts/bench_classic_control.py                              # CartPole and Acrobot, seeds 0 1 2
    python scripts/bench_classic_control.py --envs CartPole-v1 MountainCar-v0 --seeds 0
    python scripts/bench_classic_control.py --reuse                      # read finished runs, run the rest
    python scripts/bench_classic_control.py --smoke                      # tiny budgets (checks the script works)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "CartPole-v1": "gp_cartpole.yaml",
    "Acrobot-v1": "gp_acrobot.yaml",
    "MountainCar-v0": "gp_mountaincar.yaml",
    "Pendulum-v1": "gp_pendulum.yaml",
    "LunarLander-v3": "gp_lunarlander.yaml",
}
#: The issue's bars (the env's own "solved" thresholds) and its episode budget per environment.
BARS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0, "Pendulum-v1": -200.0, "LunarLander-v3": 200.0}
EPISODE_BUDGET = 200_000
#: How each warm start is named in table 1 (the GP stage's `warm_start` setting).
WARM_STARTS = {"distill": "gplearn distillation", "linear": "linear fit to the teacher", "linear_search": "linear search on the return",
               "none": "random trees", "card": "a given card"}


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}


#: Episodes on fixed seeds no stage plays, on which every final card is re-measured: 20 episodes of Pendulum
#: or LunarLander (returns swinging by +-120 between start states) leave a standard error of ~25.
UNSEEN_SEEDS = list(range(1_000_000, 1_000_200))


def unseen_returns(artifacts: Path, episodes: int) -> np.ndarray:
    """The final card's returns on ``episodes`` unseen seeds (played in this process)."""
    from nsrl_ray.explain.policy_card import read_policy_card
    from nsrl_ray.search.episode_fitness import EpisodeReturnFactory

    card = read_policy_card(artifacts / "policy.json")
    bounds = [None if b is None else tuple(b) for b in (card.action_low, card.action_high)]
    evaluator = EpisodeReturnFactory(card.env, tuple(card.variables), tuple(card.action_names), card.action_kind,
                                     bounds[0], bounds[1])()
    try:
        return evaluator.returns(card.formulas, UNSEEN_SEEDS[:episodes])
    finally:
        evaluator.close()


def trial_row(trial: Path, unseen_episodes: int = 0) -> dict[str, Any] | None:
    """What one finished trial produced, or None when it did not finish."""
    artifacts = trial / "artifacts"
    card, evaluation, stages = _load(artifacts / "policy.json"), _load(artifacts / "evaluation.json"), _load(artifacts / "stage_results.json")
    if not card or not evaluation or "report" not in stages:
        return None
    metrics = card["metrics"]
    episodes = (stages.get("teacher", {}).get("episodes", 0) + stages.get("collect", {}).get("episodes", 0)
                + metrics.get("symbolic/env_episodes", 0) + metrics.get("finetune/env_episodes", 0))
    return {
        "teacher": (np.asarray(evaluation["teacher_returns"]), None),
        "distilled": (metrics.get("symbolic/distilled_return_mean"), metrics.get("symbolic/distilled_return_std")),
        "gp": (metrics.get("symbolic/gp_return_mean"), metrics.get("symbolic/gp_return_std")),
        "finetuned": (np.asarray(evaluation["returns"]), None),
        "size": card["complexity"],
        "episodes": int(episodes),
        "wall_s": sum(stage["wall_s"] for stage in stages.values()),
        "formulas": [a["display"] for a in card["actions"]],
        "accepted": metrics.get("finetune/accepted"),
        "warm_start": _load(artifacts / "gp_warm_start.json").get("kind", "none"),
        "unseen": (unseen_returns(artifacts, unseen_episodes), None) if unseen_episodes else None,
    }


def pooled(parts: list[tuple[Any, Any]]) -> tuple[float, float] | None:
    """Mean ± std over all episodes of all seeds (from the returns, or from equal-sized per-seed mean/std)."""
    if not parts or any(p[0] is None for p in parts):
        return None
    if isinstance(parts[0][0], np.ndarray):
        values = np.concatenate([p[0] for p in parts])
        return float(values.mean()), float(values.std())
    means = np.array([p[0] for p in parts], dtype=float)
    stds = np.array([p[1] for p in parts], dtype=float)
    mean = float(means.mean())
    return mean, float(math.sqrt(max(float(np.mean(stds**2 + means**2)) - mean**2, 0.0)))


def run_env(env: str, seeds: list[int], storage: Path, smoke: bool, reuse: bool, unseen: int) -> list[dict[str, Any]]:
    from nsrl_ray.config import load_experiment
    from nsrl_ray.pipeline.runner import run_experiment

    config = load_experiment(REPO / "tune_configs" / CONFIGS[env], overrides=[f"seeds={seeds}"], smoke=smoke)
    config = config.replace(storage_path=str(storage))
    folder = storage / config.name
    rows: dict[int, dict[str, Any]] = {}
    if reuse:
        for trial in sorted(folder.glob("seed_*")):
            seed = int(trial.name.split("_")[1])
            row = trial_row(trial, unseen) if seed in seeds else None
            if row is not None:
                rows[seed] = row
    missing = [s for s in seeds if s not in rows]
    if missing:
        summary = run_experiment(config.replace(seeds=tuple(missing)), write=lambda line: print(line, file=sys.stderr, flush=True))
        if summary.failed:
            sys.exit(f"{env}: a trial failed: {summary.failed[0].error}")
        for trial in summary.trials:
            row = trial_row(trial.path, unseen)
            if row is not None:
                rows[trial.seed] = row
    return [rows[s] for s in seeds if s in rows]


def _fmt(value: tuple[float, float] | None) -> str:
    return "—" if value is None else f"{value[0]:.1f} ± {value[1]:.1f}"


def table_one(results: dict[str, list[dict[str, Any]]], episodes_per_seed: int, unseen: int) -> None:
    print(f"## Table 1: returns (mean ± std over {episodes_per_seed} evaluation episodes × seeds), size, budget, time")
    print(f"| env | seeds | teacher | warm start (how) | GP search | fine-tuned (final) | best seed's policy | bar | met: best policy / pooled "
          f"| final, {unseen} unseen episodes × seeds | formula size | env episodes used (max per seed) | wall s per seed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for env, rows in results.items():
        if not rows:
            continue
        final = pooled([r["finetuned"] for r in rows])
        bar = BARS[env]
        # The bar is for the best symbolic policy: the best seed's; the pooled mean is the stricter reading.
        best = max((r["finetuned"][0] for r in rows), key=lambda returns: float(returns.mean()))
        met = " / ".join("yes" if value >= bar else "**no**" for value in (float(best.mean()), final[0] if final else -math.inf))
        episodes = max(r["episodes"] for r in rows)
        budget = f"{episodes:,}" + ("" if episodes <= EPISODE_BUDGET else " (**over budget**)")
        kinds = "/".join(sorted({r["warm_start"] for r in rows}))
        warm = _fmt(pooled([r["distilled"] for r in rows])) + f" ({WARM_STARTS.get(kinds, kinds)})"
        print(f"| {env} | {len(rows)} | {_fmt(pooled([r['teacher'] for r in rows]))} | {warm} "
              f"| {_fmt(pooled([r['gp'] for r in rows]))} | {_fmt(final)} | {_fmt((float(best.mean()), float(best.std())))} | {bar:g} | {met} "
              f"| {_fmt(pooled([r['unseen'] for r in rows]) if unseen else None)} "
              f"| {np.mean([r['size'] for r in rows]):.1f} | {budget} | {np.mean([r['wall_s'] for r in rows]):.0f} |")
    print()
    for env, rows in results.items():
        for i, row in enumerate(rows):
            print(f"- {env} seed #{i}: " + " ; ".join(f"`{f}`" for f in row["formulas"]))
    print()


def throughput(env: str, population: int, episodes: int, smoke: bool) -> None:
    """One population scored by a plain loop and by the pool with 1 and 2 actors."""
    import ray

    from nsrl_ray.envs import get_env_spec
    from nsrl_ray.pipeline.stages.symbolic import action_bounds
    from nsrl_ray.search.episode_fitness import EpisodeReturnFactory
    from nsrl_ray.search.pool import EvaluatorPool
    from nsrl_ray.symbolic.gp_operators import TreeFactory
    from nsrl_ray.symbolic.tree_policy import TreeEncoding

    spec = get_env_spec(env)
    low, high = action_bounds(env)
    factory = EpisodeReturnFactory(env, spec.feature_names, spec.action_names, spec.action_kind, low, high)
    encoding = TreeEncoding(spec.action_kind, len(spec.action_names), True, low, high)
    trees = TreeFactory(("add", "sub", "mul", "div", "abs", "tanh", "gt", "ifelse"), spec.feature_names)
    rng = np.random.default_rng(0)
    candidates = [encoding.formulas(tuple(trees.ramped(rng, (2, 4)) for _ in range(encoding.n_trees)))
                  for _ in range(population)]
    seeds = list(range(1000, 1000 + episodes))
    rows = []
    evaluator = factory()
    evaluator(candidates[:2], seeds)  # warm up: envs made, imports done
    started = time.perf_counter()
    reference = evaluator(candidates, seeds)
    rows.append(("plain loop, 1 process (reference)", time.perf_counter() - started))
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        for actors in (1, 2):
            with EvaluatorPool(factory, actors, cpus_per_actor=1.0) as pool:
                pool.evaluate(candidates[:2 * actors], seeds)  # actors started and warmed up
                started = time.perf_counter()
                scores = pool.evaluate(candidates, seeds)
                rows.append((f"evaluator pool, {actors} actor{'s' if actors > 1 else ''}", time.perf_counter() - started))
            if scores != reference:
                sys.exit("the pool's scores differ from the plain loop's: evaluation is not deterministic")
    finally:
        if started_ray:
            ray.shutdown()
    print(f"## Table 2: GP evaluation throughput on {env} ({population} candidates of a first generation × {episodes} episodes each, one run)")
    print(f"machine: {os.cpu_count()} cores (shared); the same scores from every evaluator")
    print("| evaluator | seconds | candidate evaluations/s | episodes/s | vs plain loop |")
    print("|---|---|---|---|---|")
    base = population / rows[0][1]
    for name, seconds in rows:
        rate = population / seconds
        print(f"| {name} | {seconds:.2f} | {rate:.1f} | {rate * episodes:.1f} | {rate / base:.2f}× |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1"], choices=sorted(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--storage-path", type=Path, default=Path("/tmp/nsrl_bench_classic"))
    parser.add_argument("--reuse", action="store_true", help="read finished trials under the storage path instead of rerunning them")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: one env, one seed, a small population")
    parser.add_argument("--skip-runs", action="store_true", help="only table 2")
    parser.add_argument("--skip-throughput", action="store_true", help="only table 1")
    parser.add_argument("--throughput-env", default="Acrobot-v1", choices=sorted(CONFIGS))
    parser.add_argument("--population", type=int, default=200)
    parser.add_argument("--unseen-episodes", type=int, default=200,
                        help="re-measure each final card on this many unseen seeds (0: skip)")
    args = parser.parse_args()
    if args.smoke:
        args.envs, args.seeds, args.population, args.throughput_env = args.envs[:1], args.seeds[:1], 16, "CartPole-v1"

    import torch

    torch.set_num_threads(1)
    if not args.skip_runs:
        unseen = min(args.unseen_episodes, 4) if args.smoke else args.unseen_episodes
        results = {env: run_env(env, args.seeds, args.storage_path, args.smoke, args.reuse, unseen) for env in args.envs}
        table_one(results, 2 if args.smoke else 20, unseen)
    if not args.skip_throughput:
        throughput(args.throughput_env, args.population, 2 if args.smoke else 5, args.smoke)


if __name__ == "__main__":
    main()
