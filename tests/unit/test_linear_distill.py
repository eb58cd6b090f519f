"""Linear distillation: the ridge fit recovers a linear teacher, and the GP stage's `linear` warm start plays it."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.config import ConfigError, parse_experiment
from nsrl_ray.symbolic import evaluate
from nsrl_ray.symbolic.constants import constants_of
from nsrl_ray.symbolic.linear_distill import fit_linear, linear_formula

NAMES = ("a", "b", "c")


def test_fit_recovers_weights_on_very_different_input_scales():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(500, 3)) * np.array([0.01, 1.0, 100.0])
    true = np.array([[200.0, -1.0], [3.0, 0.5], [0.02, 0.0]])
    targets = obs @ true + np.array([1.5, -2.0])
    weights, biases = fit_linear(obs, targets, ridge=0.0)
    np.testing.assert_allclose(weights, true, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(biases, [1.5, -2.0], atol=1e-9)
    shrunk, _ = fit_linear(obs, targets, ridge=1.0)
    assert np.all(np.abs(shrunk[:, 0]) < np.abs(true[:, 0]))  # the ridge pulls every weight towards zero


def test_formula_plays_the_fit_and_drops_zero_weights():
    formula = linear_formula(np.array([0.5, 0.0, -2.0]), 0.25, NAMES)
    columns = {"a": np.array([1.0, 2.0]), "b": np.array([7.0, 7.0]), "c": np.array([0.5, -1.0])}
    np.testing.assert_allclose(evaluate(formula, columns), [0.25 + 0.5 - 1.0, 0.25 + 1.0 + 2.0])
    assert constants_of(formula) == [0.25, 0.5, -2.0]


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        fit_linear(np.array([[1.0, np.nan], [0.0, 1.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="at least 2"):
        fit_linear(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="3 weights for 2"):
        linear_formula(np.zeros(3), 0.0, ("a", "b"))


def test_linear_warm_start_needs_the_teacher_dataset_and_a_sane_ridge():
    config = parse_experiment({"name": "lin", "env": "CartPole-v1",
                               "stages": {"teacher": {}, "collect": {},
                                          "symbolic": {"learner": "gp_search", "warm_start": "linear"}}})
    assert config.stages.symbolic.requires == ("collect",)
    with pytest.raises(ConfigError, match="linear_ridge"):
        parse_experiment({"name": "lin", "env": "CartPole-v1",
                          "stages": {"symbolic": {"learner": "gp_search", "linear_ridge": -1.0}}})
