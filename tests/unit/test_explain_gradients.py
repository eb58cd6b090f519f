"""Exact gradients of formula policies: sympy derivatives agree with finite differences, softmax identities hold."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.explain.gradients import FormulaGradients
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.primitives import register_primitive, unregister_primitive
from nsrl_ray.symbolic.text import parse_expression

VARS = ("x", "y", "z")


def policy(*formulas: str, kind: str = "discrete") -> FormulaPolicy:
    return FormulaPolicy(
        variables=VARS,
        formulas=tuple(parse_expression(f, variables=VARS) for f in formulas),
        action_names=tuple(f"a{i}" for i in range(len(formulas))),
        action_kind=kind,
    )


def central_difference(p: FormulaPolicy, states: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty((len(states), states.shape[1], len(p.formulas)))
    for j in range(states.shape[1]):
        up, down = states.copy(), states.copy()
        up[:, j] += h
        down[:, j] -= h
        out[:, j, :] = (p.outputs(up) - p.outputs(down)) / (2 * h)
    return out


@pytest.mark.parametrize(
    "formula",
    [
        "3 * x - 0.5 * y * z + 2",
        "x / y + log(z) + sqrt(x * y)",
        "sin(x) * tanh(y) + sigmoid(z) + inv(x + 3)",
        "abs(x - y) + max(x, z) - min(y, z) + cos(z) * tan(0.3 * x)",
    ],
)
def test_exact_gradient_matches_finite_differences(formula: str) -> None:
    p = policy(formula, "0")
    grads = FormulaGradients(p)
    assert grads.exact == (True, True)
    states = np.random.default_rng(0).uniform(-2, 2, size=(400, 3))
    exact = grads.output_gradients(states)
    numeric = central_difference(p, states)
    # Away from kinks (|x| = 0, x = z, the 0.001 guards) the two agree to difference precision.
    close = np.isclose(exact, numeric, rtol=1e-4, atol=1e-5)
    assert close.mean() > 0.98, f"only {close.mean():.1%} agree"
    assert np.all(np.isfinite(exact))


def test_linear_policy_gradient_is_its_coefficients() -> None:
    p = policy("0", "3 * x - 0.25 * z")
    grads = FormulaGradients(p).output_gradients(np.random.default_rng(1).normal(size=(10, 3)))
    np.testing.assert_allclose(grads[:, :, 1], np.broadcast_to([3.0, 0.0, -0.25], (10, 3)))
    np.testing.assert_allclose(grads[:, :, 0], 0.0)


def test_log_prob_gradient_is_softmax_gradient() -> None:
    p = policy("x * y", "z - x", "0.5 * y * y")
    states = np.random.default_rng(2).normal(size=(50, 3))
    g = FormulaGradients(p)
    log_grads = g.log_prob_gradients(states)
    # The probabilities sum to 1, so sum_a p_a d log p_a = d sum_a p_a = 0.
    probs = p.probabilities(states)
    np.testing.assert_allclose(np.einsum("nva,na->nv", log_grads, probs), 0.0, atol=1e-10)
    # And each column is d log softmax by differences.
    h = 1e-6
    for j in range(3):
        up, down = states.copy(), states.copy()
        up[:, j] += h
        down[:, j] -= h
        numeric = (np.log(p.probabilities(up)) - np.log(p.probabilities(down))) / (2 * h)
        np.testing.assert_allclose(log_grads[:, j, :], numeric, rtol=1e-5, atol=1e-6)
    chosen = p.act(states)
    np.testing.assert_allclose(g.log_prob_gradients(states, chosen), log_grads[np.arange(50), :, chosen])


def test_continuous_policy_gradient_is_the_output_gradient() -> None:
    p = policy("2 * x * y", kind="continuous")
    states = np.random.default_rng(3).normal(size=(5, 3))
    g = FormulaGradients(p)
    np.testing.assert_allclose(g.log_prob_gradients(states), g.output_gradients(states))
    np.testing.assert_allclose(g.output_gradients(states)[:, 0, 0], 2 * states[:, 1])


def test_primitive_without_a_sympy_derivative_falls_back_to_differences() -> None:
    # Without a sympy_fn the primitive is an undefined sympy function: no symbolic derivative.
    register_primitive("cube_root_ish", 1, lambda a: np.cbrt(a) + a)
    try:
        p = policy("cube_root_ish(x) + y", "0")
        g = FormulaGradients(p)
        assert g.exact == (False, True)
        states = np.random.default_rng(4).uniform(0.5, 2.0, size=(20, 3))
        expected = 1 / (3 * np.cbrt(states[:, 0]) ** 2) + 1
        np.testing.assert_allclose(g.output_gradients(states)[:, 0, 0], expected, rtol=1e-5)
        np.testing.assert_allclose(g.output_gradients(states)[:, 1, 0], 1.0, rtol=1e-6)
    finally:
        unregister_primitive("cube_root_ish")
