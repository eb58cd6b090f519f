"""Play a trained pixel RLModule and keep what explains it: screens, attention masks, returns; save overlay videos."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from nsrl_ray.explain.attention_overlay import log_video_tensorboard, overlay_frames, write_gif
from nsrl_ray.rl_modules.ife import ATTENTION
from nsrl_ray.rl_modules.ife_envs import make_ife_pixel_env

__all__ = ["AttentionRollout", "attention_rollout", "module_actions", "module_attention", "save_attention_video"]


def _actions_from(out: dict[str, Any], greedy: bool, rng: np.random.Generator | None) -> np.ndarray:
    if Columns.ACTIONS in out:  # DQN modules act themselves
        return out[Columns.ACTIONS].cpu().numpy()
    logits = out[Columns.ACTION_DIST_INPUTS].cpu().numpy().astype(np.float64)
    if greedy:
        return logits.argmax(axis=-1)
    rng = rng or np.random.default_rng()
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(p), p=p) for p in probs])


@torch.no_grad()
def module_actions(module: Any, obs: np.ndarray, greedy: bool = True, rng: np.random.Generator | None = None) -> np.ndarray:
    """Actions of a pixel module for a batch of frame stacks: argmax of the logits (or Q-values), or a sample."""
    return _actions_from(module.forward_inference({Columns.OBS: torch.as_tensor(np.asarray(obs))}), greedy, rng)


@torch.no_grad()
def module_attention(module: Any, obs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The attention column for a batch of frame stacks, (N, 14, 14), read from the module's own output."""
    masks = []
    for start in range(0, len(obs), batch_size):
        out = module.forward_inference({Columns.OBS: torch.as_tensor(np.asarray(obs[start:start + batch_size]))})
        if ATTENTION not in out:
            raise ValueError(f"{type(module).__name__} returns no {ATTENTION!r} column; is it an IFE module?")
        masks.append(out[ATTENTION].cpu().numpy())
    return np.concatenate(masks, axis=0)


@dataclass
class AttentionRollout:
    """One rollout of a module on the evaluation env (raw rewards, no episodic life)."""

    screens: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    episode_return: float = 0.0
    """Raw return up to the end of the episode or the step cut."""
    steps: int = 0


def attention_rollout(module: Any, game: str, steps: int, seed: int, greedy: bool = True) -> AttentionRollout:
    """Play up to ``steps`` agent steps; keep each screen (210×160 RGB) with the mask the module acted on."""
    env = make_ife_pixel_env(game, training=False)
    rng = np.random.default_rng(seed)
    rollout = AttentionRollout()
    try:
        obs, _ = env.reset(seed=int(seed))
        ale = env.unwrapped.ale
        for _ in range(int(steps)):
            with torch.no_grad():
                out = module.forward_inference({Columns.OBS: torch.as_tensor(np.asarray(obs)[None])})
            rollout.screens.append(np.asarray(ale.getScreenRGB(), dtype=np.uint8))
            rollout.masks.append(out[ATTENTION][0].cpu().numpy())
            action = int(_actions_from(out, greedy, rng)[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            rollout.episode_return += float(reward)
            rollout.steps += 1
            if terminated or truncated:
                break
    finally:
        env.close()
    return rollout


def save_attention_video(module: Any, game: str, out_dir: str | Path, steps: int, seed: int, fps: int = 15,
                         tensorboard_tag: str = "ife/attention_overlay") -> dict[str, Any]:
    """Record a greedy rollout with attention overlays: a gif in ``out_dir`` and the same frames in TensorBoard there."""
    out_dir = Path(out_dir)
    rollout = attention_rollout(module, game, steps, seed)
    frames = overlay_frames(rollout.screens, rollout.masks, scale=2)
    gif = write_gif(out_dir / "attention_overlay.gif", frames, fps=fps)
    log_video_tensorboard(out_dir, tensorboard_tag, frames, step=0, fps=fps)
    return {"attention_video": str(gif), "attention_video_return": rollout.episode_return,
            "attention_video_steps": rollout.steps}
