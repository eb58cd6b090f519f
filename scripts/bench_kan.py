"""Benchmark KAN policy extraction per environment: teacher, KAN (spline) and KAN formula returns.

    python scripts/bench_kan.py                       # all kan_* experiments, 3 seeds, 20 episodes each
    python scripts/bench_kan.py --envs cartpole acrobot --seeds 0
    python scripts/bench_kan.py --smoke               # tiny budgets: CartPole and Pendulum, one seed
    python scripts/bench_kan.py --from-results DIR    # re-tabulate finished runs under DIR without running

Returns are mean ± std over all evaluation episodes of all seeds (the same seeds for every
policy). "score" is the formula's return normalised between uniform random play (0) and
the teacher (1); the issue's bar is score >= 0.9 on the six classic-control/Box2D envs.
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
CONFIGS = REPO / "tune_configs"
ENVS = ("cartpole", "acrobot", "mountaincar", "pendulum", "mountaincar_continuous", "lunarlander", "swimmer", "hopper")
CLASSIC = ENVS[:6]  # the done-when bar applies to these
BAR = 0.9


def random_returns(env: str, seeds: list[int]) -> list[float]:
    """Uniform random actions on the evaluation seeds (the score's zero)."""
    from nsrl_ray.envs import make_env
    from nsrl_ray.pipeline.episodes import play_episodes

    probe = make_env(env)
    space = probe.action_space
    probe.close()
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        policy = lambda batch: rng.integers(space.n, size=len(batch))
    else:
        policy = lambda batch: rng.uniform(space.low, space.high, size=(len(batch), *space.shape))
    return [r.episode_return for r in play_episodes(env, seeds, policy)]


def pooled(means: list[float], stds: list[float]) -> tuple[float, float]:
    """Mean and std of equally sized groups pooled together, from each group's mean and std."""
    m = np.asarray(means, dtype=float)
    s = np.asarray(stds, dtype=float)
    grand = float(m.mean())
    return grand, float(np.sqrt(max(np.mean(s**2 + m**2) - grand**2, 0.0)))


def trial_row(trial: Path) -> dict:
    """What one finished trial measured (its evaluation, the card's metrics, the seeds it played)."""
    artifacts = trial / "artifacts"
    evaluation = json.loads((artifacts / "evaluation.json").read_text())
    card = json.loads((artifacts / "policy.json").read_text())
    metrics = card["metrics"]
    return {
        "env": card["env"],
        "seeds": evaluation["seeds"],
        "teacher": evaluation["teacher_returns"],
        "formula": evaluation["returns"],
        "spline_mean": metrics.get("symbolic/spline_return_mean", float("nan")),
        "spline_std": metrics.get("symbolic/spline_return_std", float("nan")),
        "size": card["complexity"],
        "fit_s": metrics.get("symbolic/fit_time_s", float("nan")),
    }


def env_row(name: str, trials: list[dict], random: list[float]) -> dict:
    teacher = np.concatenate([t["teacher"] for t in trials])
    formula = np.concatenate([t["formula"] for t in trials])
    spline = pooled([t["spline_mean"] for t in trials], [t["spline_std"] for t in trials])
    rand = float(np.mean(random))
    # A score near 1 says the formula copies the teacher, not that the task is solved: MountainCarContinuous's
    # teacher can learn to stand still (return 0). Count the seeds whose teacher reaches the env's solved return.
    from nsrl_ray.envs import get_env_spec

    threshold = get_env_spec(trials[0]["env"]).solved_return
    solved = None if threshold is None else sum(float(np.mean(t["teacher"])) >= threshold for t in trials)
    gap = float(teacher.mean()) - rand
    score = (float(formula.mean()) - rand) / gap if abs(gap) > 1e-9 else float("nan")
    return {
        "name": name, "env": trials[0]["env"], "seeds": len(trials), "episodes": len(formula),
        "random": (rand, float(np.std(random))), "teacher": (float(teacher.mean()), float(teacher.std())),
        "spline": spline, "formula": (float(formula.mean()), float(formula.std())), "score": score,
        "size": float(np.mean([t["size"] for t in trials])), "fit_s": float(np.mean([t["fit_s"] for t in trials])),
        "solved": solved, "threshold": threshold,
    }


def table(rows: list[dict]) -> str:
    fmt = lambda pair: f"{pair[0]:.1f} ± {pair[1]:.1f}"
    lines = [
        "| env | seeds × episodes | random | teacher (reference) | KAN spline | KAN formula | score | formula size | fit time (s) | ≥ 90 % "
        "| teachers solved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        # The bar is the for the classic envs; elsewhere (MuJoCo) running end to end is the aim.
        passed = ("yes" if r["score"] >= BAR else "no") if r["name"] in CLASSIC else "—"
        lines.append(
            f"| {r['env']} | {r['seeds']} × {r['episodes'] // max(r['seeds'], 1)} | {fmt(r['random'])} | {fmt(r['teacher'])} | "
            f"{fmt(r['spline'])} | {fmt(r['formula'])} | {r['score']:.2f} | {r['size']:.0f} | {r['fit_s']:.1f} | {passed} | "
            + ("—" if r["solved"] is None else f"{r['solved']}/{r['seeds']} (≥ {r['threshold']:g})") + " |"
        )
    return "\n".join(lines)


def run_env(name: str, seeds: list[int], smoke: bool, storage: Path, video: bool, extra: list[str]) -> list[Path]:
    from nsrl_ray.config import load_experiment
    from nsrl_ray.pipeline.runner import run_experiment

    overrides = [f"seeds=[{', '.join(map(str, seeds))}]", f"storage_path={storage}", *extra]
    if video:
        overrides.append("stages.report.video=true")
    config = load_experiment(CONFIGS / f"kan_{name}.yaml", overrides=overrides, smoke=smoke)
    started = time.perf_counter()
    summary = run_experiment(config, write=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"[bench] {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    for trial in summary.failed:
        print(f"[bench] {name} seed {trial.seed} FAILED: {trial.error}", file=sys.stderr)
    return [t.path for t in summary.trials if not t.error]


def collect_rows(groups: dict[str, list[Path]]) -> list[dict]:
    rows = []
    for name, paths in groups.items():
        trials = [trial_row(p) for p in paths if (p / "artifacts" / "policy.json").is_file()]
        if not trials:
            continue
        seeds = [s for t in trials for s in t["seeds"]]
        rows.append(env_row(name, trials, random_returns(trials[0]["env"], seeds)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, CartPole and Pendulum, one seed")
    parser.add_argument("--envs", nargs="+", choices=ENVS, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--storage-path", type=Path, default=Path("/tmp/nsrl_bench_kan"))
    parser.add_argument("--video", action="store_true", help="also write teacher and formula videos beside each card")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of every experiment, as with `nsrl run --set`")
    parser.add_argument("--from-results", type=Path, default=None, help="tabulate finished kan_<env> runs under this folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    envs = args.envs or (("cartpole", "pendulum") if args.smoke else ENVS)
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])

    if args.from_results is not None:
        groups = {name: sorted((args.from_results / f"kan_{name}").glob("seed_*")) for name in envs}
    else:
        import ray

        # address="local": a fresh instance even when another `ray start` cluster runs on this machine.
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        try:
            groups = {name: run_env(name, seeds, args.smoke, args.storage_path.resolve(), args.video, args.set) for name in envs}
        finally:
            ray.shutdown()
    rows = collect_rows(groups)
    text = table(rows)
    if any(r["name"] in CLASSIC for r in rows):
        misses = [f"{r['env']} ({r['score']:.2f})" for r in rows if r["name"] in CLASSIC and not r["score"] >= BAR]
        text += f"\n\nBelow the {BAR:.0%} bar: {', '.join(misses) if misses else 'none'}."
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    if not rows:
        sys.exit("no finished trials to tabulate")


if __name__ == "__main__":
    main()
