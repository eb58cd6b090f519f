"""The offline explainer: terms, thresholds and attributions computed from the formula, in words that check out."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.analysis import find_thresholds, policy_facts
from nsrl_ray.explain.explainer import explain_offline, parse_decision, prepare, select_decision
from nsrl_ray.explain.faithfulness import format_report
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.explain.words_markdown import words_markdown
from nsrl_ray.symbolic.text import parse_expression

# The quickstart's CartPole formula (seed 0): expands to 47.52 w + 111.7 a + 3.934 v.
QUICKSTART = ("(8.642171593000324 * (2.8434593865203484 * (pole_angular_velocity + pole_angle + pole_angle) + pole_angle)"
              " + cart_velocity) * 1.933621966058272 + cart_velocity + cart_velocity")


def card(env: str, formulas: tuple[str, ...], **kwargs) -> PolicyCard:
    spec = get_env_spec(env)
    return PolicyCard(env=env, learner="test", variables=spec.feature_names, action_names=spec.action_names,
                      formulas=tuple(parse_expression(f, variables=spec.feature_names) for f in formulas),
                      action_kind=spec.action_kind, **kwargs)


def dataset(n_episodes: int, length: int, n_features: int, scale: float = 0.05, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"obs": rng.normal(scale=scale, size=(n_episodes * length, n_features)),
            "episode": np.repeat(np.arange(n_episodes), length)}


def test_expanded_terms_of_the_quickstart_formula() -> None:
    c = card("CartPole-v1", ("0", QUICKSTART))
    facts = policy_facts(c.policy(), dataset(2, 100, 4)["obs"])
    terms = {t.variables: t for t in facts.terms["push_right"]}
    assert set(terms) == {("pole_angular_velocity",), ("pole_angle",), ("cart_velocity",)}
    assert terms[("pole_angle",)].coefficient == pytest.approx(8.642171593000324 * 1.933621966058272 * (2 * 2.8434593865203484 + 1))
    assert terms[("cart_velocity",)].coefficient == pytest.approx(1.933621966058272 + 2)
    assert sum(t.share for t in facts.terms["push_right"]) == pytest.approx(1.0)
    assert facts.terms["push_left"][0].variables == ()


def test_threshold_of_a_linear_rule_is_where_it_crosses_zero() -> None:
    c = card("CartPole-v1", ("0", "3 * pole_angle + pole_angular_velocity - 0.1 * cart_velocity + 0.06"))
    states = np.zeros((10, 4))  # medians all 0: push_right iff 3 a + w - 0.1 v + 0.06 > 0
    by_variable = {t.variable: t for t in find_thresholds(c.policy(), states, {"pole_angle": (-0.2, 0.2),
                                                                               "pole_angular_velocity": (-1, 1),
                                                                               "cart_velocity": (-3, 3)})}
    assert by_variable["pole_angle"].value == pytest.approx(-0.02, abs=1e-9)
    assert (by_variable["pole_angle"].below, by_variable["pole_angle"].above) == ("push_left", "push_right")
    assert by_variable["pole_angular_velocity"].value == pytest.approx(-0.06, abs=1e-9)
    assert by_variable["cart_velocity"].value == pytest.approx(0.6, abs=1e-9)
    assert (by_variable["cart_velocity"].below, by_variable["cart_velocity"].above) == ("push_right", "push_left")
    assert "cart_position" not in by_variable


@pytest.mark.parametrize(
    ("env", "formulas", "kwargs"),
    [
        ("CartPole-v1", ("0", QUICKSTART), {}),
        ("MountainCar-v0", ("-10 * car_velocity", "0.1", "10 * car_velocity + car_position"), {}),
        ("Pendulum-v1", ("-2 * sin_pendulum_angle - 0.5 * pendulum_angular_velocity",), {"action_low": (-2.0,), "action_high": (2.0,)}),
        ("Acrobot-v1", ("-joint2_angular_velocity", "0", "joint2_angular_velocity * cos_joint1_angle"), {}),
    ],
)
def test_offline_explanations_pass_their_own_faithfulness_check(env, formulas, kwargs) -> None:
    c = card(env, formulas, **kwargs)
    data = dataset(3, 80, len(c.variables), scale=0.5)
    prepared = prepare(c, data["obs"], select_decision(c, data))
    explanation = explain_offline(prepared)
    assert [e.label for e in explanation.policy] == [*c.action_names, "summary"]
    for exchange in explanation.policy + (explanation.decision_exchange,):
        assert exchange.answer
        assert exchange.faithfulness.ok, f"{exchange.label}: {format_report(exchange.faithfulness)}\n{exchange.answer}"
    assert explanation.violations == 0
    # The checker did look: numbers and directions were found in the offline words.
    assert sum(e.faithfulness.numbers_checked for e in explanation.policy) > 3
    assert sum(e.faithfulness.claims_checked for e in explanation.policy) > 0


def test_cartpole_words_name_terms_thresholds_and_attributions() -> None:
    c = card("CartPole-v1", ("0", QUICKSTART))
    data = dataset(2, 200, 4)
    explanation = explain_offline(prepare(c, data["obs"], select_decision(c, data, 1, 7)))
    left, right, summary = (e.answer for e in explanation.policy)
    assert "47.52*pole_angular_velocity" in right and "Raising `pole_angle` raises the logit of `push_right`" in right
    assert "constant 0" in left and "makes `push_left` less likely" in left
    assert "`push_left` is preferred below `pole_angle` =" in summary and "The policy ignores `cart_position`" in summary
    decision = explanation.decision
    assert (decision.episode, decision.step) == (1, 7)
    np.testing.assert_allclose(list(decision.state.values()), data["obs"][200 + 7])
    words = explanation.decision_exchange.answer
    top = max(decision.attributions, key=lambda v: abs(decision.attributions[v]))
    assert f"`{top}` = {decision.state[top] + 0.0:.3g}" in words
    markdown = words_markdown(explanation)
    assert "$$" in markdown and r"\mathit{pole\_angle}" in markdown
    assert "## Decision explanation (episode 1, step 7)" in markdown and "Faithfulness: no violations" in markdown


def test_select_decision_defaults_to_the_closest_call_and_refuses_bad_indices() -> None:
    c = card("CartPole-v1", ("0", "pole_angle"))
    data = dataset(2, 50, 4)
    state, episode, step = select_decision(c, data)
    assert episode == 0
    assert abs(state[2]) == pytest.approx(np.abs(data["obs"][:50, 2]).min())  # logit gap |pole_angle| is smallest
    with pytest.raises(ValueError, match=r"episode 5 is not in the dataset; it holds episodes 0\.\.1"):
        select_decision(c, data, 5, 0)
    with pytest.raises(ValueError, match=r"episode 1 has 50 steps \(0\.\.49\); step 50 does not exist"):
        select_decision(c, data, 1, 50)
    assert parse_decision("3:14") == (3, 14)
    for bad in ("3", "a:b", "1:2:3", "-1:0"):
        with pytest.raises(ValueError, match="--decision"):
            parse_decision(bad)
