"""IFE benchmark: does the attention find the objects, how well does the agent play, how fast is the module.

    python scripts/bench_ife.py train --game Boxing --model ife --small --minutes 52 --episodes 10 --out runs/ife_boxing
    python scripts/bench_ife.py bench --games Boxing Assault SpaceInvaders \
        [--module Boxing:ife=runs/ife_boxing/module --module Boxing:nature_cnn=runs/cnn_boxing/module]
    python scripts/bench_ife.py bench --smoke        # seconds: tiny budgets, the wiring only

`train` runs RLlib PPO (the teacher stage's own config builder) on `<Game>Pixels-v0` for a
wall-clock budget, saving the module as it goes, then plays evaluation games (actions sampled from
the policy: a greedy PPO policy can stall) and random play, and writes a greedy attention-overlay gif. `bench` prints one table per game: return, attention
mass in OCAtari object boxes ÷ the boxes' screen share, pointing-game hit rate — for IFE's own
mask and for the plain Nature CNN's gradient saliency on the same frames (pooled to the same
14×14 grid) — and the forward-pass frames/s of both modules (batch 32, CPU, one thread).
Games without a given module get one trained for `--train-minutes` here (0: untrained).
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
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nsrl_ray.config.schema import TeacherSettings  # noqa: E402

#: INSIGHT's Atari PPO settings (8 envs, 128 steps each per update). On a 2-core machine the 8 envs
#: sit on two EnvRunners of half a CPU each: both cores sample while the learner waits (2.1 s instead
#: of 4.3 s per 1024 steps), and the learner has a core of its own while they wait.
PPO_SETTINGS = dict(train_batch_size=1024, minibatch_size=256, num_epochs=4, lr=2.5e-4, gamma=0.99, gae_lambda=0.95,
                    clip_param=0.1, entropy_coeff=0.01, vf_loss_coeff=0.5, vf_clip_param=10.0, grad_clip=0.5,
                    num_env_runners=2, num_envs_per_env_runner=4, checkpoint_every=0, attention_video_steps=0)
CPUS_PER_ENV_RUNNER = 0.5
#: A CPU-sized IFE: the paper's layers with m = 1 (16, 32, 32 channels) and a 128-wide attention scorer.
SMALL_IFE = {"width": 1, "attention_hidden": 128}
SMOKE_PPO = dict(PPO_SETTINGS, train_batch_size=64, minibatch_size=32, num_epochs=1, num_envs_per_env_runner=1,
                 num_env_runners=0)


def _ray_init() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})


def _learner_diagnostics(result: dict) -> dict:
    """Policy entropy, value explained variance and KL of one PPO iteration (NaN where RLlib did not report them)."""
    stats = result.get("learners", {}).get("default_policy", {})
    keys = {"entropy": "entropy", "vf_explained_var": "vf_explained_var", "kl": "mean_kl_loss"}
    return {name: round(float(stats.get(key, float("nan"))), 4) for name, key in keys.items()}


def train(game: str, model: str, minutes: float, out: Path, seed: int = 0, smoke: bool = False,
          max_iterations: int | None = None, model_config: dict | None = None, lr: float | None = None,
          kl_loss: bool = True, learner_threads: int = 1, log=print) -> Path:
    """PPO for a wall-clock budget; the module is saved every few iterations and at the end. Returns its folder.

    learner_threads: torch threads of the learner (this process). PPO here samples, then updates, so the
    EnvRunners' cores sit idle during the update and a second learner thread costs them nothing."""
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config
    from nsrl_ray.rl_modules.ife_algos import pixel_module_spec
    from nsrl_ray.rl_modules.ife_envs import ensure_pixel_env

    env_name = f"{game}Pixels-v0"
    ensure_pixel_env(env_name)
    ppo = dict(SMOKE_PPO if smoke else PPO_SETTINGS, use_kl_loss=kl_loss, **({"lr": lr} if lr else {}))
    settings = TeacherSettings(model=model, max_iterations=max_iterations or 1_000_000, **ppo)
    _ray_init()
    config = build_ppo_config(env_name, settings, seed=seed, cpus_per_actor=1.0 if smoke else CPUS_PER_ENV_RUNNER)
    if model_config:
        config = config.rl_module(rl_module_spec=pixel_module_spec(model, model_config))
    algo = config.build_algo()
    out = out.resolve()  # RLlib's save_to_path wants an absolute path (or a URI)
    out.mkdir(parents=True, exist_ok=True)
    module_path = out / "module"
    deadline = time.monotonic() + 60.0 * minutes
    started = time.perf_counter()
    rows = []
    torch.set_num_threads(learner_threads)
    try:
        iteration = 0
        while time.monotonic() < deadline and iteration < settings.max_iterations:
            iteration += 1
            result = algo.train()
            runners = result.get("env_runners", {})
            row = {"iteration": iteration, "env_steps": int(runners.get("num_env_steps_sampled_lifetime", 0)),
                   "return_mean": float(runners.get("episode_return_mean", float("nan"))),
                   "time_s": round(time.perf_counter() - started, 1),
                   # where an iteration's time goes: sampling (EnvRunner) or the PPO update (learner)
                   "sample_s": round(float(result.get("timers", {}).get("env_runner_sampling_timer", float("nan"))), 2),
                   "learn_s": round(float(result.get("timers", {}).get("learner_update_timer", float("nan"))), 2),
                   # is PPO learning at all? (a value function at 0.000 explained variance and a flat
                   # entropy are how the default-init encoders showed they ignored the screen)
                   **_learner_diagnostics(result)}
            rows.append(row)
            log(json.dumps(row))
            if iteration % 10 == 0:
                algo.get_module().save_to_path(str(module_path))
                (out / "progress.json").write_text(json.dumps(rows, indent=1))
        algo.get_module().save_to_path(str(module_path))
        (out / "progress.json").write_text(json.dumps(rows, indent=1))
    finally:
        torch.set_num_threads(1)
        algo.stop()
    return module_path


