"""A trial's resource request is fitted to the cluster: scaled down with a message, or refused."""

from __future__ import annotations

import pytest

from nsrl_ray.config import ConfigError, parse_experiment
from nsrl_ray.pipeline.resources import fit_to_cluster, trial_bundles
from nsrl_ray.pipeline.trial import torch_threads


def _config(**resources: object):
    return parse_experiment({
        "name": "r", "env": "CartPole-v1", "resources": resources,
        "stages": {"teacher": {"num_env_runners": 4}, "collect": {"num_actors": 6}, "symbolic": {},
                   "evaluate": {"num_actors": 3}},
    })


def test_bundles_are_the_trial_process_plus_the_busiest_stage():
    bundles = trial_bundles(_config(gpus_per_trial=1))
    assert bundles[0] == {"CPU": 1.0, "GPU": 1.0}
    assert bundles[1:] == [{"CPU": 1.0}] * 6


def test_a_big_request_is_scaled_to_a_small_cluster_and_says_so():
    config, messages = fit_to_cluster(_config(gpus_per_trial=1), cpus=2, gpus=0)
    assert config.resources.gpus_per_trial == 0
    assert config.stages.teacher.num_env_runners == 1
    assert config.stages.collect.num_actors == 1 and config.stages.evaluate.num_actors == 1
    assert any("gpus_per_trial" in m for m in messages)
    assert any(m.startswith("stages.collect.num_actors 6 -> 1") for m in messages)
    assert sum(b["CPU"] for b in trial_bundles(config)) <= 2


def test_a_request_that_fits_is_left_alone():
    config = _config()
    assert fit_to_cluster(config, cpus=16, gpus=1) == (config, [])


def test_refused_when_scaling_is_off_or_impossible():
    with pytest.raises(ConfigError, match="scale_to_cluster"):
        fit_to_cluster(_config(scale_to_cluster=False), cpus=2, gpus=0)
    with pytest.raises(ConfigError, match=r"cpus_per_trial=2 CPUs plus at least one actor"):
        fit_to_cluster(_config(cpus_per_trial=2), cpus=2, gpus=0)


def test_the_trial_process_uses_the_whole_cpus_it_reserved_as_torch_threads():
    assert torch_threads(_config().resources) == 1
    assert torch_threads(_config(cpus_per_trial=0.5).resources) == 1  # a fractional share still gets one
    assert torch_threads(_config(cpus_per_trial=4).resources) == 4
    assert torch_threads(_config(cpus_per_trial=2.5).resources) == 2  # never a thread beyond the reservation
    assert torch_threads(_config(cpus_per_trial=1, learner_threads=2).resources) == 2  # asked for: the update's cores


def test_a_learner_without_threads_is_refused():
    with pytest.raises(ConfigError, match="learner_threads"):
        _config(learner_threads=0)
