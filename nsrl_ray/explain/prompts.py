"""INSIGHT's prompts: a shared context, a multi-turn policy explanation and a one-state decision explanation.

The structure follows INSIGHT (ICML 2024): the context gives the task, what each variable means
and its range, the coordinate system, one formula per action and how probabilities follow from
them; the policy conversation analyses each action in turn and then asks for a summary; the
decision prompt gives the action taken and, per variable, its value and the gradient of the
chosen action's log-probability, and asks why, from the equations only.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsrl_ray.explain.analysis import DecisionFacts, PolicyFacts, join_terms
from nsrl_ray.explain.context import ExplainContext

SYSTEM = (
    "You explain the decisions of a reinforcement-learning policy that is written as mathematical formulas. "
    "Reason only from the formulas and numbers you are given. Refer to every variable and action by its exact "
    "name in backticks, quote numbers with two significant digits, and write formulas in LaTeX."
)


def _num(value: float) -> str:
    return f"{value:.3g}"


@dataclass(frozen=True)
class Conversation:
    """A system message and the user turns, sent one after another, each answer appended before the next turn."""

    name: str
    system: str
    turns: tuple[str, ...]
    labels: tuple[str, ...]
    """What each turn asks about: an action name, 'summary' or 'decision'."""

    def messages(self, answers: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """The chat messages for the next turn after ``answers`` (OpenAI chat format)."""
        if len(answers) >= len(self.turns):
            raise ValueError(f"{self.name}: {len(answers)} answers for {len(self.turns)} turns; nothing left to ask.")
        messages = [{"role": "system", "content": self.system}]
        for turn, answer in zip(self.turns, answers):
            messages += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": self.turns[len(answers)]})
        return messages


def context_prompt(ctx: ExplainContext, facts: PolicyFacts | None = None) -> str:
    """The shared context: task, coordinates, variables with meaning and range, formulas, decision rule."""
    lines = [f"# Environment {ctx.env}", "", ctx.task]
    if ctx.coordinates:
        lines += ["", "## Coordinate system", "", ctx.coordinates]
    lines += ["", "## Input variables", ""]
    for v in ctx.variables:
        bounds = f" Range: [{_num(v.range[0])}, {_num(v.range[1])}]." if v.range else ""
        lines.append(f"- `{v.name}`: {v.description}{bounds}")
    lines += ["", "## Actions and their formulas", ""]
    for i, a in enumerate(ctx.actions):
        meaning = f" ({a.description})" if a.description else ""
        kind = "logit" if ctx.action_kind == "discrete" else "value"
        lines.append(f"- action {i}, `{a.name}`{meaning}: {kind} = $${a.latex}$$")
        if facts is not None:
            expanded = join_terms([t.text for t in facts.terms[a.name]])
            if expanded.replace(" ", "") != a.formula.replace(" ", "") and len(facts.terms[a.name]) > 1:
                lines.append(f"  expanded: {kind}(`{a.name}`) = {expanded}")
    lines += ["", ctx.decision_rule]
    return "\n".join(lines)


def policy_conversation(ctx: ExplainContext, facts: PolicyFacts | None = None) -> Conversation:
    """INSIGHT's policy explanation: one turn per action, then a summary of when each action is taken."""
    turns, labels = [], []
    for i, action in enumerate(ctx.actions):
        if ctx.action_kind == "discrete":
            ask = (
                f"Analyse action `{action.name}`. From its formula, which variables raise its logit and which lower it, "
                f"and how strongly? How do these changes move the probability of choosing `{action.name}` "
                "compared with the other actions?"
            )
        else:
            ask = (
                f"Analyse the action dimension `{action.name}`. From its formula, which variables raise it and which "
                "lower it, and how strongly?"
            )
        turns.append(ask if i else context_prompt(ctx, facts) + "\n\n" + ask)
        labels.append(action.name)
    turns.append(
        "Now summarise the policy: in which situations is each action chosen? Name the variables that matter most "
        "and the direction of their effect."
    )
    labels.append("summary")
    return Conversation("policy", SYSTEM, tuple(turns), tuple(labels))


def decision_prompt(ctx: ExplainContext, decision: DecisionFacts, facts: PolicyFacts | None = None) -> Conversation:
    """INSIGHT's decision explanation for one state: the action taken, each variable's value and gradient."""
    where = ""
    if decision.episode is not None and decision.step is not None:
        where = f" at step {decision.step} of episode {decision.episode}"
    lines = [context_prompt(ctx, facts), "", "## Decision", "", f"The policy took action `{decision.action}`{where}."]
    if decision.evidence == "trace":
        lines += ["", "The program executed these statements to reach it:", ""]
        lines += [f"    {line}" for line in decision.trace]
        lines += ["", "| variable | value |", "|---|---|"]
        lines += [f"| `{v}` | {_num(x)} |" for v, x in decision.state.items()]
    else:
        target = f"log p(`{decision.action}`)" if decision.probabilities else f"`{decision.action}`"
        lines += ["", f"| variable | value | gradient of {target} |", "|---|---|---|"]
        lines += [f"| `{v}` | {_num(decision.state[v])} | {_num(decision.gradients[v])} |" for v in decision.state]
        kind = "logits" if decision.probabilities else "formula values"
        lines += ["", f"The {kind}: " + ", ".join(f"`{a}` {_num(x)}" for a, x in decision.outputs.items()) + "."]
        if decision.probabilities:
            lines.append("The probabilities: " + ", ".join(f"`{a}` {_num(p)}" for a, p in decision.probabilities.items()) + ".")
        lines += ["", "A positive gradient means that a larger value of the variable makes this action more likely."]
    lines += ["", f"Explain why the policy chose `{decision.action}` in this state, using only the equations and these numbers."]
    return Conversation("decision", SYSTEM, ("\n".join(lines),), ("decision",))
