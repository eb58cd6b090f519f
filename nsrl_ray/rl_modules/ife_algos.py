"""RLlib wiring for the pixel modules: the env under RLlib, module specs by name, IFE's Rainbow-lite DQN config."""

from __future__ import annotations

import functools
from typing import Any

from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from nsrl_ray.pipeline.rainbow_lite import rainbow_lite_config
from nsrl_ray.rl_modules.ife import IFEDQNTorchRLModule, IFEPPOTorchRLModule, NatureCNNPPOTorchRLModule
from nsrl_ray.rl_modules.ife_envs import ensure_pixel_env, make_ife_pixel_env

__all__ = ["PIXEL_PPO_MODULES", "ife_dqn_config", "pixel_module_spec", "rllib_pixel_env"]

#: Teacher models that read frames, by the name an experiment file gives (`teacher: {model: ife}`).
PIXEL_PPO_MODULES: dict[str, type] = {"ife": IFEPPOTorchRLModule, "nature_cnn": NatureCNNPPOTorchRLModule}


def _create(game: str, env_config: dict[str, Any]) -> object:
    # RLlib passes an EnvContext (a dict) with its own fields; only `training` is ours.
    return make_ife_pixel_env(game, training=bool(dict(env_config or {}).get("training", True)))


def rllib_pixel_env(env_name: str) -> str:
    """Register `<Game>Pixels-v0` with Ray's env registry (idempotent) and return the id RLlib should use.

    The creator is a module-level function bound to the game, so EnvRunner processes rebuild the
    env without the project's env registry having to know it there.
    """
    game = ensure_pixel_env(env_name)
    rllib_name = f"nsrl/{env_name}"
    register_env(rllib_name, functools.partial(_create, game))
    return rllib_name


def pixel_module_spec(model: str, model_config: dict[str, Any] | None = None) -> RLModuleSpec:
    """The PPO RLModuleSpec of a pixel model; ValueError names the known ones."""
    if model not in PIXEL_PPO_MODULES:
        raise ValueError(f"pixel model {model!r} is unknown; expected one of {sorted(PIXEL_PPO_MODULES)}.")
    return RLModuleSpec(module_class=PIXEL_PPO_MODULES[model], model_config=dict(model_config or {}))


def ife_dqn_config(env_name: str, *, seed: int = 0, lr: float = 2.5e-4, train_batch_size: int = 512,
                   n_step: int = 3, epsilon_steps: int = 250_000, final_epsilon: float = 0.01, capacity: int = 100_000,
                   learning_starts: int = 10_000, target_update: int = 2_000, num_env_runners: int = 0,
                   num_envs_per_env_runner: int = 1, model_config: dict[str, Any] | None = None) -> DQNConfig:
    """IFE's Rainbow-lite (`rainbow_lite_config`) with the IFE Q-network on a pixel env.

    ε falls linearly from 1 to ``final_epsilon`` over ``epsilon_steps`` agent steps
    (IFE: to 0.01 over 1M frames = 250k steps).
    The exploration passes do not return the attention column by default, so the replay buffer
    does not store 196 floats per step; inference passes always do.
    """
    config = rainbow_lite_config(
        rllib_pixel_env(env_name), seed=seed, lr=lr, train_batch_size=train_batch_size, n_step=n_step,
        epsilon_steps=epsilon_steps, final_epsilon=final_epsilon, capacity=capacity, learning_starts=learning_starts,
        target_update=target_update,
        num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner,
    )
    return config.rl_module(rl_module_spec=RLModuleSpec(
        module_class=IFEDQNTorchRLModule, model_config={"record_attention": False, **(model_config or {})}))
