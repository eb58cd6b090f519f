"""A PPO RLModule that rescales raw observations to about [-1, 1] inside itself, so the scaling travels with it.

MountainCar's velocity lives in ±0.07 while its position spans 1.8: an MLP on raw inputs barely
feels the velocity and PPO never reaches the flag. Scaling by the env's bounds fixes that, but a
scaling done by an env wrapper or a connector would be lost to everything that later loads the
saved module alone (the collect actors, the evaluator, the teacher supervision of constants-PPO).
Here the offset and scale are part of the module's model_config, which RLlib saves with the
module and passes back to its constructor on `RLModule.from_checkpoint`: every reader feeds raw
observations and gets the same outputs the teacher was trained on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec
from ray.rllib.utils.annotations import override

__all__ = ["ObsScalingPPOTorchRLModule", "scaled_obs_module_spec"]

OFFSET_KEY = "obs_offset"
SCALE_KEY = "obs_scale"


def scaled_obs_module_spec(model_config: DefaultModelConfig, offset: Sequence[float], scale: Sequence[float]) -> RLModuleSpec:
    """The RLModuleSpec of a default PPO MLP that sees (obs - offset) / scale."""
    config = dataclasses.asdict(model_config) | {OFFSET_KEY: [float(v) for v in offset], SCALE_KEY: [float(v) for v in scale]}
    return RLModuleSpec(module_class=ObsScalingPPOTorchRLModule, model_config=config)


class ObsScalingPPOTorchRLModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO module behind a fixed affine map of the observations."""

    @override(DefaultPPOTorchRLModule)
    def setup(self) -> None:
        super().setup()
        offset = self.model_config.get(OFFSET_KEY)
        scale = self.model_config.get(SCALE_KEY)
        if offset is None or scale is None:
            raise ValueError(f"{type(self).__name__} needs model_config keys {OFFSET_KEY!r} and {SCALE_KEY!r}.")
        # Buffers follow the module across devices; not persistent, since the model_config that RLlib
        # saves with the module already holds them (a state dict without them stays RLlib's default).
        self.register_buffer("obs_offset", torch.as_tensor(offset, dtype=torch.float32), persistent=False)
        self.register_buffer("obs_scale", torch.as_tensor(scale, dtype=torch.float32), persistent=False)

    def _scaled(self, batch: dict[str, Any]) -> dict[str, Any]:
        scaled = dict(batch)  # never write into the caller's batch: the learner reuses it
        scaled[Columns.OBS] = (batch[Columns.OBS] - self.obs_offset) / self.obs_scale
        return scaled

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return super()._forward(self._scaled(batch), **kwargs)

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return super()._forward_train(self._scaled(batch), **kwargs)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        # With embeddings the observations are not read again (they came from a scaled forward pass).
        return super().compute_values(batch if embeddings is not None else self._scaled(batch), embeddings)
