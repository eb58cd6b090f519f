"""Why a policy took one action: gradients for formula policies; the extension point for program traces.

A decision explanation needs evidence for the action taken. A differentiable policy gives the
gradient of the chosen action's log-probability per variable. A program policy (Karel) has no
gradient: its builder should return `DecisionFacts(evidence="trace", trace=(...lines...))`
with the executed statements that led to the action, and register itself with
`register_evidence_builder("program", builder)`. Prompts, offline words and the
faithfulness check read `DecisionFacts.evidence` and fall back to the trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nsrl_ray.explain.analysis import DecisionFacts, decision_facts
from nsrl_ray.explain.gradients import FormulaGradients

#: (card, state, baseline, episode, step, gradients or None) -> DecisionFacts
EvidenceBuilder = Callable[[Any, np.ndarray, np.ndarray, "int | None", "int | None", Any], DecisionFacts]


def _formula_evidence(card: Any, state: np.ndarray, baseline: np.ndarray, episode: int | None, step: int | None,
                      gradients: FormulaGradients | None) -> DecisionFacts:
    return decision_facts(card.policy(), state, baseline, episode, step, gradients)


_BUILDERS: dict[str, EvidenceBuilder] = {"formula": _formula_evidence}


def register_evidence_builder(kind: str, builder: EvidenceBuilder) -> None:
    """Explain decisions of policy cards whose `kind` is ``kind`` (e.g. 'program' with an execution trace)."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string naming a policy card kind, got {kind!r}.")
    if not callable(builder):
        raise TypeError(f"builder must be callable, got {type(builder).__name__}.")
    _BUILDERS[kind] = builder


def decision_evidence(card: Any, state: np.ndarray, baseline: np.ndarray, episode: int | None = None,
                      step: int | None = None, gradients: FormulaGradients | None = None) -> DecisionFacts:
    """The facts of one decision of ``card``'s policy, with the evidence its kind supports."""
    kind = getattr(card, "kind", None)
    if kind not in _BUILDERS:
        raise ValueError(
            f"no decision evidence for policy kind {kind!r}; known kinds: {sorted(_BUILDERS)}. "
            "Register one with nsrl_ray.explain.evidence.register_evidence_builder()."
        )
    return _BUILDERS[kind](card, state, baseline, episode, step, gradients)
