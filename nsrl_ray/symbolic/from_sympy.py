"""Conversion of (simplified) sympy expressions back to the expression IR, for EQL's export.

Covers what EQL produces: sums, products, integer powers, sqrt(|x|), exp, sin, cos, the
protected div/log/inv functions of `export_sympy`, and the `sigmoid` placeholder function.
Parsing never goes through text, so no `sympify` of raw strings is involved.
"""

from __future__ import annotations

from collections.abc import Collection

import sympy

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, validate
from nsrl_ray.symbolic.primitives import ExpressionError

__all__ = ["SympySigmoid", "from_sympy"]


class SympySigmoid(sympy.Function):  # printed as sigmoid(x); kept opaque so expand leaves it whole
    """1 / (1 + exp(-x)), as one node (IR primitive 'sigmoid')."""

    nargs = 1

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        if x.is_Number:
            return sympy.Float(1 / (1 + sympy.exp(-x)).evalf())
        return None

    def _sympystr(self, printer) -> str:  # noqa: ANN001
        return f"sigmoid({printer._print(self.args[0])})"


def _sum(terms: list[Expr]) -> Expr:
    # Negative-coefficient terms become subtractions: "a - 2*b" instead of "a + -2*b".
    positive = [t for t in terms if not _negated(t)]
    negative = [_negated(t) for t in terms if _negated(t)]
    if not positive:
        out: Expr = Call("neg", (negative.pop(0),))
    else:
        out = positive[0]
        for t in positive[1:]:
            out = Call("add", (out, t))
    for t in negative:
        out = Call("sub", (out, t))
    return out


def _negated(term: Expr) -> Expr | None:
    """If term is c*rest with c < 0 (or a negative constant), return its positive counterpart."""
    if isinstance(term, Const) and term.value < 0:
        return Const(-term.value)
    if isinstance(term, Call) and term.op == "mul" and isinstance(term.args[0], Const) and term.args[0].value < 0:
        c = -term.args[0].value
        return term.args[1] if c == 1.0 else Call("mul", (Const(c), term.args[1]))
    return None


def _power(base: Expr, exponent: int) -> Expr:
    if exponent in (2, 3, 4):
        return Call(f"pow{exponent}", (base,))
    if exponent == 1:
        return base
    if exponent < 0:
        # Protected inverse: 0 where |x| <= 0.001, like the IR's inv.
        return Call("inv", (_power(base, -exponent),))
    out = Call("pow4", (base,))
    for _ in range(exponent - 4):
        out = Call("mul", (out, base))
    return out


def from_sympy(expr: sympy.Expr, variables: Collection[str] | None = None) -> Expr:
    """IR expression equal to `expr` (symbols become variables of the same name)."""
    from nsrl_ray.symbolic.export_sympy import protected_div, protected_inv, protected_log

    def convert(node: sympy.Expr) -> Expr:
        if node.is_Number:
            return Const(float(node))
        if node.is_Symbol:
            return Var(node.name)
        if node.is_Add:
            return _sum([convert(a) for a in sympy.Add.make_args(node)])
        if node.is_Mul:
            coefficient, rest = node.as_coeff_Mul()
            factors = [convert(f) for f in sympy.Mul.make_args(rest)]
            out = factors[0]
            for f in factors[1:]:
                out = Call("mul", (out, f))
            return out if coefficient == 1 else Call("mul", (Const(float(coefficient)), out))
        if node.is_Pow:
            base, exponent = node.args
            if exponent == sympy.Rational(1, 2) and isinstance(base, sympy.Abs):
                return Call("sqrt", (convert(base.args[0]),))
            if exponent == sympy.Rational(1, 2):
                return Call("sqrt", (convert(base),))  # EQL only builds sqrt(|x|); x >= 0 here anyway
            if exponent.is_Integer:
                return _power(convert(base), int(exponent))
            raise ExpressionError(f"cannot convert the power {node} (non-integer exponent) to the IR.")
        if isinstance(node, sympy.exp):
            return Call("exp", (convert(node.args[0]),))
        if isinstance(node, sympy.sin):
            return Call("sin", (convert(node.args[0]),))
        if isinstance(node, sympy.cos):
            return Call("cos", (convert(node.args[0]),))
        if isinstance(node, sympy.Abs):
            return Call("abs", (convert(node.args[0]),))
        if isinstance(node, SympySigmoid):
            return Call("sigmoid", (convert(node.args[0]),))
        if isinstance(node, protected_div):
            return Call("div", tuple(convert(a) for a in node.args))
        if isinstance(node, protected_log):
            return Call("log", (convert(node.args[0]),))
        if isinstance(node, protected_inv):
            return Call("inv", (convert(node.args[0]),))
        raise ExpressionError(f"cannot convert sympy node {type(node).__name__} ({node}) to the IR.")

    result = convert(expr)
    validate(result, variables)
    return result
