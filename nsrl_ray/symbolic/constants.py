"""The constants of an expression as a flat vector, the expression with new ones (depth-first order), and gains on its variables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var

__all__ = ["constants_of", "drop_unit_gains", "with_constants", "with_variable_gains"]


def constants_of(expr: Expr) -> list[float]:
    """Every Const of ``expr``, depth first, left to right (the order `with_constants` reads them back)."""
    if isinstance(expr, Const):
        return [expr.value]
    if isinstance(expr, Call):
        return [value for arg in expr.args for value in constants_of(arg)]
    return []


def with_constants(expr: Expr, values: Sequence[float]) -> Expr:
    """``expr`` with its constants replaced, in `constants_of` order; the count must match."""
    expected = len(constants_of(expr))
    if len(values) != expected:
        raise ValueError(f"with_constants: {len(values)} values for {expected} constants in {expr}")
    supply: Iterator[float] = iter(values)

    def rebuild(node: Expr) -> Expr:
        if isinstance(node, Const):
            return Const(float(next(supply)))
        if isinstance(node, Call):
            return Call(node.op, tuple(rebuild(arg) for arg in node.args))
        return node

    return rebuild(expr)


def with_variable_gains(expr: Expr) -> Expr:
    """``expr`` with every variable x replaced by ``1 * x``: a tunable gain per variable occurrence."""
    if isinstance(expr, Var):
        return Call("mul", (Const(1.0), expr))
    if isinstance(expr, Call):
        return Call(expr.op, tuple(with_variable_gains(arg) for arg in expr.args))
    return expr


def drop_unit_gains(expr: Expr) -> Expr:
    """The inverse of `with_variable_gains` where a gain is still exactly 1 (the search left it alone)."""
    if isinstance(expr, Call):
        args = tuple(drop_unit_gains(arg) for arg in expr.args)
        if expr.op == "mul" and isinstance(args[0], Const) and args[0].value == 1.0 and isinstance(args[1], Var):
            return args[1]
        return Call(expr.op, args)
    return expr
