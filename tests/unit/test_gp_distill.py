"""GP distillation: a learning check in the real CartPole, determinism, and the special cases.

The learning check distils a hand-written controller (whose formula we know) from its own
rollouts, then plays the distilled formula in CartPole-v1. A learner that mixes up feature
names, flips the sign of the program, swaps the actions, drops the data or mangles the
gplearn program would fail it.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from nsrl_ray.config import SymbolicSettings
from nsrl_ray.envs import get_env_spec
from nsrl_ray.symbolic.expression import Const, variables_of
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.gp_distill import DistillResult, agreement, distill_continuous, distill_discrete, gplearn_kwargs
from nsrl_ray.symbolic.text import to_text

CARTPOLE = get_env_spec("CartPole-v1")
ACROBOT = get_env_spec("Acrobot-v1")

#: Budget of the learning check. The brief's smaller budget (population 500, 8 generations,
#: constants in [-3, 3]) passes this check for only 1 GP seed in 10 on this data, and not for
#: seed 0 (it returns `c * pole_angular_velocity`: agreement 0.82, return 199): gplearn's log
#: loss rewards scaling the program up, and with constants in [-3, 3] scaling costs many nodes.
#: This budget passes for 9 seeds in 10 and finds `423.7 * (3.0 * pole_angle + pole_angular_velocity)`
#: at seed 0 in about 5 s.
LEARNING_SETTINGS = SymbolicSettings(
    population_size=1000,
    generations=10,
    function_set=("add", "sub", "mul"),
    parsimony_coefficient=0.002,
    const_range=(-10.0, 10.0),
)

#: A small budget for tests that check plumbing, not learning.
QUICK_SETTINGS = SymbolicSettings(population_size=200, generations=3, tournament_size=10)


def controller_logit(obs: np.ndarray) -> np.ndarray:
    """Push right when the pole leans or falls to the right."""
    obs = np.asarray(obs, dtype=np.float64)
    return 3.0 * obs[..., 2] + obs[..., 3]


def controller(obs: np.ndarray) -> int:
    return int(controller_logit(obs) > 0)


def play(policy, seeds) -> np.ndarray:
    env = gym.make("CartPole-v1")
    returns = []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.array(returns)


def rollouts(episodes: int = 10, epsilon: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs, controller action, fake logits) from epsilon-greedy rollouts; labels stay the controller's."""
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    observations, actions = [], []
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=100 + episode)
            done = False
            while not done:
                label = controller(obs)
                observations.append(obs)
                actions.append(label)
                taken = int(rng.integers(2)) if rng.random() < epsilon else label
                obs, _, terminated, truncated, _ = env.step(taken)
                done = terminated or truncated
    finally:
        env.close()
    obs = np.asarray(observations, dtype=np.float64)
    logit = controller_logit(obs)
    return obs, np.asarray(actions), np.stack([-logit, logit], axis=1)


@pytest.fixture(scope="module")
def cartpole_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rollouts()


# ----------------------------------------------------------------------------- learning check


def test_hand_written_controller_solves_cartpole() -> None:
    assert play(controller, range(20)).mean() >= 475


def test_rollouts_hold_both_actions_and_off_trajectory_states(cartpole_data) -> None:
    obs, actions, logits = cartpole_data
    assert obs.shape[1] == 4 and len(obs) == len(actions) == len(logits)
    assert len(obs) > 2000
    assert 0.3 < actions.mean() < 0.7
    np.testing.assert_array_equal(logits.argmax(axis=1), actions)


def test_distilled_formula_balances_the_pole(cartpole_data) -> None:
    obs, actions, logits = cartpole_data
    result = distill_discrete(obs, actions, logits, CARTPOLE.feature_names, LEARNING_SETTINGS, seed=0)
    policy = FormulaPolicy(
        variables=CARTPOLE.feature_names, formulas=result.formulas, action_names=CARTPOLE.action_names
    )
    described = f"formulas {[to_text(f) for f in result.formulas]}"
    assert result.formulas[0] == Const(0.0), described
    # The controller looks at the pole; a formula blind to either pole variable cannot match it.
    assert {"pole_angle", "pole_angular_velocity"} <= variables_of(result.formulas[1]), described
    assert agreement(policy, obs, actions) >= 0.95, described
    assert policy.complexity <= 25, described
    returns = play(policy, range(20))
    assert returns.mean() >= 475, f"{described}: returns {returns.tolist()}"
    # Evolution made progress and reported it per generation.
    assert len(result.history) == LEARNING_SETTINGS.generations
    assert result.history[-1]["best_fitness"] < result.history[0]["best_fitness"]
    assert result.fit_seconds > 0


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_formulas(cartpole_data) -> None:
    obs, actions, logits = cartpole_data
    first = distill_discrete(obs, actions, logits, CARTPOLE.feature_names, QUICK_SETTINGS, seed=3)
    second = distill_discrete(obs, actions, logits, CARTPOLE.feature_names, QUICK_SETTINGS, seed=3)
    assert first.formulas == second.formulas
    assert first.history == second.history


