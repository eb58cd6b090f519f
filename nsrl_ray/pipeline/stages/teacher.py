"""Stage `teacher`: train a neural policy with RLlib PPO (new API stack) and save its RLModule."""

from __future__ import annotations

import time

from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)

from nsrl_ray.config import TeacherSettings
from nsrl_ray.envs import get_env_spec
from nsrl_ray.pipeline.context import TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.rllib_env import rllib_env_name
from nsrl_ray.pipeline.seeding import stage_seed

_LEARNER_METRICS = ("policy_loss", "vf_loss", "entropy")


def build_ppo_config(env: str, settings: TeacherSettings, seed: int, cpus_per_actor: float) -> PPOConfig:
    """The RLlib PPOConfig for a teacher; kept separate so tests and benchmarks build the same one."""
    hidden = list(settings.hidden_sizes)
    return (
        PPOConfig()
        .environment(rllib_env_name(env))
        .env_runners(num_env_runners=settings.num_env_runners, num_cpus_per_env_runner=cpus_per_actor)
        .learners(num_learners=0)
        .training(
            lr=settings.lr,
            gamma=settings.gamma,
            train_batch_size_per_learner=settings.train_batch_size,
            minibatch_size=settings.minibatch_size,
            num_epochs=settings.num_epochs,
            vf_loss_coeff=settings.vf_loss_coeff,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=hidden, head_fcnet_hiddens=[]))
        .debugging(seed=seed, log_level="ERROR")
    )


def run_teacher(ctx: StageContext) -> dict:
    """Train until the return target or the iteration budget, report each iteration, save the module."""
    settings = ctx.config.stages.teacher
    assert settings is not None  # the trial runs only enabled stages
    spec = get_env_spec(ctx.config.env)
    target = settings.stop_return if settings.stop_return is not None else spec.solved_return
    config = build_ppo_config(
        ctx.config.env, settings, stage_seed(ctx.seed, "teacher"), ctx.config.resources.cpus_per_actor
    )
    algo = config.build_algo()
    started = time.perf_counter()
    return_mean = float("nan")
    try:
        for iteration in range(1, settings.max_iterations + 1):
            result = algo.train()
            runners = result.get(ENV_RUNNER_RESULTS, {})
            return_mean = float(runners.get(EPISODE_RETURN_MEAN, float("nan")))
            metrics = {
                "return_mean": return_mean,
                "episode_len_mean": float(runners.get(EPISODE_LEN_MEAN, float("nan"))),
                "env_steps": int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
                "iteration": iteration,
                "max_iterations": settings.max_iterations,
                "time_s": time.perf_counter() - started,
            }
            learner = result.get(LEARNER_RESULTS, {}).get("default_policy", {})
            metrics.update({name: float(learner[name]) for name in _LEARNER_METRICS if name in learner})
            ctx.report("teacher", metrics)
            if target is not None and return_mean >= target:
                break
        module_path = ctx.path(TEACHER_MODULE)
        algo.get_module().save_to_path(str(module_path))
    finally:
        algo.stop()
    return {"return_mean": return_mean, "time_s": time.perf_counter() - started, "module": str(module_path)}
