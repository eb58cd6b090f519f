"""What every explanation prompt shares: the task, the variables, the coordinates and one formula per action."""

from __future__ import annotations

from dataclasses import dataclass

from nsrl_ray.envs import EnvSpec, UnknownEnvironmentError, get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.symbolic.export_latex import to_latex
from nsrl_ray.symbolic.text import to_display_text


@dataclass(frozen=True)
class VariableInfo:
    """One input variable as the prompt presents it."""

    name: str
    description: str
    range: tuple[float, float] | None


@dataclass(frozen=True)
class ActionInfo:
    """One action and its formula."""

    name: str
    description: str
    formula: str
    """Display text, constants to 4 significant digits."""
    latex: str


@dataclass(frozen=True)
class ExplainContext:
    """The shared context of INSIGHT's prompts, built from a policy card and the environment's data file."""

    env: str
    task: str
    coordinates: str
    variables: tuple[VariableInfo, ...]
    actions: tuple[ActionInfo, ...]
    action_kind: str
    decision_rule: str
    """How actions follow from the formulas (softmax and argmax, or clipping)."""

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.actions)

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {v.name: v.range for v in self.variables if v.range is not None}


def _spec(card: PolicyCard) -> EnvSpec | None:
    try:
        return get_env_spec(card.env)
    except UnknownEnvironmentError:
        return None  # a card from an env registered elsewhere: explain it from the card alone


def build_context(card: PolicyCard, spec: EnvSpec | None = None) -> ExplainContext:
    """The context for ``card``; the environment's description comes from its data file when registered."""
    spec = spec if spec is not None else _spec(card)
    described = {}
    ranges: dict[str, tuple[float, float] | None] = {}
    if spec is not None:
        described = dict(zip(spec.feature_names, spec.feature_descriptions))
        ranges = dict(zip(spec.feature_names, spec.feature_ranges or (None,) * spec.n_features))
    action_text = {}
    if spec is not None and spec.action_descriptions and tuple(spec.action_names) == tuple(card.action_names):
        action_text = dict(zip(spec.action_names, spec.action_descriptions))
    if card.action_kind == "discrete":
        rule = (
            "Each action's formula gives its logit. The probability of an action is the softmax of the logits, "
            "p(a) = exp(logit_a) / sum_b exp(logit_b), and the policy takes the action with the largest logit."
        )
    else:
        bounds = ""
        if card.action_low is not None and card.action_high is not None:
            bounds = " to " + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(card.action_low, card.action_high))
        rule = f"Each formula gives one action dimension directly; the value is clipped{bounds or ' to the action bounds'}."
    return ExplainContext(
        env=card.env,
        task=spec.description if spec is not None else f"The environment {card.env}.",
        coordinates=spec.coordinates if spec is not None else "",
        variables=tuple(VariableInfo(v, described.get(v, v.replace("_", " ")), ranges.get(v)) for v in card.variables),
        actions=tuple(
            ActionInfo(name, action_text.get(name, ""), to_display_text(formula), to_latex(formula))
            for name, formula in zip(card.action_names, card.formulas)
        ),
        action_kind=card.action_kind,
        decision_rule=rule,
    )
