"""A formula policy as an RLlib TorchRLModule: the formulas' constants are parameters, beside a small value network.

Discrete actions: the action distribution is the softmax of ``logit_scale * formulas``; the scale
is a trained positive parameter, so PPO can make the policy more or less decisive without
touching the formulas, and the greedy policy (argmax of the formulas) never depends on it.
Continuous actions: a Gaussian whose mean is the formulas (already squashed into the bounds) and
whose log standard deviation is a trained vector. The value network sees the raw observation.

`model_config` keys: ``formulas`` (texts, one per action), ``variables`` (observation names),
``value_hidden`` (layer widths), ``logit_scale`` (discrete, initial), ``log_std`` (continuous,
initial). Everything the module learns is in its state dict, so RLlib checkpoints and syncs it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.text import parse_expression
from nsrl_ray.symbolic.torch_export import FormulaSet

__all__ = ["FormulaRLModule", "formula_model_config"]


def formula_model_config(formulas: tuple[Expr, ...], variables: tuple[str, ...], value_hidden: tuple[int, ...],
                         logit_scale: float = 1.0, log_std: float = -1.0) -> dict[str, Any]:
    """The `model_config` of a FormulaRLModule (plain data, so it travels to every EnvRunner)."""
    from nsrl_ray.symbolic.text import to_text

    return {"formulas": [to_text(f) for f in formulas], "variables": list(variables), "value_hidden": list(value_hidden),
            "logit_scale": float(logit_scale), "log_std": float(log_std)}


class FormulaRLModule(TorchRLModule, ValueFunctionAPI):
    """Formulas with trainable constants as the actor, an MLP as the critic."""

    @override(TorchRLModule)
    def setup(self) -> None:
        config = self.model_config
        variables = tuple(config["variables"])
        formulas = tuple(parse_expression(text, variables) for text in config["formulas"])
        self.discrete = hasattr(self.action_space, "n")
        expected = int(self.action_space.n) if self.discrete else int(self.action_space.shape[0])
        if len(formulas) != expected:
            raise ValueError(f"FormulaRLModule: {len(formulas)} formulas for an action space {self.action_space}; "
                             f"expected {expected}.")
        if self.observation_space.shape != (len(variables),):
            raise ValueError(f"FormulaRLModule: variables {list(variables)} for observations of shape "
                             f"{self.observation_space.shape}; expected one variable per observation component.")
        self.actor = FormulaSet(formulas, variables)
        if self.discrete:
            self.log_logit_scale = nn.Parameter(torch.tensor(math.log(config.get("logit_scale", 1.0))))
        else:
            self.log_std = nn.Parameter(torch.full((expected,), float(config.get("log_std", -1.0))))
        layers: list[nn.Module] = []
        width = len(variables)
        for hidden in config.get("value_hidden", (64, 64)):
            layers += [nn.Linear(width, hidden), nn.Tanh()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.critic = nn.Sequential(*layers)

    def _observations(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch[Columns.OBS].float()

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        outputs = self.actor(self._observations(batch))
        if self.discrete:
            inputs = outputs * torch.exp(self.log_logit_scale)
        else:
            inputs = torch.cat([outputs, self.log_std.expand_as(outputs)], dim=-1)
        return {Columns.ACTION_DIST_INPUTS: inputs}

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return self.critic(self._observations(batch)).squeeze(-1)

    def formulas(self) -> tuple[Expr, ...]:
        """The formulas with their current (tuned) constants."""
        return self.actor.to_expressions()
