"""Rainbow-lite DQN teachers on feature vectors: the RLlib config a file asks for, and what it refuses."""

from __future__ import annotations

import pytest
from ray.rllib.algorithms.dqn import DQNConfig

from nsrl_ray.config import ConfigError, TeacherSettings, parse_experiment
from nsrl_ray.config.schema import DQNTeacherSettings
from nsrl_ray.pipeline.stages.teacher import build_teacher_config


def test_mlp_dqn_teacher_gets_rllibs_mlp_and_the_files_settings() -> None:
    settings = TeacherSettings(
        algorithm="DQN", lr=4e-3, gamma=0.98, train_batch_size=128, minibatch_size=128, hidden_sizes=(256, 256),
        dqn=DQNTeacherSettings(n_step=1, epsilon_steps=24_000, final_epsilon=0.07, learning_starts=1000,
                               target_update=600, replay_capacity=10_000),
    )
    config = build_teacher_config("MountainCar-v0", settings, seed=0, cpus_per_actor=1.0)
    assert isinstance(config, DQNConfig)
    assert config.model_config["fcnet_hiddens"] == [256, 256]
    assert (config.lr, config.gamma, config.train_batch_size_per_learner, config.n_step) == (4e-3, 0.98, 128, 1)
    assert config.epsilon == [(0, 1.0), (24_000, 0.07)]
    assert config.replay_buffer_config["capacity"] == 10_000 and config.target_network_update_freq == 600
    assert config.double_q and config.dueling


def test_dqn_on_continuous_actions_is_refused_with_what_to_fix() -> None:
    data = {"name": "unit", "env": "Pendulum-v1", "stages": {"teacher": {"algorithm": "DQN"}}}
    with pytest.raises(ConfigError, match="algorithm DQN needs discrete actions; Pendulum-v1 .* Use algorithm: PPO"):
        parse_experiment(data)
    assert parse_experiment({**data, "env": "MountainCar-v0"}).stages.teacher.algorithm == "DQN"


def test_a_saved_dqn_teacher_acts_greedily_on_its_q_values(tmp_path) -> None:
    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns

    from nsrl_ray.envs import make_env
    from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

    config = build_teacher_config("MountainCar-v0", TeacherSettings(algorithm="DQN", hidden_sizes=(16,)), seed=0,
                                  cpus_per_actor=1.0)
    env = make_env("MountainCar-v0")
    try:
        module = config.get_rl_module_spec(env=env).build()
    finally:
        env.close()
    module.save_to_path(str(tmp_path / "module"))
    teacher = TeacherPolicy(tmp_path / "module", "discrete")  # what collect, evaluate and the videos load
    obs = np.random.default_rng(0).uniform([-1.2, -0.07], [0.6, 0.07], size=(64, 2)).astype(np.float32)
    q = teacher.logits(obs)
    assert q.shape == (64, 3) and np.ptp(q, axis=1).max() > 0
    with torch.no_grad():
        greedy = module.forward_inference({Columns.OBS: torch.as_tensor(obs)})[Columns.ACTIONS].numpy()
    assert np.array_equal(teacher.act(obs), greedy)
