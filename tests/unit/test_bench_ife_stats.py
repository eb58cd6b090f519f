"""bench_ife's "better than random" figures: the gap, its Welch interval and the one-sided p-value."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ife", REPO / "scripts" / "bench_ife.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_clear_gain_has_a_small_p_and_an_interval_above_zero():
    rng = np.random.default_rng(0)
    random = list(rng.normal(1.0, 4.0, 20))
    result = _bench().better_than_random(list(rng.normal(12.0, 4.0, 20)), random)
    assert result["p_better"] < 1e-6 and result["gap_ci95"][0] > 5.0
    assert result["gap_ci95"][0] < result["gap"] < result["gap_ci95"][1]


def test_play_like_random_is_not_called_better():
    rng = np.random.default_rng(1)
    result = _bench().better_than_random(list(rng.normal(1.0, 4.0, 20)), list(rng.normal(1.0, 4.0, 20)))
    assert result["p_better"] > 0.05 and result["gap_ci95"][0] < 0.0 < result["gap_ci95"][1]


def test_a_single_game_gives_the_gap_only():
    assert _bench().better_than_random([3.0], [1.0]) == {"gap": 2.0}
