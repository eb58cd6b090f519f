"""Stage `report`: the final policy card (policy.json and policy.md) from what the earlier stages wrote."""

from __future__ import annotations

import dataclasses

from nsrl_ray.explain.policy_card import card_from_dict, card_markdown
from nsrl_ray.pipeline.context import EXPLANATION_JSON, FORMULAS, POLICY_JSON, POLICY_MD, StageContext, write_text_atomic


def run_report(ctx: StageContext) -> dict:
    card = card_from_dict(ctx.read_json(FORMULAS))
    if ctx.path(EXPLANATION_JSON).is_file():
        explanation = ctx.read_json(EXPLANATION_JSON)
        card = dataclasses.replace(card, explanation={"summary": explanation["summary"], "method": explanation["method"]})
    ctx.write_json(POLICY_JSON, card.to_dict())
    write_text_atomic(ctx.path(POLICY_MD), card_markdown(card))
    ctx.report("report", {"complexity": card.complexity})
    return {"policy_card": str(ctx.path(POLICY_JSON))}
