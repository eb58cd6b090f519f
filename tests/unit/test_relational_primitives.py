"""Comparison, if-then-else and DiffSES's relational predicates: numpy, sympy, Python and LaTeX agree."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from nsrl_ray.symbolic import (
    PRIMITIVES,
    Call,
    Var,
    ExpressionError,
    evaluate,
    parse_expression,
    simplify,
    to_latex,
    to_python_source,
    to_sympy,
    to_text,
    validate,
)
from nsrl_ray.symbolic.primitives import PREDICATES

NAMES = ["a", "b", "c", "d"]
# Ties (a == b), NaN and infinities are where step functions and guards differ most.
A = np.array([0.0, 1.0, -2.0, 3.5, 2.0, np.nan, np.inf, -1e6, 0.5, 4.0])
B = np.array([0.0, 2.0, -3.0, 3.5, -2.0, 1.0, 5.0, 1e6, 0.25, -1.0])
C = np.array([1.0, -1.0, 0.0, 2.0, 0.5, 3.0, -7.0, 0.0, -0.25, 5.0])
D = np.array([2.0, 0.0, 1.0, -1.0, 0.5, 0.0, 1.0, 3.0, 0.0, 1.0])
COLUMNS = {"a": A, "b": B, "c": C, "d": D}

EXPECTED = {
    "gt(a, b)": np.where(A > B, 1.0, 0.0),
    "ifelse(c, a, b)": np.where(C > 0, A, B),
    "dist_x(a, b)": np.abs(A - B),
    "dist_y(a, b)": np.abs(A - B),
    "distance(a, b, c, d)": np.sqrt((A - C) ** 2 + (B - D) ** 2),
    "is_left_of(a, b)": np.where(A < B, 1.0, 0.0),
    "is_above(a, b)": np.where(A < B, 1.0, 0.0),
    "within_range(a, b, c)": np.where(np.abs(A - B) > np.abs(C), 0.0, 1.0),
}


def _python(expr):
    namespace: dict = {}
    exec(compile(to_python_source({"f": expr}, variable_order=NAMES), "<export>", "exec"), namespace)  # our own export
    return np.array([namespace["policy_logits"](row)[0] for row in np.column_stack([A, B, C, D])])


@pytest.mark.parametrize("text", sorted(EXPECTED))
def test_numpy_semantics(text):
    with np.errstate(all="ignore"):
        got = evaluate(parse_expression(text), COLUMNS)
    np.testing.assert_array_equal(got, EXPECTED[text])


@pytest.mark.parametrize("text", sorted(EXPECTED))
def test_sympy_and_python_exports_compute_the_same(text):
    expr = parse_expression(f"1.5 * {text} - a")
    with np.errstate(all="ignore"):
        expected = 1.5 * EXPECTED[text] - A
        fn = sympy.lambdify([sympy.Symbol(n) for n in NAMES], to_sympy(expr), modules="numpy")
        np.testing.assert_array_equal(np.broadcast_to(fn(A, B, C, D), A.shape), expected)
        np.testing.assert_array_equal(_python(expr), expected)
        rewritten = to_sympy(expr).rewrite(sympy.Piecewise)
        fn = sympy.lambdify([sympy.Symbol(n) for n in NAMES], rewritten, modules="numpy")
        finite = np.isfinite(expected)  # Piecewise's numpy printer may turn an inf branch into nan
        np.testing.assert_array_equal(np.broadcast_to(fn(A, B, C, D), A.shape)[finite], expected[finite])


def test_arity_and_guards():
    assert {PRIMITIVES[op].arity for op in ("gt", "is_left_of", "is_above", "dist_x", "dist_y")} == {2}
    assert PRIMITIVES["ifelse"].arity == PRIMITIVES["within_range"].arity == 3
    assert PRIMITIVES["distance"].arity == 4
    with pytest.raises(ExpressionError, match="takes 3 argument"):
        validate(Call("ifelse", (Var("a"),)))
    with pytest.raises(ExpressionError, match="Wrong number of arguments"):
        parse_expression("distance(a, b)")
    # Closed: finite for every finite input, including huge ones.
    huge = {name: np.array([1e300, -1e300, 0.0]) for name in NAMES}
    for text in EXPECTED:
        if text.startswith(("dist", "distance")):
            continue  # |1e300 - (-1e300)| overflows to inf like plain subtraction; all else stays finite
        with np.errstate(all="ignore"):
            assert np.all(np.isfinite(evaluate(parse_expression(text), huge))), text
    assert PREDICATES <= set(PRIMITIVES)


def test_sympy_folds_numbers_and_text_round_trips():
    assert to_sympy(parse_expression("gt(2.0, 1.0)")) == sympy.Float(1.0)
    assert to_sympy(parse_expression("ifelse(-1.0, a, b)")) == sympy.Symbol("b")
    assert to_sympy(parse_expression("within_range(1.0, 1.5, 0.25)")) == 0
    assert simplify(parse_expression("gt(3.0, 1.0) * a")) == parse_expression("a")
    for text in EXPECTED:
        expr = parse_expression(text)
        assert parse_expression(to_text(expr)) == expr


def test_latex_is_readable():
    assert to_latex(parse_expression("gt(a, b)")) == r"\left[a > b\right]"
    assert r"\begin{cases}" in to_latex(parse_expression("ifelse(c, a, b)"))
    assert to_latex(parse_expression("is_left_of(a, b)")) == r"\left[a < b\right]"
    assert r"\operatorname{dist}" in to_latex(parse_expression("distance(a, b, c, d)"))


def test_exact_gradients_through_predicates():
    from nsrl_ray.explain.gradients import FormulaGradients
    from nsrl_ray.symbolic.formula_policy import FormulaPolicy

    policy = FormulaPolicy(("a", "b"), (parse_expression("0.0"), parse_expression("ifelse(a, 2.0 * b, -b) + dist_x(a, b)")), ("l", "r"))
    grads = FormulaGradients(policy)
    assert grads.exact[1]
    states = np.array([[1.0, 3.0], [-1.0, 3.0]])  # a > 0: 2b + |a - b|; a <= 0: -b + |a - b|
    np.testing.assert_allclose(grads.output_gradients(states)[:, :, 1], [[-1.0, 3.0], [-1.0, 0.0]])
