"""Benchmark for INSIGHT on Atari: table 1 (`--table 1`) trains Pong here, table 2 (default) is throughput,
table 3 (`--table refit`) compares ways of reading the formulas off a finished run.

    python scripts/bench_insight.py             # 20 000 env steps each, 50 CNN batches
    python scripts/bench_insight.py --smoke     # tiny budgets (a few seconds)
    python scripts/bench_insight.py --table 1 [--budget smoke|small|2h]   # table 1: INSIGHT trained on Pong here
    python scripts/bench_insight.py --table refit --run RUN/seed_0_…/artifacts   # table 3: plain pruning vs refit

Environment steps/s of our object-centric Pong (OCAtari RAM objects -> named slot vector,
frame skip 4) and of raw ale-py Pong (`ALE/Pong-v5`, frame skip 4, RGB observations), in one
run and interleaved so that machine load hits both alike; the ratio is what counts. Then the
perception CNN's frames/s (inference, batch 32, 4x84x84 stacks) at INSIGHT's size and at the
small size the unit tests train. Single-threaded torch; random actions.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402


def _steps_per_second(env, steps: int, seed: int) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    actions = rng.integers(n_actions, size=steps)
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start), steps


def env_throughput(steps: int, rounds: int) -> dict[str, float]:
    import ale_py
    import gymnasium

    from nsrl_ray.envs.atari import make_object_env, make_pixel_env

    gymnasium.register_envs(ale_py)
    envs = {
        "raw ale-py Pong (ALE/Pong-v5, RGB)": gymnasium.make("ALE/Pong-v5", frameskip=4, repeat_action_probability=0.0),
        "object-centric Pong (PongObjects-v0)": make_object_env("Pong", training=False),
        "pixel Pong (PongPixels-v0, 4x84x84)": make_pixel_env("Pong", training=False),
    }
    totals = {name: [0.0, 0] for name in envs}
    for r in range(rounds):  # interleaved rounds: load spikes hit every env alike
        for name, env in envs.items():
            rate, n = _steps_per_second(env, steps // rounds, seed=r)
            totals[name][0] += n / rate
            totals[name][1] += n
    for env in envs.values():
        env.close()
    return {name: n / seconds for name, (seconds, n) in totals.items()}


def cnn_throughput(batches: int) -> dict[str, float]:
    import torch

    from nsrl_ray.perception import PerceptionCNN

    torch.set_num_threads(1)
    out = {}
    frames = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8)
    for label, options in (("INSIGHT size (32-64-64, 2048)", {}),
                           ("small (8-16-16, 128)", {"channels": (8, 16, 16), "hidden": 128})):
        model = PerceptionCNN(("player", "ball", "enemy"), **options).eval()
        with torch.no_grad():
            model(frames)  # warm-up
            start = time.perf_counter()
            for _ in range(batches):
                model.features(frames)
        out[label] = batches * len(frames) / (time.perf_counter() - start)
    return out


# --------------------------------------------------------------------------------------------------
# Table 1: INSIGHT on Pong, trained on this machine (teacher -> frames -> perceive -> EQL with neural
# guidance), from tune_configs/insight_pong.yaml with a budget preset.

#: Budget presets of table 1 (`--budget`): overrides of tune_configs/insight_pong.yaml.
#: smoke = the file's --smoke budget (a wiring check); small = ~15 min on 2 busy cores;
#: 2h = sized to fit about 2 hours on 2 cores (not a converged run: INSIGHT trains 10M steps).
BUDGETS: dict[str, tuple[bool, list[str]]] = {
    "smoke": (True, ["stages.symbolic.eval_episodes=2", "stages.evaluate.episodes=2"]),
    "small": (False, [
        "stages.teacher.max_iterations=3", "stages.teacher.train_batch_size=512", "stages.teacher.minibatch_size=128",
        "stages.teacher.num_epochs=2", "stages.teacher.num_env_runners=1",
        "stages.perceive.frames=3000", "stages.perceive.shard_steps=1000", "stages.perceive.num_actors=1",
        "stages.perceive.train_steps=400", "stages.perceive.channels=[16, 32, 32]", "stages.perceive.hidden=256",
        "stages.perceive.coordinate_head=spatial_softmax",
        "stages.symbolic.max_iterations=10", "stages.symbolic.train_batch_size=512",
        "stages.symbolic.minibatch_size=128", "stages.symbolic.num_epochs=2", "stages.symbolic.num_env_runners=1",
        "stages.symbolic.head_hidden=128", "stages.symbolic.cnn_batch_size=16", "stages.symbolic.eql_eval_every=5",
        "stages.symbolic.eval_episodes=10", "stages.symbolic.eval_max_steps=3000", "stages.symbolic.video_steps=200",
        "stages.evaluate.episodes=10",
    ]),
    # Every minute goes to INSIGHT's PPO: random play records the frames (INSIGHT's Pong objects are all on
    # screen whatever the agent does), so the teacher trains a single iteration, kept only because evaluate
    # plays a teacher beside the formulas. The 8 envs sit on two half-CPU EnvRunners, and the learner takes
    # both cores while they wait (PPO samples, then updates).
    "2h": (False, [
        "resources.cpus_per_actor=0.5", "resources.learner_threads=2",
        "stages.teacher.max_iterations=1", "stages.teacher.num_env_runners=1",
        "stages.perceive.policy=random", "stages.perceive.frames=30000", "stages.perceive.num_actors=2",
        # The CNN at a quarter of INSIGHT's widths: 3.0 s per 1024-step iteration against 5.8 s at
        # [16, 32, 32] / 512, and after 500 pre-training steps its coordinate MAE is as good (0.031 / 0.036).
        "stages.perceive.train_steps=3000", "stages.perceive.channels=[8, 16, 16]", "stages.perceive.hidden=256",
        # 5.8 s per iteration measured here in session 19 (3.0-3.6 s on session 18's machine): 1100 fit in 2 hours.
        "stages.symbolic.max_iterations=1100", "stages.symbolic.num_env_runners=2",
        "stages.symbolic.num_envs_per_env_runner=4", "stages.symbolic.head_hidden=256",
        # The EQL's gradient stays out of the CNN: with INSIGHT's whole gradient, 30 iterations took the
        # coordinate MAE from 0.036 to 0.19 (0.046 without), and formulas on wrong coordinates mislead.
        "stages.symbolic.eql_cnn_gradient=0",
        # The EQL's own Adam at a constant 1e-2: PPO's annealed 2.5e-4 reaches few enough EQL steps here that,
        # on raw coordinates, the EQL stayed on the neural actor's majority action.
        "stages.symbolic.eql_lr=0.01",
        # DAgger during training: after iteration 275 (the neural actor won 18-20 from ~150 on) the EQL actor
        # plays 2 of each EnvRunner's 4 envs and learns the states its own mistakes reach. Session 21, the whole
        # preset: the EQL refitted offline at the end won 19.9 ± 0.3 over 10 fresh games (every DAgger round
        # 19.5-19.9, held-out agreement 0.968); without this (session 20) 11.0 at best, agreement 0.771.
        "stages.symbolic.eql_acting_envs=2", "stages.symbolic.eql_acting_from=0.25",
        "stages.symbolic.eql_eval_every=100", "stages.symbolic.checkpoint_every=100",
        "stages.symbolic.eval_episodes=10", "stages.symbolic.video_steps=500",
        "stages.evaluate.episodes=10",
    ]),
}


def random_play(episodes: int, max_steps: int, seed: int = 0) -> float:
    """Mean raw return of uniformly random actions on the evaluation env (no episodic life)."""
    from nsrl_ray.envs.atari.pixel import make_pixel_env

    env = make_pixel_env("Pong", training=False)
    rng = np.random.default_rng(seed)
    returns = []
    try:
        for episode in range(episodes):
            env.reset(seed=seed + episode)
            total = 0.0
            for _ in range(max_steps):
                _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
                total += float(reward)
                if terminated or truncated:
                    break
            returns.append(total)
    finally:
        env.close()
    return float(np.mean(returns))


def insight_table(budget: str, storage: Path, extra: list[str] = ()) -> dict[str, float]:
    """Train Pong with the budget preset (then `extra` overrides); return table 1's row (neural / EQL actor
    returns, random, MAE, steps, time)."""
    from nsrl_ray.config.experiment_file import load_experiment
    from nsrl_ray.pipeline.runner import run_experiment

    smoke, overrides = BUDGETS[budget]
    config = load_experiment(REPO_ROOT / "tune_configs" / "insight_pong.yaml", [*overrides, *extra], smoke=smoke)
    config = config.replace(storage_path=str(storage), name=f"bench_insight_{budget}")
    started = time.perf_counter()
    summary = run_experiment(config)
    wall = time.perf_counter() - started
    [trial] = summary.trials
    if trial.error:
        raise RuntimeError(f"the INSIGHT run failed: {trial.error}")
    results = json.loads((trial.artifacts / "stage_results.json").read_text())
    symbolic, perceive = results["symbolic"], results["perceive"]
    card = json.loads((trial.artifacts / "policy.json").read_text())
    return {
        "neural": symbolic["neural_return_mean"], "eql": symbolic["eql_return_mean"],
        "eql_refit": symbolic.get("eql_refit_return_mean", float("nan")),
        "episodes": symbolic["eval_episodes"], "formula": results["evaluate"]["return_mean"],
        "random": random_play(symbolic["eval_episodes"], config.stages.symbolic.eval_max_steps),
        "mae_pretrained": perceive["mae"], "mae_final": symbolic["perception_mae"],
        "mae_formula_objects": symbolic.get("perception_mae_formula_objects", float("nan")),
        "insight_steps": symbolic["env_steps"], "teacher_steps": int(trial.metrics.get("teacher/env_steps", 0)),
        "frames": perceive["samples"], "wall_s": wall, "formulas": {a["name"]: a.get("display", a["formula"]) for a in card["actions"]},
        "times": {name: r["wall_s"] for name, r in results.items()},
    }


def print_insight_table(budget: str, row: dict[str, float]) -> None:
    print(f"## INSIGHT on Pong, trained here (budget `{budget}`, {os.cpu_count()} CPUs)\n")
    print("| neural actor | EQL actor | EQL actor refit offline | EQL formulas (evaluate stage) | random play "
          "| coordinate MAE: pre-trained / final / formula objects "
          "| env steps: teacher + INSIGHT PPO (+ labelled frames) | wall time |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {row['neural']:.1f} | {row['eql']:.1f} | {row['eql_refit']:.1f} | {row['formula']:.1f} | {row['random']:.1f} "
          f"| {row['mae_pretrained']:.4f} / {row['mae_final']:.4f} / {row['mae_formula_objects']:.4f} "
          f"| {row['teacher_steps']:,} + {row['insight_steps']:,} (+ {row['frames']:,}) | {row['wall_s'] / 60:.1f} min |")
    print(f"\nreturns: mean of {row['episodes']} greedy episodes (the EQL actor and the neural actor on the same seeds; "
          "the EQL actor refit offline, the one the formulas are read off, on the seeds after its DAgger rounds'); "
          "MAE in normalised screen units on the held-out frames. INSIGHT's figures: random -20.3, neural 20.7, EQL 20.8, "
          "MAE x100 1.4.")
    print("stage wall time: " + ", ".join(f"{k} {v:.0f}s" for k, v in row["times"].items()))
    print("\nformulas (one logit per action):")
    for name, formula in row["formulas"].items():
        print(f"    {name} = {formula}")
    print()


# --------------------------------------------------------------------------------------------------
# Table 3: how the formulas are read off a trained module (`--table refit --run ARTIFACTS`): INSIGHT's plain
# pruning beside pruning + refitting the kept weights, both played from frames like the evaluate stage does.


def _formula_actor(module, formulas, action_names):
    """An actor for `play_actor`: the formulas (as the card holds them) on the module's perceived features."""
    from nsrl_ray.symbolic.formula_policy import FormulaPolicy

    policy = FormulaPolicy(module.feature_names, formulas, action_names)
    return lambda outputs: int(policy.act(outputs["features"].numpy().astype(np.float64))[0])


