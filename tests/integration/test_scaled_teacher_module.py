"""A teacher trained on scaled observations: the scaling lives in the saved module, so raw observations read back the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ray")

from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModule  # noqa: E402

from nsrl_ray.config.schema import TeacherSettings  # noqa: E402
from nsrl_ray.envs import make_env  # noqa: E402
from nsrl_ray.pipeline.stages.teacher import build_ppo_config  # noqa: E402
from nsrl_ray.pipeline.teacher_policy import TeacherPolicy  # noqa: E402
from nsrl_ray.rl_modules.scaled_obs_ppo import ObsScalingPPOTorchRLModule  # noqa: E402

torch.set_num_threads(1)


def _module(scale: bool) -> RLModule:
    settings = TeacherSettings(scale_observations=scale, vf_share_layers=False, hidden_sizes=(8,))
    config = build_ppo_config("MountainCar-v0", settings, seed=0, cpus_per_actor=1.0)
    env = make_env("MountainCar-v0")
    try:
        return config.get_rl_module_spec(env=env).build()
    finally:
        env.close()


def test_the_module_sees_scaled_inputs_and_keeps_the_scaling_through_a_checkpoint(tmp_path):
    scaled, plain = _module(True), _module(False)
    assert isinstance(scaled, ObsScalingPPOTorchRLModule) and not isinstance(plain, ObsScalingPPOTorchRLModule)
    plain.load_state_dict(scaled.state_dict())  # same weights: the only difference is the input map
    raw = torch.tensor([[-0.5, 0.01], [0.5, -0.07], [-1.2, 0.07]])
    by_hand = (raw - torch.tensor([-0.3, 0.0])) / torch.tensor([0.9, 0.07])
    with torch.no_grad():
        ours = scaled.forward_inference({Columns.OBS: raw})[Columns.ACTION_DIST_INPUTS]
        reference = plain.forward_inference({Columns.OBS: by_hand})[Columns.ACTION_DIST_INPUTS]
        assert torch.allclose(ours, reference, atol=1e-6)
        assert torch.allclose(scaled.compute_values({Columns.OBS: raw}), plain.compute_values({Columns.OBS: by_hand}), atol=1e-6)
        # Without the map the outputs would differ: the check above can fail.
        assert not torch.allclose(ours, plain.forward_inference({Columns.OBS: raw})[Columns.ACTION_DIST_INPUTS], atol=1e-4)
    scaled.save_to_path(str(tmp_path / "module"))
    teacher = TeacherPolicy(tmp_path / "module", "discrete")  # what collect, evaluate and the videos load
    assert isinstance(teacher.module, ObsScalingPPOTorchRLModule)
    assert np.allclose(teacher.logits(raw.numpy()), ours.numpy(), atol=1e-6)


def test_a_normalised_continuous_teacher_acts_in_env_units(tmp_path):
    # RLlib trains Pendulum's teacher in [-1, 1] and doubles its mean before stepping: so must we.
    config = build_ppo_config("Pendulum-v1", TeacherSettings(hidden_sizes=(8,)), seed=0, cpus_per_actor=1.0)
    env = make_env("Pendulum-v1")
    try:
        module = config.get_rl_module_spec(env=env).build()
    finally:
        env.close()
    with torch.no_grad():  # a mean large enough to show both the scaling and the clipping
        module.pi.net.mlp[-1].bias.copy_(torch.tensor([0.4, 0.0]))
    module.save_to_path(str(tmp_path / "module"))
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]])
    raw = TeacherPolicy(tmp_path / "module", "continuous")
    mapped = TeacherPolicy(tmp_path / "module", "continuous", ((-2.0,), (2.0,)))
    mean = raw.act(obs)
    assert np.allclose(mapped.act(obs), np.clip(2.0 * mean, -2.0, 2.0))
    assert not np.allclose(mapped.act(obs), mean)
