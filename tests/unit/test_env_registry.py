"""Unit tests for the environment registry (nsrl_ray.envs)."""

from __future__ import annotations

import dataclasses
import keyword
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from nsrl_ray.envs import (
    EnvSpec,
    UnknownEnvironmentError,
    get_env_spec,
    list_envs,
    load_env_specs,
    make_env,
    register_env_spec,
    verify_env_spec,
)
from nsrl_ray.envs import registry as registry_module

BUILTIN_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
    "LunarLander-v3",
)

# Warnings gymnasium's checker emits for its *own* reference envs; they describe the
# env design (unbounded CartPole velocities, Pendulum's [-2, 2] torque), not a bug here.
KNOWN_CHECKER_WARNINGS = {
    "CartPole-v1": ("observation space minimum value is -infinity", "observation space maximum value is infinity"),
    "Pendulum-v1": ("symmetric and normalized",),
    # MuJoCo observations are unbounded Boxes by design.
    "Swimmer-v5": ("observation space minimum value is -infinity", "observation space maximum value is infinity"),
    "Hopper-v5": ("observation space minimum value is -infinity", "observation space maximum value is infinity"),
}


# Atari: only Pong's two kinds here, since a seeded ALE reset reloads the ROM (~2 s per env);
# tests/unit/test_atari_registry.py checks every game's specs.
CHECKED_ENVS = tuple(
    n for n in list_envs() if n.startswith("Pong") or not n.endswith(("Objects-v0", "Pixels-v0"))
)


