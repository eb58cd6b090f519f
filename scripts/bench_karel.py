"""Benchmark the Karel program searches on the ten tasks, beside LEAPS's (and HPRL's) published returns.

For every task, search method and seed it runs the search exactly as `nsrl run tune_configs/karel_<task>.yaml`
would (same driver-drawn instance and search seeds, the learner settings' defaults from the config
schema), then scores the best program on held-out instances and, unchanged, on a 100x100 grid. It
prints one markdown table: mean ± std over seeds of the search return (on the 10 search instances)
and the held-out return, the program evaluations used, wall time, and program evaluations per second.

    python scripts/bench_karel.py --smoke                       # seconds: wiring check
    python scripts/bench_karel.py --methods latent --model nsrl_results/models/karel_vae_small.pt  # LEAPS's latent CEM
    python scripts/bench_karel.py --workers 2 --out bench.jsonl  # the full run (resumable with --resume)

Runs go in parallel as Ray tasks (`--workers N`), each search scoring in its own process; `--actors A`
instead scores each search's batches on an evaluator pool of A actors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from nsrl_ray.config.schema import KarelCEMSettings, KarelHillClimbSettings, KarelLatentCEMSettings  # noqa: E402
from nsrl_ray.envs.karel.tasks import TASKS  # noqa: E402
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed  # noqa: E402

#: Published returns (shared/reference/karel.md §10): LEAPS Table 3 for the six LEAPS tasks, the
#: LEAPS row of HPRL's Table 2 for the four harder ones; and HPRL-PPO, the best published method.
LEAPS = {"stair_climber": 1.00, "four_corner": 0.45, "top_off": 0.81, "maze": 1.00, "clean_house": 0.18,
         "harvester": 0.45, "door_key": 0.50, "one_stroke": 0.65, "seeder": 0.51, "snake": 0.21}
HPRL_PPO = {"stair_climber": 1.00, "four_corner": 1.00, "top_off": 1.00, "maze": 1.00, "clean_house": 1.00,
            "harvester": 1.00, "door_key": 0.50, "one_stroke": 0.80, "seeder": 0.58, "snake": 0.28}
METHODS = {"hc": ("hill climbing", KarelHillClimbSettings), "cem": ("CEM", KarelCEMSettings),
           "latent": ("latent CEM", KarelLatentCEMSettings)}
#: Methods run unless --methods says otherwise (latent CEM needs a trained VAE: --model).
DEFAULT_METHODS = ["hc", "cem"]


def run_one(task: str, method: str, seed: int, max_evaluations: int, test_instances: int,
            generalisation: tuple[int, int] | None, actors: int, model: str | None = None) -> dict[str, Any]:
    """One search, seeded as the pipeline seeds trial ``seed``, and the scores of its best program."""
    from nsrl_ray.search.pool import make_pool
    from nsrl_ray.search.program_search import cross_entropy, hill_climb
    from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory
    from nsrl_ray.symbolic.karel.policy import ProgramPolicy, scaled_budget
    from nsrl_ray.symbolic.karel.sampler import ProgramLimits

    base = METHODS[method][1](model=model) if method == "latent" else METHODS[method][1]()
    settings = dataclasses.replace(base, max_evaluations=max_evaluations, num_actors=actors)
    factory = KarelEvaluatorFactory(task, settings.height, settings.width, settings.max_calls)
    seeds = episode_seeds(seed, "symbolic", settings.instances)
    limits = ProgramLimits(settings.max_tokens, settings.max_nesting, settings.max_block)
    common = dict(seed=stage_seed(seed, "symbolic"), max_evaluations=settings.max_evaluations,
                  target=settings.target, limits=limits)
    pool = make_pool(factory, settings.num_actors)
    try:
        if method == "hc":
            result = hill_climb(pool, seeds, neighbours=settings.neighbours, batch_size=settings.batch_size, **common)
        elif method == "latent":  # LEAPS's per-task CEM settings in the latent space of a trained VAE
            import torch

            from nsrl_ray.search.latent_cem import latent_cross_entropy, resolve_setting
            from nsrl_ray.symbolic.karel.embedding.vae import load_vae

            torch.set_num_threads(1)
            vae, _ = load_vae(settings.model)
            del common["limits"]
            result = latent_cross_entropy(
                pool, seeds, vae, setting=resolve_setting(task), min_sigma=settings.min_sigma,
                decay_epochs=settings.decay_epochs, max_epochs=settings.max_epochs,
                early_stop_window=settings.early_stop_window, decode=settings.decode, **common,
            )
        else:
            result = cross_entropy(pool, seeds, population=settings.population, elite_fraction=settings.elite_fraction,
                                   smoothing=settings.smoothing, floor=settings.floor, patience=settings.patience, **common)
    finally:
        pool.close()
    policy = ProgramPolicy(result.best_program, task, settings.height, settings.width, settings.max_calls)
    test = policy.returns(episode_seeds(seed, "evaluate", test_instances))
    row = {
        "task": task, "method": method, "seed": seed, "max_evaluations": max_evaluations,
        "search_return": result.best_return, "test_return": statistics.fmean(test),
        "evaluations": result.evaluations, "seconds": result.seconds, "program": result.best_text,
    }
    if generalisation is not None and TASKS[task].resizable:
        height, width = generalisation
        budget = scaled_budget(settings.max_calls, (policy.task.height, policy.task.width), (height, width))
        big = policy.returns(episode_seeds(seed, "evaluate", 10), height, width, max_calls=budget)
        row["generalisation"] = {"size": [height, width], "return": statistics.fmean(big), "max_calls": budget}
    return row


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {std:.2f}"


def table(rows: list[dict[str, Any]], methods: list[str]) -> str:
    """The markdown table: one line per task, each method's columns, and the published numbers."""
    head = ["task", "LEAPS (published)", "HPRL-PPO (published)"]
    for method in methods:
        name = METHODS[method][0]
        head += [f"{name}: search return", f"{name}: held-out return", f"{name}: evaluations (mean / max)",
                 f"{name}: s per run"]
    head += ["≥ LEAPS? search / held-out (best method)", "evals/s", "100x100 return (best method)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in TASKS:
        mine = [r for r in rows if r["task"] == task]
        if not mine:
            continue
        cells = [task, f"{LEAPS[task]:.2f}", f"{HPRL_PPO[task]:.2f}"]
        best_method, best_mean, best_search = None, -float("inf"), -float("inf")
        for method in methods:
            runs = sorted((r for r in mine if r["method"] == method), key=lambda r: r["seed"])
            if not runs:
                cells += ["–"] * 4
                continue
            held = [r["test_return"] for r in runs]
            evals = [r["evaluations"] for r in runs]
            cells += [
                _mean_std([r["search_return"] for r in runs]) + f" ({len(runs)} seeds)",
                _mean_std(held),
                f"{statistics.fmean(evals):,.0f} / {max(evals):,}",
                f"{statistics.fmean(r['seconds'] for r in runs):.1f}",
            ]
            if statistics.fmean(held) > best_mean:
                best_method, best_mean = method, statistics.fmean(held)
            best_search = max(best_search, statistics.fmean(r["search_return"] for r in runs))
        meets = lambda value: "yes" if value >= LEAPS[task] - 1e-9 else "**no**"  # noqa: E731
        cells.append(f"{meets(best_search)} / {meets(best_mean)} ({METHODS[best_method][0]})")
        total_evals = sum(r["evaluations"] for r in mine)
        total_s = sum(r["seconds"] for r in mine)
        cells.append(f"{total_evals / max(total_s, 1e-9):,.0f}")
        big = [r["generalisation"]["return"] for r in mine if r["method"] == best_method and "generalisation" in r]
        cells.append(_mean_std(big) if big else ("fixed map" if not TASKS[task].resizable else "not run"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: one seed, 200 evaluations, a few seconds")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS),
                        help="hc, cem (default) and latent (LEAPS's latent CEM; needs --model)")
    parser.add_argument("--model", default=None, help="karel_vae.pt of a trained program VAE, for --methods latent")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-evaluations", type=int, default=1_000_000, help="program evaluations per task and seed")
    parser.add_argument("--test-instances", type=int, default=100, help="held-out task instances per seed")
    parser.add_argument("--no-generalisation", action="store_true", help="skip the 100x100 runs")
    parser.add_argument("--workers", type=int, default=0, help="searches run at once as Ray tasks (0: one after another here)")
    parser.add_argument("--actors", type=int, default=0, help="evaluator-pool actors per search (0: score in process)")
    parser.add_argument("--out", type=Path, default=None, help="JSON-lines file that collects finished runs")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --out")
    parser.add_argument("--from-results", nargs="+", type=Path, default=None, metavar="JSONL",
                        help="only print the table of finished runs read from these --out files")
    args = parser.parse_args(argv)
    if args.from_results:
        latest = {}
        for path in args.from_results:
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    latest[(row["task"], row["method"], row["seed"])] = row  # a repeated run counts once
        rows = list(latest.values())
        budgets = sorted({r["max_evaluations"] for r in rows})
        print(f"## Karel program search (at most {' / '.join(f'{b:,}' for b in budgets)} program evaluations "
              "per task and seed)\n")
        present = {r["method"] for r in rows}  # latent CEM rows show up without naming the method again
        print(table(rows, [m for m in METHODS if m in args.methods or (m == "latent" and m in present)]))
        return 0
    if "latent" in args.methods and not (args.model and Path(args.model).is_file()):
        parser.error(f"--methods latent needs --model PATH of a trained karel_vae.pt (got {args.model!r}); "
                     "train one with `nsrl run tune_configs/karel_vae_small.yaml`")
    if args.smoke:
        args.seeds, args.max_evaluations, args.test_instances = args.seeds[:1], 200, 5
    for name in ("max_evaluations", "test_instances"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    generalisation = None if (args.no_generalisation or args.smoke) else (100, 100)

    done: list[dict[str, Any]] = []
    if args.resume and args.out and args.out.is_file():
        done = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
        done = [r for r in done if r.get("max_evaluations") == args.max_evaluations]
    have = {(r["task"], r["method"], r["seed"]) for r in done}
    jobs = [(t, m, s) for t in args.tasks for m in args.methods for s in args.seeds if (t, m, s) not in have]
    started = time.perf_counter()

    def record(row: dict[str, Any]) -> None:
        done.append(row)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        sys.stderr.write(f"{row['task']:<14} {row['method']:<4} seed {row['seed']}: search {row['search_return']:.3f} "
                         f"held-out {row['test_return']:.3f} after {row['evaluations']:,} evaluations in {row['seconds']:.1f}s\n")

    if args.workers > 0 or args.actors > 0:
        import ray

        ray.init(address="local", num_cpus=max(args.workers, args.actors, 1), include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=1 if args.actors == 0 else 0)(run_one)
            pending = [remote.remote(t, m, s, args.max_evaluations, args.test_instances, generalisation, args.actors, args.model)
                       for t, m, s in jobs]
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                record(ray.get(ready[0]))
        finally:
            ray.shutdown()
    else:
        for t, m, s in jobs:
            record(run_one(t, m, s, args.max_evaluations, args.test_instances, generalisation, 0, args.model))

    ordered = [m for m in METHODS if m in args.methods]
    print(f"## Karel program search ({args.max_evaluations:,} program evaluations per task and seed at most; "
          f"seeds {args.seeds}; wall time {time.perf_counter() - started:.0f} s)\n")
    print(table(done, ordered))
    print(
        "\nSemantics: LEAPS's (220 node calls per run, the score of the final state, 10 search instances, "
        "no +0.1 validity bonus); the harder four use HPRL's task definitions under the same budget. "
        f"'held-out' scores the best program on {args.test_instances} instances it never saw; 'search' is the "
        "return the search optimised. evals/s counts program evaluations (a program on all 10 instances) per "
        "second of one core. The published LEAPS numbers for the harder four are HPRL's runs of LEAPS."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
