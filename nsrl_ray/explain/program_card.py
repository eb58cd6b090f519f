"""The policy card of a Karel program (kind "program"): writing, validating, reading, markdown.

A program card holds the program text (LEAPS tokens, re-read with the safe parser, never
evaluated as code), the task it solves (name, grid size, options), the node-call budget, and the
metrics of the stages. `ProgramCard.policy()` gives a callable that runs the program on a world
and needs neither Ray nor torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsrl_ray.explain.policy_card import (
    CARD_FORMAT,
    CARD_VERSION,
    PolicyCard,
    PolicyCardError,
    check_card_header,
    format_metric,
    require_field,
)
from nsrl_ray.symbolic.karel.policy import ProgramPolicy
from nsrl_ray.symbolic.karel.program import Program, node_count, to_display, to_text, token_count
from nsrl_ray.symbolic.karel.syntax import KarelSyntaxError, parse_program

PROGRAM_KIND = "program"


@dataclass(frozen=True)
class ProgramCard:
    """Everything needed to run and read a Karel program policy, and how well it did."""

    env: str
    learner: str
    program: Program
    task: str
    height: int
    width: int
    max_calls: int
    task_options: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return PROGRAM_KIND

    @property
    def complexity(self) -> int:
        """Statements plus conditions."""
        return node_count(self.program)

    def policy(self) -> ProgramPolicy:
        return ProgramPolicy(self.program, self.task, self.height, self.width, self.max_calls, self.task_options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "kind": self.kind,
            "learner": self.learner,
            "env": self.env,
            "task": {"name": self.task, "height": self.height, "width": self.width, "options": dict(self.task_options)},
            "max_calls": self.max_calls,
            "program": to_text(self.program),
            "display": to_display(self.program),
            "tokens": token_count(self.program),
            "complexity": self.complexity,
            "metrics": dict(self.metrics),
            "explanation": dict(self.explanation),
            "provenance": dict(self.provenance),
        }


def program_card_from_dict(data: Any, where: str = "policy card") -> ProgramCard:
    """Validate a program card's JSON data; the program is read with the Karel parser."""
    data = check_card_header(data, PROGRAM_KIND, where)
    text = require_field(data, "program", str, where)
    try:
        program = parse_program(text)
    except KarelSyntaxError as error:
        raise PolicyCardError(f"{where}: invalid program: {error}") from None
    task = require_field(data, "task", dict, where)
    name = require_field(task, "name", str, f"{where}: task")
    height = require_field(task, "height", int, f"{where}: task")
    width = require_field(task, "width", int, f"{where}: task")
    options = task.get("options") or {}
    if not isinstance(options, dict):
        raise PolicyCardError(f"{where}: task options are {type(options).__name__}, expected an object.")
    max_calls = require_field(data, "max_calls", int, where)
    if max_calls < 1:
        raise PolicyCardError(f"{where}: max_calls is {max_calls}, expected a positive integer.")
    from nsrl_ray.envs.karel.tasks import make_task

    try:
        make_task(name, height, width, **options)
    except (TypeError, ValueError) as error:
        raise PolicyCardError(f"{where}: task {task!r} is not usable: {error}") from None
    return ProgramCard(
        env=require_field(data, "env", str, where),
        learner=require_field(data, "learner", str, where),
        program=program,
        task=name,
        height=height,
        width=width,
        max_calls=max_calls,
        task_options=options,
        metrics=data.get("metrics") or {},
        explanation=data.get("explanation") or {},
        provenance=data.get("provenance") or {},
    )


def program_card_markdown(card: ProgramCard) -> str:
    """The human-readable twin of a program card."""
    lines = [
        f"# Policy card: {card.env} ({card.learner})",
        "",
        f"- kind: program (Karel DSL); task `{card.task}` on a {card.height}x{card.width} grid",
        f"- size: {token_count(card.program)} tokens, {card.complexity} statements and conditions; "
        f"budget {card.max_calls} node calls per run",
        "",
        "## Program",
        "",
        "```",
        to_text(card.program),
        "```",
        "",
        "```python",
        to_display(card.program),
        "```",
    ]
    if card.metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {format_metric(value)} |" for key, value in card.metrics.items() if not isinstance(value, (list, dict))]
    summary = card.explanation.get("summary")
    if summary:
        lines += ["", "## Explanation", "", summary]
    return "\n".join(lines) + "\n"


def read_any_card(path: str | Path) -> PolicyCard | ProgramCard:
    """Read policy.json (or the folder holding it) as a formula card or a program card, by its kind."""
    from nsrl_ray.explain.policy_card import CARD_FILE, card_from_dict

    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    if not path.is_file():
        raise PolicyCardError(f"no policy card at {str(path)!r}; expected a policy.json written by `nsrl run`.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PolicyCardError(f"{path}: not valid JSON ({error}); the file is corrupt.") from None
    if isinstance(data, dict) and data.get("kind") == PROGRAM_KIND:
        return program_card_from_dict(data, where=str(path))
    return card_from_dict(data, where=str(path))


def any_card_markdown(card: PolicyCard | ProgramCard) -> str:
    from nsrl_ray.explain.policy_card import card_markdown

    return program_card_markdown(card) if isinstance(card, ProgramCard) else card_markdown(card)
