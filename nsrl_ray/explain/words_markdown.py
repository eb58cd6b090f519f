"""Markdown for explanations in words: the formulas in LaTeX, each answer with its faithfulness report."""

from __future__ import annotations

from nsrl_ray.explain.explainer import Exchange, Explanation
from nsrl_ray.explain.faithfulness import format_report


def _n(value: float) -> str:
    return f"{value + 0.0:.3g}"  # + 0.0 turns -0.0 into 0.0


def _exchange(exchange: Exchange, heading: str) -> list[str]:
    note = " _(cached)_" if exchange.cached else ""
    return [f"### {heading}{note}", "", exchange.answer, "", "> " + format_report(exchange.faithfulness).replace("\n", "\n> "), ""]


def _prompt(exchange: Exchange) -> list[str]:
    lines = [f"<details><summary>Prompt: {exchange.label}</summary>", ""]
    for message in exchange.messages:
        lines += [f"**{message['role']}**", "", "```text", message["content"], "```", ""]
    return lines + ["</details>", ""]


def words_markdown(explanation: Explanation, title: str | None = None) -> str:
    """The whole explanation: formulas, the policy conversation, the decision, the faithfulness reports, the prompts."""
    ctx = explanation.context
    source = "offline, from the formulas" if explanation.source == "offline" else f"LLM: {explanation.source}"
    lines = [f"# {title or f'Explanation of the {ctx.env} policy'}", "", f"_Source: {source}._", "", "## Policy", ""]
    for i, action in enumerate(ctx.actions):
        kind = "logit" if ctx.action_kind == "discrete" else "value"
        lines.append(f"- action {i} `{action.name}` ({kind}): $${action.latex}$$")
    lines += ["", ctx.decision_rule, "", "## Policy explanation", ""]
    for exchange in explanation.policy:
        heading = "Summary" if exchange.label == "summary" else f"Action `{exchange.label}`"
        lines += _exchange(exchange, heading)
    decision, exchange = explanation.decision, explanation.decision_exchange
    if decision is not None and exchange is not None:
        where = f"episode {decision.episode}, step {decision.step}" if decision.episode is not None else "one state"
        lines += [f"## Decision explanation ({where}): `{decision.action}`", ""]
        if decision.evidence == "gradient":
            name = decision.action.replace("_", "\\_")
            target = f"$\\partial \\log p(\\mathit{{{name}}}) / \\partial x$" if decision.probabilities else "gradient"
            lines += [f"| variable | value | {target} | attribution |", "|---|---|---|---|"]
            lines += [f"| `{v}` | {_n(x)} | {_n(decision.gradients[v])} | {_n(decision.attributions[v])} |"
                      for v, x in decision.state.items()]
            lines.append("")
        lines += _exchange(exchange, "Why")
    total = explanation.violations
    lines += ["## Faithfulness", "",
              "No statement disagrees with the formula." if total == 0 else
              f"{total} statement(s) disagree with the formula; they are listed under each answer above.", ""]
    # The last policy turn's messages hold the whole conversation; earlier ones are its prefixes.
    lines += ["## Prompts", ""] + _prompt(explanation.policy[-1])
    if explanation.decision_exchange is not None:
        lines += _prompt(explanation.decision_exchange)
    return "\n".join(lines).rstrip() + "\n"
