"""Inline search spaces: extracted, checked like written values, translated to Tune."""

from __future__ import annotations

import pytest

from nsrl_ray.config import ConfigError, parse_experiment, to_mapping
from nsrl_ray.config.search_space import SearchDimension, extract_search_space


def _experiment(**teacher: object) -> dict:
    return {"name": "s", "env": "CartPole-v1", "stages": {"teacher": teacher}}


def test_spaces_are_extracted_with_their_paths_and_first_example_in_place():
    plain, dims = extract_search_space(_experiment(lr={"loguniform": [1e-4, 1e-2]}, num_epochs={"grid": [2, 4]}))
    assert {d.path: d.kind for d in dims} == {"stages.teacher.lr": "loguniform", "stages.teacher.num_epochs": "grid"}
    assert plain["stages"]["teacher"] == {"lr": 1e-4, "num_epochs": 2}


def test_config_holds_the_space_and_round_trips():
    config = parse_experiment({**_experiment(lr={"uniform": [1e-4, 1e-3]}), "search": {"num_samples": 3}})
    assert config.search.num_samples == 3
    assert config.search.space == (SearchDimension("stages.teacher.lr", "uniform", (1e-4, 1e-3)),)
    assert parse_experiment(to_mapping(config)) == config


@pytest.mark.parametrize(
    ("teacher", "message"),
    [
        ({"num_epochs": {"grid": [2, -4]}}, r"stages\.teacher\.num_epochs: got -4, expected a number > 0"),
        ({"lr": {"loguniform": [0, 1e-3]}}, r"stages\.teacher\.lr: loguniform needs low > 0"),
        ({"lr": {"uniform": [1e-3, 1e-4]}}, r"low < high"),
        ({"num_epochs": {"randint": [1.5, 3]}}, r"randint takes integer bounds"),
        ({"lr": {"logunifrom": [1e-4, 1e-3]}}, r"unknown search space 'logunifrom'\. Did you mean 'loguniform'\?"),
        ({"lr": {"grid": []}}, r"grid needs at least one value"),
    ],
)
def test_bad_spaces_are_refused_with_the_key_path(teacher, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiment(_experiment(**teacher))


def test_only_stage_settings_can_be_searched_and_pbt_needs_a_sampled_space():
    with pytest.raises(ConfigError, match=r"only stage settings can be searched"):
        parse_experiment({**_experiment(), "seeds": {"grid": [0, 1]}})
    with pytest.raises(ConfigError, match=r"pbt needs at least one sampled space"):
        parse_experiment({**_experiment(num_epochs={"grid": [2, 4]}), "search": {"scheduler": "pbt"}})
    with pytest.raises(ConfigError, match=r"search\.space: write spaces inline"):
        parse_experiment({**_experiment(lr={"grid": [1e-3]}), "search": {"space": []}})


def test_spaces_become_tune_domains_and_pbt_mutates_the_sampled_ones():
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
    from ray.tune.search.sample import Float

    from nsrl_ray.pipeline.tune_search import param_space, scheduler

    config = parse_experiment(
        {**_experiment(lr={"loguniform": [1e-4, 1e-2]}, num_epochs={"grid": [2, 4]}), "seeds": [0, 1],
         "search": {"scheduler": "pbt", "perturbation_interval": 3}}
    )
    space = param_space(config, to_mapping(config))
    assert space["seed"] == tune.grid_search([0, 1])
    assert space["space"]["stages.teacher.num_epochs"] == tune.grid_search([2, 4])
    assert isinstance(space["space"]["stages.teacher.lr"], Float)
    pbt = scheduler(config)
    assert isinstance(pbt, PopulationBasedTraining)
    assert set(pbt._hyperparam_mutations["space"]) == {"stages.teacher.lr"}
    assert pbt._perturbation_interval == 3
    asha = scheduler(config.replace(search=config.search.__class__(space=config.search.space, scheduler="asha")))
    assert isinstance(asha, ASHAScheduler)
