"""The offline explainer: INSIGHT's policy and decision explanations written from the formulas, no LLM.

Answers the same turns as the LLM conversation (each action, then a summary; one decision) from
the facts of `analysis.py`: the dominant terms of each formula, the sign of each variable's
effect, the values where the preferred action switches, and the top attributions of a decision.
The sentences use the phrasing the faithfulness check reads, and pass it.
"""

from __future__ import annotations

from nsrl_ray.explain.analysis import DecisionFacts, PolicyFacts, join_terms
from nsrl_ray.explain.context import ExplainContext
from nsrl_ray.explain.prompts import Conversation

#: Attributions listed in a decision explanation.
TOP_ATTRIBUTIONS = 3


def _n(value: float) -> str:
    return f"{value + 0.0:.3g}"  # + 0.0 turns -0.0 into 0.0


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _effect_sentence(facts: PolicyFacts, variable: str, action: str) -> str | None:
    effect = facts.effect(variable, action)
    if facts.action_kind != "discrete":
        if effect.output_sign is None:
            return f"The effect of `{variable}` on `{action}` depends on the state."
        verb = "raises" if effect.output_sign > 0 else "lowers"
        return f"Raising `{variable}` {verb} `{action}` (mean slope {_n(effect.mean_output_gradient)})."
    if effect.sign is None:
        return (f"Whether raising `{variable}` helps `{action}` depends on the state "
                f"(one sign in {_pct(effect.agreement)} of the visited states).")
    if effect.sign == 0:
        return None
    likely = "more likely" if effect.sign > 0 else "less likely"
    return (f"Raising `{variable}` makes `{action}` {likely} "
            f"(mean gradient of its log-probability {_n(effect.mean_log_prob_gradient)}).")


def _action_answer(ctx: ExplainContext, facts: PolicyFacts, index: int) -> str:
    action = ctx.actions[index].name
    terms = facts.terms[action]
    kind = "logit" if ctx.action_kind == "discrete" else "value"
    varying = [t for t in terms if t.variables]
    lines = []
    if not varying:
        lines.append(f"The {kind} of `{action}` is the constant {_n(float(terms[0].text)) if terms else '0'}: "
                     "no variable moves it directly.")
    else:
        lines.append(f"The {kind} of `{action}` is {join_terms([t.text for t in terms])}.")
        if len(terms) > 1:
            ranked = ", ".join(f"{t.text} ({_pct(t.share)})" for t in varying[:3])
            lines.append(f"Its largest terms over the visited states, as shares of the typical size of the {kind}: {ranked}.")
        for t in varying:
            if t.linear and t.coefficient is not None:
                (variable,) = t.variables
                verb = "raises" if t.coefficient > 0 else "lowers"
                lines.append(f"Raising `{variable}` {verb} the {kind} of `{action}` (coefficient {_n(t.coefficient)}).")
    if ctx.action_kind == "discrete":
        if not varying:
            lines.append(f"So `{action}` becomes more likely only when the other actions' logits fall:")
        else:
            lines.append("Through the softmax, over the visited states:")
        ranked_vars = sorted(facts.used, key=lambda v: -facts.importance[v])
        lines += [s for v in ranked_vars if (s := _effect_sentence(facts, v, action))]
        share = facts.action_shares.get(action)
        if share is not None:
            lines.append(f"`{action}` is taken in {_pct(share)} of the visited states.")
    unused = [v for v in facts.variables if v not in facts.used]
    if unused and index == 0:
        lines.append("No formula uses " + ", ".join(f"`{v}`" for v in unused) + ": the policy ignores it.")
    return " ".join(lines)


