"""to_display_text(): the human-readable text form with rounded constants."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nsrl_ray.symbolic import (
    PRIMITIVES,
    Call,
    Const,
    ExpressionError,
    Var,
    evaluate,
    parse_expression,
    to_display_text,
    to_text,
)

VARIABLES = ["x", "y", "z"]
ALL_OPS = sorted(PRIMITIVES)
# Operators and positive constants/inputs that keep relative errors from growing much.
WELL_CONDITIONED_OPS = ["add", "mul", "div", "sqrt", "abs", "max", "min", "sigmoid", "tanh"]


def p(text: str):
    return parse_expression(text)


def random_expr(rng: random.Random, depth: int, ops: list[str], positive: bool = False) -> object:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.5:
            return Var(rng.choice(VARIABLES))
        value = rng.choice([rng.uniform(0.01, 10.0), 10 ** rng.uniform(-6, 6), 1.0, 0.5])
        return Const(value if positive or rng.random() < 0.5 else -value)
    op = rng.choice(ops)
    return Call(op, tuple(random_expr(rng, depth - 1, ops, positive) for _ in range(PRIMITIVES[op].arity)))


def round_constants(expr, digits: int):
    if isinstance(expr, Const):
        return Const(float(f"{expr.value:.{digits}g}"))
    if isinstance(expr, Call):
        return Call(expr.op, tuple(round_constants(a, digits) for a in expr.args))
    return expr


def test_rounds_constants_to_significant_digits() -> None:
    assert to_display_text(p("0.1 + 2.8434593865203484 * x")) == "0.1 + 2.843 * x"
    assert to_display_text(p("0.1 + 2.8434593865203484 * x"), digits=2) == "0.1 + 2.8 * x"
    assert to_display_text(p("1234567.0 * x - 0.000012345678")) == "1.235e+06 * x - 1.235e-05"
    assert to_display_text(p("2.0 * x")) == "2 * x"


def test_negative_constants_parenthesised_like_to_text() -> None:
    assert to_text(p("x - -2.8434593865203484")) == "x - -2.8434593865203484"
    assert to_display_text(p("x - -2.8434593865203484")) == "x - -2.843"
    negated = Call("neg", (Const(2.8434593865203484),))
    assert to_display_text(negated) == "-(2.843)"  # neg of a constant, not the constant -2.843
    assert parse_expression(to_display_text(negated)) == Call("neg", (Const(2.843),))
    assert to_display_text(Call("neg", (Const(-1.23456),))) == "-(-1.235)"
    assert to_display_text(p("-1.23456 * x")) == "-1.235 * x"
    assert to_display_text(p("sin(-1.23456)")) == "sin(-1.235)"


def test_huge_constant_that_would_round_to_infinity_stays_parsable() -> None:
    expr = Call("mul", (Const(1.7976931348623157e308), Var("x")))
    assert parse_expression(to_display_text(expr)) == expr


def test_same_tree_with_rounded_constants() -> None:
    rng = random.Random(0)
    for _ in range(1000):
        expr = random_expr(rng, 5, ALL_OPS)
        for digits in (1, 4, 8):
            assert parse_expression(to_display_text(expr, digits)) == round_constants(expr, digits)
        assert parse_expression(to_display_text(expr, 17)) == expr  # 17 digits round-trip exactly


def test_parses_back_to_close_values() -> None:
    rng = random.Random(1)
    cols = {name: np.random.default_rng(i).uniform(0.1, 5.0, 200) for i, name in enumerate(VARIABLES)}
    for _ in range(1000):
        expr = random_expr(rng, 4, WELL_CONDITIONED_OPS, positive=True)
        shown = parse_expression(to_display_text(expr), VARIABLES)
        with np.errstate(all="ignore"):
            before, after = evaluate(expr, cols), evaluate(shown, cols)
        finite = np.isfinite(before)
        assert np.allclose(after[finite], before[finite], rtol=1e-3, atol=0.0), to_display_text(expr)


def test_gplearn_like_formulas_parse_back_to_close_values() -> None:
    formulas = [
        "4.0 * (2.15 * (2.15 * (pole_angle + (pole_angle + pole_angular_velocity))))",
        "0.1 + 2.8434593865203484 * pole_angular_velocity - -0.7316278 * pole_angle",
        "sin(1.3456789 * cart_velocity) - 0.27182818 * cart_position",
        "max(pole_angle * 13.37215, -0.33333333) + log(2.5772156649 + abs(pole_angular_velocity) * 2.71828)",
    ]
    rng = np.random.default_rng(2)
    names = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
    cols = {name: rng.normal(scale=0.5, size=500) for name in names}
    for text in formulas:
        expr = p(text)
        shown = parse_expression(to_display_text(expr), names)
        before, after = evaluate(expr, cols), evaluate(shown, cols)
        scale = np.max(np.abs(before))
        assert np.allclose(after, before, rtol=1e-3, atol=1e-3 * scale), text


@pytest.mark.parametrize("digits", [0, -1, 2.5, True, "4"])
def test_rejects_bad_digits(digits) -> None:
    with pytest.raises(ValueError, match="digits"):
        to_display_text(p("x"), digits)  # type: ignore[arg-type]


def test_validates_expression() -> None:
    with pytest.raises(ExpressionError):
        to_display_text(Call("nope", (Var("x"),)))
    with pytest.raises(ExpressionError):
        to_display_text(Const(float("inf")))
