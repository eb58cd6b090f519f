"""Stage `report`: the final policy card (policy.json and policy.md) from what the earlier stages wrote."""

from __future__ import annotations

import dataclasses

from nsrl_ray.explain.policy_card import card_from_dict, card_markdown
from nsrl_ray.pipeline.context import EXPLANATION_JSON, FORMULAS, POLICY_JSON, POLICY_MD, StageContext, write_text_atomic


def run_report(ctx: StageContext) -> dict:
    card_data = ctx.read_json(FORMULAS)
    if card_data.get("kind") == "program":  # a Karel program card has its own reader and markdown
        from nsrl_ray.explain.program_card import program_card_from_dict, program_card_markdown

        program_card = program_card_from_dict(card_data)
        ctx.write_json(POLICY_JSON, program_card.to_dict())
        write_text_atomic(ctx.path(POLICY_MD), program_card_markdown(program_card))
        ctx.report("report", {"complexity": program_card.complexity})
        return {"policy_card": str(ctx.path(POLICY_JSON))}
    card = card_from_dict(card_data)
    if ctx.path(EXPLANATION_JSON).is_file():
        explanation = ctx.read_json(EXPLANATION_JSON)
        card = dataclasses.replace(card, explanation={"summary": explanation["summary"], "method": explanation["method"]})
    ctx.write_json(POLICY_JSON, card.to_dict())
    write_text_atomic(ctx.path(POLICY_MD), card_markdown(card))
    ctx.report("report", {"complexity": card.complexity})
    outcome = {"policy_card": str(ctx.path(POLICY_JSON))}
    if ctx.config.stages.report is not None and ctx.config.stages.report.video:
        from nsrl_ray.pipeline.videos import record_policy_videos

        videos = record_policy_videos(ctx, card.policy().act)
        ctx.report("report", {k: v for k, v in videos.items() if isinstance(v, float)})
        outcome.update(videos)
    return outcome
