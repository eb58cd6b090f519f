"""IFE ("what and where") as RLlib TorchRLModules for PPO and DQN, plus a Nature-CNN PPO module to compare with.

Every forward pass of the IFE modules returns the 14×14 attention mask as its own column,
``ATTENTION`` (B, 14, 14), so EnvRunners keep it in the episodes' extra model outputs and
evaluation can draw overlays without running the network again.

`model_config` keys (all optional): ``width`` (m, default 2), ``attention_hidden`` (512),
``spectral_norm`` (True), ``pool_size`` (8), ``rescale_attention`` (True), ``head_hidden`` (256),
``record_attention`` (True: also return the mask from exploration passes; turn it off for DQN
with a large replay buffer, which would otherwise store 196 floats per step). DQN also reads
RLlib's auto-included ``dueling``, ``double_q``, ``epsilon`` and ``num_atoms`` (must be 1: IFE has
no distributional head).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override
from ray.rllib.utils.schedules.scheduler import Scheduler
from torch import nn

from nsrl_ray.rl_modules.ife_net import IFEConfig, IFEEncoder, NatureCNNEncoder, mlp_head

__all__ = [
    "ATTENTION",
    "IFEDQNTorchRLModule",
    "IFEPPOTorchRLModule",
    "NatureCNNPPOTorchRLModule",
    "ife_config_from_model_config",
]

#: The forward-output column holding the attention mask (B, 14, 14); each mask sums to 1.
ATTENTION = "attention"


def ife_config_from_model_config(model_config: dict[str, Any], in_channels: int) -> IFEConfig:
    """The encoder sizes a module's `model_config` asks for (IFE's defaults for the keys it leaves out)."""
    defaults = IFEConfig()
    return IFEConfig(
        in_channels=in_channels,
        width=int(model_config.get("width", defaults.width)),
        attention_hidden=int(model_config.get("attention_hidden", defaults.attention_hidden)),
        spectral_norm=bool(model_config.get("spectral_norm", defaults.spectral_norm)),
        pool_size=int(model_config.get("pool_size", defaults.pool_size)),
        rescale_attention=bool(model_config.get("rescale_attention", defaults.rescale_attention)),
    )


def _frame_channels(observation_space: Any, who: str) -> int:
    """Stacked frames in a (C, 84, 84) or (84, 84, C) observation space; refuses anything else."""
    shape = tuple(getattr(observation_space, "shape", None) or ())
    if len(shape) == 3 and shape[1:] == (84, 84):
        return int(shape[0])
    if len(shape) == 3 and shape[:2] == (84, 84):
        return int(shape[2])
    raise ValueError(f"{who}: observations of shape {shape}; expected stacked 84×84 frames, (C, 84, 84) or "
                     "(84, 84, C) — use a pixel Atari environment (grey, resized to 84, frame-stacked).")


class _PixelPPOTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Shared PPO plumbing: an encoder, a policy head and a value head on the encoder's features."""

    def _build_encoder(self, in_channels: int) -> nn.Module:
        raise NotImplementedError

    def _encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    @override(TorchRLModule)
    def setup(self) -> None:
        if not hasattr(self.action_space, "n"):
            raise ValueError(f"{type(self).__name__}: action space {self.action_space}; expected a discrete one (Atari).")
        self.encoder = self._build_encoder(_frame_channels(self.observation_space, type(self).__name__))
        hidden = int(self.model_config.get("head_hidden", 256))
        # CleanRL's PPO gains: 0.01 on the policy output (near-uniform start), 1 on the value output.
        self.pi = mlp_head(self.encoder.out_features, hidden, int(self.action_space.n), output_gain=0.01)
        self.vf = mlp_head(self.encoder.out_features, hidden, 1)

    def _outputs(self, batch: dict[str, Any], keep_embeddings: bool, keep_attention: bool) -> dict[str, Any]:
        features, mask = self._encode(batch[Columns.OBS])
        out: dict[str, Any] = {Columns.ACTION_DIST_INPUTS: self.pi(features)}
        if keep_embeddings:
            out[Columns.EMBEDDINGS] = features
        if keep_attention and mask is not None:
            out[ATTENTION] = mask
        return out

    @override(RLModule)
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, keep_embeddings=False, keep_attention=True)

    @override(RLModule)
    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, keep_embeddings=False,
                             keep_attention=bool(self.model_config.get("record_attention", True)))

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, keep_embeddings=True, keep_attention=True)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings, _ = self._encode(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)


