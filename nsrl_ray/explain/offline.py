"""Offline, deterministic explanation of a formula policy: which variables push towards which action, and when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nsrl_ray.symbolic.expression import variables_of
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.text import to_display_text, to_text


def _preferences(policy: FormulaPolicy, states: np.ndarray) -> np.ndarray:
    """Each action's logit minus the mean logit: what argmax and softmax actually compare."""
    values = policy.outputs(states)
    if policy.action_kind == "discrete":
        values = values - values.mean(axis=1, keepdims=True)
    return values


def sensitivities(policy: FormulaPolicy, states: np.ndarray) -> np.ndarray:
    """d preference / d variable at each state by central differences, shape (states, variables, actions)."""
    scale = np.maximum(states.std(axis=0), 1e-3)
    grads = np.empty((len(states), states.shape[1], len(policy.formulas)))
    for j in range(states.shape[1]):
        step = 1e-4 * scale[j]
        up, down = states.copy(), states.copy()
        up[:, j] += step
        down[:, j] -= step
        grads[:, j, :] = (_preferences(policy, up) - _preferences(policy, down)) / (2 * step)
    return grads


def _signed(value: float) -> str:
    return f"{value:+.3g}"


def explain_policy(
    policy: FormulaPolicy,
    states: np.ndarray,
    descriptions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A structured explanation and a plain-language summary, measured on visited ``states``."""
    states = np.asarray(states, dtype=np.float64)
    names = policy.variables
    grads = sensitivities(policy, states)
    mean_grad = grads.mean(axis=0)  # (variables, actions)
    spread = states.std(axis=0)
    # Importance: how much a typical change of the variable moves the preferences.
    importance = np.abs(grads).mean(axis=0).max(axis=1) * spread
    total = importance.sum()
    shares = importance / total if total > 0 else np.zeros_like(importance)
    used = set().union(*(variables_of(f) for f in policy.formulas))
    variables = []
    for j in np.argsort(-shares):
        entry: dict[str, Any] = {
            "name": names[j],
            "importance": float(shares[j]),
            "in_formulas": names[j] in used,
            "mean": float(states[:, j].mean()),
            "std": float(spread[j]),
            "effect_per_unit": {a: float(mean_grad[j, i]) for i, a in enumerate(policy.action_names)},
        }
        if descriptions is not None:
            entry["description"] = descriptions[j]
        variables.append(entry)
    actions = []
    if policy.action_kind == "discrete":
        chosen = policy.act(states)
        for i, action in enumerate(policy.action_names):
            mask = chosen == i
            actions.append(
                {
                    "name": action,
                    "formula": to_text(policy.formulas[i]),
                    "share_of_states": float(mask.mean()),
                    "mean_when_chosen": {n: float(states[mask, j].mean()) for j, n in enumerate(names)} if mask.any() else {},
                }
            )
    else:
        outputs = policy.act(states)
        for i, action in enumerate(policy.action_names):
            actions.append({"name": action, "formula": to_text(policy.formulas[i]), "mean_output": float(outputs[:, i].mean())})
    return {
        "method": "offline: central-difference sensitivities of the formulas over visited states",
        "states": int(len(states)),
        "variables": variables,
        "actions": actions,
        "summary": _summary(policy, variables, actions),
    }


def _summary(policy: FormulaPolicy, variables: list[dict[str, Any]], actions: list[dict[str, Any]]) -> str:
    lines = []
    if policy.action_kind == "discrete" and len(policy.action_names) == 2:
        a0, a1 = policy.action_names
        rule = to_display_text(policy.formulas[1]) if to_text(policy.formulas[0]) == "0.0" else (
            f"({to_display_text(policy.formulas[1])}) - ({to_display_text(policy.formulas[0])})"
        )
        if len(rule) > 120:  # a long formula is on the card; repeating it here hides the rest
            rule = f"the difference of their formulas (see the policy card, {len(rule)} characters)"
        lines.append(f"The policy chooses {a1} when {rule} > 0, and {a0} otherwise.")
    elif policy.action_kind == "discrete":
        lines.append("The policy chooses the action whose formula is largest.")
    else:
        lines.append("Each action dimension is its formula, clipped to the action bounds.")
    for var in variables:
        if not var["in_formulas"]:
            continue
        effects = var["effect_per_unit"]
        if policy.action_kind == "discrete":
            towards = max(effects, key=effects.get)
            away = min(effects, key=effects.get)
            lines.append(
                f"Raising {var['name']} favours {towards} over {away} "
                f"(preference gap {_signed(effects[towards] - effects[away])} per unit on average; "
                f"{var['importance']:.0%} of the policy's sensitivity)."
            )
        else:
            parts = ", ".join(f"{a} by {_signed(v)}" for a, v in effects.items())
            lines.append(f"Raising {var['name']} changes {parts} per unit ({var['importance']:.0%} of the sensitivity).")
    unused = [v["name"] for v in variables if not v["in_formulas"]]
    if unused:
        lines.append(f"The policy ignores {', '.join(unused)}.")
    for action in actions:
        if "share_of_states" in action:
            lines.append(f"{action['name']} is taken in {action['share_of_states']:.0%} of the visited states.")
    return " ".join(lines)


def explanation_markdown(explanation: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", "", explanation["summary"], "", "| variable | importance | in formulas | effect per unit |", "|---|---|---|---|"]
    for var in explanation["variables"]:
        effects = ", ".join(f"{a}: {_signed(v)}" for a, v in var["effect_per_unit"].items())
        lines.append(f"| {var['name']} | {var['importance']:.1%} | {'yes' if var['in_formulas'] else 'no'} | {effects} |")
    lines += ["", f"_{explanation['method']}; {explanation['states']} states._"]
    return "\n".join(lines) + "\n"