def play(game: str, act, episodes: int, seed: int, max_steps: int = 27_000) -> list[float]:
    """Raw game returns (no reward clipping, whole games) of an action function (one obs -> action)."""
    from nsrl_ray.rl_modules.ife_envs import make_ife_pixel_env

    env = make_ife_pixel_env(game, training=False)
    returns = []
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            total = 0.0
            for _ in range(max_steps):
                obs, reward, terminated, truncated, _ = env.step(int(act(obs)))
                total += float(reward)
                if terminated or truncated:
                    break
            returns.append(total)
    finally:
        env.close()
    return returns


def policy_of(module, seed: int, greedy: bool = False):
    """One obs -> action of a module; sampled by default (a greedy PPO policy can stall in a loop)."""
    from nsrl_ray.rl_modules.ife_rollout import module_actions

    rng = np.random.default_rng(seed)
    return lambda obs: int(module_actions(module, np.asarray(obs)[None], greedy=greedy, rng=rng)[0])


def random_policy(n_actions: int, seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(n_actions))


def better_than_random(trained: list[float], random: list[float]) -> dict:
    """How clearly the trained returns beat random play: the gap, its 95 % interval (Welch) and the one-sided p."""
    from scipy import stats

    a, b = np.asarray(trained, float), np.asarray(random, float)
    gap = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"gap": gap}
    test = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return {"gap": gap, "gap_ci95": [float(low), float(high)], "p_better": float(test.pvalue)}


