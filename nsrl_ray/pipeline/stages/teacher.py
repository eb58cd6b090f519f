"""Stage `teacher`: train a neural policy with RLlib PPO (or Rainbow-lite DQN, or CEM) and save its RLModule."""

from __future__ import annotations

import shutil
import time

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES_LIFETIME,
)

from nsrl_ray.config import TeacherSettings
from nsrl_ray.envs import get_env_spec
from nsrl_ray.pipeline.context import TEACHER_ALGO, TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.rllib_env import rllib_env_name
from nsrl_ray.pipeline.seeding import stage_seed

_LEARNER_METRICS = ("policy_loss", "vf_loss", "entropy", "qf_loss", "qf_mean")


def build_ppo_config(
    env: str, settings: TeacherSettings, seed: int, cpus_per_actor: float, gpus_per_learner: float = 0.0
) -> PPOConfig:
    """The RLlib PPOConfig for a teacher; kept separate so tests and benchmarks build the same one."""
    hidden = list(settings.hidden_sizes)
    pixels = settings.model != "mlp"
    if pixels:
        from nsrl_ray.rl_modules.ife_algos import pixel_module_spec, rllib_pixel_env
    config = (
        PPOConfig()
        .environment(rllib_pixel_env(env) if pixels else rllib_env_name(env))
        .env_runners(
            num_env_runners=settings.num_env_runners,
            num_cpus_per_env_runner=cpus_per_actor,
            num_envs_per_env_runner=settings.num_envs_per_env_runner,
        )
        .learners(num_learners=0, num_gpus_per_learner=gpus_per_learner)  # the learner is the trial process
        .training(
            lr=settings.lr,
            gamma=settings.gamma,
            train_batch_size_per_learner=settings.train_batch_size,
            minibatch_size=settings.minibatch_size,
            num_epochs=settings.num_epochs,
            vf_loss_coeff=settings.vf_loss_coeff,
            lambda_=settings.gae_lambda,
            entropy_coeff=settings.entropy_coeff,
            clip_param=settings.clip_param,
            vf_clip_param=settings.vf_clip_param,
            grad_clip=settings.grad_clip,
            use_kl_loss=settings.use_kl_loss,
        )
        .debugging(seed=seed, log_level="ERROR")
    )
    if pixels:
        return config.rl_module(rl_module_spec=pixel_module_spec(settings.model))
    model_config = DefaultModelConfig(fcnet_hiddens=hidden, head_fcnet_hiddens=[], vf_share_layers=settings.vf_share_layers)
    if settings.scale_observations:
        from nsrl_ray.envs.observation_bounds import observation_scaling
        from nsrl_ray.rl_modules.scaled_obs_ppo import scaled_obs_module_spec

        return config.rl_module(rl_module_spec=scaled_obs_module_spec(model_config, *observation_scaling(env)))
    return config.rl_module(model_config=model_config)


def build_dqn_config(env: str, settings: TeacherSettings, seed: int, cpus_per_actor: float,
                     gpus_per_learner: float = 0.0) -> AlgorithmConfig:
    """Rainbow-lite DQN (`algorithm: DQN`): IFE's Q-network on a pixel env, or RLlib's MLP on feature vectors."""
    dqn = settings.dqn
    shared = dict(
        seed=seed, lr=settings.lr, train_batch_size=settings.train_batch_size, n_step=dqn.n_step,
        epsilon_steps=dqn.epsilon_steps, final_epsilon=dqn.final_epsilon, learning_starts=dqn.learning_starts,
        target_update=dqn.target_update,
        num_env_runners=settings.num_env_runners, num_envs_per_env_runner=settings.num_envs_per_env_runner,
    )
    if settings.model == "ife":
        from nsrl_ray.rl_modules.ife_algos import ife_dqn_config

        config = ife_dqn_config(env, capacity=dqn.replay_capacity, **shared)
    else:
        from nsrl_ray.pipeline.rainbow_lite import rainbow_lite_config

        config = rainbow_lite_config(
            rllib_env_name(env), capacity=dqn.replay_capacity, **shared
        ).rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(settings.hidden_sizes), head_fcnet_hiddens=[]))
    return (
        config.env_runners(num_cpus_per_env_runner=cpus_per_actor)
        .learners(num_learners=0, num_gpus_per_learner=gpus_per_learner)
        .training(gamma=settings.gamma, grad_clip=settings.grad_clip)
        .reporting(min_sample_timesteps_per_iteration=dqn.steps_per_iteration)
    )


