"""The saved teacher RLModule as a plain callable: observations in, logits and greedy actions out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from nsrl_ray.pipeline.teacher_units import to_env_units

#: The (low, high) bounds that a teacher trained in RLlib's normalised action space is mapped to.
ActionBounds = tuple[Sequence[float], Sequence[float]]


class TeacherPolicy:
    """Greedy actions and action-distribution inputs of a trained RLModule.

    ``action_bounds``: for a continuous teacher trained with RLlib's `normalize_actions` (the
    default), the env's bounds; its Gaussian mean is then mapped into them as RLlib does before
    stepping, so greedy actions are in env units (Pendulum's torque spans ±2, not ±1).
    """

    def __init__(self, module_path: str | Path, action_kind: str, action_bounds: ActionBounds | None = None) -> None:
        torch.set_num_threads(1)  # one core per actor; more threads only contend
        self.module = RLModule.from_checkpoint(str(module_path))
        self.module.eval()
        self.action_kind = action_kind
        self.action_bounds = action_bounds if action_kind == "continuous" else None

    @torch.no_grad()
    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action-distribution inputs for a (batch, n_features) array (discrete: logits; DQN: Q-values)."""
        batch = {Columns.OBS: torch.as_tensor(np.asarray(obs, dtype=np.float32))}
        if hasattr(self.module, "compute_q_values"):
            # A DQN module's inference pass returns only the greedy actions; its Q-values play the logits.
            return self.module.compute_q_values(batch)[QF_PREDS].cpu().numpy().astype(np.float64)
        out = self.module.forward_inference(batch)
        return out[Columns.ACTION_DIST_INPUTS].cpu().numpy().astype(np.float64)

    def greedy(self, dist_inputs: np.ndarray) -> np.ndarray:
        """Greedy actions from distribution inputs: argmax for discrete spaces, the Gaussian mean (env units) otherwise."""
        if self.action_kind == "discrete":
            return dist_inputs.argmax(axis=-1)
        mean = dist_inputs[:, : dist_inputs.shape[1] // 2]
        return mean if self.action_bounds is None else to_env_units(mean, *self.action_bounds)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.greedy(self.logits(obs))
