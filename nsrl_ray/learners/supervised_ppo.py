"""PPO with soft teacher supervision (DiffSES): the PPO loss plus an annealed KL from the teacher's action distribution.

The extra term is KL(teacher || student) of the action distributions at the batch's
observations (for a discrete teacher, cross-entropy to its softmax up to the teacher's constant
entropy). Its weight goes linearly from `supervision_weight` to 0 over
`supervision_anneal_steps` sampled env steps, so the policy starts near the teacher and ends
optimising the return alone. Settings come through `learner_config_dict`:

- ``teacher_module``: path of the saved teacher RLModule (None: no supervision);
- ``supervision_weight``, ``supervision_anneal_steps``;
- ``teacher_action_low`` / ``teacher_action_high``: for a continuous teacher trained with
  RLlib's normalised actions, the env bounds its outputs are rescaled to (None: already in env units).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.schedules.scheduler import Scheduler
from ray.rllib.utils.typing import ModuleID, TensorType

__all__ = ["SUPERVISION_LOSS", "SUPERVISION_WEIGHT", "SupervisedPPOTorchLearner"]

#: Learner metrics (per module) this learner adds to PPO's.
SUPERVISION_LOSS = "supervision_kl"
SUPERVISION_WEIGHT = "supervision_weight"


class SupervisedPPOTorchLearner(PPOTorchLearner):
    """PPOTorchLearner whose loss adds weight * KL(teacher || module); the weight is annealed to 0."""

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        settings = self.config.learner_config_dict
        path = settings.get("teacher_module")
        self.teacher: RLModule | None = None
        if path:
            self.teacher = RLModule.from_checkpoint(str(path))
            self.teacher.eval()
        weight = float(settings.get("supervision_weight", 0.0))
        steps = int(settings.get("supervision_anneal_steps", 0))
        schedule = [[0, weight], [steps, 0.0]] if steps > 0 else weight
        self.supervision_schedule = Scheduler(schedule, framework="torch", device=self._device)
        low, high = settings.get("teacher_action_low"), settings.get("teacher_action_high")
        self.teacher_scale = None
        if low is not None and high is not None:
            low_t, high_t = torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)
            self.teacher_scale = ((high_t + low_t) / 2.0, (high_t - low_t) / 2.0)

    def _teacher_inputs(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            inputs = self.teacher.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]  # type: ignore[union-attr]
        if self.teacher_scale is not None:  # normalised Gaussian -> env units
            mid, half = self.teacher_scale
            mean, log_std = inputs.chunk(2, dim=-1)
            inputs = torch.cat([mid + half * mean, log_std + torch.log(half)], dim=-1)
        return inputs

    @override(PPOTorchLearner)
    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: PPOConfig, batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> TensorType:
        total = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        if self.teacher is None:
            return total
        weight = float(self.supervision_schedule.get_current_value())
        module = self.module[module_id].unwrapped()
        dist_cls = module.get_train_action_dist_cls()
        student = dist_cls.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        teacher = dist_cls.from_logits(self._teacher_inputs(batch[Columns.OBS].float()))
        # Logged even at weight 0: how far the policy has moved from the teacher is worth watching.
        kl = teacher.kl(student)
        if Columns.LOSS_MASK in batch:  # PPO's artificial bootstrap timesteps carry no real state
            mask = batch[Columns.LOSS_MASK]
            kl_mean = torch.sum(kl[mask]) / torch.clamp(torch.sum(mask), min=1)
        else:
            kl_mean = torch.mean(kl)
        self.metrics.log_value((module_id, SUPERVISION_LOSS), kl_mean, window=1)
        self.metrics.log_value((module_id, SUPERVISION_WEIGHT), weight, window=1)
        return total + weight * kl_mean if weight > 0.0 else total

    @override(PPOTorchLearner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self.supervision_schedule.update(timestep=timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))

