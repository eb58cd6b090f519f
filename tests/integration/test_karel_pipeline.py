"""`nsrl run` on a Karel config: a program search with no teacher, evaluated and written as a program card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_nsrl

pytestmark = pytest.mark.ray


def test_karel_smoke_run_writes_a_program_card(tmp_path: Path) -> None:
    done = run_nsrl(
        "run", "tune_configs/karel_stair_climber.yaml", "--smoke", "--set", "seeds=[1]",
        "--set", "stages.symbolic.max_evaluations=3000", "--storage-path", str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "program return" in done.stdout and "program = DEF run m(" in done.stdout
    (trial,) = (tmp_path / "karel_stair_climber").glob("seed_1_*")
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    assert card["kind"] == "program" and card["task"] == {"name": "stair_climber", "height": 12, "width": 12, "options": {}}
    # Hill climbing from this seed solves STAIRCLIMBER after 1355 evaluations (the same in process and on actors).
    assert card["metrics"]["symbolic/best_return"] == 1.0
    assert card["metrics"]["symbolic/evaluations"] == 1355
    evaluation = json.loads((trial / "artifacts" / "evaluation.json").read_text())
    assert "return_mean_100x100" in evaluation["metrics"] and evaluation["generalisation"]["100x100"]["max_calls"] > 220
    events = list(trial.glob("events.out.tfevents.*"))
    assert events and b"text/best_program" in events[0].read_bytes()
    assert b"search/evaluations_per_s" in events[0].read_bytes()
