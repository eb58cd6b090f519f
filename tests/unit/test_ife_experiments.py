"""The ife_* experiment files, `teacher: {model: ife}` in the schema and the PPO config, and the pixel env names."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsrl_ray.config import ConfigError, load_experiment
from nsrl_ray.config.schema import TeacherSettings

REPO = Path(__file__).resolve().parents[2]
IFE_FILES = sorted((REPO / "tune_configs").glob("ife_*.yaml"))


def test_there_is_an_experiment_for_each_game_ife_offers_checkpoints_for():
    envs = {load_experiment(path).env for path in IFE_FILES}
    assert envs == {"BoxingPixels-v0", "AssaultPixels-v0", "SpaceInvadersPixels-v0"}


@pytest.mark.parametrize("path", IFE_FILES, ids=lambda p: p.stem)
def test_ife_experiment_loads_with_and_without_smoke(path):
    config = load_experiment(path)
    teacher = config.stages.teacher
    assert teacher.model == "ife" and config.stages.enabled() == ("teacher",)
    # The GPU-cluster budget: 10M frames (frame skip 4) of agent steps sampled per iteration.
    steps = teacher.dqn.steps_per_iteration if teacher.algorithm == "DQN" else teacher.train_batch_size
    assert teacher.max_iterations * steps * 4 >= 10_000_000
    assert config.resources.gpus_per_trial == 1 and teacher.attention_video_steps > 0
    smoke = load_experiment(path, smoke=True)
    assert smoke.stages.teacher.max_iterations == 2 and smoke.stages.teacher.train_batch_size == 400
    assert smoke.stages.teacher.attention_video_steps == 20


def test_teacher_model_picks_the_rl_module():
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config
    from nsrl_ray.rl_modules.ife import IFEPPOTorchRLModule, NatureCNNPPOTorchRLModule

    for model, module_class in (("ife", IFEPPOTorchRLModule), ("nature_cnn", NatureCNNPPOTorchRLModule)):
        config = build_ppo_config("BoxingPixels-v0", TeacherSettings(model=model), seed=0, cpus_per_actor=1.0)
        assert config.rl_module_spec.module_class is module_class
        assert config.env == "nsrl/BoxingPixels-v0"
    mlp = build_ppo_config("CartPole-v1", TeacherSettings(), seed=0, cpus_per_actor=1.0)
    assert mlp.model_config["fcnet_hiddens"] == [64, 64]


def test_the_kl_penalty_is_rllibs_default_and_can_be_turned_off():
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config

    assert build_ppo_config("BoxingPixels-v0", TeacherSettings(model="ife"), seed=0, cpus_per_actor=1.0).use_kl_loss
    plain = build_ppo_config("BoxingPixels-v0", TeacherSettings(model="ife", use_kl_loss=False), seed=0, cpus_per_actor=1.0)
    assert plain.use_kl_loss is False


def _write(tmp_path: Path, env: str, model: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: exp\nenv: {env}\nstages:\n  teacher:\n    model: {model}\n")
    return path


def test_an_unknown_model_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"model.*'ife2'.*Did you mean 'ife'"):
        load_experiment(_write(tmp_path, "BoxingPixels-v0", "ife2"))


def test_a_pixel_model_on_a_feature_env_is_refused_with_examples(tmp_path):
    with pytest.raises(ConfigError, match=r"model 'ife'.*CartPole-v1.*not a pixel Atari env.*BoxingPixels-v0"):
        load_experiment(_write(tmp_path, "CartPole-v1", "ife"))
    with pytest.raises(ConfigError, match="not a pixel Atari env"):
        load_experiment(_write(tmp_path, "TetrisPixels-v0", "nature_cnn"))
    with pytest.raises(ConfigError, match="attention_video_steps"):
        TeacherSettings(model="ife", attention_video_steps=-1)


def test_pixel_env_names_cover_insight_and_ife_games():
    from nsrl_ray.envs import get_env_spec
    from nsrl_ray.rl_modules.ife_envs import ensure_pixel_env, ife_game, pixel_game

    assert pixel_game("AssaultPixels-v0") == "Assault" and pixel_game("PongPixels-v0") == "Pong"
    assert pixel_game("Assault-v0") is None and pixel_game("NopePixels-v0") is None
    assert ensure_pixel_env("AssaultPixels-v0") == "Assault"
    spec = get_env_spec("AssaultPixels-v0")
    assert spec.action_names == ("noop", "fire", "up", "right", "left", "right_fire", "left_fire")
    assert ife_game("ALE/Boxing-v5").name == "Boxing"
    with pytest.raises(ValueError, match="expected one of"):
        ife_game("Tetris")


def test_dqn_teacher_is_ifes_rainbow_lite_with_the_teachers_keys():
    from ray.rllib.algorithms.dqn import DQNConfig

    from nsrl_ray.config.schema import DQNTeacherSettings
    from nsrl_ray.pipeline.stages.teacher import build_teacher_config
    from nsrl_ray.rl_modules.ife import IFEDQNTorchRLModule

    settings = TeacherSettings(algorithm="DQN", model="ife", lr=1e-4, gamma=0.98, train_batch_size=64, minibatch_size=64, grad_clip=5.0,
                               dqn=DQNTeacherSettings(n_step=5, learning_starts=100, steps_per_iteration=250))
    config = build_teacher_config("BoxingPixels-v0", settings, seed=0, cpus_per_actor=1.0)
    assert isinstance(config, DQNConfig) and config.rl_module_spec.module_class is IFEDQNTorchRLModule
    assert (config.lr, config.gamma, config.train_batch_size_per_learner, config.grad_clip) == (1e-4, 0.98, 64, 5.0)
    assert (config.n_step, config.num_steps_sampled_before_learning_starts, config.min_sample_timesteps_per_iteration) == (
        5, 100, 250)
    assert config.double_q and config.dueling and config.replay_buffer_config["type"] == "PrioritizedEpisodeReplayBuffer"
    ppo = build_teacher_config("BoxingPixels-v0", TeacherSettings(model="ife"), seed=0, cpus_per_actor=1.0)
    assert not isinstance(ppo, DQNConfig)


def test_dqn_teacher_is_refused_for_the_nature_cnn_and_for_scaled_observations():
    with pytest.raises(ConfigError, match="algorithm DQN trains model ife .* or mlp, got model 'nature_cnn'"):
        TeacherSettings(algorithm="DQN", model="nature_cnn")
    with pytest.raises(ConfigError, match="scale_observations is for PPO teachers"):
        TeacherSettings(algorithm="DQN", scale_observations=True)
    with pytest.raises(ConfigError, match="final_epsilon"):
        from nsrl_ray.config.schema import DQNTeacherSettings

        DQNTeacherSettings(final_epsilon=1.5)
    with pytest.raises(ConfigError, match="steps_per_iteration"):
        from nsrl_ray.config.schema import DQNTeacherSettings

        DQNTeacherSettings(steps_per_iteration=0)