def test_same_seed_gives_identical_formulas_with_three_actions() -> None:
    obs, actions, logits = acrobot_data()
    first = distill_discrete(obs, actions, logits, ACROBOT.feature_names, QUICK_SETTINGS, seed=5)
    second = distill_discrete(obs, actions, logits, ACROBOT.feature_names, QUICK_SETTINGS, seed=5)
    assert first.formulas == second.formulas


# ----------------------------------------------------------------------------- three actions


def acrobot_data(n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Acrobot-shaped data whose logits are linear in joint2_angular_velocity, plus a common offset."""
    obs = np.random.default_rng(0).normal(size=(n, 6))
    weights = np.zeros((6, 3))
    weights[5] = [-1.0, 0.0, 1.0]  # negative_torque, zero_torque, positive_torque
    logits = obs @ weights + 2.0  # the offset is irrelevant to the argmax and must not be learnt
    return obs, logits.argmax(axis=1), logits


def test_three_actions_give_three_formulas_with_the_right_slopes() -> None:
    obs, actions, logits = acrobot_data()
    settings = SymbolicSettings(population_size=300, generations=5)
    result = distill_discrete(obs, actions, logits, ACROBOT.feature_names, settings, seed=0)
    assert isinstance(result, DistillResult)
    assert len(result.formulas) == 3
    policy = FormulaPolicy(variables=ACROBOT.feature_names, formulas=result.formulas, action_names=ACROBOT.action_names)
    assert agreement(policy, obs, actions) >= 0.8
    # Raising joint2_angular_velocity lowers negative_torque's formula and raises positive_torque's.
    step = np.zeros(6)
    step[5] = 0.1
    slope = (policy.outputs(obs + step) - policy.outputs(obs - step)).mean(axis=0) / 0.2
    assert slope[0] < -0.5 and slope[2] > 0.5, [to_text(f) for f in result.formulas]
    # One regressor per action: the history averages over them.
    assert len(result.history) == settings.generations


# ----------------------------------------------------------------------------- single class


@pytest.mark.parametrize("only, expected", [(1, (Const(0.0), Const(1.0))), (0, (Const(0.0), Const(-1.0)))])
def test_single_class_returns_constant_formulas(only: int, expected) -> None:
    obs = np.random.default_rng(0).normal(size=(50, 4))
    actions = np.full(50, only)
    logits = np.zeros((50, 2))
    result = distill_discrete(obs, actions, logits, CARTPOLE.feature_names, QUICK_SETTINGS, seed=0)
    assert result.formulas == expected
    assert result.history == []
    policy = FormulaPolicy(variables=CARTPOLE.feature_names, formulas=result.formulas, action_names=CARTPOLE.action_names)
    np.testing.assert_array_equal(policy.act(obs), actions)


# ----------------------------------------------------------------------------- plumbing


def test_gplearn_kwargs_pass_every_setting_and_the_seed() -> None:
    from gplearn.genetic import SymbolicClassifier, SymbolicRegressor

    settings = SymbolicSettings(population_size=321, generations=4, tournament_size=7, init_depth=(1, 3), const_range=(-2.0, 5.0))
    kwargs = gplearn_kwargs(settings, seed=42)
    assert kwargs["random_state"] == 42
    assert kwargs["n_jobs"] == 1
    assert kwargs["population_size"] == 321
    assert kwargs["tournament_size"] == 7
    assert kwargs["init_depth"] == (1, 3)
    assert kwargs["const_range"] == (-2.0, 5.0)
    # Every search setting reaches gplearn; our own settings (learner, subsampling, size cap) do not.
    searched = {
        "population_size", "generations", "tournament_size", "function_set", "parsimony_coefficient",
        "init_depth", "const_range", "p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation",
    }
    assert set(kwargs) == searched | {"random_state", "n_jobs"}
    assert searched <= {f.name for f in dataclasses.fields(SymbolicSettings)}
    # gplearn accepts every argument under the same name.
    for estimator in (SymbolicClassifier(**kwargs), SymbolicRegressor(**kwargs)):
        params = estimator.get_params()
        assert all(params[name] == value for name, value in kwargs.items())


def test_continuous_distillation_recovers_a_linear_controller() -> None:
    pendulum = get_env_spec("Pendulum-v1")
    obs = np.random.default_rng(1).normal(size=(500, 3))
    torque = obs[:, 1] - obs[:, 2]
    settings = SymbolicSettings(population_size=300, generations=5)
    result = distill_continuous(obs, torque, pendulum.feature_names, settings, seed=0)
    assert len(result.formulas) == 1
    policy = FormulaPolicy(
        variables=pendulum.feature_names, formulas=result.formulas, action_names=pendulum.action_names, action_kind="continuous"
    )
    np.testing.assert_allclose(policy.act(obs)[:, 0], torque, atol=1e-6, err_msg=to_text(result.formulas[0]))


def test_agreement_is_the_share_of_matching_actions() -> None:
    policy = FormulaPolicy(
        variables=CARTPOLE.feature_names,
        formulas=(Const(0.0), Const(0.0)),
        action_names=CARTPOLE.action_names,
    )
    obs = np.zeros((4, 4))
    # Ties go to action 0.
    assert agreement(policy, obs, np.array([0, 0, 1, 0])) == 0.75
    assert agreement(policy, obs, np.array([0.0, 0.0, 0.0, 0.0])) == 1.0
