"""Stage `finetune`: tune the policy card's constants by PPO with soft teacher supervision (method `constants_ppo`;
`constants_cem` lives in finetune_cem.py).

The card's formulas become a `FormulaRLModule` (constants as parameters, a small value network
beside them) trained by RLlib PPO through `SupervisedPPOTorchLearner`, whose loss adds an
annealed KL to the teacher's action distribution. Every `validate_every` iterations the greedy
formulas with the current constants play the validation seeds; the best constants seen there
go back into the card, and the original formulas stay when nothing beats them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES_LIFETIME,
)

from nsrl_ray.config.schema import FinetuneSettings
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard, card_from_dict
from nsrl_ray.learners.supervised_ppo import SUPERVISION_LOSS, SUPERVISION_WEIGHT, SupervisedPPOTorchLearner
from nsrl_ray.pipeline.context import DATASET, FORMULAS, TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.rllib_env import rllib_env_name
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.pipeline.teacher_units import teacher_normalised
from nsrl_ray.rl_modules.formula_module import FormulaRLModule, formula_model_config
from nsrl_ray.search.episode_fitness import EpisodeReturnFactory
from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.text import to_display_text, to_text

_LEARNER_METRICS = ("policy_loss", "vf_loss", "entropy", SUPERVISION_LOSS, SUPERVISION_WEIGHT)
#: States used to set the initial logit scale when there is no teacher dataset.
_SCALE_STATES = 2000


def logit_scale(formulas: tuple[Expr, ...], factory: EpisodeReturnFactory, states: np.ndarray, spread: float) -> float:
    """The factor that makes the median gap between the two largest logits equal ``spread`` on ``states``."""
    logits = factory.policy(formulas).outputs(states)
    top = np.sort(logits, axis=1)
    gaps = top[:, -1] - top[:, -2]
    gaps = gaps[np.isfinite(gaps) & (gaps > 0)]
    if not len(gaps):
        return 1.0
    return float(np.clip(spread / np.median(gaps), 1e-3, 1e3))


def _states(ctx: StageContext, factory: EpisodeReturnFactory, formulas: tuple[Expr, ...], seed: int) -> np.ndarray:
    """Typical states: the teacher dataset when there is one, else the states the formula policy visits."""
    if ctx.path(DATASET).is_dir():
        from nsrl_ray.pipeline.dataset import load_dataset

        return load_dataset(ctx.path(DATASET))["obs"][:_SCALE_STATES]
    from nsrl_ray.envs import make_env

    policy = factory.policy(formulas)
    env = make_env(factory.env)
    visited = []
    try:
        obs, _ = env.reset(seed=seed)
        while len(visited) < _SCALE_STATES:
            visited.append(np.asarray(obs, dtype=np.float64))
            obs, _, terminated, truncated, _ = env.step(policy(visited[-1]))
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.asarray(visited)


def build_finetune_config(ctx: StageContext, settings: FinetuneSettings, card: PolicyCard, scale: float) -> PPOConfig:
    """RLlib PPO over the formula module, with the supervised learner."""
    spec = get_env_spec(ctx.config.env)
    continuous = spec.action_kind == "continuous"
    teacher_path, low, high = None, None, None
    if settings.supervision_weight > 0:
        teacher_path = str(ctx.path(TEACHER_MODULE))
        if continuous and teacher_normalised(ctx):
            low, high = list(card.action_low or ()), list(card.action_high or ())
    anneal_steps = settings.supervision_anneal_iterations * settings.train_batch_size
    model_config = formula_model_config(card.formulas, card.variables, settings.value_hidden, logit_scale=scale,
                                        log_std=settings.log_std)
    return (
        PPOConfig()
        # The formulas act in env units (already squashed into the bounds): no RLlib rescaling.
        .environment(rllib_env_name(ctx.config.env), normalize_actions=False, clip_actions=True)
        .env_runners(num_env_runners=settings.num_env_runners, num_cpus_per_env_runner=ctx.config.resources.cpus_per_actor)
        .learners(num_learners=0)
        .training(
            lr=settings.lr, gamma=settings.gamma, lambda_=settings.gae_lambda,
            train_batch_size_per_learner=settings.train_batch_size, minibatch_size=settings.minibatch_size,
            num_epochs=settings.num_epochs, clip_param=settings.clip_param, entropy_coeff=settings.entropy_coeff,
            vf_loss_coeff=settings.vf_loss_coeff, vf_clip_param=settings.vf_clip_param,
            learner_class=SupervisedPPOTorchLearner,
            learner_config_dict={
                "teacher_module": teacher_path, "supervision_weight": settings.supervision_weight,
                "supervision_anneal_steps": anneal_steps, "teacher_action_low": low, "teacher_action_high": high,
            },
        )
        .rl_module(rl_module_spec=RLModuleSpec(module_class=FormulaRLModule, model_config=model_config))
        .debugging(seed=stage_seed(ctx.seed, "finetune"), log_level="ERROR")
    )


def run_finetune(ctx: StageContext) -> dict:
    settings = ctx.config.stages.finetune
    assert settings is not None
    card_data = ctx.read_json(FORMULAS)
    if card_data.get("kind") != "formula":
        raise ValueError(f"finetune tunes the constants of formula policies; the symbolic stage wrote a {card_data.get('kind')!r} card.")
    card = card_from_dict(card_data, where=str(ctx.path(FORMULAS)))
    spec = get_env_spec(ctx.config.env)
    factory = EpisodeReturnFactory(ctx.config.env, card.variables, card.action_names, card.action_kind,
                                   card.action_low, card.action_high)
    if settings.method == "constants_cem":
        from nsrl_ray.pipeline.stages.finetune_cem import run_constants_cem

        return run_constants_cem(ctx, card, factory)
    seeds = episode_seeds(ctx.seed, "finetune", settings.validation_episodes)
    evaluator = factory()
    started = time.perf_counter()
    validation_runs = 1
    before = float(np.mean(evaluator.returns(card.formulas, seeds)))
    best_formulas, best_return, best_iteration = card.formulas, before, 0
    scale = 1.0
    if spec.action_kind == "discrete":
        scale = logit_scale(card.formulas, factory, _states(ctx, factory, card.formulas, seeds[0]), settings.logit_spread)
    algo = build_finetune_config(ctx, settings, card, scale).build_algo()
    episodes = 0
    try:
        for iteration in range(1, settings.iterations + 1):
            result = algo.train()
            runners = result.get(ENV_RUNNER_RESULTS, {})
            episodes = int(runners.get(NUM_EPISODES_LIFETIME, episodes))
            metrics: dict[str, Any] = {
                "iteration": iteration,
                "iterations": settings.iterations,
                "return_mean": float(runners.get(EPISODE_RETURN_MEAN, math.nan)),
                "env_steps": int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
                "time_s": time.perf_counter() - started,
            }
            learner = result.get(LEARNER_RESULTS, {}).get("default_policy", {})
            metrics.update({name: float(learner[name]) for name in _LEARNER_METRICS if name in learner})
            if iteration % settings.validate_every == 0 or iteration == settings.iterations:
                tuned = algo.get_module().formulas()
                value = float(np.mean(evaluator.returns(tuned, seeds)))
                validation_runs += 1
                metrics["validation_return"] = value
                if value > best_return:
                    best_formulas, best_return, best_iteration = tuned, value, iteration
                    metrics["formula"] = "\n".join(to_display_text(f) for f in tuned)
            ctx.report("finetune", metrics)
    finally:
        algo.stop()
        evaluator.close()
    accepted = best_iteration > 0
    summary = {
        "return_before": before,
        "return_after": best_return,
        "accepted": float(accepted),
        "best_iteration": best_iteration,
        "logit_scale": scale,
        "env_episodes": episodes + validation_runs * len(seeds),
        "time_s": time.perf_counter() - started,
    }
    return write_finetuned_card(ctx, card, best_formulas, summary,
                                {"method": settings.method, "validation_seeds": seeds, "accepted": accepted})


def write_finetuned_card(ctx: StageContext, card: PolicyCard, formulas: tuple[Expr, ...], summary: dict[str, Any],
                         provenance: dict[str, Any]) -> dict[str, Any]:
    """Put the tuned formulas, the summary (as `finetune/…` metrics) and the provenance into the card; report."""
    history = dict(card.provenance)
    history["finetune"] = {**provenance, "formulas_before": [to_text(f) for f in card.formulas]}
    updated = dataclasses.replace(
        card, formulas=formulas, provenance=history,
        metrics={**card.metrics, **{f"finetune/{k}": v for k, v in summary.items()}},
    )
    ctx.write_json(FORMULAS, updated.to_dict())
    ctx.report("finetune", {**summary, "formula": "\n".join(to_display_text(f) for f in formulas)})
    return summary
