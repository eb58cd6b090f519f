"""The KAN edge primitives (exp, pow2, pow3, pow4): numpy, sympy, Python and LaTeX forms agree."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from nsrl_ray.symbolic import evaluate, parse_expression, simplify, to_latex, to_python_source, to_sympy, to_text

CASES = {
    "exp": np.exp,
    "pow2": lambda x: x**2,
    "pow3": lambda x: x**3,
    "pow4": lambda x: x**4,
}


@pytest.mark.parametrize("op", sorted(CASES))
def test_every_form_computes_the_same(op):
    expr = parse_expression(f"1.5 * {op}(0.7 * x - 0.2) + y")
    x = np.linspace(-3, 3, 41)
    y = np.linspace(1, 2, 41)
    expected = 1.5 * CASES[op](0.7 * x - 0.2) + y
    np.testing.assert_allclose(evaluate(expr, {"x": x, "y": y}), expected, rtol=1e-12)
    fn = sympy.lambdify([sympy.Symbol("x"), sympy.Symbol("y")], to_sympy(expr), modules="numpy")
    np.testing.assert_allclose(fn(x, y), expected, rtol=1e-12)
    namespace: dict = {}
    exec(compile(to_python_source({"f": expr}, variable_order=["x", "y"]), "<kan>", "exec"), namespace)  # our own export
    np.testing.assert_allclose([namespace["policy_logits"]([a, b])[0] for a, b in zip(x, y)], expected, rtol=1e-12)
    assert parse_expression(to_text(expr)) == expr
    assert simplify(expr) == expr  # nothing to fold; the call survives


def test_latex_shows_powers_and_exponentials():
    assert to_latex(parse_expression("pow3(x)")) == r"\left(x\right)^{3}"
    assert to_latex(parse_expression("exp(x)")) == "e^{x}"


def test_constant_folding_of_the_new_primitives():
    assert simplify(parse_expression("pow2(3.0) + exp(0.0)")).value == pytest.approx(10.0)
