"""Stage `symbolic`: learn one formula per action from the collected dataset (GP distillation)."""

from __future__ import annotations

import dataclasses

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.pipeline.context import DATASET, FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import stage_seed
from nsrl_ray.pipeline.stages.collect import load_dataset
from nsrl_ray.symbolic.gp_distill import agreement, distill_continuous, distill_discrete
from nsrl_ray.symbolic.text import to_text


def _action_bounds(env_name: str) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    from nsrl_ray.envs import make_env

    env = make_env(env_name)
    try:
        space = env.action_space
        if hasattr(space, "low"):
            return tuple(float(v) for v in space.low), tuple(float(v) for v in space.high)
        return None, None
    finally:
        env.close()


def run_symbolic(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    assert settings is not None
    spec = get_env_spec(ctx.config.env)
    data = load_dataset(ctx.path(DATASET))
    seed = stage_seed(ctx.seed, "symbolic")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(data["obs"]))
    if len(rows) > settings.max_samples:
        rows = np.sort(rng.choice(rows, size=settings.max_samples, replace=False))
    obs, actions, logits = data["obs"][rows], data["teacher_action"][rows], data["teacher_logits"][rows]
    if spec.action_kind == "discrete":
        result = distill_discrete(obs, actions, logits, spec.feature_names, settings, seed)
    else:
        result = distill_continuous(obs, actions, spec.feature_names, settings, seed)
    for row in result.history:
        ctx.report("symbolic", {**row, "generations": settings.generations})
    low, high = _action_bounds(ctx.config.env)
    card = PolicyCard(
        env=ctx.config.env,
        learner=settings.learner,
        variables=spec.feature_names,
        action_names=spec.action_names,
        formulas=result.formulas,
        action_kind=spec.action_kind,
        action_low=low,
        action_high=high,
        provenance={"seed": ctx.seed, "experiment": ctx.config.name, "samples": int(len(rows))},
    )
    metrics = {"complexity": card.complexity, "fit_time_s": result.fit_seconds, "samples": int(len(rows))}
    if spec.action_kind == "discrete":
        metrics["train_agreement"] = agreement(card.policy(), obs, actions)
    card = dataclasses.replace(card, metrics={f"symbolic/{k}": v for k, v in metrics.items()})
    ctx.write_json(FORMULAS, card.to_dict())
    ctx.report("symbolic", metrics)
    return {**metrics, "formulas": [to_text(f) for f in result.formulas]}