def _valid_spec(**overrides: object) -> EnvSpec:
    fields: dict[str, object] = dict(
        name="Dummy-v0",
        gym_id="CartPole-v1",
        feature_names=("a", "b"),
        feature_descriptions=("first", "second"),
        action_kind="discrete",
        action_names=("left", "right"),
        description="A dummy spec for tests.",
        solved_return=1.0,
        max_episode_steps=10,
    )
    fields.update(overrides)
    return EnvSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register specs without leaking them into other tests."""
    loaded = registry_module._ensure_loaded()
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(loaded))


def test_builtin_envs_are_registered() -> None:
    assert set(BUILTIN_ENVS) <= set(list_envs())
    assert isinstance(list_envs(), tuple)


@pytest.mark.parametrize("name", list_envs())
def test_names_are_usable_formula_variables(name: str) -> None:
    spec = get_env_spec(name)
    for names in (spec.feature_names, spec.action_names):
        assert all(n.isidentifier() and not keyword.iskeyword(n) for n in names), names
        assert len(set(names)) == len(names), names
    assert not set(spec.feature_names) & set(spec.action_names)
    assert len(spec.feature_descriptions) == spec.n_features
    assert all(d.strip() for d in spec.feature_descriptions)
    assert spec.description.strip()


@pytest.mark.parametrize("name", CHECKED_ENVS)
def test_spec_matches_real_env(name: str) -> None:
    spec = get_env_spec(name)
    env = make_env(name)
    try:
        # Pixel envs (observation_shape set) name the objects a perception module predicts instead.
        assert env.observation_space.shape == (spec.observation_shape or (spec.n_features,))
        if spec.action_kind == "discrete":
            assert isinstance(env.action_space, spaces.Discrete)
            assert int(env.action_space.n) == spec.n_actions
        else:
            assert isinstance(env.action_space, spaces.Box)
            assert env.action_space.shape == (spec.n_actions,)
        # The spec duplicates these two numbers for the formula learner; keep them in sync with gymnasium.
        assert env.spec is not None
        assert spec.max_episode_steps == env.spec.max_episode_steps
        assert spec.solved_return == env.spec.reward_threshold
        verify_env_spec(name, env)
    finally:
        env.close()


@pytest.mark.parametrize("name", CHECKED_ENVS)
def test_gymnasium_env_checker_passes(name: str) -> None:
    env = make_env(name)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Render modes include "human" (opens a window); irrelevant for a headless registry test.
            check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
    allowed = KNOWN_CHECKER_WARNINGS.get(name, ())
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in allowed)]
    assert not unexpected


def test_make_env_passes_kwargs_to_gymnasium() -> None:
    env = make_env("CartPole-v1", render_mode="rgb_array")
    try:
        assert isinstance(env, gymnasium.Env)
        env.reset(seed=0)
        frame = env.render()
        assert isinstance(frame, np.ndarray) and frame.ndim == 3
    finally:
        env.close()


def test_lunar_lander_leg_order_is_right_then_left() -> None:
    # Index 6 belongs to the leg on the +x side: alone in contact it should coincide with a
    # clockwise tilt (negative angle), which lowers the right side of the hull.
    spec = get_env_spec("LunarLander-v3")
    right = spec.feature_names.index("right_leg_contact")
    left = spec.feature_names.index("left_leg_contact")
    angle = spec.feature_names.index("angle")
    agree = disagree = 0
    env = make_env("LunarLander-v3")
    try:
        rng = np.random.default_rng(0)
        for seed in range(10):
            obs, _ = env.reset(seed=seed)
            for _ in range(1000):
                obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
                if obs[right] != obs[left]:
                    only_right = bool(obs[right])
                    tilted_clockwise = bool(obs[angle] < 0)
                    agree += only_right == tilted_clockwise
                    disagree += only_right != tilted_clockwise
                if terminated or truncated:
                    break
    finally:
        env.close()
    assert agree >= 10 and agree > 5 * disagree


def test_unknown_name_suggests_and_lists_known() -> None:
    with pytest.raises(UnknownEnvironmentError) as info:
        get_env_spec("Cartpole-v1")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.suggestion == "CartPole-v1"
    message = str(err)
    assert "'Cartpole-v1'" in message
    assert "Did you mean 'CartPole-v1'?" in message
    for known in list_envs():
        assert known in message


def test_unknown_name_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(UnknownEnvironmentError) as info:
        make_env("zzzzzz")
    assert info.value.suggestion is None
    assert "Did you mean" not in str(info.value)


def test_duplicate_registration_refused(isolated_registry: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_env_spec(get_env_spec("CartPole-v1"))
    spec = _valid_spec(name="FreshDummy-v0")
    register_env_spec(spec)
    assert get_env_spec("FreshDummy-v0") is spec
    assert list_envs()[-1] == "FreshDummy-v0"
    with pytest.raises(ValueError, match="already registered"):
        register_env_spec(_valid_spec(name="FreshDummy-v0"))


def test_isolated_registry_does_not_leak() -> None:
    assert "FreshDummy-v0" not in list_envs()


def test_register_rejects_non_spec() -> None:
    with pytest.raises(TypeError):
        register_env_spec({"name": "x"})  # type: ignore[arg-type]


def test_env_spec_is_frozen_and_normalises_sequences() -> None:
    spec = _valid_spec(feature_names=["a", "b"], action_names=["left", "right"], solved_return=3)
    assert spec.feature_names == ("a", "b") and spec.action_names == ("left", "right")
    assert spec.solved_return == 3.0 and isinstance(spec.solved_return, float)
    assert spec.n_features == 2 and spec.n_actions == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"feature_names": ("a", "not valid")}, "not usable as a formula variable"),
        ({"feature_names": ("a", "lambda")}, "not usable as a formula variable"),
        ({"feature_names": ("a", "a")}, "duplicates"),
        ({"action_names": ()}, "empty"),
        ({"feature_descriptions": ("only one",)}, "one description per feature"),
        ({"action_names": ("a", "right")}, "both as feature and action names"),
        ({"action_kind": "hybrid"}, "action_kind"),
        ({"max_episode_steps": 0}, "positive"),
        ({"gym_id": ""}, "gym_id"),
    ],
)
def test_env_spec_validation(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        _valid_spec(**overrides)


def test_load_env_specs_from_file(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(
        """
schema_version: 1
environments:
  - name: Extra-v0
    gym_id: CartPole-v1
    action_kind: continuous
    solved_return: null
    max_episode_steps: 7
    description: >-
      Folded
      text.
    features:
      - {name: speed, description: "m/s"}
    actions: [throttle]
""",
        encoding="utf-8",
    )
    (spec,) = load_env_specs(path)
    assert spec.name == "Extra-v0"
    assert spec.feature_names == ("speed",) and spec.action_names == ("throttle",)
    assert spec.solved_return is None and spec.description == "Folded text."


def test_load_env_specs_reports_file_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("schema_version: 1\nenvironments:\n  - name: Broken-v0\n    gym_id: X\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.yaml.*Broken-v0.*missing keys"):
        load_env_specs(path)
