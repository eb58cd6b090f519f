"""The policy card: a self-describing, human-readable file for a learned formula policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nsrl_ray.symbolic.expression import Expr, ExpressionError, complexity
from nsrl_ray.symbolic.export_latex import to_latex
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.text import parse_expression, to_display_text, to_text

CARD_FORMAT = "nsrl_ray.policy_card"
CARD_VERSION = 1
CARD_FILE = "policy.json"


class PolicyCardError(ValueError):
    """A policy card file is missing, corrupt or does not describe a valid policy."""


@dataclass(frozen=True)
class PolicyCard:
    """Everything needed to run and read a formula policy, and how well it did."""

    env: str
    learner: str
    variables: tuple[str, ...]
    action_names: tuple[str, ...]
    formulas: tuple[Expr, ...]
    action_kind: Literal["discrete", "continuous"] = "discrete"
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "formula"

    @property
    def decision(self) -> str:
        return "argmax" if self.action_kind == "discrete" else "clip"

    @property
    def complexity(self) -> int:
        return sum(complexity(f) for f in self.formulas)

    def policy(self) -> FormulaPolicy:
        """The callable policy (numpy only)."""
        return FormulaPolicy(
            variables=self.variables,
            formulas=self.formulas,
            action_names=self.action_names,
            action_kind=self.action_kind,
            action_low=self.action_low,
            action_high=self.action_high,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "kind": self.kind,
            "learner": self.learner,
            "env": self.env,
            "variables": list(self.variables),
            "action_kind": self.action_kind,
            "decision": self.decision,
            "actions": [
                {
                    "index": index,
                    "name": name,
                    "formula": to_text(formula),
                    "display": to_display_text(formula),
                    "latex": to_latex(formula),
                    "complexity": complexity(formula),
                }
                for index, (name, formula) in enumerate(zip(self.action_names, self.formulas))
            ],
            "action_low": list(self.action_low) if self.action_low is not None else None,
            "action_high": list(self.action_high) if self.action_high is not None else None,
            "complexity": self.complexity,
            "metrics": dict(self.metrics),
            "explanation": dict(self.explanation),
            "provenance": dict(self.provenance),
        }


def require_field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """data[key], refused with the card's location when it is missing or of the wrong type (bool is no int)."""
    if key not in data:
        raise PolicyCardError(f"{where}: key '{key}' is missing.")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PolicyCardError(f"{where}: '{key}' is {type(value).__name__} {value!r}, expected {expected}.")
    return value


def check_card_header(data: Any, kind: str, where: str) -> dict[str, Any]:
    """Refuse anything that is not a card of this format, version and kind; the data as a dict."""
    if not isinstance(data, dict):
        raise PolicyCardError(f"{where}: holds {type(data).__name__}, expected a JSON object.")
    if data.get("format") != CARD_FORMAT:
        raise PolicyCardError(f"{where}: 'format' is {data.get('format')!r}, expected {CARD_FORMAT!r}; is this a policy card?")
    if data.get("version") != CARD_VERSION:
        raise PolicyCardError(f"{where}: version {data.get('version')!r} is not supported (this nsrl_ray reads version {CARD_VERSION}).")
    if data.get("kind") != kind:
        raise PolicyCardError(f"{where}: kind {data.get('kind')!r} is not supported; expected {kind!r}.")
    for key in ("metrics", "explanation", "provenance"):
        if not isinstance(data.get(key) or {}, dict):
            raise PolicyCardError(f"{where}: '{key}' is {type(data[key]).__name__}, expected an object.")
    return data


def card_from_dict(data: Any, where: str = "policy card") -> PolicyCard:
    """Validate a card's JSON data and parse its formulas (with the safe parser, never eval)."""
    data = check_card_header(data, "formula", where)
    variables = tuple(require_field(data, "variables", list, where))
    if not all(isinstance(v, str) and v.isidentifier() for v in variables):
        raise PolicyCardError(f"{where}: 'variables' must be identifiers, got {list(variables)}.")
    action_kind = require_field(data, "action_kind", str, where)
    if action_kind not in ("discrete", "continuous"):
        raise PolicyCardError(f"{where}: action_kind {action_kind!r}, expected 'discrete' or 'continuous'.")
    actions = require_field(data, "actions", list, where)
    if not actions:
        raise PolicyCardError(f"{where}: 'actions' is empty; expected one entry per action.")
    names: list[str] = []
    formulas: list[Expr] = []
    for i, action in enumerate(actions):
        entry = f"{where}: actions[{i}]"
        if not isinstance(action, dict):
            raise PolicyCardError(f"{entry} is {type(action).__name__}, expected an object with name and formula.")
        names.append(require_field(action, "name", str, entry))
        text = require_field(action, "formula", str, entry)
        try:
            formulas.append(parse_expression(text, variables=variables))
        except ExpressionError as error:
            raise PolicyCardError(f"{entry}: invalid formula {text!r}: {error}") from None
    bounds = []
    for key in ("action_low", "action_high"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)):
            raise PolicyCardError(f"{where}: '{key}' is {value!r}, expected a list of numbers or null.")
        if value is not None and len(value) != len(actions):
            raise PolicyCardError(f"{where}: '{key}' has {len(value)} values for {len(actions)} action dimensions.")
        bounds.append(tuple(float(v) for v in value) if value is not None else None)
    return PolicyCard(
        env=require_field(data, "env", str, where),
        learner=require_field(data, "learner", str, where),
        variables=variables,
        action_names=tuple(names),
        formulas=tuple(formulas),
        action_kind=action_kind,
        action_low=bounds[0],
        action_high=bounds[1],
        metrics=data.get("metrics") or {},
        explanation=data.get("explanation") or {},
        provenance=data.get("provenance") or {},
    )


def read_policy_card(path: str | Path) -> PolicyCard:
    """Read `policy.json` (or a folder holding it) into a PolicyCard, refusing corrupt files clearly."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    if not path.is_file():
        raise PolicyCardError(f"no policy card at {str(path)!r}; expected a policy.json written by `nsrl run`.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PolicyCardError(f"{path}: not valid JSON ({error}); the file is corrupt.") from None
    return card_from_dict(data, where=str(path))


def format_metric(value: Any) -> str:
    """A metric as the markdown cards print it (floats to 4 significant digits)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def card_markdown(card: PolicyCard) -> str:
    """The human-readable twin of policy.json."""
    lines = [
        f"# Policy card: {card.env} ({card.learner})",
        "",
        f"- kind: {card.kind}; decision: {card.decision} over one formula per action",
        f"- variables: {', '.join(f'`{v}`' for v in card.variables)}",
        f"- complexity: {card.complexity} nodes",
        "",
        "## Formulas",
        "",
    ]
    for index, (name, formula) in enumerate(zip(card.action_names, card.formulas)):
        lines.append(f"- action {index} `{name}`: `{to_display_text(formula)}`")
        lines.append(f"  - $${to_latex(formula)}$$")
    if card.action_kind == "discrete":
        lines += ["", "The policy takes the action whose formula is largest; softmax of the formulas gives probabilities."]
    if card.metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {format_metric(value)} |" for key, value in card.metrics.items()]
    summary = card.explanation.get("summary")
    if summary:
        lines += ["", "## Explanation", "", summary]
    return "\n".join(lines) + "\n"
