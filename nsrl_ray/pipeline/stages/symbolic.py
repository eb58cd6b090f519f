"""Stage `symbolic`: learn an interpretable policy with the learner the file names, then write its card."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib import import_module
from typing import Any

import numpy as np

from nsrl_ray.envs import EnvSpec, get_env_spec, make_env
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.pipeline.context import DATASET, FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import stage_seed
from nsrl_ray.pipeline.dataset import load_dataset
from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.gp_distill import agreement, distill_continuous, distill_discrete
from nsrl_ray.symbolic.text import to_display_text

#: learner name -> "module:function" taking the StageContext; imported only when used.
LEARNERS: dict[str, str] = {
    "gp_distill": "nsrl_ray.pipeline.stages.symbolic:learn_gp_distill",
    "kan": "nsrl_ray.pipeline.stages.symbolic_kan:learn_kan",
    "karel_hill_climb": "nsrl_ray.pipeline.stages.symbolic_karel:learn_karel_hill_climb",
    "karel_cem": "nsrl_ray.pipeline.stages.symbolic_karel:learn_karel_cem",
    "karel_latent_cem": "nsrl_ray.pipeline.stages.symbolic_karel:learn_karel_latent_cem",
    "karel_vae": "nsrl_ray.pipeline.stages.symbolic_karel_vae:learn_karel_vae",
    "gp_search": "nsrl_ray.pipeline.stages.symbolic_gp:learn_gp_search",
    "insight": "nsrl_ray.pipeline.stages.symbolic_insight:learn_insight",
}


def run_symbolic(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    assert settings is not None
    module, _, function = LEARNERS[settings.learner].partition(":")
    learner: Callable[[StageContext], dict] = getattr(import_module(module), function)
    return learner(ctx)


def action_bounds(env_name: str) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """The Box action space's bounds, or (None, None) for a discrete one."""
    env = make_env(env_name)
    try:
        space = env.action_space
        if hasattr(space, "low"):
            return tuple(float(v) for v in space.low), tuple(float(v) for v in space.high)
        return None, None
    finally:
        env.close()


def sample_dataset(ctx: StageContext, max_samples: int) -> dict[str, np.ndarray]:
    """The collected dataset, subsampled (seeded) to at most ``max_samples`` rows."""
    data = load_dataset(ctx.path(DATASET))
    rows = np.arange(len(data["obs"]))
    if len(rows) > max_samples:
        rng = np.random.default_rng(stage_seed(ctx.seed, "symbolic"))
        rows = np.sort(rng.choice(rows, size=max_samples, replace=False))
    return {key: value[rows] for key, value in data.items()}


def write_formula_card(
    ctx: StageContext,
    spec: EnvSpec,
    learner: str,
    formulas: tuple[Expr, ...],
    metrics: dict[str, Any],
    provenance: dict[str, Any] | None = None,
) -> PolicyCard:
    """Write the draft policy card (formulas.json) that evaluate/explain/report build on, and report."""
    low, high = action_bounds(ctx.config.env)
    card = PolicyCard(
        env=ctx.config.env,
        learner=learner,
        variables=spec.feature_names,
        action_names=spec.action_names,
        formulas=formulas,
        action_kind=spec.action_kind,
        action_low=low,
        action_high=high,
        provenance={"seed": ctx.seed, "experiment": ctx.config.name, **(provenance or {})},
    )
    metrics = {"complexity": card.complexity, **metrics}
    card = dataclasses.replace(card, metrics={f"symbolic/{k}": v for k, v in metrics.items()})
    ctx.write_json(FORMULAS, card.to_dict())
    text = "\n\n".join(f"{name} = {to_display_text(f)}" for name, f in zip(spec.action_names, formulas))
    ctx.report("symbolic", {**metrics, "formula": text})
    return card


def learn_gp_distill(ctx: StageContext) -> dict:
    """gplearn on the teacher's (state, action) pairs: one program per action, or a classifier for two."""
    settings = ctx.config.stages.symbolic
    spec = get_env_spec(ctx.config.env)
    data = sample_dataset(ctx, settings.max_samples)
    obs, actions, logits = data["obs"], data["teacher_action"], data["teacher_logits"]
    seed = stage_seed(ctx.seed, "symbolic")
    if spec.action_kind == "discrete":
        result = distill_discrete(obs, actions, logits, spec.feature_names, settings, seed)
    else:
        result = distill_continuous(obs, actions, spec.feature_names, settings, seed)
    for row in result.history:
        ctx.report("symbolic", {**row, "generations": settings.generations})
    metrics: dict[str, Any] = {"fit_time_s": result.fit_seconds, "samples": int(len(obs))}
    if spec.action_kind == "discrete":
        policy = FormulaPolicy(spec.feature_names, result.formulas, spec.action_names)
        metrics["train_agreement"] = agreement(policy, obs, actions)
    card = write_formula_card(ctx, spec, settings.learner, result.formulas, metrics, {"samples": int(len(obs))})
    return {"complexity": card.complexity, "formulas": [to_display_text(f) for f in result.formulas]}
