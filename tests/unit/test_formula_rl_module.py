"""The formula RLModule: its outputs are the formulas (scaled logits or a Gaussian mean), its state carries the constants."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("ray.rllib")

from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402

from nsrl_ray.rl_modules.formula_module import FormulaRLModule, formula_model_config  # noqa: E402
from nsrl_ray.symbolic import Const, evaluate, parse_expression  # noqa: E402

VARIABLES = ("x", "y")


def build(formulas, action_space, **config):
    spec = RLModuleSpec(
        module_class=FormulaRLModule,
        observation_space=gym.spaces.Box(-10, 10, (2,), np.float32),
        action_space=action_space,
        model_config=formula_model_config(tuple(formulas), VARIABLES, (8,), **config),
    )
    return spec.build()


def test_discrete_logits_are_the_scaled_formulas_and_values_come_from_the_critic():
    formulas = (Const(0.0), parse_expression("2.0 * x - y"), parse_expression("tanh(y)"))
    module = build(formulas, gym.spaces.Discrete(3), logit_scale=3.0)
    obs = torch.tensor([[1.0, 0.5], [-2.0, 1.0]])
    out = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    cols = {"x": obs[:, 0].double().numpy(), "y": obs[:, 1].double().numpy()}
    expected = 3.0 * np.stack([evaluate(f, cols) for f in formulas], axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert module.compute_values({Columns.OBS: obs}).shape == (2,)
    assert module.formulas() == formulas


def test_continuous_mean_and_log_std():
    formula = parse_expression("2.0 * tanh(x + y)")
    module = build((formula,), gym.spaces.Box(-2.0, 2.0, (1,), np.float32), log_std=-0.5)
    out = module.forward_inference({Columns.OBS: torch.tensor([[0.2, 0.3]])})[Columns.ACTION_DIST_INPUTS]
    assert out.shape == (1, 2)
    assert out[0, 0].item() == pytest.approx(2.0 * np.tanh(0.5), rel=1e-6) and out[0, 1].item() == pytest.approx(-0.5)


def test_tuned_constants_travel_through_the_module_state():
    formulas = (Const(0.0), parse_expression("1.5 * x + 0.25"))
    module = build(formulas, gym.spaces.Discrete(2))
    with torch.no_grad():
        module.actor.formulas[1].constants.copy_(torch.tensor([-3.0, 0.5]))
    other = build(formulas, gym.spaces.Discrete(2))
    other.set_state(module.get_state())
    assert other.formulas()[1] == parse_expression("-3.0 * x + 0.5")


def test_mismatched_formulas_are_refused():
    with pytest.raises(ValueError, match="expected 3"):
        build((Const(0.0), parse_expression("x")), gym.spaces.Discrete(3))