def evaluate(game: str, module_path: Path, episodes: int, seed: int, video_steps: int, out: Path, log=print) -> dict:
    """Returns of the trained module and of random play, and the overlay gif of a rollout."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    from nsrl_ray.rl_modules.ife_envs import ife_game
    from nsrl_ray.rl_modules.ife_rollout import save_attention_video

    module = RLModule.from_checkpoint(str(Path(module_path).resolve()))
    module.eval()
    trained = play(game, policy_of(module, seed), episodes, seed)
    random = play(game, random_policy(len(ife_game(game).actions), seed), episodes, seed)
    summary = {"game": game, "episodes": episodes, "return_mean": float(np.mean(trained)), "return_std": float(np.std(trained)),
               "returns": trained, "random_return_mean": float(np.mean(random)), "random_returns": random,
               **better_than_random(trained, random)}
    if video_steps and hasattr(module.encoder, "attention"):
        summary.update(save_attention_video(module, game, out / "attention", video_steps, seed))
    (out / "evaluation.json").write_text(json.dumps(summary, indent=1))
    log(json.dumps(summary))
    return summary



#: The modules whose forward pass is timed: IFE at the paper's size and at the CPU size, and the Nature CNN.
FPS_MODULES = {"ife": ("ife", None), "ife_small": ("ife", SMALL_IFE), "nature_cnn": ("nature_cnn", None)}


def build_module(game: str, model: str, seed: int, model_config: dict | None = None):
    """A fresh (untrained) PPO pixel module for a game's observation and action spaces."""
    from nsrl_ray.rl_modules.ife_algos import pixel_module_spec
    from nsrl_ray.rl_modules.ife_envs import make_ife_pixel_env

    torch.manual_seed(seed)
    env = make_ife_pixel_env(game, training=False)
    spec = pixel_module_spec(model, model_config)
    spec.observation_space, spec.action_space = env.observation_space, env.action_space
    env.close()
    module = spec.build()
    module.eval()
    return module


def frames_per_second(module, passes: int, batch: int = 32) -> float:
    """Forward passes (inference) per second × batch, on random frames, CPU, one thread."""
    from ray.rllib.core.columns import Columns

    obs = torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        module.forward_inference({Columns.OBS: obs})  # warm-up
        started = time.perf_counter()
        for _ in range(passes):
            module.forward_inference({Columns.OBS: obs})
    return passes * batch / (time.perf_counter() - started)


def _logits_fn(module):
    from ray.rllib.core.columns import Columns

    return lambda x: module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS]


def bench_game(game: str, modules: dict, steps: int, episodes: int, max_steps: int, seed: int, log=print) -> dict:
    """The attention/saliency scores on one set of frames, returns of each module and of random play."""
    from nsrl_ray.explain.attention_metrics import ObjectBoxReader, gradient_saliency, pool_to_grid, record_frames, score_maps
    from nsrl_ray.rl_modules.ife_envs import ife_game, make_ife_pixel_env
    from nsrl_ray.rl_modules.ife_rollout import module_attention

    ife, cnn = modules["ife"], modules["nature_cnn"]
    env = make_ife_pixel_env(game, training=False)
    frames = record_frames(env, policy_of(ife, seed), steps, seed, ObjectBoxReader(game), keep_screens=False)
    env.close()
    obs = np.stack(frames.obs)
    maps = {
        "ife_attention": module_attention(ife, obs),
        "ife_gradient_saliency": pool_to_grid(gradient_saliency(_logits_fn(ife), obs), (14, 14)),
        "cnn_gradient_saliency": pool_to_grid(gradient_saliency(_logits_fn(cnn), obs), (14, 14)),
    }
    scores = {name: score_maps(m, frames.boxes).as_dict() for name, m in maps.items()}
    returns = {
        "ife": play(game, policy_of(ife, seed), episodes, seed, max_steps),
        "nature_cnn": play(game, policy_of(cnn, seed), episodes, seed, max_steps),
        "random": play(game, random_policy(len(ife_game(game).actions), seed), episodes, seed, max_steps),
    }
    result = {"game": game, "frames": steps, "episodes": episodes, "max_steps": max_steps, "scores": scores,
              "returns": returns, "trained": {k: getattr(m, "_bench_origin", "?") for k, m in modules.items()}}
    log(json.dumps(result))
    return result


