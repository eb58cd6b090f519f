"""The leaderboard ranks trials by the search metric and copies the best card."""

from __future__ import annotations

from pathlib import Path

from nsrl_ray.pipeline.leaderboard import rank_trials, write_leaderboard
from nsrl_ray.pipeline.runner import ExperimentSummary, TrialSummary


def _trial(root: Path, name: str, value: float | None, error: str | None = None) -> TrialSummary:
    path = root / name
    (path / "artifacts").mkdir(parents=True)
    (path / "artifacts" / "policy.json").write_text(f'{{"trial": "{name}"}}')
    metrics = {} if value is None else {"evaluate/return_mean": value}
    return TrialSummary(seed=0, path=path, error=error, params={"stages.teacher.lr": 0.001}, metrics=metrics, finished=True)


def test_best_trial_is_ranked_first_and_its_card_copied(tmp_path):
    trials = [_trial(tmp_path, "a", 120.0), _trial(tmp_path, "b", 480.0), _trial(tmp_path, "c", None),
              _trial(tmp_path, "d", 900.0, error="RuntimeError: boom")]
    summary = ExperimentSummary("exp", tmp_path, trials)
    assert [t.path.name for t in rank_trials(summary, "evaluate/return_mean", "max")] == ["b", "a", "c", "d"]
    assert [t.path.name for t in rank_trials(summary, "evaluate/return_mean", "min")][:2] == ["a", "b"]
    best = write_leaderboard(summary, "evaluate/return_mean", "max")
    assert best is trials[1]
    board = (tmp_path / "leaderboard.md").read_text()
    assert board.index("| 1 | b |") < board.index("| 2 | a |")
    assert "failed" in board and "stages.teacher.lr" in board
    assert (tmp_path / "best" / "policy.json").read_text() == '{"trial": "b"}'


def test_no_best_when_every_trial_failed(tmp_path):
    summary = ExperimentSummary("exp", tmp_path, [_trial(tmp_path, "a", 5.0, error="x")])
    assert write_leaderboard(summary, "evaluate/return_mean", "max") is None
    assert not (tmp_path / "best").exists()
