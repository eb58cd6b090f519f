"""Stage `explain`: policy and decision explanations in words, offline always and through an LLM when configured."""

from __future__ import annotations

import logging

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.explainer import explain_offline, prepare, select_decision
from nsrl_ray.explain.llm_client import LLMError
from nsrl_ray.explain.offline import explain_policy
from nsrl_ray.explain.policy_card import card_from_dict
from nsrl_ray.explain.service import LLM_STEM, OFFLINE_STEM, explain_through_llm, write_explanation
from nsrl_ray.pipeline.context import DATASET, FORMULAS, StageContext
from nsrl_ray.pipeline.seeding import stage_seed
from nsrl_ray.pipeline.dataset import load_dataset

LOG = logging.getLogger(__name__)


def run_explain(ctx: StageContext) -> dict:
    settings = ctx.config.stages.explain
    assert settings is not None
    spec = get_env_spec(ctx.config.env)
    card = card_from_dict(ctx.read_json(FORMULAS))
    dataset = load_dataset(ctx.path(DATASET))
    states = dataset["obs"]
    if len(states) > settings.max_states:
        rng = np.random.default_rng(stage_seed(ctx.seed, "explain"))
        states = states[np.sort(rng.choice(len(states), settings.max_states, replace=False))]
    stats = explain_policy(card.policy(), states, spec.feature_descriptions)
    prepared = prepare(card, states, select_decision(card, dataset))
    offline = explain_offline(prepared)
    # explanation.json keeps the statistics the report stage reads ("summary", "method") beside the words.
    title = f"Why the {ctx.config.env} policy acts as it does"
    write_explanation(ctx.artifacts, offline, OFFLINE_STEM, extra=stats, title=title)
    top = stats["variables"][0]
    metrics = {"states": stats["states"], "top_variable_importance": top["importance"],
               "offline_violations": offline.violations}
    result = {"summary": stats["summary"], "top_variable": top["name"]}
    if settings.llm is not None:
        try:
            words = explain_through_llm(prepared, settings.llm, server_log=ctx.path("llama_server.log"))
        except LLMError as error:
            # The offline explanation stands; a missing LLM must not throw away a trained policy.
            LOG.warning("explain: the LLM explanation failed: %s", error)
            ctx.write_json(f"{LLM_STEM}.json", {"error": str(error)})
            metrics["llm_ok"] = 0
            result["llm_error"] = str(error)
        else:
            write_explanation(ctx.artifacts, words, LLM_STEM, title=f"{title} (LLM)")
            metrics.update({"llm_ok": 1, "llm_violations": words.violations})
    ctx.report("explain", metrics)
    return result
