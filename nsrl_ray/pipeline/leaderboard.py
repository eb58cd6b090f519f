"""Rank a search's trials by its metric, write the leaderboard and copy the best policy card to `best/`."""

from __future__ import annotations

import math
import shutil
from typing import TYPE_CHECKING

from nsrl_ray.pipeline.context import POLICY_JSON, POLICY_MD, write_text_atomic

if TYPE_CHECKING:
    from nsrl_ray.pipeline.runner import ExperimentSummary, TrialSummary


def _value(trial: "TrialSummary", metric: str) -> float:
    value = trial.metrics.get(metric)
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else math.nan


def rank_trials(summary: "ExperimentSummary", metric: str, mode: str) -> list["TrialSummary"]:
    """Trials best first; failed trials and trials without the metric last."""
    sign = -1.0 if mode == "max" else 1.0

    def key(trial: "TrialSummary") -> tuple[int, float]:
        value = _value(trial, metric)
        missing = trial.error is not None or math.isnan(value)
        return (1 if missing else 0, 0.0 if missing else sign * value)

    return sorted(summary.trials, key=key)


def write_leaderboard(summary: "ExperimentSummary", metric: str, mode: str) -> "TrialSummary | None":
    """Write `leaderboard.md` in the experiment folder and copy the best trial's card to `best/`."""
    ranked = rank_trials(summary, metric, mode)
    params = sorted({name for trial in ranked for name in trial.params})
    header = ["rank", "trial", "seed", *params, metric, "complexity", "status"]
    lines = [f"# Leaderboard: {summary.name} (by {metric}, {mode})", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for rank, trial in enumerate(ranked, start=1):
        value = _value(trial, metric)
        cells = [str(rank), trial.path.name, str(trial.seed)]
        cells += [f"{trial.params[p]:.4g}" if isinstance(trial.params.get(p), float) else str(trial.params.get(p, "")) for p in params]
        cells += ["" if math.isnan(value) else f"{value:.4g}", str(trial.metrics.get("evaluate/complexity", "")),
                  "failed" if trial.error else "ok"]
        lines.append("| " + " | ".join(cells) + " |")
    write_text_atomic(summary.path / "leaderboard.md", "\n".join(lines) + "\n")
    best = ranked[0] if ranked and not ranked[0].error and not math.isnan(_value(ranked[0], metric)) else None
    if best is not None and (best.artifacts / POLICY_JSON).is_file():
        target = summary.path / "best"
        target.mkdir(exist_ok=True)
        for name in (POLICY_JSON, POLICY_MD):
            if (best.artifacts / name).is_file():
                shutil.copy2(best.artifacts / name, target / name)
        write_text_atomic(target / "TRIAL", f"{best.path}\n")
    return best