def table(result: dict, fps: dict) -> str:
    """One markdown table for a game."""
    scores, returns, origin = result["scores"], result["returns"], result["trained"]
    mean = lambda xs: f"{np.mean(xs):.1f} ± {np.std(xs):.1f}" if xs else "n/a"
    rows = [
        ("IFE attention mask", f"ife ({origin['ife']})", mean(returns["ife"]), scores["ife_attention"]),
        ("IFE gradient saliency", f"ife ({origin['ife']})", mean(returns["ife"]), scores["ife_gradient_saliency"]),
        ("Nature CNN gradient saliency", f"nature_cnn ({origin['nature_cnn']})", mean(returns["nature_cnn"]),
         scores["cnn_gradient_saliency"]),
    ]
    lines = [f"### {result['game']}  ({result['frames']} frames scored; returns over {result['episodes']} games "
             f"of at most {result['max_steps']} steps; random play {mean(returns['random'])})", "",
             "| map | module | return | mass in boxes | box area share | mass ratio | pointing hit | chance hit |",
             "|---|---|---|---|---|---|---|---|"]
    for name, module, ret, s in rows:
        lines.append(f"| {name} | {module} | {ret} | {s['mass_in_boxes']:.3f} | {s['box_area_share']:.3f} | "
                     f"{s['mass_ratio']:.2f} | {s['pointing_hit_rate']:.2f} | {s['chance_hit_rate']:.2f} |")
    lines += ["", f"forward pass, batch 32, CPU, 1 thread: IFE (m=2, paper) {fps['ife']:.0f} frames/s, "
                  f"IFE (m=1, attention 128) {fps['ife_small']:.0f} frames/s, Nature CNN {fps['nature_cnn']:.0f} frames/s"]
    return "\n".join(lines)


def bench(games: list[str], given: dict[tuple[str, str], Path], train_minutes: float, steps: int, episodes: int,
          max_steps: int, fps_passes: int, seed: int, out: Path | None, smoke: bool = False, small: bool = False,
          log=print) -> str:
    from ray.rllib.core.rl_module.rl_module import RLModule

    fps = {name: frames_per_second(build_module(games[0], model, seed, config), fps_passes)
           for name, (model, config) in FPS_MODULES.items()}
    tables = []
    results = []
    for game in games:
        modules = {}
        for model in ("ife", "nature_cnn"):
            path = given.get((game, model))
            config = SMALL_IFE if small and model == "ife" else None
            if path is None and train_minutes > 0:
                path = train(game, model, train_minutes, (out or Path("nsrl_results/ife_bench")) / f"{game}_{model}",
                             seed=seed, smoke=smoke, model_config=config, log=lambda line: None)
            if path is None:
                module, origin = build_module(game, model, seed, config), "untrained"
            else:
                module, origin = RLModule.from_checkpoint(str(Path(path).resolve())), f"trained: {path}"
                module.eval()
            module._bench_origin = origin
            modules[model] = module
        result = bench_game(game, modules, steps, episodes, max_steps, seed, log=log)
        results.append(result)
        tables.append(table(result, fps))
    text = "\n\n".join(tables)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_ife.json").write_text(json.dumps({"fps": fps, "games": results}, indent=1, default=str))
        (out / "bench_ife.md").write_text(text + "\n")
    return text


