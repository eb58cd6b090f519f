"""Seeds derived from the trial seed: stable, distinct per stream and trial, refusing unknown streams."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed

STREAMS = ("teacher", "collect", "symbolic", "evaluate", "explain")


def test_stage_seed_is_stable_within_a_process() -> None:
    for stream in STREAMS:
        assert stage_seed(7, stream) == stage_seed(7, stream)


def test_stage_seed_is_stable_across_processes() -> None:
    """No dependence on hash randomisation or global RNG state: a fresh interpreter agrees."""
    code = (
        "from nsrl_ray.pipeline.seeding import stage_seed, episode_seeds\n"
        f"print([stage_seed(3, s) for s in {STREAMS!r}], episode_seeds(3, 'evaluate', 5))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": "123"}
    )
    assert result.returncode == 0, result.stderr
    expected = f"{[stage_seed(3, s) for s in STREAMS]} {episode_seeds(3, 'evaluate', 5)}"
    assert result.stdout.strip() == expected


def test_stage_seed_is_a_31_bit_int() -> None:
    for trial_seed in (0, 1, 2**31 - 1, 2**40):
        for stream in STREAMS:
            seed = stage_seed(trial_seed, stream)
            assert type(seed) is int
            assert 0 <= seed < 2**31 - 1


def test_stage_seeds_differ_across_streams() -> None:
    for trial_seed in range(20):
        seeds = [stage_seed(trial_seed, stream) for stream in STREAMS]
        assert len(set(seeds)) == len(STREAMS), (trial_seed, seeds)


def test_stage_seeds_differ_across_trial_seeds() -> None:
    for stream in STREAMS:
        seeds = [stage_seed(trial_seed, stream) for trial_seed in range(200)]
        assert len(set(seeds)) == 200


def test_stage_seed_is_not_the_trial_seed_plus_an_offset() -> None:
    # Neighbouring trials must not share seeds across streams (trial 0's collect = trial 1's teacher, ...).
    all_seeds = [stage_seed(t, s) for t in range(50) for s in STREAMS]
    assert len(set(all_seeds)) == len(all_seeds)


def test_unknown_stream_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown seed stream 'techer'; expected one of \('teacher', 'collect'"):
        stage_seed(0, "techer")
    with pytest.raises(ValueError, match=r"unknown seed stream 'report'"):
        episode_seeds(0, "report", 3)


def test_episode_seeds_are_stable_and_distinct() -> None:
    seeds = episode_seeds(5, "evaluate", 100)
    assert seeds == episode_seeds(5, "evaluate", 100)
    assert len(seeds) == 100
    assert len(set(seeds)) == 100
    assert all(type(s) is int and 0 <= s < 2**31 - 1 for s in seeds)


def test_episode_seeds_differ_across_streams_and_trial_seeds() -> None:
    evaluate = episode_seeds(0, "evaluate", 20)
    collect = episode_seeds(0, "collect", 20)
    other_trial = episode_seeds(1, "evaluate", 20)
    # Evaluation must never replay the training episodes, and trials must not share episodes.
    assert not set(evaluate) & set(collect)
    assert not set(evaluate) & set(other_trial)


def test_episode_seeds_do_not_depend_on_global_random_state() -> None:
    import random

    import numpy as np

    before = episode_seeds(2, "collect", 10)
    np.random.seed(999)
    random.seed(999)
    assert episode_seeds(2, "collect", 10) == before


def test_zero_episode_seeds_is_an_empty_list() -> None:
    assert episode_seeds(0, "collect", 0) == []
