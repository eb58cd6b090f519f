"""The faithfulness check flags made-up variables, wrong numbers and flipped directions, and passes true statements."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.analysis import decision_facts, policy_facts
from nsrl_ray.explain.faithfulness import check_decision_explanation, check_policy_explanation, format_report
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.text import parse_expression

CARTPOLE = get_env_spec("CartPole-v1")
MOUNTAINCAR = get_env_spec("MountainCar-v0")


def make(spec, formulas) -> FormulaPolicy:
    return FormulaPolicy(spec.feature_names, tuple(parse_expression(f, variables=spec.feature_names) for f in formulas),
                         spec.action_names, spec.action_kind)


@pytest.fixture(scope="module")
def cartpole():
    policy = make(CARTPOLE, ("0", "3 * pole_angle + pole_angular_velocity - 0.1 * cart_velocity"))
    states = np.random.default_rng(0).normal(scale=0.1, size=(500, 4))
    return policy, policy_facts(policy, states)


def kinds(report) -> list[str]:
    return [v.kind for v in report.violations]


def test_a_deliberately_wrong_explanation_is_flagged(cartpole) -> None:
    _, facts = cartpole
    wrong = ("Raising `pole_angle` makes `push_right` less likely. "
             "The policy also watches `cart_acceleration`: a faster cart pushes it right.")
    report = check_policy_explanation(wrong, facts, action="push_right")
    assert not report.ok
    assert sorted(kinds(report)) == ["direction", "unknown_variable"]
    (direction,) = [v for v in report.violations if v.kind == "direction"]
    assert "pole_angle" in direction.detail and "lowers" in direction.detail and "raises it" in direction.detail
    (unknown,) = [v for v in report.violations if v.kind == "unknown_variable"]
    assert unknown.text == "cart_acceleration"
    text = format_report(report)
    assert "2 violation(s)" in text and "cart_acceleration" in text


def test_the_same_statements_told_right_pass(cartpole) -> None:
    _, facts = cartpole
    right = ("Raising `pole_angle` makes `push_right` more likely. The logit of `push_right` has a coefficient of 3 "
             "for `pole_angle` and -0.1 for `cart_velocity`. Raising `cart_velocity` makes `push_right` less likely, "
             "and `cart_position` is ignored.")
    report = check_policy_explanation(right, facts, action="push_right")
    assert report.ok, format_report(report)
    assert report.claims_checked == 2 and report.numbers_checked == 2


@pytest.mark.parametrize(
    ("sentence", "ok"),
    [
        ("As `pole_angle` increases, `push_right` becomes more likely.", True),
        ("As `pole_angle` decreases, `push_right` becomes more likely.", False),
        ("`push_left` becomes more likely when `pole_angle` decreases.", True),
        ("Lowering `pole_angular_velocity` raises the probability of `push_left`.", True),
        ("A larger `pole_angular_velocity` makes `push_left` more likely.", False),
        ("Raising `cart_velocity` favours `push_left` over `push_right`.", True),
        ("Raising `cart_velocity` favours `push_right` over `push_left`.", False),
        ("$\\mathit{pole\\_angle}$ has a negative coefficient in the logit of `push_right`.", False),
        ("`cart_position` increases the logit of `push_right`.", False),  # it does not appear at all
        ("`pole_angle` does not lower the chance of `push_right`.", True),  # negated: not judged
    ],
)
def test_direction_claims(cartpole, sentence: str, ok: bool) -> None:
    _, facts = cartpole
    report = check_policy_explanation(sentence, facts)
    assert report.ok is ok, format_report(report)
    if "does not" not in sentence:
        assert report.claims_checked == 1


@pytest.mark.parametrize(
    ("number", "ok"),
    [("3", True), ("3.0", True), ("0.10", True), ("-0.1", True), ("2.9", False), ("0.12", False),
     ("3.0 \\cdot 10^{0}", True), ("1e-1", True), ("7.7", False)],
)
def test_numbers_must_match_the_formula_within_rounding(cartpole, number: str, ok: bool) -> None:
    _, facts = cartpole
    report = check_policy_explanation(f"The coefficient is {number} here.", facts)
    assert report.numbers_checked == 1
    assert report.ok is ok, format_report(report)


def test_numbers_from_the_prompt_and_percentages_are_accepted(cartpole) -> None:
    _, facts = cartpole
    share = facts.action_shares["push_right"]
    text = f"`push_right` is taken in {100 * share:.0f}% of states; the pole may lean 12 degrees."
    assert not check_policy_explanation(text, facts).ok  # 12 is nowhere in the facts
    report = check_policy_explanation(text, facts, prompt=CARTPOLE.description)
    assert report.ok, format_report(report)


def test_list_markers_and_action_indices_are_not_numbers(cartpole) -> None:
    _, facts = cartpole
    report = check_policy_explanation("1. Action 0 is `push_left`.\n2. Action 1 is `push_right`.", facts)
    assert report.ok and report.numbers_checked == 2


def test_decision_explanation_is_checked_at_its_state(cartpole) -> None:
    policy, facts = cartpole
    state = np.array([0.0, 0.0, 0.05, -0.02])  # 3*0.05 - 0.02 > 0: push_right
    decision = decision_facts(policy, state, np.zeros(4), episode=2, step=9)
    assert decision.action == "push_right"
    good = (f"At step 9 of episode 2 `pole_angle` is 0.05 with gradient {decision.gradients['pole_angle']:.2g}: "
            "raising `pole_angle` makes `push_right` more likely. `pole_angular_velocity` = -0.02 lowers the logit of `push_right`.")
    report = check_decision_explanation(good, decision, facts)
    assert report.ok, format_report(report)
    assert report.claims_checked == 2
    bad = "`pole_angle` is 0.9 here; raising `pole_angle` makes `push_right` less likely; `pole_tip_height` is low."
    report = check_decision_explanation(bad, decision, facts)
    assert sorted(kinds(report)) == ["direction", "number", "unknown_variable"], format_report(report)


def test_three_actions_use_the_softmax_not_the_logit(cartpole) -> None:
    # accelerate_left rises with car_velocity in its own logit, but accelerate_right rises 10x faster:
    # raising car_velocity raises the left logit yet makes accelerate_left LESS likely.
    policy = make(MOUNTAINCAR, ("0.1 * car_velocity", "0", "car_velocity"))
    facts = policy_facts(policy, np.random.default_rng(1).normal(size=(300, 2)))
    assert check_policy_explanation("Raising `car_velocity` raises the logit of `accelerate_left`.", facts).ok
    report = check_policy_explanation("Raising `car_velocity` makes `accelerate_left` more likely.", facts)
    assert kinds(report) == ["direction"]


def test_state_dependent_effects_are_not_judged() -> None:
    policy = make(MOUNTAINCAR, ("0", "0", "car_velocity * car_position"))
    facts = policy_facts(policy, np.random.default_rng(2).normal(size=(300, 2)))
    assert facts.effect("car_velocity", "accelerate_right").sign is None
    report = check_policy_explanation("Raising `car_velocity` makes `accelerate_right` more likely.", facts)
    assert report.ok and report.claims_checked == 0


def test_names_holding_direction_words_are_not_read_as_directions() -> None:
    spec = get_env_spec("Acrobot-v1")  # actions negative_torque, zero_torque, positive_torque
    policy = make(spec, ("-joint2_angular_velocity", "0", "joint2_angular_velocity"))
    facts = policy_facts(policy, np.random.default_rng(3).normal(size=(300, 6)))
    assert check_policy_explanation("Raising `joint2_angular_velocity` makes `negative_torque` less likely.", facts).ok
    assert check_policy_explanation("Raising `joint2_angular_velocity` makes `positive_torque` more likely.", facts).ok
    report = check_policy_explanation("Raising `joint2_angular_velocity` makes `positive_torque` less likely.", facts)
    assert [v.kind for v in report.violations] == ["direction"]


def test_notation_built_on_real_names_is_not_an_unknown_variable(cartpole) -> None:
    _, facts = cartpole
    text = "Here logit_push_right = 3 * pole_angle, so grad_pole_angle is 3 while p_push_left falls."
    assert check_policy_explanation(text, facts).ok
    assert not check_policy_explanation("Here logit_pole_tip = 3.", facts).ok