class IFEPPOTorchRLModule(_PixelPPOTorchRLModule):
    """PPO actor-critic on the IFE encoder; policy and value heads share the attended features."""

    def _build_encoder(self, in_channels: int) -> nn.Module:
        return IFEEncoder(ife_config_from_model_config(self.model_config, in_channels))

    def _encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.encoder(obs)


class NatureCNNPPOTorchRLModule(_PixelPPOTorchRLModule):
    """The same PPO heads on the plain Nature CNN (no attention column): the baseline for saliency and speed."""

    def _build_encoder(self, in_channels: int) -> nn.Module:
        return NatureCNNEncoder(in_channels, int(self.model_config.get("cnn_hidden", 512)))

    def _encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.encoder(obs), None


class IFEDQNTorchRLModule(DefaultDQNTorchRLModule):
    """IFE's Rainbow-lite Q-network for RLlib DQN: IFE encoder, dueling (optional) Q head, no distributional head.

    Double Q, n-step and prioritised replay are DQN config settings (`double_q`, `n_step`,
    `replay_buffer_config`); this module supplies the network and its target copy.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No RLlib catalog: it would try (and warn) to build its own CNN for channel-first frames.
        kwargs["catalog_class"] = None
        TorchRLModule.__init__(self, *args, **kwargs)

    @override(DefaultDQNTorchRLModule)
    def setup(self) -> None:
        config = self.model_config
        self.uses_dueling = bool(config.get("dueling", True))
        self.uses_double_q = bool(config.get("double_q", True))
        self.num_atoms = int(config.get("num_atoms", 1))
        if self.num_atoms != 1:
            raise ValueError(f"IFEDQNTorchRLModule: num_atoms={self.num_atoms}; IFE has no distributional head, "
                             "set DQNConfig.training(num_atoms=1).")
        if not hasattr(self.action_space, "n"):
            raise ValueError(f"IFEDQNTorchRLModule: action space {self.action_space}; expected a discrete one.")
        self.epsilon_schedule = Scheduler(fixed_value_or_schedule=config.get("epsilon", [(0, 1.0), (10000, 0.05)]),
                                          framework="torch")
        self.encoder = IFEEncoder(ife_config_from_model_config(config, _frame_channels(self.observation_space,
                                                                                        "IFEDQNTorchRLModule")))
        hidden = int(config.get("head_hidden", 256))
        n_actions = int(self.action_space.n)
        self.af = mlp_head(self.encoder.out_features, hidden, n_actions)
        if self.uses_dueling:
            self.vf = mlp_head(self.encoder.out_features, hidden, 1)

    @override(DefaultDQNTorchRLModule)
    def _qf_forward_helper(self, batch: dict[str, Any], encoder: nn.Module, head: Any) -> dict[str, Any]:
        features, mask = encoder(batch[Columns.OBS])
        if self.uses_dueling:
            advantage = head["af"](features)
            q_values = head["vf"](features) + advantage - advantage.mean(dim=-1, keepdim=True)
        else:
            q_values = head(features)
        return {QF_PREDS: q_values, ATTENTION: mask}

    @override(DefaultDQNTorchRLModule)
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        outs = self.compute_q_values(batch)
        return {Columns.ACTIONS: outs[QF_PREDS].argmax(dim=-1), ATTENTION: outs[ATTENTION]}

    @override(DefaultDQNTorchRLModule)
    def _forward_exploration(self, batch: dict[str, Any], t: int, **kwargs: Any) -> dict[str, Any]:
        outs = self.compute_q_values(batch)
        greedy = outs[QF_PREDS].argmax(dim=-1)
        self.epsilon_schedule.update(t)
        epsilon = self.epsilon_schedule.get_current_value()
        random_actions = torch.randint(0, int(self.action_space.n), greedy.shape, device=greedy.device)
        explore = torch.rand(greedy.shape, device=greedy.device) < epsilon
        out = {Columns.ACTIONS: torch.where(explore, random_actions, greedy)}
        if bool(self.model_config.get("record_attention", True)):
            out[ATTENTION] = outs[ATTENTION]
        return out
