"""Symbolic learner `insight`: PPO with INSIGHT's module and learner, then one formula per action from the EQL actor.

Starts from the CNN the `perceive` stage pre-trained; records a rollout with the perceived
objects drawn before and after policy learning; from `eql_acting_from` on lets the EQL actor play
`eql_acting_envs` envs of each EnvRunner (DAgger during training); plays the EQL actor on its own every
`eql_eval_every` iterations and both actors at the end; refits a copy of the EQL actor to the neural actor's
actions in the states of that final evaluation and plays it; prunes it, refits the weights it kept the same
way, and reads it off as formulas in object names (`ball_y_t0`, ...); writes the draft policy card, whose
`provenance.perception` names the refined CNN, so `evaluate` can play the formulas from frames.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)

from nsrl_ray.envs import get_env_spec
from nsrl_ray.pipeline.context import StageContext
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.pipeline.stages.perceive import FRAMES, PERCEPTION, game_of

#: Artifacts this learner writes beside the card.
INSIGHT_MODULE = "insight_module"
INSIGHT_ALGO = "insight_algo"
PERCEPTION_REFINED = "perception/perception_refined.pt"
VIDEO_BEFORE = "insight_objects_before.gif"
VIDEO_AFTER = "insight_objects_after.gif"

_LEARNER_METRICS = ("policy_loss", "vf_loss", "entropy", "distillation_loss", "eql_l_half", "eql_reg_weight",
                    "cnn_loss", "cnn_coordinate_l1", "eql_agreement", "eql_acted_share")
#: Iteration timers of RLlib's result (seconds) reported as symbolic/sample_s and symbolic/learn_s.
_TIMERS = {"sample_s": "env_runner_sampling_timer", "learn_s": "learner_update_timer"}


def _learner_config(ctx: StageContext, settings: Any, seed: int) -> dict[str, Any]:
    total = settings.max_iterations * settings.train_batch_size
    return {
        "distillation_loss_weight": settings.distillation_loss_weight,
        "cnn_loss_weight": settings.cnn_loss_weight,
        "cnn_batch_size": settings.cnn_batch_size,
        "extra_terms_every_epoch": settings.extra_terms_every_epoch,
        "eql_lr": settings.eql_lr,
        "reg_weight": settings.reg_weight,
        "reg_ramp_steps": int(total * settings.reg_ramp_fraction),
        "perception_dataset": str(ctx.path(FRAMES)) if settings.cnn_loss_weight > 0 else None,
        "seed": seed,
    }


def _formula_agreement(module: Any, pruned: Any, frames: np.ndarray) -> dict[str, float]:
    """On held-out frames: how often the pruned formulas pick the neural actor's and the unpruned EQL's action."""
    if not module.discrete or len(frames) == 0:
        return {}
    neural, eql, formula = [], [], []
    for start in range(0, len(frames), 256):
        out = module.actor_outputs(torch.as_tensor(frames[start:start + 256]))
        neural.append(out["neural"].argmax(-1))
        eql.append(out["eql"].argmax(-1))
        with torch.no_grad():
            formula.append(pruned(out["features"].index_select(-1, module.eql_inputs)).argmax(-1))
    n, e, f = torch.cat(neural), torch.cat(eql), torch.cat(formula)
    return {"formula_agreement_neural": float((f == n).float().mean()), "formula_agreement_eql": float((f == e).float().mean()),
            "eql_agreement_neural": float((e == n).float().mean())}


def learn_insight(ctx: StageContext) -> dict:
    from nsrl_ray.perception.train import perception_metrics
    from nsrl_ray.pipeline.stages.symbolic import write_formula_card
    from nsrl_ray.rl_modules.ife_algos import rllib_pixel_env
    from nsrl_ray.rl_modules.insight_algo import (
        EQL_GAME_RETURN,
        NEURAL_GAME_RETURN,
        insight_model_config,
        insight_ppo_config,
        learner_module,
        load_perception,
        load_perception_into,
        perceived_features,
        save_perception,
        set_eql_acting_envs_in,
        standardise_eql_inputs_in,
    )
    from nsrl_ray.rl_modules.insight_export import (
        RefitSettings,
        distillation_data,
        eql_actor,
        export_eql,
        refit_on_states,
        student_games,
    )
    from nsrl_ray.rl_modules.insight_rollout import play_actor, save_object_video
    from nsrl_ray.symbolic.expression import variables_of
    from nsrl_ray.symbolic.text import to_display_text

    settings = ctx.config.stages.symbolic
    perceive = ctx.config.stages.perceive
    game = game_of(ctx.config.env)
    seed = stage_seed(ctx.seed, "symbolic")
    torch.manual_seed(seed)
    started = time.perf_counter()
    pretrained, options = load_perception(ctx.path(PERCEPTION))
    model_config = insight_model_config(pretrained.slot_names, options, settings)
    resources = ctx.config.resources
    config = insight_ppo_config(rllib_pixel_env(ctx.config.env), settings, model_config,
                                _learner_config(ctx, settings, seed), seed, resources.cpus_per_actor,
                                resources.gpus_per_trial)
    algo = config.build_algo()
    spaces = (algo.get_module().observation_space, algo.get_module().action_space) if algo.env_runner else None
    if spaces is None:
        from nsrl_ray.envs.atari.pixel import make_pixel_env

        probe = make_pixel_env(game, training=False)
        spaces = (probe.observation_space, probe.action_space)
        probe.close()
    video_seed = episode_seeds(ctx.seed, "evaluate", 1)[0]
    outcome: dict[str, Any] = {}
    algo_path = ctx.path(INSIGHT_ALGO)
    first = 1
    position = ctx.resume_position("symbolic")
    try:
        if position is not None:  # restored inside this stage: the PPO state has the refined CNN already
            algo.restore_from_path(str(algo_path))
            first = int(position["iteration"]) + 1
        else:
            load_perception_into(algo, pretrained.state_dict())
            if settings.eql_standardise_inputs:
                from nsrl_ray.perception.dataset import load_frame_dataset

                standardise_eql_inputs_in(algo, perceived_features(pretrained, load_frame_dataset(ctx.path(FRAMES)).frames))
            if settings.video_steps:
                before = save_object_video(learner_module(algo, model_config, *spaces), game, ctx.path(VIDEO_BEFORE),
                                           settings.video_steps, video_seed, tensorboard_tag="insight/objects_before")
                outcome["video_before"] = before["video"]
        eval_seeds = episode_seeds(ctx.seed, "symbolic", max(settings.eql_eval_episodes, settings.eval_episodes))
        metrics: dict[str, Any] = {}
        # DAgger during training: from this iteration on the EQL actor plays some envs (a restored state has it).
        eql_acts_from = max(1, math.ceil(settings.eql_acting_from * settings.max_iterations))
        for iteration in range(first, settings.max_iterations + 1):
            if settings.eql_acting_envs and iteration == eql_acts_from:
                set_eql_acting_envs_in(algo, settings.eql_acting_envs)
            result = algo.train()
            runners = result.get(ENV_RUNNER_RESULTS, {})
            learner = result.get(LEARNER_RESULTS, {}).get("default_policy", {})
            timers = result.get("timers", {})
            metrics = {
                "return_mean": float(runners.get(EPISODE_RETURN_MEAN, float("nan"))),
                # The raw returns of the training games each actor played (the EQL's with eql_acting_envs).
                **{name: float(runners[name]) for name in (NEURAL_GAME_RETURN, EQL_GAME_RETURN) if name in runners},
                "env_steps": int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
                "iteration": iteration,
                "max_iterations": settings.max_iterations,
                "time_s": time.perf_counter() - started,
                **{name: float(learner[name]) for name in _LEARNER_METRICS if name in learner},
                # where an iteration's time goes: the EnvRunners' sampling or the learner's update
                **{name: float(timers[key]) for name, key in _TIMERS.items() if key in timers},
            }
            if settings.eql_eval_every and (iteration % settings.eql_eval_every == 0 or iteration == settings.max_iterations):
                module = learner_module(algo, model_config, *spaces)
                run = play_actor(module, game, "eql", eval_seeds[: settings.eql_eval_episodes], settings.eval_max_steps)
                metrics["eql_return_mean"] = float(np.mean(run.returns))
            every = settings.checkpoint_every
            if every and iteration % every == 0 and iteration < settings.max_iterations:
                algo.save_to_path(str(algo_path))
                ctx.report("symbolic", metrics, checkpoint={"iteration": iteration})
            else:
                ctx.report("symbolic", metrics)
        module = learner_module(algo, model_config, *spaces)
        module.save_to_path(str(ctx.path(INSIGHT_MODULE)))
    finally:
        algo.stop()
    shutil.rmtree(algo_path, ignore_errors=True)
    train_s = time.perf_counter() - started

    # Both actors on their own, greedy, on the same seeds.
    final: dict[str, Any] = {"train_time_s": train_s, "env_steps": metrics.get("env_steps", 0),
                             "train_return_mean": metrics.get("return_mean", float("nan"))}
    # Both actors' states, labelled with the neural actor's action, are what the pruned formulas are refitted on:
    # the EQL's own states are where its mistakes lead, so they teach what the neural actor's alone would not.
    rollouts = []
    for actor in ("neural", "eql"):
        run = play_actor(module, game, actor, eval_seeds[: settings.eval_episodes], settings.eval_max_steps,
                         record=True)
        rollouts.append(run)
        final[f"{actor}_return_mean"] = float(np.mean(run.returns))
        final[f"{actor}_return_std"] = float(np.std(run.returns))
    final["eval_episodes"] = settings.eval_episodes
    if settings.video_steps:
        after = save_object_video(module, game, ctx.path(VIDEO_AFTER), settings.video_steps, video_seed,
                                  actor="eql" if settings.use_eql_actor else "neural",
                                  tensorboard_tag="insight/objects_after", tensorboard_step=settings.max_iterations)
        outcome["video_after"] = after["video"]

    # The refined CNN (for evaluate) and the formulas.
    refined = save_perception(module.perception, options, ctx.path(PERCEPTION_REFINED))
    # Pruned on the standardised inputs, then folded: in raw units the near-constant x coordinates' weights
    # looked largest, and the top weights kept were theirs (session 19: formulas agreed with the EQL on 17 %).
    # With DAgger rounds each refit plays games of its own, the seeds after the evaluation's; the refitted EQL
    # actor is then scored on games after those.
    n_games, rounds = settings.eval_episodes, settings.export_refit_rounds
    more_seeds = episode_seeds(ctx.seed, "symbolic", len(eval_seeds) + (rounds + 1) * n_games)[len(eval_seeds):]
    play_student = student_games(module, game, more_seeds[: rounds * n_games], n_games, settings.eval_max_steps)

    data = distillation_data(rollouts)
    source = module.eql
    if settings.eql_refit_steps > 0:
        source = copy.deepcopy(module.eql)
        refit_actor = RefitSettings(steps=settings.eql_refit_steps, lr=settings.export_refit_lr, seed=seed, rounds=rounds)
        final.update({f"eql_refit_{k}": v for k, v in refit_on_states(module, source, data, refit_actor, play_student).items()})
        run = play_actor(module, game, eql_actor(module, source), more_seeds[rounds * n_games:], settings.eval_max_steps)
        final["eql_refit_return_mean"] = float(np.mean(run.returns))
        final["eql_refit_return_std"] = float(np.std(run.returns))
    refit = RefitSettings(steps=settings.export_refit_steps, lr=settings.export_refit_lr, seed=seed, rounds=rounds)
    exported = export_eql(module, settings.prune_threshold, settings.export_max_weights, settings.formula_digits, data,
                          refit, play_student, source=source, gradual=settings.export_prune_gradually)
    pruned, formulas = exported.eql, exported.formulas
    final.update(exported.metrics)
    from nsrl_ray.pipeline.stages.perceive import validation_split

    _, validation = validation_split(ctx.artifacts, perceive.validation_fraction)
    final.update(_formula_agreement(module, pruned, validation.frames))
    variables = sorted(set().union(*(variables_of(f) for f in formulas)))
    objects = sorted({name.rsplit("_", 2)[0] for name in variables if name.rsplit("_", 2)[-2] != "present"})
    refined_metrics = perception_metrics(module.perception, validation, subset=objects)
    pretrained_metrics = perception_metrics(pretrained, validation, subset=objects)
    final.update({
        "perception_mae": refined_metrics["mae"],
        "perception_f1": refined_metrics["f1"],
        "perception_mae_pretrained": pretrained_metrics["mae"],
    })
    if objects:
        final["perception_mae_formula_objects"] = refined_metrics.get("mae_subset", float("nan"))
        final["perception_mae_formula_objects_pretrained"] = pretrained_metrics.get("mae_subset", float("nan"))
    env_spec = get_env_spec(ctx.config.env)
    # The variables are the CNN's outputs: the env's object names with the RAM labeller, the colour labeller's otherwise.
    spec = SimpleNamespace(feature_names=module.feature_names, action_names=env_spec.action_names,
                           action_kind=env_spec.action_kind)
    card = write_formula_card(ctx, spec, "insight", formulas, final, {
        # Relative to the card's folder (the trial's artifacts), so the card stays valid when the folder moves.
        "perception": str(refined.relative_to(ctx.artifacts)), "module": INSIGHT_MODULE, "formula_objects": objects,
        "prune_threshold": settings.prune_threshold, "max_export_weights": settings.export_max_weights,
        "export_prune_gradually": settings.export_prune_gradually,
        "eql_refit_steps": settings.eql_refit_steps, "export_refit_steps": settings.export_refit_steps,
        "export_refit_rounds": settings.export_refit_rounds,
    })
    return {**final, **outcome, "complexity": card.complexity, "formulas": [to_display_text(f) for f in formulas]}
