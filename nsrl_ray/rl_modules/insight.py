"""INSIGHT as an RLlib TorchRLModule: a shared perception CNN, a neural actor and critic, and an EQL actor.

The CNN (`nsrl_ray.perception.PerceptionCNN`) reads the 4-frame stack; its embedding feeds the
neural actor and the critic, its predicted object coordinates (the named vector
`<slot>_{x,y,present}_t<k>`, the same names as the object-centric envs) feed the EQL actor,
whose logits are scaled by an inverse temperature. `use_eql_actor` picks which actor acts.
Continuous action spaces: both actors output the Gaussian mean (one log-std vector is shared).

Train forward passes also return the neural and EQL outputs and the perception heads, so the
INSIGHT learner (`nsrl_ray.learners.insight_ppo`) can add distillation, L1/2 and perception
losses. EQL pruning masks are registered buffers: checkpoints and EnvRunners carry them.

`model_config` keys: ``slot_names`` (required), ``n_frames`` (4), ``channels`` ((32, 64, 64)),
``hidden`` (2048), ``coordinate_head`` ('dense'), ``input_norm`` ('instance'), ``head_hidden`` (512),
``eql_units`` (INSIGHT's), ``eql_copies`` (8), ``eql_layers`` (1), ``eql_inverse_temperature`` (10),
``eql_presence_inputs`` (False: the EQL reads the coordinates only, as INSIGHT's),
``use_eql_actor`` (False), ``eql_acting_envs`` (0: see below), ``log_std`` (continuous: initial value, -0.5),
``eql_cnn_gradient`` (1: the EQL's gradient reaches the CNN whole, as INSIGHT's; 0 stops it, so only the
perception and PPO losses move the CNN).

The EQL reads its inputs standardised, ``(x - eql_input_shift) / eql_input_scale`` (persistent buffers, identity
until `standardise_eql_inputs` sets them from perceived frames); `eql_in_input_units` folds that map into the
EQL's first layer, so exported formulas are written in the coordinates themselves.

DAgger during training: with the buffer ``eql_acting_envs`` = k > 0 (set from the config or later by the stage),
exploration lets the EQL actor act in the first k rows of each batch, i.e. the first k envs of each EnvRunner,
and marks them in the column `EQL_ACTED`; the learner leaves those steps out of PPO's loss (they are not the
neural actor's samples) and distils the EQL on them, labelled by the neural actor.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from nsrl_ray.perception.model import PerceptionCNN
from nsrl_ray.rl_modules.ife_net import mlp_head
from nsrl_ray.symbolic.eql import DEFAULT_UNITS, EQL

__all__ = [
    "EQL_ACTED",
    "EQL_OUT",
    "NEURAL_OUT",
    "PERCEPTION_CENTRE",
    "PERCEPTION_EXISTENCE",
    "PERCEPTION_SIZE",
    "MIN_INPUT_SCALE",
    "InsightTorchRLModule",
    "perception_kwargs",
]

#: Extra forward-train columns read by the INSIGHT learner.
NEURAL_OUT = "insight_neural_out"
EQL_OUT = "insight_eql_out"
PERCEPTION_EXISTENCE = "insight_existence_logits"
PERCEPTION_CENTRE = "insight_centre"
PERCEPTION_SIZE = "insight_size"
#: Exploration column (1.0 where the EQL actor chose the action): stored with the episodes, read by the learner.
EQL_ACTED = "insight_eql_acted"
#: Smallest input scale of the EQL's standardisation (coordinates are in [0, 1]).
MIN_INPUT_SCALE = 0.02


def perception_kwargs(model_config: dict[str, Any]) -> dict[str, Any]:
    """The PerceptionCNN keyword arguments a `model_config` asks for (INSIGHT's sizes by default)."""
    return {
        "n_frames": int(model_config.get("n_frames", 4)),
        "channels": tuple(int(c) for c in model_config.get("channels", (32, 64, 64))),
        "hidden": int(model_config.get("hidden", 2048)),
        "coordinate_head": str(model_config.get("coordinate_head", "dense")),
        "input_norm": str(model_config.get("input_norm", "instance")),
    }


class InsightTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Perception CNN -> (neural actor, critic) on the embedding, EQL actor on the predicted coordinates."""

    @override(TorchRLModule)
    def setup(self) -> None:
        config = self.model_config
        slot_names = tuple(config.get("slot_names") or ())
        if not slot_names:
            raise ValueError("InsightTorchRLModule: model_config['slot_names'] is missing; pass the game's object "
                             "slots, e.g. nsrl_ray.envs.atari.slot_names(get_game('Pong')).")
        shape = tuple(getattr(self.observation_space, "shape", ()) or ())
        if len(shape) != 3 or shape[1:] != (84, 84):
            raise ValueError(f"InsightTorchRLModule: observations of shape {shape}; expected (4, 84, 84) frame stacks "
                             "(a `<Game>Pixels-v0` env).")
        self.discrete = hasattr(self.action_space, "n")
        n_out = int(self.action_space.n) if self.discrete else int(self.action_space.shape[0])
        self.perception = PerceptionCNN(slot_names, in_frames=int(shape[0]), **perception_kwargs(config))
        hidden, head = self.perception.hidden_size, int(config.get("head_hidden", 512))
        # CleanRL's PPO gains, as INSIGHT's heads: orthogonal, 0.01 on the policy output (a near-uniform
        # start whatever the pre-trained embedding's scale), 1 on the value output.
        self.pi = mlp_head(hidden, head, n_out, output_gain=0.01)
        self.vf = mlp_head(hidden, head, 1)
        # INSIGHT's EQL reads coordinates only (zeroed when an object is absent); presence flags are optional.
        presence = bool(config.get("eql_presence_inputs", False))
        inputs = [i for i, name in enumerate(self.perception.feature_names) if presence or "_present_t" not in name]
        self.register_buffer("eql_inputs", torch.tensor(inputs, dtype=torch.long), persistent=False)
        self.eql = EQL(
            len(inputs), n_out,
            units=tuple(config.get("eql_units", DEFAULT_UNITS)), copies=int(config.get("eql_copies", 8)),
            layers=int(config.get("eql_layers", 1)),
            variable_names=tuple(self.perception.feature_names[i] for i in inputs),
        )
        # Identity until `standardise_eql_inputs`; persistent, so EnvRunners and checkpoints read the same inputs.
        self.register_buffer("eql_input_shift", torch.zeros(len(inputs)))
        self.register_buffer("eql_input_scale", torch.ones(len(inputs)))
        self.eql_cnn_gradient = float(config.get("eql_cnn_gradient", 1.0))
        # Persistent so an EnvRunner or a restored checkpoint acts with the same actor and scale.
        self.register_buffer("use_eql_actor", torch.tensor(bool(config.get("use_eql_actor", False))))
        # How many envs of each EnvRunner the EQL actor plays in exploration (persistent: weight syncs carry it).
        self.register_buffer("eql_acting_envs", torch.tensor(int(config.get("eql_acting_envs", 0))))
        self.register_buffer("eql_inverse_temperature", torch.tensor(float(config.get("eql_inverse_temperature", 10.0))))
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((n_out,), float(config.get("log_std", -0.5))))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the perceived feature vector (`ball_x_t0`, `ball_y_t0`, `ball_present_t0`, ...): a policy card's variables."""
        return self.perception.feature_names

    def eql_input_values(self, features: torch.Tensor) -> torch.Tensor:
        """What the EQL reads from full perceived feature vectors: its input coordinates, standardised."""
        return (features.index_select(-1, self.eql_inputs) - self.eql_input_shift) / self.eql_input_scale

    def eql_on_features(self, features: torch.Tensor) -> torch.Tensor:
        """The EQL's raw outputs (before the inverse temperature) for full perceived feature vectors."""
        return self.eql(self.eql_input_values(features))

    @torch.no_grad()
    def standardise_eql_inputs(self, features: torch.Tensor, min_scale: float = MIN_INPUT_SCALE) -> None:
        """Set the EQL's input shift and scale to the mean and standard deviation of `features` (full perceived
        vectors, N×F). Why: the coordinates' useful differences are a few hundredths of the screen; standardised,
        the EQL fitted to a Pong actor's actions agreed on 87 % of held-out frames after 250 Adam steps at 2.5e-4,
        against 73 % (its majority action's share) on the raw coordinates. `min_scale` keeps a nearly constant
        coordinate (a paddle's x) from being blown up into noise."""
        inputs = features.index_select(-1, self.eql_inputs).to(self.eql_input_shift)
        self.eql_input_shift.copy_(inputs.mean(dim=0))
        self.eql_input_scale.copy_(inputs.std(dim=0).clamp_min(min_scale))

    @torch.no_grad()
    def eql_in_input_units(self, eql: EQL | None = None) -> EQL:
        """A copy of `eql` (default: this module's) that reads the raw coordinates: the standardisation folded into
        its first layer. Prune before folding: in raw units a nearly constant coordinate's weights look largest."""
        import copy

        eql = copy.deepcopy(self.eql if eql is None else eql)
        first = eql.linears()[0]
        weight, bias = first.effective()
        folded = weight / self.eql_input_scale
        first.weight.copy_(folded)
        first.bias.copy_(bias - folded @ self.eql_input_shift)
        # Weights pruned to 0 stay 0 (the weight mask is kept); a pruned bias may carry the shift now.
        first.bias_mask.fill_(1.0)
        return eql

    def _heads(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        perceived = self.perception(obs)
        features = PerceptionCNN.to_features(perceived, hard=True)  # gradients reach the CNN through the centres
        neural = self.pi(perceived["embedding"])
        if self.eql_cnn_gradient != 1.0:  # same values, the gradient into the CNN scaled
            g = self.eql_cnn_gradient
            features = features * g + features.detach() * (1.0 - g)
        eql = self.eql_on_features(features)
        if self.discrete:
            eql = eql * self.eql_inverse_temperature
        return {"perceived": perceived, "features": features, "neural": neural, "eql": eql}

    def _dist_inputs(self, acting: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return acting
        return torch.cat([acting, self.log_std.expand_as(acting)], dim=-1)

    def _outputs(self, batch: dict[str, Any], train: bool, explore: bool = False) -> dict[str, Any]:
        heads = self._heads(batch[Columns.OBS])
        acting = heads["eql"] if bool(self.use_eql_actor) else heads["neural"]
        out: dict[str, Any] = {}
        if explore and not bool(self.use_eql_actor):
            # Always emitted while exploring (zeros when off), so every step of an episode has the column.
            rows = torch.arange(acting.shape[0], device=acting.device) < self.eql_acting_envs
            acting = torch.where(rows[:, None], heads["eql"], acting)
            out[EQL_ACTED] = rows.float()
        out[Columns.ACTION_DIST_INPUTS] = self._dist_inputs(acting)
        if train:
            perceived = heads["perceived"]
            out.update({
                Columns.EMBEDDINGS: perceived["embedding"],
                NEURAL_OUT: heads["neural"],
                EQL_OUT: heads["eql"],
                PERCEPTION_EXISTENCE: perceived["existence_logits"],
                PERCEPTION_CENTRE: perceived["centre"],
                PERCEPTION_SIZE: perceived["size"],
            })
        return out

    @override(RLModule)
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, train=False)

    @override(RLModule)
    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, train=False, explore=True)

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._outputs(batch, train=True)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.perception.embed(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)

    @torch.no_grad()
    def actor_outputs(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both actors' outputs (neural, eql: logits or means) and the perceived features, for evaluation."""
        heads = self._heads(torch.as_tensor(obs))
        return {"neural": heads["neural"], "eql": heads["eql"], "features": heads["features"],
                "centre": heads["perceived"]["centre"], "existence_logits": heads["perceived"]["existence_logits"]}
