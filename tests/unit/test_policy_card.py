"""Policy cards: write, read back into the same policy, render, and refuse corrupt files clearly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nsrl_ray
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import (
    CARD_FILE,
    CARD_FORMAT,
    CARD_VERSION,
    PolicyCard,
    PolicyCardError,
    card_from_dict,
    card_markdown,
    read_policy_card,
)
from nsrl_ray.symbolic.expression import complexity
from nsrl_ray.symbolic.text import parse_expression

CARTPOLE = get_env_spec("CartPole-v1")
VARIABLES = CARTPOLE.feature_names

#: Real formulas over CartPole's variables, using several primitives and protected division.
FORMULAS = (
    "0.5 * cart_position - cart_velocity / 3.0",
    "3.0 * pole_angle + pole_angular_velocity + max(cart_velocity, -0.2) * 0.1",
)


def cartpole_card(**changes: Any) -> PolicyCard:
    fields: dict[str, Any] = dict(
        env="CartPole-v1",
        learner="gp_distill",
        variables=VARIABLES,
        action_names=CARTPOLE.action_names,
        formulas=tuple(parse_expression(text, variables=VARIABLES) for text in FORMULAS),
        metrics={"symbolic/return_mean": 500.0, "symbolic/agreement": 0.987},
        explanation={"summary": "The policy chooses push_right when the pole leans right."},
        provenance={"seed": 0, "experiment": "unit"},
    )
    fields.update(changes)
    return PolicyCard(**fields)


def write_card(folder: Path, data: Any) -> Path:
    path = folder / CARD_FILE
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def random_observations(n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.array([2.4, 3.0, 0.21, 3.5])
    return rng.uniform(-1.0, 1.0, size=(n, 4)) * scales


# ----------------------------------------------------------------------------- round trip


def test_card_round_trips_to_an_identical_policy(tmp_path: Path) -> None:
    card = cartpole_card()
    path = write_card(tmp_path, card.to_dict())
    original = card.policy()
    observations = random_observations()

    read = read_policy_card(path)
    assert read.formulas == card.formulas
    assert read.variables == VARIABLES
    assert read.action_names == ("push_left", "push_right")
    assert read.metrics == card.metrics
    assert read.provenance == card.provenance

    for loaded in (read.policy(), nsrl_ray.load_policy(path), nsrl_ray.load_policy(tmp_path), nsrl_ray.load_policy(str(tmp_path))):
        np.testing.assert_array_equal(loaded.act(observations), original.act(observations))
        np.testing.assert_array_equal(loaded.outputs(observations), original.outputs(observations))
        # One observation at a time, as a user would call it.
        assert [loaded(obs) for obs in observations[:50]] == [original(obs) for obs in observations[:50]]
    # The sample exercises both actions, so equal actions are not trivially equal.
    assert set(np.unique(original.act(observations))) == {0, 1}


def test_to_dict_is_self_describing() -> None:
    card = cartpole_card()
    data = card.to_dict()
    assert data["format"] == CARD_FORMAT
    assert data["version"] == CARD_VERSION
    assert data["kind"] == "formula"
    assert data["decision"] == "argmax"
    assert data["variables"] == list(VARIABLES)
    assert [a["name"] for a in data["actions"]] == ["push_left", "push_right"]
    assert [a["index"] for a in data["actions"]] == [0, 1]
    assert [parse_expression(a["formula"]) for a in data["actions"]] == list(card.formulas)
    assert [a["complexity"] for a in data["actions"]] == [complexity(f) for f in card.formulas]
    assert data["complexity"] == card.complexity == sum(complexity(f) for f in card.formulas)
    # Plain JSON, loadable back unchanged.
    assert json.loads(json.dumps(data)) == data


def test_continuous_card_round_trips_with_bounds(tmp_path: Path) -> None:
    pendulum = get_env_spec("Pendulum-v1")
    card = PolicyCard(
        env="Pendulum-v1",
        learner="gp_distill",
        variables=pendulum.feature_names,
        action_names=pendulum.action_names,
        formulas=(parse_expression("-8.0 * sin_pendulum_angle - 2.0 * pendulum_angular_velocity"),),
        action_kind="continuous",
        action_low=(-2.0,),
        action_high=(2.0,),
    )
    assert card.decision == "clip"
    write_card(tmp_path, card.to_dict())
    loaded = nsrl_ray.load_policy(tmp_path)
    assert loaded.action_kind == "continuous"
    observations = np.random.default_rng(1).uniform(-3, 3, size=(1000, 3))
    actions = loaded.act(observations)
    np.testing.assert_array_equal(actions, card.policy().act(observations))
    assert actions.min() == -2.0 and actions.max() == 2.0


def test_markdown_contains_every_formula_and_the_metrics() -> None:
    card = cartpole_card()
    text = card_markdown(card)
    assert text.startswith("# Policy card: CartPole-v1 (gp_distill)")
    listed = re.findall(r"^- action (\d+) `(\w+)`: `([^`]+)`$", text, flags=re.MULTILINE)
    assert [(int(i), name) for i, name, _ in listed] == list(enumerate(card.action_names))
    # Each listed formula is the card's formula (its constants need no rounding to be shown exactly).
    for (_, _, shown), formula in zip(listed, card.formulas):
        assert parse_expression(shown, variables=VARIABLES) == formula, shown
    assert "symbolic/agreement | 0.987" in text
    assert "The policy chooses push_right when the pole leans right." in text
    assert f"complexity: {card.complexity} nodes" in text


# ----------------------------------------------------------------------------- refusals


def test_not_json_is_refused(tmp_path: Path) -> None:
    path = write_card(tmp_path, '{"format": "nsrl_ray.policy_card", "version": 1,')
    with pytest.raises(PolicyCardError, match=r"policy\.json: not valid JSON .*the file is corrupt"):
        read_policy_card(path)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / CARD_FILE
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyCardError, match=r"not valid JSON"):
        nsrl_ray.load_policy(path)


def test_json_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = write_card(tmp_path, [1, 2, 3])
    with pytest.raises(PolicyCardError, match=r"holds list, expected a JSON object"):
        read_policy_card(path)


def test_wrong_format_tag_is_refused(tmp_path: Path) -> None:
    data = cartpole_card().to_dict()
    data["format"] = "something.else"
    path = write_card(tmp_path, data)
    with pytest.raises(PolicyCardError, match=r"'format' is 'something\.else', expected 'nsrl_ray\.policy_card'; is this a policy card\?"):
        read_policy_card(path)


def test_wrong_version_is_refused(tmp_path: Path) -> None:
    data = cartpole_card().to_dict()
    data["version"] = 2
    path = write_card(tmp_path, data)
    with pytest.raises(PolicyCardError, match=r"version 2 is not supported \(this nsrl_ray reads version 1\)"):
        read_policy_card(path)


def test_wrong_kind_is_refused() -> None:
    data = cartpole_card().to_dict()
    data["kind"] = "program"
    with pytest.raises(PolicyCardError, match=r"kind 'program' is not supported; expected 'formula'"):
        card_from_dict(data)


@pytest.mark.parametrize("key", ["variables", "action_kind", "actions", "env", "learner"])
def test_missing_key_is_refused(tmp_path: Path, key: str) -> None:
    data = cartpole_card().to_dict()
    del data[key]
    path = write_card(tmp_path, data)
    with pytest.raises(PolicyCardError, match=rf"policy\.json: key '{key}' is missing"):
        read_policy_card(path)


def test_missing_formula_names_the_action() -> None:
    data = cartpole_card().to_dict()
    del data["actions"][1]["formula"]
    with pytest.raises(PolicyCardError, match=r"actions\[1\]: key 'formula' is missing"):
        card_from_dict(data)


def test_key_of_wrong_type_is_refused() -> None:
    data = cartpole_card().to_dict()
    data["variables"] = "cart_position"
    with pytest.raises(PolicyCardError, match=r"'variables' is str 'cart_position', expected list"):
        card_from_dict(data)


def test_empty_actions_and_bad_action_kind_are_refused() -> None:
    data = cartpole_card().to_dict()
    data["actions"] = []
    with pytest.raises(PolicyCardError, match=r"'actions' is empty"):
        card_from_dict(data)
    data = cartpole_card().to_dict()
    data["action_kind"] = "hybrid"
    with pytest.raises(PolicyCardError, match=r"action_kind 'hybrid', expected 'discrete' or 'continuous'"):
        card_from_dict(data)


def test_non_identifier_variable_is_refused() -> None:
    data = cartpole_card().to_dict()
    data["variables"] = ["cart position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
    with pytest.raises(PolicyCardError, match=r"'variables' must be identifiers"):
        card_from_dict(data)


def test_formula_that_does_not_parse_is_refused_with_its_action_index(tmp_path: Path) -> None:
    data = cartpole_card().to_dict()
    data["actions"][1]["formula"] = "3.0 * pole_angle +"
    path = write_card(tmp_path, data)
    with pytest.raises(PolicyCardError, match=r"actions\[1\]: invalid formula '3\.0 \* pole_angle \+': Syntax error at position 18"):
        read_policy_card(path)


def test_formula_with_unknown_variable_is_refused(tmp_path: Path) -> None:
    data = cartpole_card().to_dict()
    data["actions"][0]["formula"] = "pole_angel * 2.0"
    path = write_card(tmp_path, data)
    with pytest.raises(PolicyCardError, match=r"actions\[0\]: invalid formula 'pole_angel \* 2\.0': Unknown variable") as info:
        nsrl_ray.load_policy(path)
    assert "Did you mean 'pole_angle'?" in str(info.value)


def test_formula_with_unknown_function_is_refused() -> None:
    data = cartpole_card().to_dict()
    data["actions"][1]["formula"] = "frobnicate(pole_angle)"
    with pytest.raises(PolicyCardError, match=r"actions\[1\]: invalid formula 'frobnicate\(pole_angle\)': Unknown function"):
        card_from_dict(data)


def test_formula_that_is_not_a_string_is_refused() -> None:
    data = cartpole_card().to_dict()
    data["actions"][0]["formula"] = 1.0
    with pytest.raises(PolicyCardError, match=r"actions\[0\]: 'formula' is float 1\.0, expected str"):
        card_from_dict(data)


def test_bad_action_bounds_are_refused() -> None:
    data = cartpole_card().to_dict()
    data["action_low"] = ["low"]
    with pytest.raises(PolicyCardError, match=r"'action_low' is \['low'\], expected a list of numbers or null"):
        card_from_dict(data)


def test_folder_without_policy_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyCardError, match=r"no policy card at '.*policy\.json'; expected a policy\.json written by `nsrl run`") as info:
        nsrl_ray.load_policy(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyCardError, match=r"no policy card at '.*missing\.json'"):
        read_policy_card(tmp_path / "missing.json")


# ----------------------------------------------------------------------------- light dependencies


def test_loading_a_policy_needs_neither_ray_nor_torch(tmp_path: Path) -> None:
    path = write_card(tmp_path, cartpole_card().to_dict())
    code = (
        "import sys, nsrl_ray\n"
        f"p = nsrl_ray.load_policy({str(path)!r})\n"
        "action = p([0, 0, 0, 0])\n"
        "assert action in (0, 1), action\n"
        "heavy = [m for m in ('ray', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------- validation gaps (regressions)


def pendulum_card_dict() -> dict[str, Any]:
    pendulum = get_env_spec("Pendulum-v1")
    return PolicyCard(
        env="Pendulum-v1",
        learner="gp_distill",
        variables=pendulum.feature_names,
        action_names=pendulum.action_names,
        formulas=(parse_expression("-2.0 * sin_pendulum_angle"),),
        action_kind="continuous",
        action_low=(-2.0,),
        action_high=(2.0,),
    ).to_dict()


def test_bounds_of_the_wrong_length_are_refused() -> None:
    """Regression: 2-element bounds on a 1-D action were accepted and np.clip returned 2 actions."""
    data = pendulum_card_dict()
    data["action_low"], data["action_high"] = [-2.0, -2.0], [2.0, 2.0]
    with pytest.raises(PolicyCardError, match=r"'action_low' has 2 values for 1 action"):
        card_from_dict(data)
    data = pendulum_card_dict()
    data["action_high"] = []
    with pytest.raises(PolicyCardError, match=r"'action_high' has 0 values for 1 action"):
        card_from_dict(data)


def test_explanation_that_is_not_an_object_is_refused() -> None:
    """Regression: a string explanation was accepted and card_markdown then raised AttributeError."""
    data = cartpole_card().to_dict()
    data["explanation"] = "the pole leans right"
    with pytest.raises(PolicyCardError, match=r"'explanation' is str, expected an object"):
        card_from_dict(data)