def build_teacher_config(env: str, settings: TeacherSettings, seed: int, cpus_per_actor: float,
                         gpus_per_learner: float = 0.0) -> AlgorithmConfig:
    """The RLlib config of the teacher's algorithm (PPO or DQN; a CEM teacher searches the PPO module's weights)."""
    build = build_dqn_config if settings.algorithm == "DQN" else build_ppo_config
    return build(env, settings, seed, cpus_per_actor, gpus_per_learner)


def save_attention_video(ctx: StageContext, module: object) -> dict:
    """model ife: a greedy rollout with the attention mask over the screen, as a gif and in TensorBoard."""
    from nsrl_ray.rl_modules.ife_envs import pixel_game
    from nsrl_ray.rl_modules.ife_rollout import save_attention_video as save

    settings = ctx.config.stages.teacher
    # Kept in the stage's results (stage_results.json), not reported: teacher reports are training iterations.
    return save(module, pixel_game(ctx.config.env), ctx.path("attention"), settings.attention_video_steps,
                stage_seed(ctx.seed, "evaluate"))  # an evaluation-like rollout


def checkpoint_interval(ctx: StageContext) -> int:
    """Teacher iterations between checkpoints: PBT's perturbation interval, else the stage setting."""
    search = ctx.config.stages.teacher and ctx.config.search
    if search and search.scheduler == "pbt":
        return search.perturbation_interval
    return ctx.config.stages.teacher.checkpoint_every


def run_teacher(ctx: StageContext) -> dict:
    """Train until the return target or the iteration budget, report each iteration, save the module."""
    settings = ctx.config.stages.teacher
    assert settings is not None  # the trial runs only enabled stages
    if settings.algorithm == "CEM":
        from nsrl_ray.pipeline.cem_teacher import run_cem_teacher

        return run_cem_teacher(ctx)
    spec = get_env_spec(ctx.config.env)
    target = settings.stop_return if settings.stop_return is not None else spec.solved_return
    resources = ctx.config.resources
    config = build_teacher_config(
        ctx.config.env, settings, stage_seed(ctx.seed, "teacher"), resources.cpus_per_actor, resources.gpus_per_trial
    )
    algo = config.build_algo()
    started = time.perf_counter()
    return_mean = float("nan")
    algo_path = ctx.path(TEACHER_ALGO)
    first = 1
    position = ctx.resume_position("teacher")
    if position is not None:  # restored from a checkpoint taken inside this stage
        algo.restore_from_path(str(algo_path))
        first = int(position["iteration"]) + 1
    every = checkpoint_interval(ctx)
    try:
        for iteration in range(first, settings.max_iterations + 1):
            result = algo.train()
            runners = result.get(ENV_RUNNER_RESULTS, {})
            return_mean = float(runners.get(EPISODE_RETURN_MEAN, float("nan")))
            metrics = {
                "return_mean": return_mean,
                "episode_len_mean": float(runners.get(EPISODE_LEN_MEAN, float("nan"))),
                "env_steps": int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
                "episodes": int(runners.get(NUM_EPISODES_LIFETIME, 0)),  # env episodes spent (budget accounting)
                "iteration": iteration,
                "max_iterations": settings.max_iterations,
                "time_s": time.perf_counter() - started,
            }
            learner = result.get(LEARNER_RESULTS, {}).get("default_policy", {})
            metrics.update({name: float(learner[name]) for name in _LEARNER_METRICS if name in learner})
            if target is not None and return_mean >= target:
                ctx.report("teacher", metrics)
                break
            if every and iteration % every == 0 and iteration < settings.max_iterations:
                algo.save_to_path(str(algo_path))
                ctx.report("teacher", metrics, checkpoint={"iteration": iteration})
            else:
                ctx.report("teacher", metrics)
        module_path = ctx.path(TEACHER_MODULE)
        algo.get_module().save_to_path(str(module_path))
        video = save_attention_video(ctx, algo.get_module()) if settings.model == "ife" and settings.attention_video_steps else {}
    finally:
        algo.stop()
    # The module is what later stages use; the training state would only bloat every checkpoint.
    shutil.rmtree(algo_path, ignore_errors=True)
    return {"return_mean": return_mean, "time_s": time.perf_counter() - started, "module": str(module_path),
            "episodes": metrics["episodes"] if first <= settings.max_iterations else 0, **video}
