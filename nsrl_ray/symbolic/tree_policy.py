"""How evolved trees become a policy's formulas: one tree per action (argmax) or per action dimension (tanh-squashed).

Discrete: each tree is an action's logit and the policy takes the argmax. With a reference
action, action 0's logit is the constant 0 and the trees give the other actions' logits relative
to it (argmax is unchanged by subtracting one logit from all, so no policy is lost and there is
one tree fewer to search).

Continuous: each tree t gives one action dimension ``mid + half * tanh(t)``, which always lies
inside the action bounds; the formula written to the policy card includes the squash, so the
card plays exactly what the search scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nsrl_ray.symbolic.expression import Call, Const, Expr
from nsrl_ray.symbolic.simplify import simplify

__all__ = ["TreeEncoding"]


@dataclass(frozen=True)
class TreeEncoding:
    """Maps a tuple of trees to the policy's formulas and back (for warm starts)."""

    action_kind: Literal["discrete", "continuous"]
    n_actions: int
    """Discrete: the number of actions; continuous: the number of action dimensions."""
    reference_action: bool = True
    """Discrete only: action 0's logit is fixed to 0 (one tree fewer)."""
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.action_kind not in ("discrete", "continuous"):
            raise ValueError(f"action_kind: got {self.action_kind!r}, expected 'discrete' or 'continuous'.")
        if self.n_actions < 1:
            raise ValueError(f"n_actions: got {self.n_actions}, expected >= 1.")
        if self.action_kind == "continuous":
            if self.low is None or self.high is None or len(self.low) != self.n_actions or len(self.high) != self.n_actions:
                raise ValueError(
                    f"continuous actions need low and high bounds with {self.n_actions} values each, "
                    f"got low={self.low}, high={self.high}."
                )
            if any(not (h > lo) for lo, h in zip(self.low, self.high)):
                raise ValueError(f"action bounds: every high must exceed its low, got low={self.low}, high={self.high}.")

    @property
    def n_trees(self) -> int:
        if self.action_kind == "discrete" and self.reference_action:
            return self.n_actions - 1
        return self.n_actions

    def formulas(self, trees: Sequence[Expr]) -> tuple[Expr, ...]:
        """The policy's formulas (one per action or action dimension) for these trees."""
        if len(trees) != self.n_trees:
            raise ValueError(f"got {len(trees)} trees, expected {self.n_trees}.")
        if self.action_kind == "discrete":
            return (Const(0.0), *trees) if self.reference_action else tuple(trees)
        out = []
        for tree, low, high in zip(trees, self.low, self.high):  # type: ignore[arg-type]
            mid, half = (high + low) / 2.0, (high - low) / 2.0
            squashed = Call("mul", (Const(half), Call("tanh", (tree,))))
            out.append(squashed if mid == 0.0 else Call("add", (Const(mid), squashed)))
        return tuple(out)

    def trees(self, formulas: Sequence[Expr]) -> tuple[Expr, ...]:
        """Trees whose policy acts like ``formulas`` (a distilled or earlier policy), for a warm start.

        Discrete: logits relative to action 0's. Continuous: the exact tree when the formula has
        our squashed form, else ``(formula - mid) / half``, which tanh maps back to nearly the same
        action wherever that lies well inside the bounds.
        """
        if len(formulas) != self.n_actions:
            raise ValueError(f"got {len(formulas)} formulas, expected one per action ({self.n_actions}).")
        if self.action_kind == "discrete":
            if not self.reference_action:
                return tuple(formulas)
            base = formulas[0]
            if isinstance(base, Const) and base.value == 0.0:
                return tuple(formulas[1:])
            return tuple(simplify(Call("sub", (f, base))) for f in formulas[1:])
        out = []
        for formula, low, high in zip(formulas, self.low, self.high):  # type: ignore[arg-type]
            mid, half = (high + low) / 2.0, (high - low) / 2.0
            inner = _unsquash(formula, mid, half)
            if inner is None:
                shifted = formula if mid == 0.0 else Call("sub", (formula, Const(mid)))
                inner = simplify(Call("mul", (Const(1.0 / half), shifted)))
            out.append(inner)
        return tuple(out)


def _unsquash(formula: Expr, mid: float, half: float) -> Expr | None:
    """t when ``formula`` is exactly ``[mid +] half * tanh(t)``, else None."""
    if mid != 0.0:
        if not (isinstance(formula, Call) and formula.op == "add" and formula.args[0] == Const(mid)):
            return None
        formula = formula.args[1]
    if (isinstance(formula, Call) and formula.op == "mul" and formula.args[0] == Const(half)
            and isinstance(formula.args[1], Call) and formula.args[1].op == "tanh"):
        return formula.args[1].args[0]
    return None
