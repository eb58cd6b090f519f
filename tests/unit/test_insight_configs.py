"""The nine INSIGHT experiment files validate with INSIGHT's PPO settings, their smoke budget, and bad input is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsrl_ray.config import ConfigError
from nsrl_ray.config.experiment_file import load_experiment, parse_experiment
from nsrl_ray.config.schema import InsightSettings, PerceiveSettings

REPO = Path(__file__).resolve().parents[2]
GAMES = ("Pong", "BeamRider", "Enduro", "Qbert", "SpaceInvaders", "Seaquest", "Breakout", "Freeway", "MsPacman")


@pytest.mark.parametrize("game", GAMES)
def test_each_game_has_an_experiment_with_insights_ppo_settings(game: str) -> None:
    config = load_experiment(REPO / "tune_configs" / f"insight_{game.lower()}.yaml")
    assert config.env == f"{game}Pixels-v0"
    assert config.stages.enabled() == ("teacher", "perceive", "symbolic", "evaluate", "report")
    insight = config.stages.symbolic
    assert isinstance(insight, InsightSettings) and isinstance(config.stages.perceive, PerceiveSettings)
    assert insight.max_iterations * insight.train_batch_size >= 10_000_000
    assert (insight.train_batch_size, insight.train_batch_size // insight.minibatch_size, insight.num_epochs) == (1024, 4, 4)
    assert (insight.lr, insight.clip_param, insight.entropy_coeff, insight.vf_loss_coeff, insight.grad_clip) == (2.5e-4, 0.1, 0.01, 0.5, 0.5)
    assert (insight.gamma, insight.gae_lambda, insight.eql_inverse_temperature, insight.cnn_loss_weight) == (0.99, 0.95, 10.0, 2.0)
    assert insight.lr_anneal and insight.reg_weight == 1e-3 and not insight.use_eql_actor
    assert not insight.use_kl_loss  # INSIGHT's PPO is CleanRL's: the clipped surrogate, no KL penalty
    assert config.resources.gpus_per_trial == 1


def test_smoke_budget_is_tiny_and_keeps_the_stages() -> None:
    config = load_experiment(REPO / "tune_configs" / "insight_pong.yaml", smoke=True)
    assert config.stages.enabled() == ("teacher", "perceive", "symbolic", "evaluate", "report")
    assert config.stages.symbolic.max_iterations == 2 and config.stages.symbolic.num_env_runners == 0
    assert config.stages.perceive.frames <= 400 and config.stages.perceive.hidden <= 128


def _insight(env: str = "PongPixels-v0", **symbolic) -> dict:
    return {"name": "x", "env": env, "stages": {"perceive": {"policy": "random"},
                                                 "symbolic": {"learner": "insight", **symbolic}}}


def test_insight_needs_pixel_atari_of_an_insight_game() -> None:
    parse_experiment(_insight())
    with pytest.raises(ConfigError, match="PongPixels-v0"):
        parse_experiment(_insight("CartPole-v1"))


def test_insight_needs_the_perceive_stage_and_perceive_with_a_teacher_needs_the_teacher() -> None:
    data = _insight()
    del data["stages"]["perceive"]
    with pytest.raises(ConfigError, match="perceive"):
        parse_experiment(data)
    data = _insight()
    data["stages"]["perceive"] = {"policy": "teacher"}
    with pytest.raises(ConfigError, match="teacher"):
        parse_experiment(data)


def test_unknown_eql_unit_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="square"):
        parse_experiment(_insight(eql_units=["x", "sqaure"]))


def test_bad_weights_are_refused() -> None:
    with pytest.raises(ConfigError, match="distillation_loss_weight"):
        parse_experiment(_insight(distillation_loss_weight=-1))
    with pytest.raises(ConfigError, match="minibatch_size"):
        parse_experiment(_insight(train_batch_size=64, minibatch_size=128))


def test_bench_budgets_are_valid_pong_experiments() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_insight", REPO / "scripts" / "bench_insight.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for budget, (smoke, overrides) in bench.BUDGETS.items():
        config = load_experiment(REPO / "tune_configs" / "insight_pong.yaml", overrides, smoke=smoke)
        assert config.stages.symbolic.eval_episodes in (2, 10), budget
    assert load_experiment(REPO / "tune_configs" / "insight_pong.yaml", bench.BUDGETS["2h"][1]).stages.symbolic.eval_episodes == 10


def test_the_rllib_config_carries_the_kl_choice() -> None:
    from nsrl_ray.rl_modules.insight_algo import insight_ppo_config

    for use_kl_loss in (False, True):
        settings = InsightSettings(use_kl_loss=use_kl_loss)
        assert insight_ppo_config("PongPixels-v0", settings, {}, {}, seed=0).use_kl_loss is use_kl_loss


def test_eql_lr_is_a_positive_rate_or_null_for_ppos() -> None:
    assert parse_experiment(_insight()).stages.symbolic.eql_lr is None
    assert parse_experiment(_insight(eql_lr=0.01)).stages.symbolic.eql_lr == 0.01
    for bad in (0, -1e-3):
        with pytest.raises(ConfigError, match="eql_lr"):
            parse_experiment(_insight(eql_lr=bad))
    with pytest.raises(ConfigError, match="eql_lr"):
        parse_experiment(_insight(eql_lr="fast"))


def test_eql_acting_envs_leave_the_neural_actor_envs_and_need_the_neural_actor_acting() -> None:
    settings = parse_experiment(_insight(eql_acting_envs=2, num_envs_per_env_runner=4)).stages.symbolic
    assert (settings.eql_acting_envs, settings.eql_acting_from) == (2, 0.25)
    with pytest.raises(ConfigError, match="num_envs_per_env_runner"):
        parse_experiment(_insight(eql_acting_envs=4, num_envs_per_env_runner=4))
    with pytest.raises(ConfigError, match="use_eql_actor"):
        parse_experiment(_insight(eql_acting_envs=1, num_envs_per_env_runner=2, use_eql_actor=True))
    with pytest.raises(ConfigError, match="eql_acting_from"):
        parse_experiment(_insight(eql_acting_envs=1, num_envs_per_env_runner=2, eql_acting_from=1.5))