def _module_arg(text: str) -> tuple[tuple[str, str], Path]:
    game_model, sep, path = text.partition("=")
    game, colon, model = game_model.partition(":")
    if not sep or not colon or model not in ("ife", "nature_cnn"):
        raise argparse.ArgumentTypeError(f"--module {text!r}: expected GAME:MODEL=PATH with MODEL ife or nature_cnn, "
                                         "e.g. Boxing:ife=runs/ife_boxing/module")
    return (game, model), Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="PPO on one game for a wall-clock budget, then evaluation and the overlay gif")
    t.add_argument("--game", default="Boxing")
    t.add_argument("--model", default="ife", choices=("ife", "nature_cnn"))
    t.add_argument("--minutes", type=float, default=45.0)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--episodes", type=int, default=5, help="evaluation episodes (whole games, raw score)")
    t.add_argument("--video-steps", type=int, default=600)
    t.add_argument("--max-iterations", type=int, default=None, help="stop after this many PPO iterations at most")
    t.add_argument("--lr", type=float, default=None, help="PPO learning rate (default: INSIGHT's 2.5e-4)")
    t.add_argument("--no-kl-loss", dest="kl_loss", action="store_false",
                   help="the clipped objective alone, without RLlib's adaptive KL penalty (as CleanRL trains Atari)")
    t.add_argument("--learner-threads", type=int, default=1,
                   help="torch threads of the PPO update (the EnvRunners idle meanwhile; 2 uses both cores)")
    t.add_argument("--smoke", action="store_true")
    t.add_argument("--small", action="store_true",
                   help="IFE with m = 1 and a 128-wide attention scorer (~9× cheaper on CPU; same architecture)")
    e = sub.add_parser("evaluate", help="play a trained module's games beside random play (and the overlay gif)")
    e.add_argument("--game", default="Boxing")
    e.add_argument("--module", type=Path, required=True, help="a module folder written by `train`")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=2000, help="first game seed (train evaluates from its seed + 1000)")
    e.add_argument("--video-steps", type=int, default=0)
    e.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("bench", help="the attention-vs-objects table per game, and frames/s")
    b.add_argument("--games", nargs="+", default=["Boxing", "Assault", "SpaceInvaders"])
    b.add_argument("--module", type=_module_arg, action="append", default=[], metavar="GAME:MODEL=PATH",
                   help="a trained module folder (from `train`); repeat per game and model")
    b.add_argument("--train-minutes", type=float, default=0.0, help="train missing modules this long (0: untrained)")
    b.add_argument("--frames", type=int, default=500, help="frames scored per game (rollout of the IFE module)")
    b.add_argument("--episodes", type=int, default=3)
    b.add_argument("--max-steps", type=int, default=4500, help="agent steps per game at most (4500 = 5 min of play)")
    b.add_argument("--fps-passes", type=int, default=50)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", type=Path, default=None, help="write bench_ife.json and bench_ife.md here")
    b.add_argument("--smoke", action="store_true", help="tiny budgets: checks the wiring in seconds")
    b.add_argument("--small", action="store_true", help="IFE modules built or trained here use the CPU size (m = 1)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        if args.smoke:
            args.games, args.frames, args.episodes, args.max_steps, args.fps_passes = args.games[:1], 16, 1, 30, 2
        print(bench(args.games, dict(args.module), args.train_minutes, args.frames, args.episodes, args.max_steps,
                    args.fps_passes, args.seed, args.out, smoke=args.smoke, small=args.small, log=lambda line: None))
    if args.command == "evaluate":
        args.out.mkdir(parents=True, exist_ok=True)
        evaluate(args.game, args.module, args.episodes, args.seed, args.video_steps, args.out)
    if args.command == "train":
        budget = dict(minutes=0.5, max_iterations=1) if args.smoke else dict(minutes=args.minutes,
                                                                             max_iterations=args.max_iterations)
        small = SMALL_IFE if args.small and args.model == "ife" else None
        module_path = train(args.game, args.model, out=args.out, seed=args.seed, smoke=args.smoke, model_config=small,
                            lr=args.lr, kl_loss=args.kl_loss, learner_threads=args.learner_threads, **budget)
        evaluate(args.game, module_path, 1 if args.smoke else args.episodes, args.seed + 1000,
                 20 if args.smoke else args.video_steps, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