def _summary(ctx: ExplainContext, facts: PolicyFacts) -> str:
    lines = []
    if ctx.action_kind == "discrete" and len(ctx.actions) == 2:
        a, b = ctx.action_names
        lines.append(f"The policy takes `{b}` when the logit of `{b}` exceeds that of `{a}`, and `{a}` otherwise.")
    elif ctx.action_kind == "discrete":
        lines.append("The policy takes the action with the largest logit.")
    else:
        lines.append("Each action dimension is its formula, clipped to the action bounds.")
    ranked = sorted(facts.used, key=lambda v: -facts.importance[v])
    if ranked:
        lines.append("The variables that matter most: " + ", ".join(f"`{v}` ({_pct(facts.importance[v])})" for v in ranked) + ".")
    switches = [
        f"`{t.below}` is preferred below `{t.variable}` = {_n(t.value)} and `{t.above}` above it"
        if ctx.action_kind == "discrete" else
        f"`{ctx.actions[0].name}` is {t.below} below `{t.variable}` = {_n(t.value)} and {t.above} above it"
        for t in facts.thresholds
    ]
    if switches:
        lines.append("With the other variables at their median over the visited states, " + "; ".join(switches) + ".")
    if ctx.action_kind == "discrete" and len(ctx.actions) == 2:
        a, b = ctx.action_names
        for v in ranked:
            sign = facts.pair_signs[(v, b, a)]
            if sign:
                lines.append(f"Raising `{v}` favours `{b if sign > 0 else a}` over `{a if sign > 0 else b}`.")
    for action, share in facts.action_shares.items():
        lines.append(f"`{action}` is taken in {_pct(share)} of the visited states.")
    unused = [v for v in facts.variables if v not in facts.used]
    if unused:
        lines.append("The policy ignores " + ", ".join(f"`{v}`" for v in unused) + ".")
    return " ".join(lines)


def offline_policy_answers(ctx: ExplainContext, facts: PolicyFacts, conversation: Conversation) -> tuple[str, ...]:
    """One answer per turn of ``conversation`` (each action, then the summary)."""
    answers = []
    for label in conversation.labels:
        if label == "summary":
            answers.append(_summary(ctx, facts))
        else:
            answers.append(_action_answer(ctx, facts, ctx.action_names.index(label)))
    return tuple(answers)


def offline_decision_answer(ctx: ExplainContext, decision: DecisionFacts) -> str:
    """Why the policy took ``decision.action``: the formula values and the top attributions."""
    where = ""
    if decision.episode is not None and decision.step is not None:
        where = f" at step {decision.step} of episode {decision.episode}"
    action = decision.action
    if decision.evidence == "trace":
        return f"The policy took `{action}`{where}. The program reached it by executing: " + "; ".join(decision.trace) + "."
    lines = []
    if decision.probabilities:
        others = ", ".join(f"`{a}` {_n(v)}" for a, v in decision.outputs.items() if a != action)
        lines.append(f"The policy took `{action}`{where}: its logit {_n(decision.outputs[action])} is the largest "
                     f"(others: {others}), so its probability is {_n(decision.probabilities[action])}.")
    else:
        lines.append(f"The policy output `{action}` = {_n(decision.outputs[action])}{where}.")
    ranked = sorted(decision.attributions, key=lambda v: -abs(decision.attributions[v]))
    top = [v for v in ranked if abs(decision.attributions[v]) > 0][:TOP_ATTRIBUTIONS]
    if top:
        effect = f"argue for `{action}`, negative ones against it" if decision.probabilities else (
            f"raise `{action}`, negative ones lower it")
        lines.append(f"The largest attributions (gradient times the change from the median visited state; positive "
                     f"ones {effect}):")
        for v in top:
            gradient, attribution = decision.gradients[v], decision.attributions[v]
            target = f"log p(`{action}`)" if decision.probabilities else f"`{action}`"
            lines.append(
                f"`{v}` = {_n(decision.state[v])} (median {_n(decision.baseline[v])}), gradient of {target} "
                f"{_n(gradient)}, attribution {_n(attribution)};"
            )
        for v in top:
            gradient = decision.gradients[v]
            if gradient == 0:
                continue
            if decision.probabilities:
                likely = "more likely" if gradient > 0 else "less likely"
                lines.append(f"Raising `{v}` here would make `{action}` {likely}.")
            else:
                lines.append(f"Raising `{v}` here would {'raise' if gradient > 0 else 'lower'} `{action}`.")
    zero = [v for v, g in decision.gradients.items() if g == 0]
    if zero:
        lines.append("The decision does not depend on " + ", ".join(f"`{v}`" for v in zero) + ".")
    return " ".join(lines)