def refit_table(artifacts: Path, episodes: int, refit_steps: tuple[int, ...], max_steps: int | None = None,
                rounds: int = 1, eql_refit_steps: int = 3000, max_weights: int | None = None) -> tuple[list[dict], dict]:
    """Rows of table 3 from a finished INSIGHT run's artifacts: the neural and EQL actors, the EQL actor refitted
    offline, then the formulas read off the jointly trained EQL per refit budget (0 = INSIGHT's plain pruning)
    and off the refitted EQL (with `rounds` > 1 also with that many DAgger rounds; last, pruned in halvings as
    the stage does), each layer keeping `max_weights` (default: the stage's), each played for `episodes` games on
    the evaluate stage's seeds. Also returns what every row shares: the recorded states, the actions."""
    import torch
    from ray.rllib.core.rl_module.rl_module import RLModule

    from nsrl_ray.config.schema import InsightSettings
    from nsrl_ray.pipeline.seeding import episode_seeds
    from nsrl_ray.pipeline.stages.perceive import validation_split
    from nsrl_ray.pipeline.stages.symbolic_insight import _formula_agreement
    from nsrl_ray.rl_modules.insight_export import (
        RefitSettings,
        distillation_data,
        eql_actor,
        export_eql,
        refit_on_states,
        student_games,
    )
    from nsrl_ray.rl_modules.insight_rollout import play_actor
    from nsrl_ray.symbolic.expression import complexity

    torch.set_num_threads(1)
    card = json.loads((artifacts / "policy.json").read_text())
    module = RLModule.from_checkpoint(str((artifacts / card["provenance"]["module"]).resolve()))
    module.eval()
    defaults = InsightSettings()
    threshold = float(card["provenance"].get("prune_threshold", defaults.prune_threshold))
    max_weights = max_weights or defaults.export_max_weights
    action_names = tuple(a["name"] for a in card["actions"])
    max_steps = max_steps or defaults.eval_max_steps
    record_seeds = episode_seeds(0, "symbolic", episodes)  # the states the stage records (trial seed 0)
    play_seeds = episode_seeds(0, "evaluate", episodes)  # the games the evaluate stage plays
    rows, recorded = [], []
    for actor in ("neural", "eql"):
        recorded.append(play_actor(module, "Pong", actor, record_seeds, max_steps, record=True))
        played = play_actor(module, "Pong", actor, play_seeds, max_steps)
        rows.append({"what": f"{actor} actor (network)", "returns": played.returns})
    data = distillation_data(recorded)
    _, validation = validation_split(artifacts, 0.2)
    # DAgger rounds play the formulas on the seeds after the recorded ones, as the stage does.
    play_student = student_games(module, "Pong", episode_seeds(0, "symbolic", episodes * (1 + rounds))[episodes:],
                                 episodes, max_steps)

    # The EQL actor refitted offline (unpruned), as the stage does before reading the formulas off it.
    refitted = copy.deepcopy(module.eql)
    refit_metrics = refit_on_states(module, refitted, data, RefitSettings(steps=eql_refit_steps, rounds=rounds), play_student)
    played = play_actor(module, "Pong", eql_actor(module, refitted), play_seeds, max_steps)
    rows.append({"what": f"eql actor refit offline ({eql_refit_steps} steps × {rounds} rounds)", "returns": played.returns,
                 "agreement_recorded": refit_metrics.get("agreement", float("nan"))})
    exports = [("jointly trained EQL", module.eql, steps, 1, False) for steps in refit_steps]
    exports += [("refitted EQL", refitted, refit_steps[-1], r, False) for r in sorted({1, rounds})]
    if refit_steps[-1] > 0:
        exports.append(("refitted EQL", refitted, refit_steps[-1], rounds, True))
    for source_name, source, steps, rounds_, gradual in exports:
        started = time.perf_counter()
        exported = export_eql(module, threshold, max_weights, defaults.formula_digits, data,
                              RefitSettings(steps=max(steps, 0), rounds=rounds_), play_student, source=source,
                              gradual=gradual)
        export_s = time.perf_counter() - started
        agreement = _formula_agreement(module, exported.eql, validation.frames)
        played = play_actor(module, "Pong", _formula_actor(module, exported.formulas, action_names), play_seeds, max_steps)
        how = ("pruned in halvings" if gradual else "pruned") + (f" to {max_weights} a layer" if max_weights else "")
        how += "" if steps == 0 else f" + refit {steps} steps" + (f" × {rounds_} rounds" if rounds_ > 1 else "")
        rows.append({
            "what": f"formulas of the {source_name}, {how}",
            "returns": played.returns, "complexity": sum(complexity(f) for f in exported.formulas),
            "agreement_recorded": exported.metrics.get("refit_agreement" if steps > 0 else "refit_agreement_before",
                                                       float("nan")),
            "agreement_frames": agreement.get("formula_agreement_neural", float("nan")), "export_s": export_s,
            "formulas": exported.formulas,
        })
    rows.append({"what": "random play", "returns": [random_play(1, max_steps, seed) for seed in play_seeds]})
    return rows, {"states": len(data[0]), "actions": action_names}


