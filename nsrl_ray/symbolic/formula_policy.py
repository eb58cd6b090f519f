"""A policy made of one formula per action: numpy only, no Ray, no torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from nsrl_ray.symbolic.expression import Expr, compile_expression, complexity


@dataclass(frozen=True)
class FormulaPolicy:
    """Discrete: each formula is an action's logit, the action is the argmax (probabilities: softmax).

    Continuous: each formula is one action dimension, clipped to the action bounds.
    """

    variables: tuple[str, ...]
    formulas: tuple[Expr, ...]
    action_names: tuple[str, ...]
    action_kind: Literal["discrete", "continuous"] = "discrete"
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    _compiled: tuple[Callable[[np.ndarray], np.ndarray], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.formulas) != len(self.action_names):
            raise ValueError(
                f"FormulaPolicy: {len(self.formulas)} formulas for {len(self.action_names)} actions "
                f"{list(self.action_names)}; expected one formula per action."
            )
        if self.action_kind not in ("discrete", "continuous"):
            raise ValueError(f"FormulaPolicy: action_kind {self.action_kind!r}, expected 'discrete' or 'continuous'.")
        compiled = tuple(compile_expression(f, self.variables) for f in self.formulas)
        object.__setattr__(self, "_compiled", compiled)

    @property
    def complexity(self) -> int:
        """Total node count over the formulas."""
        return sum(complexity(f) for f in self.formulas)

    def _batch(self, obs: Sequence[float] | np.ndarray) -> np.ndarray:
        batch = np.asarray(obs, dtype=np.float64)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2 or batch.shape[1] != len(self.variables):
            raise ValueError(
                f"observation shape {np.shape(obs)}; expected ({len(self.variables)},) or "
                f"(batch, {len(self.variables)}) for variables {list(self.variables)}."
            )
        return batch

    def outputs(self, obs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Formula values, shape (batch, n_actions): logits (discrete) or unclipped actions."""
        batch = self._batch(obs)
        return np.stack([fn(batch) for fn in self._compiled], axis=1)

    def probabilities(self, obs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Softmax of the logits (discrete policies only)."""
        if self.action_kind != "discrete":
            raise ValueError("probabilities are defined for discrete policies only.")
        logits = self.outputs(obs)
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def act(self, obs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Actions for a batch: int indices (discrete) or clipped float vectors (continuous)."""
        values = self.outputs(obs)
        if self.action_kind == "discrete":
            return values.argmax(axis=1)
        if self.action_low is not None and self.action_high is not None:
            values = np.clip(values, self.action_low, self.action_high)
        return values

    def __call__(self, obs: Sequence[float] | np.ndarray) -> int | np.ndarray:
        """The action for one observation (an int, or a float vector for continuous actions)."""
        action = self.act(obs)[0]
        return int(action) if self.action_kind == "discrete" else action
