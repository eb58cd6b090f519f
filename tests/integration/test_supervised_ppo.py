"""PPO over a formula module with the supervised learner: the KL term is logged, pulls towards the teacher, anneals to 0."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

ray = pytest.importorskip("ray")

from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402
from ray.rllib.utils.metrics import LEARNER_RESULTS  # noqa: E402

from nsrl_ray.learners.supervised_ppo import SUPERVISION_LOSS, SUPERVISION_WEIGHT, SupervisedPPOTorchLearner  # noqa: E402
from nsrl_ray.rl_modules.formula_module import FormulaRLModule, formula_model_config  # noqa: E402
from nsrl_ray.symbolic import Const, parse_expression  # noqa: E402

pytestmark = pytest.mark.ray

CARTPOLE = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")


def test_supervision_pulls_the_constants_towards_the_teacher_and_anneals(ray_session, tmp_path):
    # The teacher: a (randomly initialised) default PPO module of CartPole, saved like the teacher stage saves one.
    env = gym.make("CartPole-v1")
    spec = PPOConfig().environment("CartPole-v1").get_rl_module_spec()
    spec.observation_space, spec.action_space = env.observation_space, env.action_space
    teacher = spec.build()
    # A teacher that strongly prefers push_left, so the formula policy (which pushes both ways) starts far from it.
    head_bias = [p for name, p in teacher.named_parameters() if name.startswith("pi") and name.endswith("bias")][-1]
    with torch.no_grad():
        head_bias.copy_(torch.tensor([4.0, -4.0]))
    teacher.save_to_path(str(tmp_path / "teacher"))
    formulas = (Const(0.0), parse_expression("3.0 * pole_angle + pole_angular_velocity"))
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=0)
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=4, lr=0.05,
                  learner_class=SupervisedPPOTorchLearner,
                  learner_config_dict={"teacher_module": str(tmp_path / "teacher"), "supervision_weight": 50.0,
                                       "supervision_anneal_steps": 1024})
        .rl_module(rl_module_spec=RLModuleSpec(module_class=FormulaRLModule,
                                               model_config=formula_model_config(formulas, CARTPOLE, (16,))))
        .debugging(seed=0, log_level="ERROR")
    )
    algo = config.build_algo()
    try:
        rows = [algo.train()[LEARNER_RESULTS]["default_policy"] for _ in range(5)]
        tuned = algo.get_module().formulas()
    finally:
        algo.stop()
    weights = [row[SUPERVISION_WEIGHT] for row in rows]
    assert weights[0] == pytest.approx(50.0) and weights[-1] == 0.0  # linear anneal over 1024 env steps
    assert weights == sorted(weights, reverse=True)
    kls = [row[SUPERVISION_LOSS] for row in rows if SUPERVISION_LOSS in row]
    assert len(kls) >= 2 and kls[3] < 0.5 * kls[0]  # the heavily weighted KL is being minimised
    assert tuned != formulas and tuned[1].op == formulas[1].op  # same tree, new constants
    assert tuned[0].value > 0.0  # push_left's logit went up, towards the teacher
