"""RLlib wiring for INSIGHT: the PPO config with its module, learner and per-actor game returns, loading the
pre-trained CNN into it, and building a plain module from the learner's weights (for evaluation, videos and
formula export)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from nsrl_ray.learners.insight_ppo import InsightPPOTorchLearner
from nsrl_ray.perception.model import PerceptionCNN
from nsrl_ray.rl_modules.insight import EQL_ACTED, InsightTorchRLModule, perception_kwargs

__all__ = [
    "EQL_GAME_RETURN",
    "NEURAL_GAME_RETURN",
    "ActorGameReturns",
    "build_module",
    "insight_model_config",
    "insight_ppo_config",
    "learner_module",
    "load_perception",
    "load_perception_into",
    "perceived_features",
    "save_perception",
    "set_eql_acting_envs_in",
    "standardise_eql_inputs_in",
]


#: EnvRunner metrics: the raw returns of the training games each actor played (DAgger during training).
EQL_GAME_RETURN = "eql_game_return_mean"
NEURAL_GAME_RETURN = "neural_game_return_mean"


class ActorGameReturns(RLlibCallback):
    """Logs each finished training game's raw return under the actor that played it: with `eql_acting_envs`
    RLlib's episode return mean averages both actors' games."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        info = episode.get_infos(-1)
        if "raw_episode_return" not in info:  # a life lost (episodic life), the game goes on
            return
        try:
            acted = np.asarray(episode.get_extra_model_outputs(EQL_ACTED), dtype=np.float32)
        except KeyError:
            return
        # An env the EQL took over mid-game counts as the EQL's when it played most of the game's last chunk.
        key = EQL_GAME_RETURN if acted.size and float(acted.mean()) > 0.5 else NEURAL_GAME_RETURN
        metrics_logger.log_value(key, float(info["raw_episode_return"]), window=20)


def save_perception(model: PerceptionCNN, options: dict[str, Any], path: str | Path) -> Path:
    """The CNN's weights with what rebuilds it (slot names, sizes), as one torch file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"slot_names": list(model.slot_names), "options": dict(options), "state_dict": model.state_dict()}, tmp)
    tmp.replace(path)
    return path


def load_perception(path: str | Path) -> tuple[PerceptionCNN, dict[str, Any]]:
    """(model in eval mode, options) from a file `save_perception` wrote."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    options = dict(saved["options"])
    model = PerceptionCNN(tuple(saved["slot_names"]), **perception_kwargs(options))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return model, options


def insight_model_config(slot_names: tuple[str, ...], perception_options: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The module's `model_config` (plain data, so it travels to every EnvRunner)."""
    return {
        "slot_names": list(slot_names),
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in perception_options.items()},
        "head_hidden": int(settings.head_hidden),
        "eql_units": list(settings.eql_units),
        "eql_copies": int(settings.eql_copies),
        "eql_layers": int(settings.eql_layers),
        "eql_inverse_temperature": float(settings.eql_inverse_temperature),
        "use_eql_actor": bool(settings.use_eql_actor),
        "eql_presence_inputs": bool(getattr(settings, "eql_presence_inputs", False)),
        "eql_cnn_gradient": float(getattr(settings, "eql_cnn_gradient", 1.0)),
    }


def insight_ppo_config(
    rllib_env: str, settings: Any, model_config: dict[str, Any], learner_config: dict[str, Any], seed: int,
    cpus_per_actor: float = 1.0, gpus_per_learner: float = 0.0,
) -> PPOConfig:
    """INSIGHT's PPO: the module, the learner and the settings of an `InsightSettings`."""
    total_steps = settings.max_iterations * settings.train_batch_size
    lr: Any = [[0, settings.lr], [total_steps, 0.0]] if settings.lr_anneal else settings.lr
    return (
        PPOConfig()
        .environment(rllib_env)
        .env_runners(num_env_runners=settings.num_env_runners, num_cpus_per_env_runner=cpus_per_actor,
                     num_envs_per_env_runner=settings.num_envs_per_env_runner)
        .learners(num_learners=0, num_gpus_per_learner=gpus_per_learner,  # the learner is the trial process
                  learner_class=InsightPPOTorchLearner, learner_config_dict=learner_config)
        .training(
            lr=lr, gamma=settings.gamma, lambda_=settings.gae_lambda, clip_param=settings.clip_param,
            entropy_coeff=settings.entropy_coeff, vf_loss_coeff=settings.vf_loss_coeff,
            vf_clip_param=settings.vf_clip_param, grad_clip=settings.grad_clip, use_kl_loss=settings.use_kl_loss,
            train_batch_size_per_learner=settings.train_batch_size, minibatch_size=settings.minibatch_size,
            num_epochs=settings.num_epochs,
        )
        .rl_module(rl_module_spec=RLModuleSpec(module_class=InsightTorchRLModule, model_config=model_config))
        .callbacks(ActorGameReturns)
        .debugging(seed=seed, log_level="ERROR")
    )


