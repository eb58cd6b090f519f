"""The saved teacher RLModule as a plain callable: observations in, logits and greedy actions out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule


class TeacherPolicy:
    """Greedy actions and action-distribution inputs of a trained RLModule."""

    def __init__(self, module_path: str | Path, action_kind: str) -> None:
        torch.set_num_threads(1)  # one core per actor; more threads only contend
        self.module = RLModule.from_checkpoint(str(module_path))
        self.module.eval()
        self.action_kind = action_kind

    @torch.no_grad()
    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action-distribution inputs for a (batch, n_features) array (discrete: logits)."""
        batch = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        out = self.module.forward_inference({Columns.OBS: batch})
        return out[Columns.ACTION_DIST_INPUTS].cpu().numpy().astype(np.float64)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions: argmax for discrete spaces, the Gaussian mean for continuous ones."""
        dist_inputs = self.logits(obs)
        if self.action_kind == "discrete":
            return dist_inputs.argmax(axis=-1)
        return dist_inputs[:, : dist_inputs.shape[1] // 2]
