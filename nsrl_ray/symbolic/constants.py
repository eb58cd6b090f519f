"""The constants of an expression as a flat vector, and the expression with new ones (depth-first order)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from nsrl_ray.symbolic.expression import Call, Const, Expr

__all__ = ["constants_of", "with_constants"]


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
