"""The kan_* experiment files, per-learner smoke budgets, the PPO teacher settings and rollout videos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.config import ConfigError, load_experiment
from nsrl_ray.config.schema import KANSettings, SymbolicSettings, TeacherSettings

REPO = Path(__file__).resolve().parents[2]
KAN_FILES = sorted((REPO / "tune_configs").glob("kan_*.yaml"))
KANRL_ENVS = {"CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0",
              "LunarLander-v3", "Swimmer-v5", "Hopper-v5"}


def test_there_is_an_experiment_for_every_kanrl_environment():
    envs = {load_experiment(path).env for path in KAN_FILES}
    assert envs == KANRL_ENVS


@pytest.mark.parametrize("path", KAN_FILES, ids=lambda p: p.stem)
def test_kan_experiment_loads_with_and_without_smoke(path):
    config = load_experiment(path)
    assert isinstance(config.stages.symbolic, KANSettings)
    assert config.stages.symbolic.requires == ("collect",)
    smoke = load_experiment(path, smoke=True)
    assert smoke.stages.symbolic.steps == 3 and smoke.stages.symbolic.spline_episodes == 2
    assert smoke.stages.teacher.max_iterations == 2 and smoke.stages.evaluate.episodes == 2
    assert smoke.stages.teacher.cem.population == 4 and smoke.stages.teacher.cem.episodes == 2


def test_smoke_budgets_follow_the_chosen_learner():
    # gp_distill keeps its own smoke keys; KAN's keys would be unknown to it (and vice versa).
    quickstart = load_experiment(REPO / "tune_configs" / "quickstart.yaml", smoke=True)
    assert isinstance(quickstart.stages.symbolic, SymbolicSettings)
    assert quickstart.stages.symbolic.population_size == 60


def test_kan_settings_refuse_unknown_keys_with_a_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nenv: CartPole-v1\nstages:\n  teacher:\n  collect:\n  symbolic:\n    learner: kan\n    stepz: 3\n")
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        load_experiment(path)


@pytest.mark.parametrize("key", ["restarts", "select_episodes"])
def test_kan_restart_counts_must_be_positive(key):
    with pytest.raises(ConfigError, match=f"{key}: got 0"):
        KANSettings(**{key: 0})


def test_teacher_settings_reach_the_ppo_config():
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config

    settings = TeacherSettings(gae_lambda=0.1, entropy_coeff=0.02, clip_param=0.2, vf_clip_param=50.0,
                               grad_clip=0.5, vf_share_layers=False, num_envs_per_env_runner=4)
    config = build_ppo_config("Pendulum-v1", settings, seed=0, cpus_per_actor=1.0)
    assert (config.lambda_, config.entropy_coeff, config.clip_param, config.vf_clip_param, config.grad_clip) == (
        0.1, 0.02, 0.2, 50.0, 0.5)
    assert config.num_envs_per_env_runner == 4 and config.model_config["vf_share_layers"] is False
    with pytest.raises(ConfigError, match="gae_lambda"):
        TeacherSettings(gae_lambda=1.5)


# ----------------------------------------------------------------------------- videos


def test_video_of_a_policy_is_written_as_a_gif(tmp_path):
    import imageio.v3 as iio

    from nsrl_ray.pipeline.videos import record_frames, record_video

    push_right = lambda batch: np.ones(len(batch), dtype=int)
    frames, total = record_frames("CartPole-v1", push_right, seed=0, max_steps=200)
    # Always pushing right topples the pole within a few dozen steps: one frame per step plus the last.
    assert len(frames) == int(total) + 1 and 5 <= total < 100
    assert record_video("CartPole-v1", push_right, seed=0, path=tmp_path / "v.gif", max_steps=200, fps=30) == total
    written = iio.imread(tmp_path / "v.gif")
    # Pillow may merge identical neighbouring frames into one longer frame.
    assert len(frames) - 2 <= written.shape[0] <= len(frames) and written.shape[-1] == 3


def test_video_cut_at_max_steps(tmp_path):
    from nsrl_ray.pipeline.videos import record_frames

    frames, _ = record_frames("Pendulum-v1", lambda batch: np.zeros((len(batch), 1)), seed=1, max_steps=7)
    assert len(frames) == 7


def test_video_format_errors_say_what_to_do(tmp_path):
    from nsrl_ray.pipeline.videos import VideoError, write_video

    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=".gif or .mp4"):
        write_video(tmp_path / "v.avi", [frame], fps=10)
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        with pytest.raises(VideoError, match="pip install imageio-ffmpeg"):
            write_video(tmp_path / "v.mp4", [frame], fps=10)
