"""INSIGHT-structured prompts from a policy card and the environment's data file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.envs import get_env_spec, load_env_specs
from nsrl_ray.explain.analysis import DecisionFacts, policy_facts
from nsrl_ray.explain.context import build_context
from nsrl_ray.explain.evidence import decision_evidence, register_evidence_builder
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.explain.prompts import decision_prompt, policy_conversation
from nsrl_ray.symbolic.text import parse_expression

CARTPOLE = get_env_spec("CartPole-v1")
RULE = "3 * pole_angle + pole_angular_velocity - 0.1 * cart_velocity"


def card(env: str = "CartPole-v1", formulas: tuple[str, ...] = ("0", RULE), **kwargs) -> PolicyCard:
    spec = get_env_spec(env)
    return PolicyCard(
        env=env, learner="test", variables=spec.feature_names, action_names=spec.action_names,
        formulas=tuple(parse_expression(f, variables=spec.feature_names) for f in formulas),
        action_kind=spec.action_kind, **kwargs,
    )


@pytest.fixture(scope="module")
def states() -> np.ndarray:
    return np.random.default_rng(0).normal(scale=0.1, size=(500, 4))


def test_env_data_file_describes_ranges_actions_and_coordinates() -> None:
    for name in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "LunarLander-v3"):
        spec = get_env_spec(name)
        assert len(spec.feature_ranges) == spec.n_features and all(r is not None for r in spec.feature_ranges)
        assert all(low < high for low, high in spec.feature_ranges)
        assert len(spec.action_descriptions) == spec.n_actions
        assert spec.coordinates
    assert CARTPOLE.feature_ranges[2] == (-0.2095, 0.2095)
    assert "10 N" in CARTPOLE.action_descriptions[0] and "left" in CARTPOLE.action_descriptions[0]


def test_env_data_file_with_a_bad_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "schema_version: 1\nenvironments:\n  - name: Bad-v0\n    gym_id: X-v0\n    action_kind: discrete\n"
        "    solved_return: null\n    max_episode_steps: 5\n    description: d\n"
        "    features:\n      - {name: speed, description: m/s, range: [3, 1]}\n    actions: [go]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.yaml.*range of feature 'speed'.*low < high"):
        load_env_specs(path)
    path.write_text(path.read_text().replace("range: [3, 1]", "range: [1, 3]").replace("actions: [go]",
                    "actions: [{name: go, description: moves}, stop]"), encoding="utf-8")
    with pytest.raises(ValueError, match="describe every action or none"):
        load_env_specs(path)


def test_context_holds_task_variables_ranges_coordinates_formulas_and_rule(states) -> None:
    ctx = build_context(card())
    conversation = policy_conversation(ctx, policy_facts(card().policy(), states, ctx.ranges()))
    context = conversation.turns[0]
    assert CARTPOLE.description in context
    assert CARTPOLE.coordinates in context
    for name, description, (low, high) in zip(CARTPOLE.feature_names, CARTPOLE.feature_descriptions, CARTPOLE.feature_ranges):
        line = next(l for l in context.splitlines() if l.startswith(f"- `{name}`"))
        assert description in line and f"Range: [{low:.3g}, {high:.3g}]" in line
    for i, action in enumerate(CARTPOLE.action_names):
        assert f"action {i}, `{action}`" in context
    assert r"\mathit{pole\_angle}" in context  # formulas in LaTeX
    assert "softmax" in context and "largest logit" in context
    assert "expanded" not in context  # RULE is already a plain sum
    # A nested formula is also shown expanded, with the coefficients it implies.
    nested = card(formulas=("0", "2 * (1.5 * pole_angle + 0.5 * pole_angular_velocity) - 0.1 * cart_velocity"))
    turn = policy_conversation(build_context(nested), policy_facts(nested.policy(), states)).turns[0]
    expanded = next(l for l in turn.splitlines() if "expanded" in l).replace(" ", "")
    assert "3*pole_angle" in expanded and "+pole_angular_velocity" in expanded and "-0.1*cart_velocity" in expanded


def test_policy_conversation_asks_each_action_then_a_summary(states) -> None:
    ctx = build_context(card())
    conversation = policy_conversation(ctx)
    assert conversation.labels == ("push_left", "push_right", "summary")
    assert "Analyse action `push_left`" in conversation.turns[0]
    assert conversation.turns[1].startswith("Analyse action `push_right`")  # the context is sent once
    assert "summarise" in conversation.turns[2]
    messages = conversation.messages(("first answer", "second answer"))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"] == "first answer" and messages[-1]["content"] == conversation.turns[2]
    with pytest.raises(ValueError, match="nothing left to ask"):
        conversation.messages(("a", "b", "c"))


def test_decision_prompt_lists_each_value_and_log_prob_gradient(states) -> None:
    c = card()
    ctx = build_context(c)
    state = np.array([0.5, -0.2, 0.03, 0.1])
    decision = decision_evidence(c, state, np.zeros(4), episode=3, step=17)
    assert decision.action == "push_right"  # 3*0.03 + 0.1 + 0.02 > 0
    prompt = decision_prompt(ctx, decision).turns[0]
    assert "took action `push_right` at step 17 of episode 3" in prompt
    p_right = decision.probabilities["push_right"]
    for name, value, slope in zip(CARTPOLE.feature_names, state, (0.0, -0.1, 3.0, 1.0)):
        row = next(l for l in prompt.splitlines() if l.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) == pytest.approx(value, rel=1e-2)
        # d log p_right / dx = (1 - p_right) * slope for a two-action softmax with logit_left = 0.
        assert float(cells[2]) == pytest.approx((1 - p_right) * slope, rel=1e-2, abs=1e-12)
    assert "from the equations" in prompt or "using only the equations" in prompt


def test_continuous_policy_prompts_use_values_not_logits() -> None:
    c = card("Pendulum-v1", ("-2 * sin_pendulum_angle - 0.5 * pendulum_angular_velocity",),
             action_low=(-2.0,), action_high=(2.0,))
    ctx = build_context(c)
    assert "clipped to [-2, 2]" in ctx.decision_rule
    conversation = policy_conversation(ctx)
    assert "Analyse the action dimension `torque`" in conversation.turns[0]
    decision = decision_evidence(c, np.array([1.0, 0.5, 1.0]), np.zeros(3))
    prompt = decision_prompt(ctx, decision).turns[0]
    assert "gradient of `torque`" in prompt and "probabilit" not in prompt.split("## Decision")[1]


def test_card_of_an_unregistered_env_is_explained_from_the_card_alone() -> None:
    c = PolicyCard(env="Mystery-v0", learner="x", variables=("speed_x",), action_names=("go", "stop"),
                   formulas=(parse_expression("speed_x", variables=("speed_x",)), parse_expression("0")))
    ctx = build_context(c)
    assert ctx.task == "The environment Mystery-v0." and ctx.variables[0].range is None
    assert "`speed_x`: speed x" in policy_conversation(ctx).turns[0]


def test_program_policies_can_plug_in_an_execution_trace() -> None:
    """The extension point for Karel: a builder returns trace evidence; prompts use the trace, not gradients."""

    class ProgramCard:
        kind = "program_under_test"

    def builder(card, state, baseline, episode, step, gradients) -> DecisionFacts:
        return DecisionFacts(episode, step, {"front_is_clear": 1.0}, "move", 0, {}, {}, {}, {}, {}, {},
                             evidence="trace", trace=("if front_is_clear():", "  move()"))

    register_evidence_builder("program_under_test", builder)
    decision = decision_evidence(ProgramCard(), np.ones(1), np.zeros(1), 0, 4)
    assert decision.evidence == "trace"
    ctx = build_context(card())
    prompt = decision_prompt(ctx, decision).turns[0]
    assert "The program executed these statements" in prompt and "    if front_is_clear():" in prompt
    assert "gradient" not in prompt.split("## Decision")[1]
    with pytest.raises(ValueError, match="no decision evidence for policy kind 'nope'"):
        decision_evidence(type("C", (), {"kind": "nope"})(), np.ones(1), np.zeros(1))
