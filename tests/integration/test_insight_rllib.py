"""INSIGHT inside RLlib PPO: the learner adds distillation, L1/2 and perception losses, the CNN and the EQL
actor both learn, pre-trained CNN weights reach the EnvRunners, checkpoints restore the EQL masks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from ray.rllib.core.rl_module.rl_module import RLModule  # noqa: E402
from ray.rllib.utils.metrics import LEARNER_RESULTS  # noqa: E402

from nsrl_ray.config.schema import InsightSettings  # noqa: E402
from nsrl_ray.learners.insight_ppo import CNN_LOSS, DISTILLATION_LOSS, EQL_REG, REG_WEIGHT  # noqa: E402
from nsrl_ray.perception.dataset import record_frames, write_shard  # noqa: E402
from nsrl_ray.perception.model import PerceptionCNN  # noqa: E402
from nsrl_ray.rl_modules.ife_algos import rllib_pixel_env  # noqa: E402
from nsrl_ray.rl_modules.insight import InsightTorchRLModule  # noqa: E402
from nsrl_ray.rl_modules.insight_algo import (  # noqa: E402
    insight_model_config,
    insight_ppo_config,
    learner_module,
    load_perception_into,
    standardise_eql_inputs_in,
)

pytestmark = pytest.mark.ray
torch.set_num_threads(1)
SLOTS = ("player", "ball", "enemy")
OPTIONS = {"channels": [4, 8, 8], "hidden": 32}


def test_insight_ppo_trains_all_parts_and_checkpoints_keep_the_eql_masks(ray_session, tmp_path):
    write_shard(record_frames("Pong", 40, seed=0), tmp_path / "frames" / "shard_00000.npz")
    settings = dataclasses.replace(InsightSettings(), max_iterations=2, train_batch_size=64, minibatch_size=32,
                                   num_epochs=1, num_env_runners=0, head_hidden=16, eql_copies=2, reg_weight=1e-2,
                                   reg_ramp_fraction=0.5)
    model_config = insight_model_config(SLOTS, OPTIONS, settings)
    learner_config = {"perception_dataset": str(tmp_path / "frames"), "cnn_batch_size": 4, "reg_weight": 1e-2,
                      "reg_ramp_steps": 64, "distillation_loss_weight": 1.0, "cnn_loss_weight": 2.0}
    algo = insight_ppo_config(rllib_pixel_env("PongPixels-v0"), settings, model_config, learner_config, seed=0).build_algo()
    try:
        torch.manual_seed(3)
        pretrained = PerceptionCNN(SLOTS, channels=(4, 8, 8), hidden=32).state_dict()
        load_perception_into(algo, pretrained)
        runner_module = algo.get_module()  # the EnvRunner's copy got the pre-trained CNN too
        assert isinstance(runner_module, InsightTorchRLModule)
        for name, value in pretrained.items():
            assert torch.equal(runner_module.perception.state_dict()[name], value), name
        features = torch.rand(64, len(runner_module.feature_names)) * torch.linspace(0.1, 1.0, len(runner_module.feature_names))
        standardise_eql_inputs_in(algo, features)
        learner_side = algo.learner_group._learner.module["default_policy"].unwrapped()
        assert float(learner_side.eql_input_scale.min()) < 0.9  # no longer the identity
        assert algo.get_module() is not learner_side  # the EnvRunner's copy got it by the weight sync
        assert torch.equal(algo.get_module().eql_input_scale, learner_side.eql_input_scale)
        assert torch.equal(algo.get_module().eql_input_shift, learner_side.eql_input_shift)
        obs_space, act_space = runner_module.observation_space, runner_module.action_space
        before = {k: v.clone() for k, v in learner_module(algo, model_config, obs_space, act_space).state_dict().items()}
        results = [algo.train() for _ in range(2)]
        learner = results[-1][LEARNER_RESULTS]["default_policy"]
        for key in (DISTILLATION_LOSS, EQL_REG, CNN_LOSS, "policy_loss", "vf_loss"):
            assert np.isfinite(learner[key]), key
        assert 0.0 < learner[REG_WEIGHT] <= 1e-2  # ramping up with the sampled steps
        after = learner_module(algo, model_config, obs_space, act_space)
        for name in ("perception.encoder.0.weight", "eql.blocks.0.linear.weight", "pi.0.weight"):
            assert not torch.equal(before[name], after.state_dict()[name]), f"{name} did not learn"
        after.eql.prune(0.05)
        after.save_to_path(str(tmp_path / "module"))
    finally:
        algo.stop()
    restored = RLModule.from_checkpoint(str(tmp_path / "module"))
    assert torch.equal(restored.eql.output.weight_mask, after.eql.output.weight_mask)
    assert float(restored.eql.output.weight_mask.mean()) < 1.0


@pytest.mark.parametrize("every_epoch, expected_calls", [(False, (2, 3)), (True, (6, 7))])
def test_the_perception_term_comes_in_the_last_ppo_epoch_only_as_insights(ray_session, tmp_path, every_epoch,
                                                                          expected_calls):
    write_shard(record_frames("Pong", 40, seed=0), tmp_path / "frames" / "shard_00000.npz")
    settings = dataclasses.replace(InsightSettings(), max_iterations=1, train_batch_size=64, minibatch_size=32,
                                   num_epochs=3, num_env_runners=0, head_hidden=16, eql_copies=2)
    learner_config = {"perception_dataset": str(tmp_path / "frames"), "cnn_batch_size": 4,
                      "extra_terms_every_epoch": every_epoch}
    algo = insight_ppo_config(rllib_pixel_env("PongPixels-v0"), settings, insight_model_config(SLOTS, OPTIONS, settings),
                              learner_config, seed=0).build_algo()
    try:
        learner = algo.learner_group._learner  # num_learners=0: the learner lives in this process
        calls = []
        original = learner._perception_term
        learner._perception_term = lambda module: (calls.append(module), original(module))[1]
        algo.train()
    finally:
        algo.stop()
    # 3 epochs of 2 minibatches (a 7th when the batch runs a step over 64): the last epoch's 2 (or 3), or all.
    assert len(calls) in expected_calls


class _NoiseFrames(__import__("gymnasium").Env):
    """Random frame stacks, a 2-D continuous action, reward -|action|: just enough for one PPO update."""

    def __init__(self, config=None) -> None:
        import gymnasium

        self.observation_space = gymnasium.spaces.Box(0, 255, (4, 84, 84), np.uint8)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), -float(np.abs(action).sum()), self._t >= 16, False, {}


def test_continuous_actions_distil_the_means_by_mse(ray_session):
    from ray.tune.registry import register_env

    register_env("nsrl_test/noise_frames", lambda config: _NoiseFrames(config))
    settings = dataclasses.replace(InsightSettings(), max_iterations=1, train_batch_size=32, minibatch_size=16,
                                   num_epochs=1, num_env_runners=0, head_hidden=8, eql_copies=1)
    model_config = insight_model_config(SLOTS, OPTIONS, settings)
    config = insight_ppo_config("nsrl_test/noise_frames", settings, model_config, {"cnn_loss_weight": 0.0}, seed=0)
    algo = config.build_algo()
    try:
        learner = algo.train()[LEARNER_RESULTS]["default_policy"]
        assert np.isfinite(learner[DISTILLATION_LOSS]) and CNN_LOSS not in learner
        assert not algo.get_module().discrete
    finally:
        algo.stop()


def test_an_eql_learning_rate_gives_the_eql_an_optimiser_of_its_own(ray_session):
    from nsrl_ray.learners.insight_ppo import EQL_OPTIMIZER

    settings = dataclasses.replace(InsightSettings(), max_iterations=2, train_batch_size=64, minibatch_size=32,
                                   num_epochs=2, num_env_runners=0, head_hidden=16, eql_copies=2)
    model_config = insight_model_config(SLOTS, OPTIONS, settings)
    algo = insight_ppo_config(rllib_pixel_env("PongPixels-v0"), settings, model_config,
                              {"cnn_loss_weight": 0.0, "eql_lr": 0.05}, seed=0).build_algo()
    try:
        learner = algo.learner_group._learner
        module = learner.module["default_policy"].unwrapped()
        optimisers = dict(learner.get_optimizers_for_module("default_policy"))
        assert set(optimisers) == {"default_optimizer", EQL_OPTIMIZER}
        eql_params = {id(p) for p in module.eql.parameters()}
        held = {name: {id(p) for group in opt.param_groups for p in group["params"]} for name, opt in optimisers.items()}
        assert held[EQL_OPTIMIZER] == eql_params and not held["default_optimizer"] & eql_params
        assert len(held["default_optimizer"]) == len(list(module.parameters())) - len(eql_params)
        before = module.eql.output.weight.detach().clone()
        algo.train()
        # The EQL's rate is constant; PPO's anneals from 2.5e-4 towards 0 over the budget.
        assert optimisers[EQL_OPTIMIZER].param_groups[0]["lr"] == pytest.approx(0.05)
        assert optimisers["default_optimizer"].param_groups[0]["lr"] < settings.lr
        # Adam moves each weight by about its rate per step: 0.05, far beyond what 2.5e-4 could in 2 steps.
        assert float((module.eql.output.weight.detach() - before).abs().max()) > 0.02
    finally:
        algo.stop()


def test_eql_acting_envs_keep_the_eql_steps_out_of_ppo_and_distil_them(ray_session):
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
    from ray.rllib.core.columns import Columns

    from nsrl_ray.learners.insight_ppo import EQL_ACTED_SHARE
    from nsrl_ray.rl_modules.insight import EQL_ACTED
    from nsrl_ray.rl_modules.insight_algo import set_eql_acting_envs_in

    settings = dataclasses.replace(InsightSettings(), max_iterations=2, train_batch_size=64, minibatch_size=32,
                                   num_epochs=1, num_env_runners=0, num_envs_per_env_runner=2, head_hidden=16,
                                   eql_copies=2)
    model_config = insight_model_config(SLOTS, OPTIONS, settings)
    algo = insight_ppo_config(rllib_pixel_env("PongPixels-v0"), settings, model_config, {"cnn_loss_weight": 0.0},
                              seed=0).build_algo()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = PPOTorchLearner.compute_loss_for_module

    def spy(self, *, module_id, config, batch, fwd_out):
        seen.append((batch[EQL_ACTED].clone(), batch[Columns.LOSS_MASK].clone()))
        return original(self, module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    try:
        off = algo.train()[LEARNER_RESULTS]["default_policy"]
        assert off[EQL_ACTED_SHARE] == 0.0  # the column is there from the start, all zeros
        set_eql_acting_envs_in(algo, 1)
        assert int(algo.get_module().eql_acting_envs) == 1  # the EnvRunner's copy acts with the EQL in env 0
        PPOTorchLearner.compute_loss_for_module = spy
        on = algo.train()[LEARNER_RESULTS]["default_policy"]
    finally:
        PPOTorchLearner.compute_loss_for_module = original
        algo.stop()
    assert 0.0 < on[EQL_ACTED_SHARE] <= 1.0  # the last minibatch's (one epoch: not shuffled, env by env)
    assert np.isfinite(on[DISTILLATION_LOSS]) and np.isfinite(on["policy_loss"])
    acted, mask = (torch.cat(parts) for parts in zip(*seen))
    assert 0.4 < float(acted.mean()) < 0.6  # one of the two envs: about half the steps
    assert bool((acted > 0.5).any()) and bool(mask.any())
    assert not bool((mask & (acted > 0.5)).any())  # PPO never saw a step the EQL played


def test_training_games_are_counted_under_the_actor_that_played_them():
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from nsrl_ray.rl_modules.insight import EQL_ACTED
    from nsrl_ray.rl_modules.insight_algo import EQL_GAME_RETURN, NEURAL_GAME_RETURN, ActorGameReturns

    def game(eql: float, raw_return: float | None) -> SingleAgentEpisode:
        episode = SingleAgentEpisode()
        episode.add_env_reset(observation=0, infos={})
        for t in range(3):
            last = t == 2
            info = {"raw_episode_return": raw_return} if last and raw_return is not None else {}
            episode.add_env_step(observation=0, action=0, reward=1.0, infos=info, terminated=last,
                                 extra_model_outputs={EQL_ACTED: eql})
        return episode

    logger = MetricsLogger()
    callback = ActorGameReturns()
    for eql, raw in ((1.0, -21.0), (1.0, 19.0), (0.0, 20.0), (0.0, None)):  # the last: a life lost, not a game
        callback.on_episode_end(episode=game(eql, raw), metrics_logger=logger, env_index=0)
    assert logger.peek(EQL_GAME_RETURN) == -1.0  # (-21 + 19) / 2
    assert logger.peek(NEURAL_GAME_RETURN) == 20.0
