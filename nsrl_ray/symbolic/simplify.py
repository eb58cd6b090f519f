"""Algebraic clean-up of expressions (never increases complexity, idempotent).

Two kinds of rewrites are applied bottom-up until none applies:

* local rules (x + 0 -> x, --x -> x, constant folding, ...), which are exact;
* reassociation of + / - chains and of * chains (through unary minus): all constant
  terms (factors) of a chain are merged into one constant, placed last in sums
  (`rest + c`) and first in products (`c * rest`), and identical terms of a sum are
  merged (x + x + x -> 3.0 * x). It is applied only where it lowers the node count, and
  is exact up to floating-point rounding (the operations are evaluated in another order).
  Protected division is never reassociated: it is not true division.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from nsrl_ray.symbolic.expression import Call, Const, Expr, complexity, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES

__all__ = ["simplify"]

# Rewrites strictly shrink the tree or keep its size and are terminating, so this bound is
# never reached in practice; it only guards against an unforeseen rule interaction.
_MAX_PASSES = 64


def simplify(expr: Expr) -> Expr:
    """Apply rewrites bottom-up until none applies; the result has no more nodes than `expr`.

    Values are preserved for all finite inputs: the local rules exactly (IEEE results are
    identical up to the sign of zero), the reassociation of +/- and * chains up to rounding
    (it changes the order in which constants are combined, e.g.
    `2.0 * (3.0 * x) -> 6.0 * x`). Rewrites that drop a subtree (x*0 -> 0, x-x -> 0,
    x/x -> 1) are exact only when that subtree is finite; at inf/nan the original would
    yield nan. Constant folding uses the protected semantics and is skipped when the result
    would not be finite. `simplify(simplify(e)) == simplify(e)`.
    """
    validate(expr)
    result = expr
    for _ in range(_MAX_PASSES):
        previous, result = result, _simplify(result)
        if result == previous:
            break
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
    result = _rewrite_local(node)
    if isinstance(result, Call):
        return _reassociate(result)
    return result


def _rewrite_local(node: Call) -> Expr:
    """The exact local rules."""
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


# --------------------------------------------------------------------------- reassociation

_SUM_OPS = ("add", "sub")


def _reassociate(node: Call) -> Expr:
    """Merge the constants (and equal terms) of the +/- or * chain rooted at `node`.

    Returns `node` unchanged unless the rebuilt chain has strictly fewer nodes.
    """
    kind = node.op
    if kind == "neg":
        child = node.args[0]
        if not isinstance(child, Call):
            return node
        kind = child.op
    if kind in _SUM_OPS:
        rebuilt = _reassociate_sum(node)
    elif kind == "mul":
        rebuilt = _reassociate_product(node)
    else:
        return node
    if rebuilt is None or complexity(rebuilt) >= complexity(node):
        return node
    return rebuilt


def _flatten_sum(node: Expr, sign: int, terms: list[tuple[int, Expr]], constants: list[float]) -> None:
    """Signed terms of a +/- chain (through unary minus); constants go to `constants`."""
    while True:
        if isinstance(node, Const):
            constants.append(sign * node.value)
            return
        if not isinstance(node, Call):
            break
        if node.op == "neg":
            node, sign = node.args[0], -sign
            continue
        if node.op in _SUM_OPS:
            left, right = node.args
            _flatten_sum(left, sign, terms, constants)
            node, sign = right, (sign if node.op == "add" else -sign)
            continue
        break
    terms.append((sign, node))


def _split_coefficient(term: Expr) -> tuple[float, Expr]:
    """A product term -> (its constant coefficient, the product of its other factors).

    `2.0 * x * y` and `x * (y * 2.0)` both give (2.0, x * y); other terms give (1.0, term).
    """
    if not (isinstance(term, Call) and term.op == "mul"):
        return 1.0, term
    factors: list[Expr] = []
    constants: list[float] = []
    signs = _flatten_product(term, factors, constants)
    coefficient = _product(constants, signs)
    if coefficient is None or not factors:
        return 1.0, term
    return coefficient, _build_product(factors)


def _exact_sum(values: list[float]) -> float | None:
    """Correctly rounded sum, or None when it is not finite."""
    try:
        total = math.fsum(values)
    except OverflowError:
        return None
    return total if math.isfinite(total) else None


def _reassociate_sum(node: Call) -> Expr | None:
    terms: list[tuple[int, Expr]] = []
    constants: list[float] = []
    _flatten_sum(node, 1, terms, constants)

    # Group terms by their non-constant part, keeping the order of first appearance.
    groups: dict[Expr, list[tuple[int, Expr, float]]] = {}
    for sign, term in terms:
        coefficient, base = _split_coefficient(term)
        groups.setdefault(base, []).append((sign, term, coefficient))
    if len(constants) < 2 and len(groups) == len(terms) and node.op != "neg":
        return None  # nothing to merge

    constant = _exact_sum(constants) if constants else 0.0
    if constant is None:
        return None
    merged: list[tuple[int, Expr]] = []
    for base, members in groups.items():
        if len(members) == 1:
            sign, term, _ = members[0]
            merged.append((sign, term))
            continue
        k = _exact_sum([sign * coefficient for sign, _, coefficient in members])
        if k is None:
            return None
        if k == 0.0:
            continue  # x - x -> 0 (exact for finite x, like the local rule)
        if abs(k) == 1.0:
            merged.append((1 if k > 0 else -1, base))
        else:
            merged.append((1 if k > 0 else -1, _call("mul", Const(abs(k)), base)))
    return _build_sum(merged, constant)


def _build_sum(terms: list[tuple[int, Expr]], constant: float) -> Expr:
    """`t1 +- t2 +- ... +- c`, starting with a positive term where there is one."""
    if not terms:
        return Const(constant)
    first = next((i for i, (sign, _) in enumerate(terms) if sign > 0), None)
    if first is not None:
        result: Expr = terms[first][1]
        rest = terms[:first] + terms[first + 1 :]
    elif constant != 0.0:
        # Only negative terms: `c - t1 - t2` avoids a unary minus.
        result, constant, rest = Const(constant), 0.0, terms
    else:
        result, rest = _rewrite_local(_call("neg", terms[0][1])), terms[1:]
    for sign, term in rest:
        result = _call("add" if sign > 0 else "sub", result, term)
    if constant > 0.0:
        result = _call("add", result, Const(constant))
    elif constant < 0.0:
        result = _call("sub", result, Const(-constant))
    return result


def _flatten_product(node: Expr, factors: list[Expr], constants: list[float]) -> int:
    """Factors of a * chain (through unary minus); returns the number of minus signs."""
    signs = 0
    while True:
        if isinstance(node, Const):
            constants.append(node.value)
            return signs
        if isinstance(node, Call) and node.op == "neg":
            node, signs = node.args[0], signs + 1
            continue
        if isinstance(node, Call) and node.op == "mul":
            left, right = node.args
            signs += _flatten_product(left, factors, constants)
            node = right
            continue
        factors.append(node)
        return signs


def _product(constants: list[float], signs: int) -> float | None:
    """Product of the constants and `signs` factors -1; None on overflow or underflow."""
    value = -1.0 if signs % 2 else 1.0
    for constant in constants:
        value *= constant
    # A zero or subnormal product of non-zero constants has lost their value.
    if not math.isfinite(value) or (abs(value) < sys.float_info.min and 0.0 not in constants):
        return None
    return value


def _build_product(factors: list[Expr]) -> Expr:
    result = factors[0]
    for factor in factors[1:]:
        result = _call("mul", result, factor)
    return result


def _reassociate_product(node: Call) -> Expr | None:
    factors: list[Expr] = []
    constants: list[float] = []
    signs = _flatten_product(node, factors, constants)
    if len(constants) + signs < 2 or not factors:
        return None  # nothing to merge
    constant = _product(constants, signs)
    if constant is None:
        return None
    if constant == 0.0:
        return Const(0.0)
    rest = _build_product(factors)
    if constant == 1.0:
        return rest
    if constant == -1.0:
        return _rewrite_local(_call("neg", rest))
    return _call("mul", Const(constant), rest)
