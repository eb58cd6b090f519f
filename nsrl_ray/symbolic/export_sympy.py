"""Conversion of expressions to sympy, with protected operators as exact Piecewise forms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES

if TYPE_CHECKING:
    import sympy

__all__ = ["to_sympy"]


def to_sympy(expr: Expr) -> sympy.Expr:
    """Equivalent sympy expression; each variable becomes `sympy.Symbol(name)` (no assumptions).

    Protected operators become Piecewise expressions with gplearn's 0.001 threshold, so
    `sympy.lambdify` of the result reproduces `evaluate` numerically.
    """
    import sympy  # lazy: only exporting needs sympy

    validate(expr)
    symbols: dict[str, sympy.Symbol] = {}

    def convert(node: Expr) -> sympy.Expr:
        if isinstance(node, Const):
            # Float(python float) keeps the exact binary value of the constant.
            return sympy.Float(node.value)
        if isinstance(node, Var):
            if node.name not in symbols:
                symbols[node.name] = sympy.Symbol(node.name)
            return symbols[node.name]
        assert isinstance(node, Call)
        return PRIMITIVES[node.op].sympy_fn(*(convert(arg) for arg in node.args))

    return convert(expr)
