"""CEM teachers: the searched weights, the evaluator's returns, what a file may ask, and that the search learns."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.config import ConfigError, TeacherSettings, parse_experiment
from nsrl_ray.config.schema import CEMTeacherSettings
from nsrl_ray.pipeline.cem_teacher import ModuleReturnFactory, get_vector, policy_parameters, run_cem_teacher, set_vector
from nsrl_ray.pipeline.context import TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.stages.teacher import build_ppo_config


def _module(env_name: str, settings: TeacherSettings):
    from nsrl_ray.envs import make_env

    env = make_env(env_name)
    try:
        return build_ppo_config(env_name, settings, 0, 1.0).get_rl_module_spec(env=env).build()
    finally:
        env.close()


def test_only_the_policy_weights_are_searched_and_a_vector_round_trips() -> None:
    module = _module("MountainCar-v0", TeacherSettings(hidden_sizes=(16,), vf_share_layers=False))
    names = {id(p) for p in policy_parameters(module)}
    searched = [name for name, p in module.named_parameters() if id(p) in names]
    assert searched and all("critic" not in name and not name.startswith("vf.") for name in searched)
    assert len(searched) < len(list(module.parameters()))  # the value network is left out
    vector = get_vector(module)
    assert vector.size == (2 * 16 + 16) + (16 * 3 + 3)  # actor layer and policy head of a 2 -> 16 -> 3 MLP
    target = np.random.default_rng(0).normal(size=vector.size)
    set_vector(module, target)
    assert np.allclose(get_vector(module), target, atol=1e-6)


def test_the_evaluator_scores_a_candidate_as_the_teacher_plays_it(tmp_path) -> None:
    from nsrl_ray.pipeline.episodes import play_episodes
    from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

    settings = TeacherSettings(hidden_sizes=(8,), scale_observations=True, vf_share_layers=False)
    module = _module("MountainCar-v0", settings)
    module.save_to_path(str(tmp_path / "start"))
    evaluator = ModuleReturnFactory("MountainCar-v0", str(tmp_path / "start"), "discrete")()
    rng = np.random.default_rng(1)
    candidates = [rng.normal(scale=2.0, size=get_vector(module).size) for _ in range(3)]
    seeds = [5, 6, 7]
    scores = evaluator(candidates, seeds)
    for vector, score in zip(candidates, scores):
        set_vector(module, vector)
        module.save_to_path(str(tmp_path / "candidate"))
        teacher = TeacherPolicy(tmp_path / "candidate", "discrete")  # what collect and evaluate load
        played = play_episodes("MountainCar-v0", seeds, teacher.act)
        assert score == pytest.approx(np.mean([r.episode_return for r in played]))


def test_cem_needs_an_mlp_and_sane_search_settings() -> None:
    with pytest.raises(ConfigError, match="algorithm CEM searches the weights of model mlp, got model 'ife'"):
        TeacherSettings(algorithm="CEM", model="ife")
    with pytest.raises(ConfigError, match="population: got 1, expected at least 2"):
        CEMTeacherSettings(population=1)
    with pytest.raises(ConfigError, match="elite_fraction: got 0.0"):
        CEMTeacherSettings(elite_fraction=0.0)
    data = {"name": "unit", "env": "MountainCarContinuous-v0",
            "stages": {"teacher": {"algorithm": "CEM", "cem": {"population": 8, "sigma": 0.3}}}}
    teacher = parse_experiment(data).stages.teacher
    assert teacher.cem == CEMTeacherSettings(population=8, sigma=0.3)
    with pytest.raises(ConfigError, match=r"stages\.teacher\.cem\.populaton: unknown key 'populaton'\. Did you mean 'population'\?"):
        parse_experiment({**data, "stages": {"teacher": {"algorithm": "CEM", "cem": {"populaton": 8}}}})


def test_the_cem_teacher_learns_to_reach_the_mountaincar_flag(tmp_path) -> None:
    """Every untrained network scores -200 (never at the flag); the search must find one that climbs."""
    from nsrl_ray.pipeline.episodes import play_episodes
    from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

    data = {"name": "unit", "env": "MountainCar-v0", "stages": {"teacher": {
        "algorithm": "CEM", "max_iterations": 15, "stop_return": -100, "hidden_sizes": [16],
        "scale_observations": True, "vf_share_layers": False, "num_env_runners": 0,
        "cem": {"population": 32, "episodes": 10, "elite_fraction": 0.125}}}}
    config = parse_experiment(data)
    reports: list[dict] = []
    ctx = StageContext(config=config, seed=0, artifacts=tmp_path, reporter=lambda stage, m, c: reports.append(dict(m)))
    result = run_cem_teacher(ctx)
    assert reports and reports[0]["teacher/iteration"] == 1
    assert result["episodes"] == reports[-1]["teacher/episodes"]
    assert not (tmp_path / "teacher_cem_start").exists()  # the start module is removed once the search ends
    teacher = TeacherPolicy(tmp_path / TEACHER_MODULE, "discrete")
    returns = [r.episode_return for r in play_episodes("MountainCar-v0", range(100, 120), teacher.act)]
    assert np.mean(returns) > -150, (returns, [r["teacher/best_return"] for r in reports])  # never at the flag: -200
