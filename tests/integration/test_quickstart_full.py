"""The quickstart at its real budget learns: the formula plays CartPole as well as the teacher."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_quickstart_formula_solves_cartpole(nsrl, tmp_path):
    result = nsrl("run", "tune_configs/quickstart.yaml", "--storage-path", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (trial,) = list((tmp_path / "quickstart").glob("seed_0_*"))
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    metrics = card["metrics"]
    # A teacher that did not learn, a collector that recorded garbage or a GP that kept a
    # one-variable formula all land far below this (the last plays ~200).
    assert metrics["evaluate/episodes"] == 20
    assert metrics["evaluate/return_mean"] >= 475, metrics
    assert card["complexity"] <= 25, card["actions"]
    assert card["explanation"]["summary"].startswith("The policy chooses push_right")
