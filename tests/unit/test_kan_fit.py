"""KAN extraction without Ray: edge fitting, the IR conversion in raw units, determinism, learning checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nsrl_ray.config import ConfigError
from nsrl_ray.config.schema import KANSettings
from nsrl_ray.explain.policy_card import PolicyCard, card_from_dict
from nsrl_ray.symbolic import evaluate, parse_expression, to_text, variables_of
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.kan_fit import (
    EDGE_FUNCTIONS,
    EdgeFit,
    SymbolicKAN,
    _Layer,
    _loss_function,
    fit_edge,
    fit_kan,
    symbolic_to_formulas,
)

NAMES = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
FAST = KANSettings(steps=8, retrain_steps=2, refit_steps=15, edge_samples=256)


def cartpole_like(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw-unit states (far from zero mean / unit scale) labelled by a linear controller."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 4)) * [0.8, 1.5, 0.05, 0.6] + [0.3, -0.2, 0.01, 0.1]
    actions = (obs[:, 2] * 12 + obs[:, 3] + 0.2 * obs[:, 1] > 0.1).astype(int)
    return obs, actions


@pytest.fixture(scope="module")
def discrete_fit():
    obs, actions = cartpole_like()
    return obs, actions, fit_kan(obs, actions, NAMES, "discrete", FAST, seed=3, n_actions=2)


# ----------------------------------------------------------------------------- edge fitting


@pytest.mark.parametrize(
    ("name", "truth"),
    [
        ("x", lambda x: 2.5 * x - 1.0),
        ("x^2", lambda x: 1.5 * (0.8 * x - 0.3) ** 2 + 0.2),
        ("sin", lambda x: -2.0 * np.sin(1.7 * x + 0.4) + 1.0),
        ("exp", lambda x: 0.5 * np.exp(0.9 * x) - 2.0),
        ("tanh", lambda x: 3.0 * np.tanh(2.0 * x - 0.5)),
    ],
)
def test_fit_edge_recovers_the_function_and_its_constants(name, truth):
    x = np.linspace(-2.0, 2.0, 400)
    chosen, a, b, c, d, r2 = fit_edge(x, truth(x), tuple(EDGE_FUNCTIONS), weight_simple=0.0)
    assert chosen == name or r2 > 0.9999, (chosen, r2)
    op = EDGE_FUNCTIONS[chosen][0]
    refit = c * (x if op is None else evaluate(parse_expression(f"{op}(u)"), {"u": a * x + b})) + d
    np.testing.assert_allclose(refit, truth(x), atol=2e-2 * np.ptp(truth(x)))


def test_fit_edge_prefers_the_simple_function_when_weighted():
    x = np.linspace(-1.0, 1.0, 200)
    y = 3.0 * x + 0.01 * np.sin(9 * x)  # almost linear
    assert fit_edge(x, y, tuple(EDGE_FUNCTIONS), weight_simple=0.8)[0] == "x"


def test_constant_edge_is_a_constant():
    name, a, b, c, d, r2 = fit_edge(np.full(50, 2.0), np.linspace(0, 1, 50), ("x", "sin"), 0.8)
    assert (name, c) == ("x", 0.0) and d == pytest.approx(0.5)


# ----------------------------------------------------------------------------- raw units


def test_normalisation_is_folded_into_the_formula():
    # A hand-made symbolic network on standardised inputs: the formulas must take raw inputs.
    mean, std = np.array([5.0, -3.0]), np.array([2.0, 0.5])
    layers = [
        _Layer([EdgeFit(0, 0, 0, "sin", 1.3, 0.2, 2.0, 0.1, 1.0), EdgeFit(0, 1, 0, "x", 1.0, 0.0, -0.7, 0.3, 1.0),
                EdgeFit(0, 1, 1, "x^2", 0.5, -0.1, 1.1, 0.0, 1.0)], 2, np.array([0.05, -0.2])),
        _Layer([EdgeFit(1, 0, 0, "tanh", 0.9, 0.3, 1.5, -0.4, 1.0), EdgeFit(1, 1, 0, "x", 1.0, 0.0, 2.0, 0.0, 1.0),
                EdgeFit(1, 1, 1, "exp", 0.3, 0.1, -1.0, 0.5, 1.0)], 2, np.zeros(2)),
    ]
    network = SymbolicKAN(layers)
    formulas = symbolic_to_formulas(network, ("a", "b"), mean, std)
    raw = np.random.default_rng(0).normal(size=(300, 2)) * std * 3 + mean
    with torch.no_grad():
        expected = network(torch.as_tensor((raw - mean) / std)).numpy()
    got = np.stack([evaluate(f, {"a": raw[:, 0], "b": raw[:, 1]}) for f in formulas], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_card_formula_and_network_agree_on_raw_observations(discrete_fit):
    obs, _, result = discrete_fit
    card = PolicyCard(env="CartPole-v1", learner="kan", variables=NAMES, action_names=("push_left", "push_right"),
                      formulas=result.formulas)
    # Through the card's text form (what policy.json stores), not the in-memory trees.
    loaded = card_from_dict(card.to_dict()).policy()
    probe = obs + np.random.default_rng(1).normal(size=obs.shape) * obs.std(axis=0)
    np.testing.assert_allclose(loaded.outputs(probe), result.symbolic_outputs(probe), rtol=1e-7, atol=1e-7)
    assert np.array_equal(loaded.act(probe), result.symbolic_outputs(probe).argmax(axis=1))
    # And the formulas use raw feature names only: no normalised inputs sneak in.
    assert set().union(*(variables_of(f) for f in result.formulas)) <= set(NAMES)


# ----------------------------------------------------------------------------- learning


def test_discrete_formula_reproduces_the_teacher(discrete_fit):
    obs, actions, result = discrete_fit
    policy = FormulaPolicy(NAMES, result.formulas, ("push_left", "push_right"))
    fresh, fresh_actions = cartpole_like(n=2000, seed=9)
    # A broken fit (constant, wrong sign, lost normalisation) stays near 50-70 %.
    assert np.mean(policy.act(fresh) == fresh_actions) > 0.95
    assert np.mean(result.spline_policy()(fresh) == fresh_actions) > 0.95
    assert result.metrics["refit_loss_after"] <= result.metrics["refit_loss_before"]
    assert result.widths[0] == 4 and result.widths[-1] == 2
    assert result.history and result.fit_seconds > 0


def test_continuous_formula_tracks_the_teacher():
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, size=(1200, 3)) * [1.0, 1.0, 8.0]
    target = np.clip(-2.0 * obs[:, 1] - 0.25 * obs[:, 2], -2, 2)[:, None]
    result = fit_kan(obs, target, ("cos_a", "sin_a", "speed"), "continuous", FAST, seed=0)
    policy = FormulaPolicy(("cos_a", "sin_a", "speed"), result.formulas, ("torque",), "continuous", (-2.0,), (2.0,))
    error = np.mean((policy.act(obs)[:, 0] - target[:, 0]) ** 2)
    assert error < 0.05 * target.var(), (error, target.var())


def test_bounded_loss_is_the_error_after_the_env_clips():
    loss = _loss_function("continuous", (np.array([-2.0]), np.array([2.0])))
    target = torch.tensor([[2.0], [2.0], [-2.0], [0.5]], dtype=torch.float64)
    assert float(loss(torch.tensor([[5.0], [2.0], [-7.0], [0.5]], dtype=torch.float64), target)) == 0.0
    # Falling short of a saturated teacher, or missing an unsaturated one, still costs.
    assert float(loss(torch.tensor([[1.0], [2.0], [-2.0], [1.5]], dtype=torch.float64), target)) == pytest.approx(2 / 4)
    assert float(_loss_function("continuous")(torch.tensor([[5.0]]), torch.tensor([[2.0]]))) == 9.0


def _saturated_play(policy, obs: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.clip(policy.act(obs)[:, 0], -2, 2) - target[:, 0]) ** 2))


def test_a_saturated_teacher_is_fitted_better_with_its_bounds():
    # A bang-bang swing-up-like teacher: saturated on most states, a steep ramp between.
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, size=(1500, 3)) * [1.0, 1.0, 8.0]
    target = np.clip(-10.0 * obs[:, 1] - 1.5 * obs[:, 2], -2, 2)[:, None]
    assert np.mean(np.abs(target) == 2.0) > 0.6
    names, settings = ("cos_a", "sin_a", "speed"), dataclasses.replace(FAST, grid=3, hidden=(2,))
    errors = {}
    for label, bounds in (("plain", None), ("bounded", (np.array([-2.0]), np.array([2.0])))):
        result = fit_kan(obs, target, names, "continuous", settings, seed=0, action_bounds=bounds)
        policy = FormulaPolicy(names, result.formulas, ("torque",), "continuous", (-2.0,), (2.0,))
        errors[label] = _saturated_play(policy, obs, target)
    assert errors["bounded"] < 0.5 * errors["plain"], errors


def test_same_seed_same_formulas_and_global_rng_untouched():
    obs, actions = cartpole_like(n=600)
    np.random.seed(123)
    torch.manual_seed(123)
    first = fit_kan(obs, actions, NAMES, "discrete", FAST, seed=5, n_actions=2)
    after_numpy, after_torch = np.random.random(), torch.rand(1).item()
    np.random.seed(123)
    torch.manual_seed(123)
    second = fit_kan(obs, actions, NAMES, "discrete", FAST, seed=5, n_actions=2)
    assert [to_text(f) for f in first.formulas] == [to_text(f) for f in second.formulas]
    # pykan seeds the global generators; the fit puts them back.
    assert (np.random.random(), torch.rand(1).item()) == (after_numpy, after_torch)


def test_pruning_writes_no_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obs, actions = cartpole_like(n=400)
    fit_kan(obs, actions, NAMES, "discrete", dataclasses.replace(FAST, prune=True), seed=0, n_actions=2)
    assert list(tmp_path.iterdir()) == []  # pykan's prune would have written ./model


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_what_to_fix():
    obs, actions = cartpole_like(n=100)
    with pytest.raises(ValueError, match=r"expected \(batch, 4\)"):
        fit_kan(obs[:, :3], actions, NAMES, "discrete", FAST, seed=0, n_actions=2)
    with pytest.raises(ValueError, match=r"indices in \[0, 2\)"):
        fit_kan(obs, actions + 5, NAMES, "discrete", FAST, seed=0, n_actions=2)
    with pytest.raises(ValueError, match="one target per observation"):
        fit_kan(obs, actions[:50], NAMES, "discrete", FAST, seed=0, n_actions=2)
    with pytest.raises(ConfigError, match="Did you mean 'sin'"):
        KANSettings(library=("x", "sinn"))
    with pytest.raises(ConfigError, match="hidden"):
        KANSettings(hidden=())