def load_perception_into(algo: Any, state_dict: dict[str, torch.Tensor]) -> None:
    """Put pre-trained CNN weights into the learner's module and send them to every EnvRunner."""
    _change_modules(algo, lambda module: module.perception.load_state_dict(state_dict))


@torch.no_grad()
def perceived_features(model: PerceptionCNN, frames: np.ndarray, limit: int = 4096, batch: int = 256) -> torch.Tensor:
    """The named feature vectors (N×F) the CNN perceives on up to `limit` frame stacks, evenly spaced."""
    index = np.linspace(0, len(frames) - 1, num=min(limit, len(frames))).astype(int)
    training = model.training
    model.eval()
    try:
        return torch.cat([PerceptionCNN.to_features(model(torch.as_tensor(frames[index[i:i + batch]])), hard=True)
                          for i in range(0, len(index), batch)])
    finally:
        model.train(training)


def standardise_eql_inputs_in(algo: Any, features: torch.Tensor) -> None:
    """Standardise the EQL's inputs by `features` in the learner's module and send that to every EnvRunner."""

    _change_modules(algo, lambda module: module.standardise_eql_inputs(features))


def set_eql_acting_envs_in(algo: Any, envs: int) -> None:
    """Let the EQL actor play the first `envs` envs of every EnvRunner from the next sample on (DAgger)."""
    _change_modules(algo, lambda module: module.eql_acting_envs.fill_(int(envs)))


def _change_modules(algo: Any, change: Callable[[InsightTorchRLModule], Any]) -> None:
    """Apply `change` to every learner's module and to every EnvRunner's copy."""
    algo.learner_group.foreach_learner(lambda learner: change(learner.module[DEFAULT_MODULE_ID].unwrapped()))
    # Applied on the EnvRunners directly: a weight sync after the first update is skipped by an EnvRunner whose
    # weights already carry the learner's sequence number, so a change between updates would not reach it.
    algo.env_runner_group.foreach_env_runner(lambda runner: _change_runner_module(runner, change), local_env_runner=True)


def _change_runner_module(runner: Any, change: Callable[[InsightTorchRLModule], Any]) -> None:
    module = getattr(runner, "module", None)
    if module is None:  # a local EnvRunner without envs (the remote ones sample)
        return
    if isinstance(module, MultiRLModule):
        module = module[DEFAULT_MODULE_ID]
    change(module.unwrapped())


def build_module(observation_space: gymnasium.Space, action_space: gymnasium.Space,
                 model_config: dict[str, Any]) -> InsightTorchRLModule:
    """A stand-alone module (eval mode) with fresh weights."""
    module = RLModuleSpec(module_class=InsightTorchRLModule, observation_space=observation_space,
                          action_space=action_space, model_config=model_config).build()
    module.eval()
    return module


def learner_module(algo: Any, model_config: dict[str, Any], observation_space: gymnasium.Space,
                   action_space: gymnasium.Space) -> InsightTorchRLModule:
    """A copy of the module with the learner's current weights (whatever the EnvRunners hold)."""
    module = build_module(observation_space, action_space, model_config)
    weights = algo.learner_group.get_weights([DEFAULT_MODULE_ID])[DEFAULT_MODULE_ID]
    module.set_state({k: v if torch.is_tensor(v) else torch.as_tensor(np.asarray(v)) for k, v in weights.items()})
    module.eval()
    return module
