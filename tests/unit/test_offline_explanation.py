"""Offline explanation: measured sensitivities match the formulas' derivatives, and the words say so."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.offline import explain_policy, explanation_markdown, sensitivities
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.text import parse_expression

CARTPOLE = get_env_spec("CartPole-v1")
RULE = "3*pole_angle + pole_angular_velocity - 0.1*cart_velocity"
#: d(push_right - push_left) / d(cart_position, cart_velocity, pole_angle, pole_angular_velocity)
TRUE_GRADIENT = np.array([0.0, -0.1, 3.0, 1.0])


def make_policy(spec, formulas, **kwargs) -> FormulaPolicy:
    return FormulaPolicy(
        variables=spec.feature_names,
        formulas=tuple(parse_expression(f, variables=spec.feature_names) for f in formulas),
        action_names=spec.action_names,
        action_kind=spec.action_kind,
        **kwargs,
    )


@pytest.fixture(scope="module")
def cartpole_policy() -> FormulaPolicy:
    return make_policy(CARTPOLE, ("0", RULE))


@pytest.fixture(scope="module")
def states() -> np.ndarray:
    # Unit spread for every variable, so importance follows the size of the coefficients.
    return np.random.default_rng(0).normal(size=(2000, 4))


@pytest.fixture(scope="module")
def explanation(cartpole_policy, states) -> dict:
    return explain_policy(cartpole_policy, states, descriptions=CARTPOLE.feature_descriptions)


def by_name(explanation: dict) -> dict[str, dict]:
    return {v["name"]: v for v in explanation["variables"]}


# ----------------------------------------------------------------------------- sensitivities


def test_sensitivities_equal_the_true_partial_derivatives(cartpole_policy, states) -> None:
    grads = sensitivities(cartpole_policy, states)
    assert grads.shape == (len(states), 4, 2)
    # The decision compares push_right with push_left: their gap has the formula's gradient at every state.
    gap = grads[:, :, 1] - grads[:, :, 0]
    np.testing.assert_allclose(gap, np.broadcast_to(TRUE_GRADIENT, gap.shape), atol=1e-6)
    # Preferences are centred over the actions, so each action carries half of the gap, with opposite signs.
    np.testing.assert_allclose(grads[:, :, 1], np.broadcast_to(TRUE_GRADIENT / 2, gap.shape), atol=1e-6)
    np.testing.assert_allclose(grads[:, :, 0], -grads[:, :, 1], atol=1e-9)


def test_sensitivities_of_a_nonlinear_formula_vary_with_the_state() -> None:
    spec = get_env_spec("MountainCar-v0")
    policy = make_policy(spec, ("0", "0", "car_velocity * car_velocity + 2 * car_position"))
    states = np.random.default_rng(3).normal(size=(300, 2))
    grads = sensitivities(policy, states)
    # Centred over 3 actions: action 2 carries 2/3 of its own formula's derivative.
    np.testing.assert_allclose(grads[:, 1, 2], (2.0 / 3.0) * 2.0 * states[:, 1], atol=1e-5)
    np.testing.assert_allclose(grads[:, 0, 2], (2.0 / 3.0) * 2.0, atol=1e-6)
    np.testing.assert_allclose(grads.sum(axis=2), 0.0, atol=1e-6)


def test_effect_per_unit_is_the_mean_derivative(explanation) -> None:
    variables = by_name(explanation)
    for name, slope in zip(CARTPOLE.feature_names, TRUE_GRADIENT):
        effects = variables[name]["effect_per_unit"]
        assert set(effects) == {"push_left", "push_right"}
        assert effects["push_right"] - effects["push_left"] == pytest.approx(slope, abs=1e-6)


# ----------------------------------------------------------------------------- importance


def test_importance_ranks_variables_by_influence(explanation) -> None:
    ranked = [v["name"] for v in explanation["variables"]]
    assert ranked == ["pole_angle", "pole_angular_velocity", "cart_velocity", "cart_position"]
    shares = [v["importance"] for v in explanation["variables"]]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == sorted(shares, reverse=True)
    # |coefficient| x spread, normalised: about 3 : 1 : 0.1 : 0 with unit spreads.
    assert shares[0] / shares[1] == pytest.approx(3.0, rel=0.1)
    assert shares[1] / shares[2] == pytest.approx(10.0, rel=0.15)
    assert shares[3] == 0.0


def test_importance_accounts_for_how_much_a_variable_moves() -> None:
    policy = make_policy(CARTPOLE, ("0", RULE))
    states = np.random.default_rng(1).normal(size=(2000, 4))
    states[:, 2] *= 0.01  # pole_angle barely moves: 3 x 0.01 is less than 0.1 x 1 for cart_velocity
    ranked = [v["name"] for v in explain_policy(policy, states)["variables"]]
    assert ranked == ["pole_angular_velocity", "cart_velocity", "pole_angle", "cart_position"]


def test_unused_variable_is_reported_as_ignored(explanation) -> None:
    variables = by_name(explanation)
    assert variables["cart_position"]["in_formulas"] is False
    assert variables["cart_position"]["importance"] == 0.0
    for name in ("cart_velocity", "pole_angle", "pole_angular_velocity"):
        assert variables[name]["in_formulas"] is True
    assert "The policy ignores cart_position." in explanation["summary"]


def test_variables_carry_statistics_and_descriptions(explanation, states) -> None:
    variables = by_name(explanation)
    for j, name in enumerate(CARTPOLE.feature_names):
        assert variables[name]["mean"] == pytest.approx(states[:, j].mean())
        assert variables[name]["std"] == pytest.approx(states[:, j].std())
        assert variables[name]["description"] == CARTPOLE.feature_descriptions[j]
    assert explanation["states"] == len(states)


# ----------------------------------------------------------------------------- actions and words


def test_action_shares_match_the_policy(explanation, cartpole_policy, states) -> None:
    chosen = cartpole_policy.act(states)
    left, right = explanation["actions"]
    assert left["name"] == "push_left" and right["name"] == "push_right"
    assert right["share_of_states"] == pytest.approx((chosen == 1).mean())
    assert left["share_of_states"] + right["share_of_states"] == pytest.approx(1.0)
    # When push_right is chosen the pole leans right on average, and left when push_left is.
    assert right["mean_when_chosen"]["pole_angle"] > 0 > left["mean_when_chosen"]["pole_angle"]


def test_summary_names_the_decision_rule(explanation, cartpole_policy) -> None:
    match = re.match(r"The policy chooses push_right when (.+?) > 0, and push_left otherwise\. ", explanation["summary"])
    assert match, explanation["summary"]
    # The rule as written is the push_right formula (push_left's is 0).
    assert parse_expression(match.group(1), variables=CARTPOLE.feature_names) == cartpole_policy.formulas[1]


def test_summary_names_the_favoured_action_per_variable(explanation) -> None:
    summary = explanation["summary"]
    assert "Raising pole_angle favours push_right over push_left (preference gap +3 per unit" in summary
    assert "Raising pole_angular_velocity favours push_right over push_left (preference gap +1 per unit" in summary
    assert "Raising cart_velocity favours push_left over push_right (preference gap +0.1 per unit" in summary
    assert "Raising cart_position" not in summary
    # Most important variable first.
    assert summary.index("Raising pole_angle") < summary.index("Raising pole_angular_velocity") < summary.index("Raising cart_velocity")


def test_summary_of_a_rule_with_two_nonzero_formulas_shows_their_difference() -> None:
    policy = make_policy(CARTPOLE, ("-(pole_angle)", "0.5 * pole_angular_velocity"))
    summary = explain_policy(policy, np.random.default_rng(0).normal(size=(100, 4)))["summary"]
    match = re.match(r"The policy chooses push_right when (.+?) > 0, and push_left otherwise\. ", summary)
    assert match, summary
    assert match.group(1).replace(" ", "") == "(0.5*pole_angular_velocity)-(-pole_angle)"


def test_explanation_is_deterministic(cartpole_policy, states, explanation) -> None:
    assert explain_policy(cartpole_policy, states, descriptions=CARTPOLE.feature_descriptions) == explanation


def test_markdown_lists_every_variable(explanation) -> None:
    text = explanation_markdown(explanation, "CartPole policy")
    assert text.startswith("# CartPole policy\n")
    assert explanation["summary"] in text
    for name in CARTPOLE.feature_names:
        assert f"| {name} |" in text
    assert "| cart_position | 0.0% | no |" in text


# ----------------------------------------------------------------------------- other action spaces


def test_three_action_policy_is_explained_with_correct_signs() -> None:
    spec = get_env_spec("MountainCar-v0")  # accelerate_left, no_acceleration, accelerate_right
    policy = make_policy(spec, ("-(car_velocity)", "0", "car_velocity"))
    states = np.random.default_rng(2).normal(size=(1000, 2))
    explanation = explain_policy(policy, states)
    variables = by_name(explanation)
    effects = variables["car_velocity"]["effect_per_unit"]
    assert effects["accelerate_right"] == pytest.approx(1.0, abs=1e-6)
    assert effects["no_acceleration"] == pytest.approx(0.0, abs=1e-6)
    assert effects["accelerate_left"] == pytest.approx(-1.0, abs=1e-6)
    assert variables["car_position"]["in_formulas"] is False
    assert [v["name"] for v in explanation["variables"]] == ["car_velocity", "car_position"]
    summary = explanation["summary"]
    assert summary.startswith("The policy chooses the action whose formula is largest.")
    assert "Raising car_velocity favours accelerate_right over accelerate_left (preference gap +2 per unit" in summary
    assert "The policy ignores car_position." in summary
    shares = {a["name"]: a["share_of_states"] for a in explanation["actions"]}
    assert shares["no_acceleration"] == 0.0
    assert shares["accelerate_left"] + shares["accelerate_right"] == pytest.approx(1.0)
    assert "no_acceleration is taken in 0% of the visited states." in summary


def test_continuous_policy_is_explained_with_correct_signs() -> None:
    spec = get_env_spec("Pendulum-v1")
    policy = make_policy(
        spec,
        ("-2.0 * sin_pendulum_angle - 0.5 * pendulum_angular_velocity",),
        action_low=(-2.0,),
        action_high=(2.0,),
    )
    states = np.random.default_rng(4).normal(size=(1000, 3))
    explanation = explain_policy(policy, states)
    variables = by_name(explanation)
    assert variables["sin_pendulum_angle"]["effect_per_unit"]["torque"] == pytest.approx(-2.0, abs=1e-6)
    assert variables["pendulum_angular_velocity"]["effect_per_unit"]["torque"] == pytest.approx(-0.5, abs=1e-6)
    assert variables["cos_pendulum_angle"]["effect_per_unit"]["torque"] == 0.0
    assert variables["cos_pendulum_angle"]["in_formulas"] is False
    assert explanation["variables"][0]["name"] == "sin_pendulum_angle"
    (action,) = explanation["actions"]
    assert action["name"] == "torque"
    assert action["mean_output"] == pytest.approx(policy.act(states)[:, 0].mean())
    summary = explanation["summary"]
    assert summary.startswith("Each action dimension is its formula, clipped to the action bounds.")
    assert "Raising sin_pendulum_angle changes torque by -2 per unit" in summary
    assert "Raising pendulum_angular_velocity changes torque by -0.5 per unit" in summary
    assert "The policy ignores cos_pendulum_angle." in summary


def test_constant_state_does_not_break_the_explanation() -> None:
    policy = make_policy(CARTPOLE, ("0", RULE))
    explanation = explain_policy(policy, np.zeros((10, 4)))
    assert all(v["importance"] == 0.0 for v in explanation["variables"])
    assert all(np.isfinite(v["effect_per_unit"]["push_right"]) for v in explanation["variables"])
