"""An expression as a torch module whose constants are parameters (DiffSES's differentiable constants).

`ExpressionModule(expr, variables)` computes the formula on a (batch, n_variables) tensor with the
same semantics as `evaluate` (protected operators included) and holds every constant of the tree,
in preorder, in one parameter vector; `to_expression()` writes the current values back into the
tree. The guarded operators keep their gradients finite: the unused branch of a guard is computed
on a safe stand-in value, so it never sends NaN back through `torch.where`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from nsrl_ray.symbolic.constants import constants_of
from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, validate
from nsrl_ray.symbolic.primitives import PROTECTION_THRESHOLD, ExpressionError

__all__ = ["TORCH_FUNCTIONS", "ExpressionModule", "FormulaSet"]

_Fn = Callable[..., torch.Tensor]


def _guarded(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ok = x.abs() > PROTECTION_THRESHOLD
    return ok, torch.where(ok, x, torch.ones_like(x))


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ok, safe = _guarded(b)
    return torch.where(ok, a / safe, torch.ones_like(a))


def _log(x: torch.Tensor) -> torch.Tensor:
    ok, safe = _guarded(x)
    return torch.where(ok, torch.log(safe.abs()), torch.zeros_like(x))


def _inv(x: torch.Tensor) -> torch.Tensor:
    ok, safe = _guarded(x)
    return torch.where(ok, 1.0 / safe, torch.zeros_like(x))


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    magnitude = x.abs()
    # At 0 the derivative is infinite; the smallest normal float stands in so gradients stay finite.
    floor = torch.finfo(magnitude.dtype).tiny
    return torch.where(magnitude > 0, torch.sqrt(magnitude.clamp_min(floor)), torch.zeros_like(x))


def _distance(x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
    return _sqrt(torch.square(x1 - x2) + torch.square(y1 - y2))


#: Torch semantics of the built-in primitives (same values as their numpy functions).
TORCH_FUNCTIONS: dict[str, _Fn] = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": _div,
    "neg": torch.neg,
    "abs": torch.abs,
    "sqrt": _sqrt,
    "log": _log,
    "inv": _inv,
    "max": torch.maximum,
    "min": torch.minimum,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "exp": torch.exp,
    "pow2": lambda x: torch.pow(x, 2),
    "pow3": lambda x: torch.pow(x, 3),
    "pow4": lambda x: torch.pow(x, 4),
    "gt": lambda a, b: torch.where(a > b, torch.ones_like(a), torch.zeros_like(a)),
    "ifelse": lambda c, a, b: torch.where(c > 0, a, b),
    "dist_x": lambda a, b: torch.abs(a - b),
    "dist_y": lambda a, b: torch.abs(a - b),
    "distance": _distance,
    "is_left_of": lambda a, b: torch.where(a < b, torch.ones_like(a), torch.zeros_like(a)),
    "is_above": lambda a, b: torch.where(a < b, torch.ones_like(a), torch.zeros_like(a)),
    "within_range": lambda a, b, r: torch.where((a - b).abs() > r.abs(), torch.zeros_like(a), torch.ones_like(a)),
}


class ExpressionModule(nn.Module):
    """One formula as a differentiable function of a (batch, n_variables) tensor; constants are parameters."""

    def __init__(self, expr: Expr, variables: Sequence[str], functions: Mapping[str, _Fn] | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.variables = tuple(variables)
        validate(expr, self.variables)
        table = {**TORCH_FUNCTIONS, **(functions or {})}
        self.expr = expr
        self.constants = nn.Parameter(torch.tensor(constants_of(expr), dtype=dtype or torch.get_default_dtype()))
        index = {name: i for i, name in enumerate(self.variables)}
        counter = iter(range(len(self.constants)))

        def build(node: Expr) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
            if isinstance(node, Const):
                i = next(counter)
                return lambda X, c: c[i].expand(X.shape[0])
            if isinstance(node, Var):
                j = index[node.name]
                return lambda X, c: X[:, j]
            assert isinstance(node, Call)
            if node.op not in table:
                raise ExpressionError(
                    f"Primitive {node.op!r} has no torch form; pass functions={{{node.op!r}: fn}} with a torch "
                    f"function of {len(node.args)} tensor(s). Known: {sorted(table)}."
                )
            fn = table[node.op]
            parts = [build(arg) for arg in node.args]
            return lambda X, c: fn(*(part(X, c) for part in parts))

        self._fn = build(expr)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.ndim != 2 or X.shape[1] != len(self.variables):
            raise ValueError(f"expected a tensor of shape (batch, {len(self.variables)}), got {tuple(X.shape)}.")
        return self._fn(X.to(self.constants.dtype), self.constants)

    def to_expression(self) -> Expr:
        """The tree with the current constant values."""
        values = iter(float(v) for v in self.constants.detach().cpu())

        def rebuild(node: Expr) -> Expr:
            if isinstance(node, Const):
                return Const(next(values))
            if isinstance(node, Call):
                return Call(node.op, tuple(rebuild(arg) for arg in node.args))
            return node

        return rebuild(self.expr)


class FormulaSet(nn.Module):
    """One ExpressionModule per action; forward gives (batch, n_formulas)."""

    def __init__(self, formulas: Sequence[Expr], variables: Sequence[str], functions: Mapping[str, _Fn] | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.formulas = nn.ModuleList(ExpressionModule(f, variables, functions, dtype) for f in formulas)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.stack([f(X) for f in self.formulas], dim=1)

    def to_expressions(self) -> tuple[Expr, ...]:
        return tuple(f.to_expression() for f in self.formulas)  # type: ignore[union-attr]
