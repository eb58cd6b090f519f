"""Conversion of expressions to sympy; protected operators become exact sympy functions."""

from __future__ import annotations

from typing import Any

import sympy
from sympy.core.logic import fuzzy_and

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES, PROTECTION_THRESHOLD

__all__ = ["greater_than", "if_positive", "protected_div", "protected_inv", "protected_log", "to_sympy"]

# Why functions and not a bare Piecewise: nesting a Piecewise inside a guard condition makes
# sympy rewrite the condition into ITE form, which lambdify's printers then fail to print
# (zoo / NaN comparisons) for a few percent of gplearn-like formulas. These functions carry
# the exact numpy semantics as `_imp_` (used by lambdify with any backend), evaluate on
# numbers, and expand to the Piecewise definition with `.rewrite(sympy.Piecewise)`.

_THRESHOLD = sympy.Float(PROTECTION_THRESHOLD)


def _guarded_number(arg: sympy.Expr) -> bool | None:
    """|arg| > 0.001 for a numeric arg (NaN counts as False like numpy), else None."""
    if arg is sympy.nan:
        return False
    if arg.is_number and arg.is_comparable or arg in (sympy.oo, -sympy.oo, sympy.zoo):
        return bool(sympy.Abs(arg) > _THRESHOLD)
    return None


class _Protected(sympy.Function):
    def _eval_is_extended_real(self) -> bool | None:
        return fuzzy_and(arg.is_extended_real for arg in self.args)


class protected_div(_Protected):  # noqa: N801 - printed name in formulas
    """a / b where |b| > 0.001, else 1.0 (gplearn's protected division)."""

    nargs = 2
    _imp_ = staticmethod(PRIMITIVES["div"].numpy_fn)

    @classmethod
    def eval(cls, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr | None:
        guarded = _guarded_number(b)
        if guarded is None:
            return None
        return a / b if guarded else sympy.Float(1.0)

    def _eval_rewrite_as_Piecewise(self, a: sympy.Expr, b: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.Piecewise((a / b, sympy.Abs(b) > _THRESHOLD), (sympy.Float(1.0), True))

    def _latex(self, printer: Any) -> str:
        a, b = (printer._print(arg) for arg in self.args)
        return rf"\frac{{{a}}}{{{b}}}"


class protected_log(_Protected):  # noqa: N801
    """log|x| where |x| > 0.001, else 0.0 (gplearn's protected log)."""

    nargs = 1
    _imp_ = staticmethod(PRIMITIVES["log"].numpy_fn)

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        guarded = _guarded_number(x)
        if guarded is None:
            return None
        return sympy.log(sympy.Abs(x)) if guarded else sympy.Float(0.0)

    def _eval_rewrite_as_Piecewise(self, x: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.Piecewise((sympy.log(sympy.Abs(x)), sympy.Abs(x) > _THRESHOLD), (sympy.Float(0.0), True))

    def _latex(self, printer: Any) -> str:
        return rf"\log\left|{printer._print(self.args[0])}\right|"


class protected_inv(_Protected):  # noqa: N801
    """1 / x where |x| > 0.001, else 0.0 (gplearn's protected inverse)."""

    nargs = 1
    _imp_ = staticmethod(PRIMITIVES["inv"].numpy_fn)

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        guarded = _guarded_number(x)
        if guarded is None:
            return None
        return 1 / x if guarded else sympy.Float(0.0)

    def _eval_rewrite_as_Piecewise(self, x: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.Piecewise((1 / x, sympy.Abs(x) > _THRESHOLD), (sympy.Float(0.0), True))

    def _latex(self, printer: Any) -> str:
        return rf"\frac{{1}}{{{printer._print(self.args[0])}}}"


def _comparable(arg: sympy.Expr) -> bool:
    return bool(arg.is_number and (arg.is_comparable or arg in (sympy.oo, -sympy.oo)))


class greater_than(_Protected):  # noqa: N801
    """1.0 where a > b, else 0.0 (a NaN operand compares False, as in numpy)."""

    nargs = 2
    _imp_ = staticmethod(PRIMITIVES["gt"].numpy_fn)

    @classmethod
    def eval(cls, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr | None:
        if a is sympy.nan or b is sympy.nan:
            return sympy.Float(0.0)
        if _comparable(a) and _comparable(b):
            return sympy.Float(1.0) if bool(a > b) else sympy.Float(0.0)
        return None

    def _eval_rewrite_as_Piecewise(self, a: sympy.Expr, b: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.Piecewise((sympy.Float(1.0), a > b), (sympy.Float(0.0), True))

    def _latex(self, printer: Any) -> str:
        a, b = (printer._print(arg) for arg in self.args)
        return rf"\left[{a} > {b}\right]"


class if_positive(_Protected):  # noqa: N801
    """a where c > 0, else b (a NaN condition picks b, as in numpy)."""

    nargs = 3
    _imp_ = staticmethod(PRIMITIVES["ifelse"].numpy_fn)

    @classmethod
    def eval(cls, c: sympy.Expr, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr | None:
        if c is sympy.nan:
            return b
        if _comparable(c):
            return a if bool(c > 0) else b
        return None

    def _eval_rewrite_as_Piecewise(self, c: sympy.Expr, a: sympy.Expr, b: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.Piecewise((a, c > 0), (b, True))

    def _latex(self, printer: Any) -> str:
        c, a, b = (printer._print(arg) for arg in self.args)
        return rf"\begin{{cases}}{a} & \text{{if }} {c} > 0\\ {b} & \text{{otherwise}}\end{{cases}}"


def to_sympy(expr: Expr) -> sympy.Expr:
    """Equivalent sympy expression; each variable becomes `sympy.Symbol(name)` (no assumptions).

    div/log/inv become `protected_div`/`protected_log`/`protected_inv`, which `sympy.lambdify`
    evaluates exactly like `evaluate` and `.rewrite(sympy.Piecewise)` expands; sqrt is
    `sqrt(Abs(x))` and sigmoid `1/(1 + exp(-x))`.
    """
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
