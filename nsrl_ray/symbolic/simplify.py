"""Exact, semantics-preserving algebraic clean-up of expressions (never increases complexity)."""

from __future__ import annotations

import math

import numpy as np

from nsrl_ray.symbolic.expression import Call, Const, Expr, complexity, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES

__all__ = ["simplify"]


def simplify(expr: Expr) -> Expr:
    """Apply exact rewrites bottom-up until none applies.

    Values are preserved for all finite inputs (IEEE results are identical up to the sign
    of zero). Rewrites that drop a subtree (x*0 -> 0, x-x -> 0, x/x -> 1) are exact only when
    that subtree is finite; at inf/nan the original would yield nan. Constant folding uses
    the protected semantics and is skipped when the result would not be finite.
    """
    validate(expr)
    result = _simplify(expr)
    # Every rule shrinks or keeps the size; this guard makes the promise unconditional.
    return result if complexity(result) <= complexity(expr) else expr


def _simplify(node: Expr) -> Expr:
    if not isinstance(node, Call):
        return node
    return _rewrite(Call(node.op, tuple(_simplify(arg) for arg in node.args)))


def _is_const(node: Expr, value: float | None = None) -> bool:
    return isinstance(node, Const) and (value is None or node.value == value)


def _is_negative_const(node: Expr) -> bool:
    return isinstance(node, Const) and node.value < 0


def _call(op: str, *args: Expr) -> Call:
    return Call(op, args)


def _fold(node: Call) -> Expr | None:
    with np.errstate(all="ignore"):
        out = PRIMITIVES[node.op].numpy_fn(*(np.array([a.value]) for a in node.args))  # type: ignore[union-attr]
    value = float(np.asarray(out, dtype=np.float64).reshape(-1)[0])
    return Const(value) if math.isfinite(value) else None


def _rewrite(node: Call) -> Expr:
    """Rewrite a call whose arguments are already simplified; returns a simplified node."""
    op, args = node.op, node.args
    if all(isinstance(a, Const) for a in args):
        folded = _fold(node)
        return folded if folded is not None else node
    if op == "add":
        a, b = args
        if _is_const(a, 0.0):
            return b
        if _is_const(b, 0.0):
            return a
        if _is_negative_const(b):  # x + -c  ->  x - c (negation is exact)
            return _call("sub", a, Const(-b.value))  # type: ignore[union-attr]
        if isinstance(b, Call) and b.op == "neg":  # x + -y  ->  x - y
            return _rewrite(_call("sub", a, b.args[0]))
        if isinstance(a, Call) and a.op == "neg":  # -x + y  ->  y - x
            return _rewrite(_call("sub", b, a.args[0]))
    elif op == "sub":
        a, b = args
        if a == b:
            return Const(0.0)
        if _is_const(b, 0.0):
            return a
        if _is_const(a, 0.0):
            return _rewrite(_call("neg", b))
        if _is_negative_const(b):  # x - -c  ->  x + c
            return _call("add", a, Const(-b.value))  # type: ignore[union-attr]
        if isinstance(b, Call) and b.op == "neg":  # x - -y  ->  x + y
            return _rewrite(_call("add", a, b.args[0]))
    elif op == "mul":
        a, b = args
        if _is_const(a, 0.0) or _is_const(b, 0.0):
            return Const(0.0)
        if _is_const(a, 1.0):
            return b
        if _is_const(b, 1.0):
            return a
        if _is_const(a, -1.0):
            return _rewrite(_call("neg", b))
        if _is_const(b, -1.0):
            return _rewrite(_call("neg", a))
        if isinstance(a, Call) and a.op == "neg" and isinstance(b, Call) and b.op == "neg":
            return _rewrite(_call("mul", a.args[0], b.args[0]))
    elif op == "div":
        a, b = args
        if a == b:  # protected: x/x for |x| > 0.001, and 1 otherwise
            return Const(1.0)
        if _is_const(b, 1.0):
            return a
        if isinstance(a, Call) and a.op == "neg" and isinstance(b, Call) and b.op == "neg":
            return _rewrite(_call("div", a.args[0], b.args[0]))
    elif op == "neg":
        (a,) = args
        if isinstance(a, Call) and a.op == "neg":
            return a.args[0]
        if isinstance(a, Call) and a.op == "sub":  # -(x - y) -> y - x (rounding is symmetric)
            return _rewrite(_call("sub", a.args[1], a.args[0]))
        if isinstance(a, Call) and a.op == "mul" and isinstance(a.args[0], Const):  # -(c*x) -> (-c)*x
            return _rewrite(_call("mul", Const(-a.args[0].value), a.args[1]))
    elif op in ("abs", "sqrt", "log"):
        (a,) = args
        # These only see |x|, so an inner abs or neg is redundant.
        if isinstance(a, Call) and a.op in ("abs", "neg"):
            return _rewrite(_call(op, a.args[0]))
        if op == "abs" and isinstance(a, Call) and a.op == "sqrt":
            return a
    elif op in ("max", "min"):
        a, b = args
        if a == b:
            return a
    return node
