"""FormulaPolicy: argmax and softmax for discrete actions, clipping for continuous ones, clear shape errors."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.symbolic.expression import ExpressionError, complexity
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.text import parse_expression

XY = ("x", "y")


def policy(*formulas: str, variables: tuple[str, ...] = XY, names: tuple[str, ...] | None = None, **kwargs) -> FormulaPolicy:
    names = names if names is not None else tuple(f"a{i}" for i in range(len(formulas)))
    return FormulaPolicy(
        variables=variables,
        formulas=tuple(parse_expression(f, variables=variables) for f in formulas),
        action_names=names,
        **kwargs,
    )


# ----------------------------------------------------------------------------- discrete


def test_discrete_action_is_argmax_of_the_formulas() -> None:
    p = policy("x", "y", "0.5")
    obs = np.array([[1.0, 0.0], [0.0, 2.0], [0.1, 0.2], [-1.0, -1.0], [0.7, 0.6]])
    np.testing.assert_array_equal(p.outputs(obs), [[1.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.1, 0.2, 0.5], [-1.0, -1.0, 0.5], [0.7, 0.6, 0.5]])
    np.testing.assert_array_equal(p.act(obs), [0, 1, 2, 2, 0])


def test_discrete_matches_argmax_on_random_states() -> None:
    p = policy("x * y - 0.1", "x + 2.0 * y", "-(x)", "y / x")
    obs = np.random.default_rng(0).normal(size=(500, 2))
    x, y = obs[:, 0], obs[:, 1]
    safe_div = np.where(np.abs(x) > 0.001, y / np.where(np.abs(x) > 0.001, x, 1.0), 1.0)
    expected = np.stack([x * y - 0.1, x + 2 * y, -x, safe_div], axis=1)
    np.testing.assert_allclose(p.outputs(obs), expected)
    np.testing.assert_array_equal(p.act(obs), expected.argmax(axis=1))
    assert set(np.unique(p.act(obs))) == {0, 1, 2, 3}


def test_ties_go_to_the_first_action() -> None:
    p = policy("x", "x", "x")
    np.testing.assert_array_equal(p.act([[1.0, 2.0], [-3.0, 0.0]]), [0, 0])


def test_single_observation_call_returns_a_python_int() -> None:
    p = policy("x", "y")
    for obs in ([1.0, 0.0], (0.0, 1.0), np.array([0.2, 0.3], dtype=np.float32)):
        action = p(obs)
        assert type(action) is int
    assert p([1.0, 0.0]) == 0
    assert p([0.0, 1.0]) == 1
    assert p([3, 4]) == 1  # integer observations are fine


def test_one_dimensional_input_is_a_batch_of_one() -> None:
    p = policy("x", "y")
    assert p.outputs([2.0, 3.0]).shape == (1, 2)
    assert p.act([2.0, 3.0]).shape == (1,)


def test_probabilities_are_the_softmax_of_the_formulas() -> None:
    p = policy("x", "y", "0.0")
    obs = np.random.default_rng(1).normal(size=(200, 2))
    logits = np.stack([obs[:, 0], obs[:, 1], np.zeros(len(obs))], axis=1)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities = p.probabilities(obs)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    # The most probable action is the one the policy takes.
    np.testing.assert_array_equal(probabilities.argmax(axis=1), p.act(obs))


def test_probabilities_are_stable_for_huge_logits() -> None:
    p = policy("1000.0 * x", "0.0")
    probabilities = p.probabilities([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities, [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


def test_two_action_softmax_is_the_sigmoid_of_the_logit() -> None:
    """A gplearn classifier's program is action 1's logit with action 0 fixed at 0."""
    p = policy("0.0", "2.0 * x - y")
    obs = np.random.default_rng(2).normal(size=(100, 2))
    logit = 2.0 * obs[:, 0] - obs[:, 1]
    np.testing.assert_allclose(p.probabilities(obs)[:, 1], 1.0 / (1.0 + np.exp(-logit)), rtol=1e-12)


def test_probabilities_of_a_continuous_policy_are_refused() -> None:
    p = policy("x", action_kind="continuous")
    with pytest.raises(ValueError, match=r"probabilities are defined for discrete policies only"):
        p.probabilities([0.0, 0.0])


# ----------------------------------------------------------------------------- continuous


def test_continuous_actions_are_clipped_to_the_bounds() -> None:
    p = policy("x", "10.0 * y", action_kind="continuous", action_low=(-1.0, 0.0), action_high=(1.0, 5.0))
    obs = np.array([[0.5, 0.1], [3.0, -2.0], [-7.0, 2.0], [-1.0, 0.5]])
    np.testing.assert_array_equal(p.outputs(obs), [[0.5, 1.0], [3.0, -20.0], [-7.0, 20.0], [-1.0, 5.0]])
    np.testing.assert_array_equal(p.act(obs), [[0.5, 1.0], [1.0, 0.0], [-1.0, 5.0], [-1.0, 5.0]])


def test_continuous_call_returns_a_float_vector() -> None:
    p = policy("x + y", action_kind="continuous", action_low=(-2.0,), action_high=(2.0,))
    action = p([1.5, 1.5])
    assert isinstance(action, np.ndarray)
    assert action.dtype == np.float64
    np.testing.assert_array_equal(action, [2.0])
    np.testing.assert_array_equal(p([0.25, 0.5]), [0.75])


def test_continuous_without_bounds_is_not_clipped() -> None:
    p = policy("100.0 * x", action_kind="continuous")
    np.testing.assert_array_equal(p.act([[1.0, 0.0], [-2.0, 0.0]]), [[100.0], [-200.0]])


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "obs, shape",
    [
        ([1.0, 2.0, 3.0], r"\(3,\)"),
        ([1.0], r"\(1,\)"),
        (np.zeros((4, 3)), r"\(4, 3\)"),
        (np.zeros((2, 2, 2)), r"\(2, 2, 2\)"),
        (5.0, r"\(\)"),
    ],
)
def test_wrong_observation_shape_is_refused(obs, shape: str) -> None:
    p = policy("x", "y")
    with pytest.raises(ValueError, match=rf"observation shape {shape}; expected \(2,\) or \(batch, 2\) for variables \['x', 'y'\]"):
        p.act(obs)


def test_wrong_observation_shape_is_refused_by_every_entry_point() -> None:
    p = policy("x", "y")
    for method in (p, p.act, p.outputs, p.probabilities):
        with pytest.raises(ValueError, match=r"observation shape \(3,\)"):
            method([0.0, 0.0, 0.0])


def test_formula_count_must_match_action_count() -> None:
    with pytest.raises(ValueError, match=r"FormulaPolicy: 2 formulas for 3 actions \['left', 'stay', 'right'\]; expected one formula per action"):
        policy("x", "y", names=("left", "stay", "right"))
    with pytest.raises(ValueError, match=r"FormulaPolicy: 3 formulas for 1 actions"):
        policy("x", "y", "x", names=("force",), action_kind="continuous")


def test_unknown_action_kind_is_refused() -> None:
    with pytest.raises(ValueError, match=r"action_kind 'hybrid', expected 'discrete' or 'continuous'"):
        policy("x", action_kind="hybrid")


def test_formula_with_a_variable_outside_the_policy_is_refused() -> None:
    with pytest.raises(ExpressionError, match=r"Unknown variable 'z'; allowed variables: x, y"):
        FormulaPolicy(variables=XY, formulas=(parse_expression("z"),), action_names=("a",))


def test_complexity_is_the_total_node_count() -> None:
    p = policy("x", "2.0 * x + y")
    assert p.complexity == 1 + 5 == sum(complexity(f) for f in p.formulas)