def print_refit_table(artifacts: Path, rows: list[dict], shared: dict) -> None:
    from nsrl_ray.symbolic.text import to_display_text

    n = len(rows[0]["returns"])
    print(f"## Reading the formulas off a trained INSIGHT module ({artifacts})\n")
    print("| policy | return (mean ± std) | size (nodes) | agrees with the neural actor: held-out recorded states "
          "| … random-play frames | export time |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        r = np.asarray(row["returns"], dtype=float)
        size = f"{row['complexity']}" if "complexity" in row else ""
        rec = f"{row['agreement_recorded']:.3f}" if "agreement_recorded" in row else ""
        frames = f"{row['agreement_frames']:.3f}" if "agreement_frames" in row else ""
        took = f"{row['export_s']:.1f} s" if "export_s" in row else ""
        print(f"| {row['what']} | {r.mean():.1f} ± {r.std():.1f} | {size} | {rec} | {frames} | {took} |")
    print(f"\nreturns: {n} greedy games on the evaluate stage's seeds; recorded states: both actors' games on the "
          f"symbolic stage's seeds ({shared['states']:,} states, the last 20 % held out of the refit; DAgger rounds "
          "add the formulas' own games on further seeds); random-play frames: the perceive stage's held-out 20 %.")
    for row in rows:
        if "formulas" in row:
            print(f"\n{row['what']}:")
            for name, formula in zip(shared["actions"], row["formulas"]):
                print(f"    {name} = {to_display_text(formula)}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per environment")
    parser.add_argument("--batches", type=int, default=50, help="CNN batches of 32 stacks")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, to check the wiring")
    parser.add_argument("--table", choices=("1", "2", "all", "refit"), default="2",
                        help="1: INSIGHT trained on Pong here (returns, MAE, steps, time); 2: throughput (default); "
                             "all: both; refit: formulas read off a finished run (--run) with and without the refit")
    parser.add_argument("--run", type=Path, default=None, help="table refit: a finished INSIGHT trial's artifacts folder")
    parser.add_argument("--episodes", type=int, default=10, help="table refit: games per policy")
    parser.add_argument("--refit-rounds", type=int, default=4,
                        help="table refit: DAgger rounds of the offline EQL refit and of one more export (1: none)")
    parser.add_argument("--eql-refit-steps", type=int, default=3000,
                        help="table refit: Adam steps per round of the EQL actor's offline refit")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="table refit: agent steps per game at most (default: the stage's eval_max_steps)")
    parser.add_argument("--max-weights", type=int, default=None,
                        help="table refit: weights each layer of the formulas keeps (default: the stage's export_max_weights)")
    parser.add_argument("--refit-steps", type=int, nargs="+", default=[0, 2000],
                        help="table refit: refit budgets to compare (0: INSIGHT's plain pruning)")
    parser.add_argument("--budget", choices=tuple(BUDGETS), default=None,
                        help="table 1's training budget (default: smoke with --smoke, else 2h)")
    parser.add_argument("--storage", type=Path, default=REPO_ROOT / "nsrl_results", help="table 1's run folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="table 1: an override on top of the budget preset (repeatable), e.g. stages.symbolic.max_iterations=20")
    args = parser.parse_args(argv)
    if args.table == "refit":
        if args.run is None or not (args.run / "policy.json").is_file():
            parser.error(f"--table refit needs --run ARTIFACTS, the artifacts folder of a finished INSIGHT trial "
                         f"(with policy.json and insight_module/); got {args.run}.")
        episodes, max_steps = (2, 300) if args.smoke else (args.episodes, args.max_steps)
        print_refit_table(args.run, *refit_table(args.run, episodes, tuple(args.refit_steps), max_steps,
                                                 args.refit_rounds, args.eql_refit_steps, args.max_weights))
        return 0
    if args.table in ("1", "all"):
        budget = args.budget or ("smoke" if args.smoke else "2h")
        print_insight_table(budget, insight_table(budget, args.storage, args.overrides))
        if args.table == "1":
            return 0
    steps, batches, rounds = (400, 2, 2) if args.smoke else (args.steps, args.batches, 4)
    warnings.filterwarnings("ignore", category=RuntimeWarning)

    envs = env_throughput(steps, rounds)
    raw = next(v for k, v in envs.items() if k.startswith("raw"))
    print(f"## Throughput ({steps} random-action env steps each, {os.cpu_count()} CPUs, OMP_NUM_THREADS=1)\n")
    print("| what | steps/s | relative to raw ale-py |")
    print("|---|---:|---:|")
    for name, rate in envs.items():
        print(f"| {name} | {rate:,.0f} | {rate / raw:.2f} |")
    for name, rate in cnn_throughput(batches).items():
        print(f"| perception CNN, {name}: frames/s (batch 32, inference) | {rate:,.0f} | |")
    obj = next(v for k, v in envs.items() if k.startswith("object"))
    print(f"\nobject-centric / raw ale-py Pong = {obj / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
