"""INSIGHT's PPO learner: the PPO loss plus neural guidance of the EQL actor, its L1/2 penalty and the perception loss.

Per minibatch: PPO + `distillation_loss_weight`·CE(EQL logits, argmax of the neural logits)
(continuous actions: MSE between the two actors' means) + reg(t)·L1/2(EQL weights), reg ramping
linearly from 0 to `reg_weight` over `reg_ramp_steps` sampled env steps, + `cnn_loss_weight`·
(focal existence + masked L1 coordinates + L1 sizes) on a labelled batch drawn from the
frame–object dataset the `perceive` stage wrote. The distillation gradient also reaches the CNN
through the predicted coordinates: this is how reward refines perception. As in INSIGHT, the terms
after PPO's are added in the last PPO epoch of each update only (``extra_terms_every_epoch``: all).
Steps the EQL actor played (column `EQL_ACTED`, DAgger during training) are left out of PPO's loss, which
would treat them as the neural actor's samples, and kept in the distillation.

Settings come through `learner_config_dict`: ``distillation_loss_weight`` (1), ``cnn_loss_weight`` (2),
``reg_weight`` (1e-3), ``reg_ramp_steps`` (0: full weight at once), ``perception_dataset`` (a shard
folder; None: no perception loss), ``cnn_batch_size`` (32), ``focal_gamma`` (2), ``seed`` (0),
``extra_terms_every_epoch`` (False), ``eql_lr`` (None: the EQL shares PPO's Adam and annealed learning
rate, as INSIGHT's; a number gives the EQL an Adam of its own at that constant rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from ray.rllib.algorithms.ppo.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.typing import ModuleID, TensorType

from nsrl_ray.perception.train import perception_loss, rarity_weights
from nsrl_ray.rl_modules.insight import EQL_ACTED, EQL_OUT, NEURAL_OUT
from nsrl_ray.symbolic.eql import linear_ramp

__all__ = [
    "CNN_LOSS", "DISTILLATION_LOSS", "EQL_ACTED_SHARE", "EQL_AGREEMENT", "EQL_OPTIMIZER", "EQL_REG", "REG_WEIGHT",
    "InsightPPOTorchLearner",
]

#: Learner metrics (per module) this learner adds to PPO's.
DISTILLATION_LOSS = "distillation_loss"
EQL_REG = "eql_l_half"
REG_WEIGHT = "eql_reg_weight"
CNN_LOSS = "cnn_loss"
CNN_COORDINATE_LOSS = "cnn_coordinate_l1"
EQL_AGREEMENT = "eql_agreement"
#: Share of a minibatch's steps the EQL actor played (DAgger during training).
EQL_ACTED_SHARE = "eql_acted_share"
#: Name of the EQL's own optimiser (registered when ``eql_lr`` is set).
EQL_OPTIMIZER = "eql"


def _masked_mean(values: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    if Columns.LOSS_MASK in batch:  # PPO's artificial bootstrap timesteps carry no real state
        mask = batch[Columns.LOSS_MASK]
        return torch.sum(values[mask]) / torch.clamp(torch.sum(mask), min=1)
    return torch.mean(values)


class InsightPPOTorchLearner(PPOTorchLearner):
    """PPOTorchLearner for `InsightTorchRLModule`: see the module docstring for the added terms."""

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        settings = self.config.learner_config_dict
        self.distillation_weight = float(settings.get("distillation_loss_weight", 1.0))
        self.cnn_weight = float(settings.get("cnn_loss_weight", 2.0))
        self.reg_final = float(settings.get("reg_weight", 1e-3))
        self.reg_ramp_steps = int(settings.get("reg_ramp_steps", 0))
        self.cnn_batch_size = int(settings.get("cnn_batch_size", 32))
        self.focal_gamma = float(settings.get("focal_gamma", 2.0))
        self.every_epoch = bool(settings.get("extra_terms_every_epoch", False))
        self.minibatch_index = 0  # within the current update: which minibatches are the last epoch's
        self.extra_terms_from = 0
        self.env_steps = 0
        self.labels = None
        self.rng = np.random.default_rng(int(settings.get("seed", 0)))
        path = settings.get("perception_dataset")
        if path and self.cnn_weight > 0:
            from nsrl_ray.perception.dataset import load_frame_dataset

            self.labels = load_frame_dataset(path)
            self.slot_weights = torch.from_numpy(rarity_weights(self.labels.present)).to(self._device)

    @override(PPOTorchLearner)
    def configure_optimizers_for_module(self, module_id: ModuleID, config: Any = None) -> None:
        eql_lr = (config.learner_config_dict if config is not None else {}).get("eql_lr")
        if eql_lr is None:
            return super().configure_optimizers_for_module(module_id, config)
        # Why a second optimiser: the EQL learns in the last epoch only, at PPO's small annealed rate. On Pong
        # after 100 iterations it still answered every frame with the neural actor's majority action (FIRE,
        # 75 %); fitted offline on the same perceived frames at 1e-2, the same EQL agreed on 91.5 %.
        eql_params = list(self._module[module_id].unwrapped().eql.parameters())
        eql_ids = {id(p) for p in eql_params}
        rest = [p for p in self.get_parameters(self._module[module_id]) if id(p) not in eql_ids]
        self.register_optimizer(module_id=module_id, optimizer=torch.optim.Adam(rest), params=rest,
                                lr_or_lr_schedule=config.lr)
        self.register_optimizer(module_id=module_id, optimizer_name=EQL_OPTIMIZER,
                                optimizer=torch.optim.Adam(eql_params), params=eql_params,
                                lr_or_lr_schedule=float(eql_lr))

    @override(PPOTorchLearner)
    def _create_iterator_if_necessary(self, **kwargs: Any) -> Any:
        # One call per update: its minibatches from index `extra_terms_from` on are the last epoch's.
        # Counted from the configured batch, as RLlib's cyclic iterator splits it (a batch a few steps
        # longer adds a minibatch, and that one counts as last-epoch too).
        epochs = int(kwargs.get("num_epochs") or 1)
        minibatch = int(kwargs.get("minibatch_size") or 0)
        per_epoch = max(1, self.config.train_batch_size_per_learner // minibatch) if minibatch else 1
        self.minibatch_index = 0
        self.extra_terms_from = 0 if self.every_epoch else (epochs - 1) * per_epoch
        return super()._create_iterator_if_necessary(**kwargs)

    def current_reg_weight(self) -> float:
        return linear_ramp(self.env_steps, self.reg_ramp_steps, self.reg_final)

    def _perception_term(self, module: Any) -> torch.Tensor:
        data = self.labels
        index = self.rng.integers(0, len(data), size=min(self.cnn_batch_size, len(data)))
        device = self._device
        frames = torch.from_numpy(data.frames[index]).to(device)
        outputs = module.perception(frames)
        terms = perception_loss(outputs, torch.from_numpy(data.centre[index]).to(device),
                                torch.from_numpy(data.size[index]).to(device),
                                torch.from_numpy(data.present[index]).to(device),
                                self.slot_weights, self.focal_gamma)
        return terms

    @override(PPOTorchLearner)
    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: PPOConfig, batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> TensorType:
        total = self._ppo_loss_of_neural_steps(module_id, config, batch, fwd_out)
        last_epoch = self.minibatch_index >= self.extra_terms_from
        self.minibatch_index += 1
        if not last_epoch:
            return total
        module = self.module[module_id].unwrapped()
        neural, eql = fwd_out[NEURAL_OUT], fwd_out[EQL_OUT]
        if module.discrete:
            target = neural.detach().argmax(dim=-1)
            distillation = _masked_mean(F.cross_entropy(eql, target, reduction="none"), batch)
            agreement = _masked_mean((eql.detach().argmax(dim=-1) == target).float(), batch)
            self.metrics.log_value((module_id, EQL_AGREEMENT), agreement, window=1)
        else:
            distillation = _masked_mean(((eql - neural.detach()) ** 2).mean(dim=-1), batch)
        reg_weight = self.current_reg_weight()
        reg = module.eql.regularization()
        total = total + self.distillation_weight * distillation + reg_weight * reg
        self.metrics.log_value((module_id, DISTILLATION_LOSS), distillation, window=1)
        self.metrics.log_value((module_id, EQL_REG), reg, window=1)
        self.metrics.log_value((module_id, REG_WEIGHT), reg_weight, window=1)
        if self.labels is not None:
            terms = self._perception_term(module)
            total = total + self.cnn_weight * terms["loss"]
            self.metrics.log_value((module_id, CNN_LOSS), terms["loss"], window=1)
            self.metrics.log_value((module_id, CNN_COORDINATE_LOSS), terms["coordinates"], window=1)
        return total

    def _ppo_loss_of_neural_steps(self, module_id: ModuleID, config: PPOConfig, batch: dict[str, Any],
                                  fwd_out: dict[str, TensorType]) -> TensorType:
        """PPO's loss on the steps the neural actor played: the EQL's steps (DAgger) are masked out."""
        acted = batch.get(EQL_ACTED)
        if acted is None:
            return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        eql_steps = acted > 0.5
        mask = batch[Columns.LOSS_MASK] if Columns.LOSS_MASK in batch else torch.ones_like(eql_steps)
        self.metrics.log_value((module_id, EQL_ACTED_SHARE), _masked_mean(eql_steps.float(), batch), window=1)
        neural_steps = mask & ~eql_steps
        if not bool(neural_steps.any()):  # PPO's masked mean would divide by 0: this minibatch only distils
            return fwd_out[NEURAL_OUT].sum() * 0.0
        return super().compute_loss_for_module(module_id=module_id, config=config,
                                               batch={**batch, Columns.LOSS_MASK: neural_steps}, fwd_out=fwd_out)

    @override(PPOTorchLearner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self.env_steps = int(timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
