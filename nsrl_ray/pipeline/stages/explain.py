"""Stage `explain`: an offline explanation of the learned formulas, measured on the teacher's states."""

from __future__ import annotations

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.offline import explain_policy, explanation_markdown
from nsrl_ray.explain.policy_card import card_from_dict
from nsrl_ray.pipeline.context import DATASET, EXPLANATION_JSON, EXPLANATION_MD, FORMULAS, StageContext, write_text_atomic
from nsrl_ray.pipeline.seeding import stage_seed
from nsrl_ray.pipeline.stages.collect import load_dataset


def run_explain(ctx: StageContext) -> dict:
    settings = ctx.config.stages.explain
    assert settings is not None
    spec = get_env_spec(ctx.config.env)
    card = card_from_dict(ctx.read_json(FORMULAS))
    states = load_dataset(ctx.path(DATASET))["obs"]
    if len(states) > settings.max_states:
        rng = np.random.default_rng(stage_seed(ctx.seed, "explain"))
        states = states[np.sort(rng.choice(len(states), settings.max_states, replace=False))]
    explanation = explain_policy(card.policy(), states, spec.feature_descriptions)
    ctx.write_json(EXPLANATION_JSON, explanation)
    write_text_atomic(ctx.path(EXPLANATION_MD), explanation_markdown(explanation, f"Why the {ctx.config.env} policy acts as it does"))
    top = explanation["variables"][0]
    ctx.report("explain", {"states": explanation["states"], "top_variable_importance": top["importance"]})
    return {"summary": explanation["summary"], "top_variable": top["name"]}
