"""Constants as a vector, the cross-entropy search over them, and the `constants_cem` finetune stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nsrl_ray.config import ConfigError, parse_experiment
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard, card_from_dict
from nsrl_ray.pipeline.context import FORMULAS, StageContext
from nsrl_ray.pipeline.stages.finetune import run_finetune
from nsrl_ray.search.constants_cem import cem_constants
from nsrl_ray.symbolic import parse_expression, to_text
from nsrl_ray.symbolic.constants import constants_of, drop_unit_gains, with_constants, with_variable_gains


def test_constants_round_trip_in_depth_first_order():
    expr = parse_expression("2.5 * x + tanh(-0.5 * y) - 3.0", variables=("x", "y"))
    assert constants_of(expr) == [2.5, -0.5, 3.0]
    moved = with_constants(expr, [1.0, 2.0, 4.0])
    assert to_text(moved) == to_text(parse_expression("1.0 * x + tanh(2.0 * y) - 4.0", variables=("x", "y")))
    assert with_constants(expr, constants_of(expr)) == expr
    with pytest.raises(ValueError, match="2 values for 3 constants"):
        with_constants(expr, [1.0, 2.0])
    with pytest.raises(ValueError, match="4 values for 3 constants"):
        with_constants(expr, [1.0, 2.0, 3.0, 4.0])


def test_variable_gains_wrap_each_variable_and_unit_gains_unwrap():
    expr = parse_expression("tanh(x) - 2.0 * y", variables=("x", "y"))
    gained = with_variable_gains(expr)
    assert constants_of(gained) == [1.0, 2.0, 1.0]
    assert to_text(gained) == to_text(parse_expression("tanh(1.0 * x) - 2.0 * (1.0 * y)", variables=("x", "y")))
    assert drop_unit_gains(gained) == expr
    moved = drop_unit_gains(with_constants(gained, [0.5, 2.0, 1.0]))
    assert to_text(moved) == to_text(parse_expression("tanh(0.5 * x) - 2.0 * y", variables=("x", "y")))


def test_cem_finds_constants_on_their_own_scales_and_is_seeded():
    target = np.array([0.002, 3.0, -40.0])

    def score(vectors):
        return [-float(np.sum(((v - target) / np.abs(target)) ** 2)) for v in vectors]

    start = [0.001, 2.0, -50.0]
    first = cem_constants(start, score, rng=np.random.default_rng(0), iterations=30, population=24)
    second = cem_constants(start, score, rng=np.random.default_rng(0), iterations=30, population=24)
    np.testing.assert_allclose(first.best, target, rtol=0.05)
    assert np.array_equal(first.best, second.best) and first.evaluations == 1 + 30 * 24
    assert first.best_fitness >= first.start_fitness
    assert [row["iteration"] for row in first.history] == list(range(1, 31))


def test_cem_keeps_the_start_when_nothing_beats_it():
    result = cem_constants([1.0], lambda vs: [-abs(v[0] - 1.0) for v in vs], rng=np.random.default_rng(1),
                           iterations=3, population=4)
    assert result.best.tolist() == [1.0] and result.best_fitness == 0.0


def _config(env: str = "MountainCar-v0", **finetune):
    settings = {"method": "constants_cem", "iterations": 6, "population": 12, "episodes": 8, "num_actors": 0,
                "validation_episodes": 10, "validate_every": 3, "sigma": 0.5, "min_scale": 0.05, **finetune}
    return parse_experiment({"name": "cem", "env": env,
                             "stages": {"symbolic": {"learner": "gp_search"}, "finetune": settings}})


def _lucky_first_draw_score():
    """Fitness -|x - 3| with fresh draws per call; the start (x = 0) draws +10 on the first call only."""
    calls = []

    def score(vectors):
        calls.append(1)
        return [-abs(float(v[0]) - 3.0) + (10.0 if len(calls) == 1 and float(v[0]) == 0.0 else 0.0) for v in vectors]

    return score


@pytest.mark.parametrize("rescore_best", [False, True])
def test_rescoring_the_best_stops_one_lucky_draw_from_winning(rescore_best):
    result = cem_constants([0.0], _lucky_first_draw_score(), rng=np.random.default_rng(0), iterations=12,
                           population=16, initial_std=[2.0], rescore_best=rescore_best)
    if rescore_best:
        assert abs(result.best[0] - 3.0) < 0.5  # the start's mean score fell below what the search found
        assert result.evaluations == 1 + 12 * 17  # the incumbent is scored again with every population
    else:
        assert result.best[0] == 0.0  # kept on its one lucky draw of 7


def test_cem_stops_at_the_target():
    score = lambda vectors: [-abs(float(v[0]) - 3.0) for v in vectors]
    result = cem_constants([0.0], score, rng=np.random.default_rng(0), iterations=50, population=16,
                           initial_std=[2.0], target=-0.5)
    assert result.best_fitness >= -0.5 and len(result.history) < 50


def test_stage_tunes_a_mountaincar_switching_curve(tmp_path):
    spec = get_env_spec("MountainCar-v0")
    names = spec.feature_names
    # Push right when the velocity is above a curve in the position; the constants start at zero, where the
    # policy is plain "push along the velocity", and a tuned curve reaches the flag > 5 steps sooner on average.
    right = "car_velocity + 0.0 * car_position * car_position + 0.0 * car_position * car_position * car_position + 0.0"
    card = PolicyCard(env="MountainCar-v0", learner="gp_search", variables=names, action_names=spec.action_names,
                      formulas=(parse_expression("0.0", variables=names), parse_expression("-1.0", variables=names),
                                parse_expression(right, variables=names)),
                      action_kind="discrete")
    (tmp_path / FORMULAS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / FORMULAS).write_text(json.dumps(card.to_dict()))
    rows: list = []
    ctx = StageContext(config=_config(), seed=0, artifacts=tmp_path, reporter=lambda s, m, p=None: rows.append(m),
                       resume={})
    summary = run_finetune(ctx)
    tuned = card_from_dict(json.loads((tmp_path / FORMULAS).read_text()))
    assert summary["accepted"] == 1.0
    assert summary["return_after"] >= summary["return_before"] + 5, summary
    assert tuned.metrics["finetune/return_after"] == summary["return_after"]
    assert tuned.provenance["finetune"]["method"] == "constants_cem"
    assert constants_of(tuned.formulas[2]) != constants_of(card.formulas[2])
    assert [m["finetune/iteration"] for m in rows if "finetune/best_fitness" in m] == [1, 2, 3, 4, 5, 6]
    assert sum("finetune/validation_return" in m for m in rows) == 2


@pytest.mark.parametrize("variable_gains", [False, True])
def test_variable_gains_give_a_constant_free_formula_something_to_tune(tmp_path, variable_gains):
    spec = get_env_spec("Pendulum-v1")
    names = spec.feature_names
    card = PolicyCard(env="Pendulum-v1", learner="gp_search", variables=names, action_names=spec.action_names,
                      formulas=(parse_expression("-sin_pendulum_angle - pendulum_angular_velocity", variables=names),),
                      action_kind="continuous", action_low=(-2.0,), action_high=(2.0,))
    (tmp_path / FORMULAS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / FORMULAS).write_text(json.dumps(card.to_dict()))
    ctx = StageContext(config=_config("Pendulum-v1", variable_gains=variable_gains), seed=0, artifacts=tmp_path,
                       reporter=lambda s, m, p=None: None, resume={})
    summary = run_finetune(ctx)
    tuned = card_from_dict(json.loads((tmp_path / FORMULAS).read_text()))
    if not variable_gains:  # no constants: nothing moves
        assert summary["constants"] == 0 and summary["accepted"] == 0.0 and tuned.formulas == card.formulas
        return
    assert summary["constants"] == 2 and summary["accepted"] == 1.0
    assert summary["return_after"] >= summary["return_before"] + 50, summary
    gains = constants_of(tuned.formulas[0])
    assert len(gains) == 2 and all(g != 1.0 for g in gains)


def test_bad_cem_settings_are_refused_with_what_to_fix():
    with pytest.raises(ConfigError, match="population"):
        _config(population=1)
    with pytest.raises(ConfigError, match="elite_fraction"):
        _config(elite_fraction=0.0)
    with pytest.raises(ConfigError, match="popultion|population"):
        _config(popultion=8)
