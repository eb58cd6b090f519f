"""The IFE modules inside RLlib: PPO and Rainbow-lite DQN train a step, episodes carry the attention column, checkpoints restore it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModule  # noqa: E402
from ray.rllib.utils.metrics import LEARNER_RESULTS  # noqa: E402

from nsrl_ray.rl_modules.ife import ATTENTION, IFEDQNTorchRLModule, IFEPPOTorchRLModule  # noqa: E402
from nsrl_ray.rl_modules.ife_algos import ife_dqn_config, pixel_module_spec, rllib_pixel_env  # noqa: E402

pytestmark = pytest.mark.ray
torch.set_num_threads(1)


def test_ppo_trains_an_ife_module_and_episodes_keep_its_attention(ray_session, tmp_path):
    config = (
        PPOConfig()
        .environment(rllib_pixel_env("BoxingPixels-v0"))
        .env_runners(num_env_runners=0)
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(rl_module_spec=pixel_module_spec("ife", {"attention_hidden": 64}))
        .debugging(seed=0, log_level="ERROR")
    )
    algo = config.build_algo()
    try:
        before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
        learner = algo.train()[LEARNER_RESULTS]["default_policy"]
        assert np.isfinite(learner["policy_loss"]) and np.isfinite(learner["vf_loss"])
        module = algo.get_module()
        assert isinstance(module, IFEPPOTorchRLModule)
        scorer = "encoder.attention.score.0.weight"
        assert not torch.equal(before[scorer], module.state_dict()[scorer])  # the attention learns
        # The EnvRunner keeps the mask the module acted on: no second forward pass needed.
        episodes = algo.env_runner.sample(num_timesteps=6, random_actions=False)
        masks = np.concatenate([np.asarray(e.get_extra_model_outputs(ATTENTION)) for e in episodes])
        assert masks.shape[1:] == (14, 14) and np.allclose(masks.sum(axis=(1, 2)), 1.0, atol=1e-5)
        module.save_to_path(str(tmp_path / "module"))
    finally:
        algo.stop()
    restored = RLModule.from_checkpoint(str(tmp_path / "module"))
    obs = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        expected = module.forward_inference({Columns.OBS: obs})[ATTENTION]
        assert torch.allclose(restored.forward_inference({Columns.OBS: obs})[ATTENTION], expected)


def test_rainbow_lite_dqn_trains_one_iteration(ray_session):
    config = (
        ife_dqn_config("BoxingPixels-v0", train_batch_size=16, capacity=500, learning_starts=32, target_update=16,
                       epsilon_steps=100, model_config={"attention_hidden": 64})
        .env_runners(rollout_fragment_length=8)
        .reporting(min_sample_timesteps_per_iteration=48)
    )
    assert config.double_q and config.dueling and config.n_step == 3 and config.num_atoms == 1
    assert config.replay_buffer_config["type"] == "PrioritizedEpisodeReplayBuffer"
    algo = config.build_algo()
    try:
        result = algo.train()
        module = algo.get_module()
        assert isinstance(module, IFEDQNTorchRLModule) and module.uses_dueling and module.uses_double_q
        learner = result[LEARNER_RESULTS]["default_policy"]
        assert np.isfinite(learner["qf_loss"])
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)})
        assert out[Columns.ACTIONS].shape == (3,) and out[ATTENTION].shape == (3, 14, 14)
    finally:
        algo.stop()


def test_dqn_module_duels_and_keeps_a_target_copy():
    import gymnasium as gym

    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS, QF_TARGET_NEXT_PREDS

    torch.manual_seed(0)
    module = IFEDQNTorchRLModule(
        observation_space=gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), action_space=gym.spaces.Discrete(6),
        model_config={"dueling": True, "double_q": True, "num_atoms": 1, "epsilon": [(0, 0.0)], "attention_hidden": 32})
    module.make_target_networks()
    module.eval()  # spectral norm's power iteration moves the weights on every training-mode pass
    obs = torch.randint(0, 256, (4, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        out = module.compute_q_values({Columns.OBS: obs})
        features, _ = module.encoder(obs)
        value, advantage = module.vf(features), module.af(features)
        assert torch.allclose(out[QF_PREDS], value + advantage - advantage.mean(dim=-1, keepdim=True), atol=1e-5)
        # forward_train switches to training mode (one more power iteration for both nets, identically).
        train = module.forward_train({Columns.OBS: obs, Columns.NEXT_OBS: obs})
        assert torch.allclose(train[QF_TARGET_NEXT_PREDS], train[QF_PREDS], atol=1e-6)  # the target starts as a copy
        module.eval()
        greedy = module.forward_exploration({Columns.OBS: obs}, t=0)[Columns.ACTIONS]  # epsilon 0: greedy
        assert torch.equal(greedy, out[QF_PREDS].argmax(dim=-1))
    with pytest.raises(ValueError, match="num_atoms"):
        IFEDQNTorchRLModule(observation_space=gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
                            action_space=gym.spaces.Discrete(6), model_config={"num_atoms": 51, "epsilon": 0.1})


def test_pixel_models_refuse_feature_envs_and_unknown_names():
    with pytest.raises(ValueError, match="expected one of"):
        pixel_module_spec("resnet")
    with pytest.raises(ValueError, match="not a pixel Atari env"):
        rllib_pixel_env("CartPole-v1")
    import gymnasium as gym

    spec = pixel_module_spec("ife")
    spec.observation_space, spec.action_space = gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2)
    with pytest.raises(ValueError, match="expected stacked 84×84 frames"):
        spec.build()
