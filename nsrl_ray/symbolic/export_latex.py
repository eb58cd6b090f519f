"""Readable LaTeX rendering of expressions (rounded constants, \\frac for division)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nsrl_ray.symbolic.expression import Expr, validate
from nsrl_ray.symbolic.primitives import Primitive
from nsrl_ray.symbolic.text import RenderStyle, render

__all__ = ["to_latex"]

_INDEXED_NAME = re.compile(r"([A-Za-z])_?(\d+)\Z")


def _latex_var(name: str) -> str:
    if len(name) == 1:
        return name
    indexed = _INDEXED_NAME.match(name)
    if indexed:  # x1 / x_1 -> x_{1}
        return f"{indexed.group(1)}_{{{indexed.group(2)}}}"
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def _latex_const(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text


def _latex_call(prim: Primitive, args: Sequence[str]) -> str:
    return prim.latex_fn(*args)


def to_latex(expr: Expr, digits: int = 3) -> str:
    """LaTeX for `expr` with constants rounded to `digits` significant digits.

    Meant for reading, not for exact reproduction: division is shown as \\frac although it is
    gplearn's protected division, and log/sqrt are shown on |x| as they are computed.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive int (significant digits), got {digits!r}.")
    validate(expr)
    style = RenderStyle(
        const=lambda v: _latex_const(v, digits),
        var=_latex_var,
        call=_latex_call,
        # Division is rendered as \frac (an atom), so only + - * and prefix minus are operators.
        is_operator=lambda p: p.infix in ("+", "-", "*"),
        paren=lambda s: rf"\left({s}\right)",
        paren_signed_operands=True,
    )
    return render(expr, style)
