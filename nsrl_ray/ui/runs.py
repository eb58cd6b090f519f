"""Read experiment folders written by `nsrl run` for the explorer, tolerating half-written ones.

A run is an experiment folder (`nsrl_results/quickstart`, holding `seed_*` trial folders), a single
trial folder, or a folder holding a policy card directly (`artifacts/`, `best/`). Nothing here
raises on a bad trial: each trial carries its own problem in words, so the page can show it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsrl_ray.explain.policy_card import CARD_FILE, PolicyCard, PolicyCardError
from nsrl_ray.explain.program_card import ProgramCard, read_any_card

ARTIFACTS = "artifacts"  # the same name as nsrl_ray.pipeline.trial.ARTIFACTS (importing it would import Ray)
STAGE_RESULTS = "stage_results.json"
EVALUATION = "evaluation.json"
EXPLANATION_MD = "explanation.md"
EXPLANATION_JSON = "explanation.json"
LLM_EXPLANATION_MD = "explanation_llm.md"
LLM_EXPLANATION_JSON = "explanation_llm.json"
KAN_DIAGRAM = "kan_diagram.png"
VIDEO_SUFFIXES = (".gif", ".mp4", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")
_SEED = re.compile(r"seed_(\d+)")


class RunLoadError(ValueError):
    """A folder is not a run the explorer can show (missing, empty, or not written by `nsrl run`)."""


@dataclass(frozen=True)
class TrialView:
    """One trial as the explorer shows it: its card when it could be read, otherwise why not."""

    name: str
    path: Path
    artifacts: Path
    seed: int | None = None
    card: PolicyCard | ProgramCard | None = None
    problem: str | None = None
    """Why this trial has no usable card (half-written, corrupt), in words; None when it has one."""
    notes: tuple[str, ...] = ()
    """Smaller problems (a corrupt evaluation file) that do not stop the card from being shown."""
    stage_results: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.card is not None:
            return "ok"
        return "incomplete" if self.problem and self.problem.startswith("no policy card yet") else "error"

    @property
    def card_path(self) -> Path:
        return self.artifacts / CARD_FILE

    @property
    def label(self) -> str:
        seed = f"seed {self.seed}, " if self.seed is not None else ""
        return f"{self.name} ({seed}{self.status})"

    @property
    def metrics(self) -> dict[str, Any]:
        """The evaluation's metrics, else the card's `evaluate/*` metrics without their prefix."""
        if self.evaluation.get("metrics"):
            return dict(self.evaluation["metrics"])
        card_metrics = self.card.metrics if self.card is not None else {}
        return {k.split("/", 1)[1]: v for k, v in card_metrics.items() if k.startswith("evaluate/")}

    def videos(self) -> list[Path]:
        """Rollout videos beside the card (video_teacher.gif, video_symbolic.gif, overlays), teacher first."""
        found = [p for p in sorted(self.artifacts.glob("*")) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        return sorted(found, key=lambda p: (0 if "teacher" in p.stem else 1, p.name))

    def diagrams(self) -> list[Path]:
        """KAN or EQL diagrams and other images beside the card."""
        return [p for p in sorted(self.artifacts.glob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


@dataclass(frozen=True)
class RunView:
    """One experiment folder: its trials, leaderboard and settings."""

    name: str
    path: Path
    trials: tuple[TrialView, ...]
    leaderboard_md: str | None = None
    experiment_yaml: str | None = None

    def trial(self, name: str) -> TrialView:
        for trial in self.trials:
            if trial.name == name:
                return trial
        raise RunLoadError(f"{self.path}: no trial {name!r}; trials are {[t.name for t in self.trials]}.")

    @property
    def problems(self) -> list[str]:
        return [f"{t.name}: {t.problem}" for t in self.trials if t.problem]


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(data, None), or ({}, why) when the file is missing or corrupt."""
    if not path.is_file():
        return {}, None
    try:
        return json.loads(path.read_text()), None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        return {}, f"{path.name} is not valid JSON ({error}); the file is corrupt or half-written."


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text() if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def _seed_of(path: Path, params: dict[str, Any]) -> int | None:
    seed = params.get("seed") if isinstance(params, dict) else None
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    match = _SEED.match(path.name)
    return int(match.group(1)) if match else None


def load_trial(path: str | Path, artifacts: str | Path | None = None) -> TrialView:
    """Read one trial folder (or a folder holding policy.json when ``artifacts`` is that folder)."""
    path = Path(path)
    artifacts = Path(artifacts) if artifacts is not None else path / ARTIFACTS
    params, _ = _read_json(path / "params.json")
    params = params if isinstance(params, dict) else {}
    notes: list[str] = []
    stage_results, why = _read_json(artifacts / STAGE_RESULTS)
    if why:
        notes.append(why)
    evaluation, why = _read_json(artifacts / EVALUATION)
    if why:
        notes.append(why)
    stage_results = stage_results if isinstance(stage_results, dict) else {}
    evaluation = evaluation if isinstance(evaluation, dict) else {}
    card, problem = None, None
    if not (artifacts / CARD_FILE).is_file():
        done = ", ".join(stage_results) or "none"
        problem = (f"no policy card yet at {artifacts / CARD_FILE} (stages finished: {done}); "
                   "the run is still going, was interrupted (`nsrl run FILE --resume` continues it) or failed.")
    else:
        try:
            card = read_any_card(artifacts / CARD_FILE)
        except PolicyCardError as error:
            problem = f"its policy card cannot be read: {error}"
        except (OSError, ValueError, TypeError) as error:  # anything else a damaged file can raise
            problem = f"its policy card cannot be read: {type(error).__name__}: {error}"
    return TrialView(
        name=path.name, path=path, artifacts=artifacts, seed=_seed_of(path, params), card=card, problem=problem,
        notes=tuple(notes), stage_results=stage_results, evaluation=evaluation,
        params=dict(params.get("space") or {}) if isinstance(params.get("space"), dict) else {},
    )


def _is_trial(path: Path) -> bool:
    return (path / ARTIFACTS).is_dir() or (path / "params.json").is_file()


def _trial_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and _is_trial(p))


def is_run_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and ((path / CARD_FILE).is_file() or _is_trial(path) or bool(_trial_dirs(path)))


def load_run(path: str | Path) -> RunView:
    """Read an experiment folder, a trial folder or a folder with a policy card; RunLoadError when it is none."""
    path = Path(path).expanduser()
    if not path.exists():
        raise RunLoadError(f"{path}: no such folder; expected an experiment folder written by `nsrl run`, "
                           "e.g. nsrl_results/quickstart.")
    if not path.is_dir():
        raise RunLoadError(f"{path}: is a file; give the experiment folder that holds it "
                           "(e.g. nsrl_results/quickstart), not a file.")
    path = path.resolve()
    try:
        if (path / CARD_FILE).is_file() and not _is_trial(path):  # artifacts/ or best/
            trial_path = path.parent if path.name == ARTIFACTS else path
            return RunView(path.name if path.name != ARTIFACTS else path.parent.name, path,
                           (load_trial(trial_path, artifacts=path),))
        if _is_trial(path):
            return RunView(path.name, path, (load_trial(path),))
        trials = tuple(load_trial(p) for p in _trial_dirs(path))
    except PermissionError as error:
        raise RunLoadError(f"{path}: cannot be read ({error}).") from None
    if not trials:
        raise RunLoadError(
            f"{path}: no trials found. Expected an experiment folder written by `nsrl run` (e.g. nsrl_results/quickstart) "
            f"holding seed_* trial folders with an artifacts/ folder, a trial folder, or a folder holding {CARD_FILE}."
        )
    return RunView(path.name, path, trials, _read_text(path / "leaderboard.md"), _read_text(path / "experiment.yaml"))


def expand_run_dirs(paths: list[str | Path]) -> list[Path]:
    """The run folders named by ``paths``: a results folder (nsrl_results) stands for every experiment in it.

    A path that is neither a run nor holds runs is kept as it is, so the page can say what is wrong with it.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir() and not is_run_dir(path):
            inner = sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))
            if inner:
                found.extend(p.resolve() for p in inner)
                continue
        found.append(path.resolve() if path.exists() else path)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        return None
    return float(value)


def _policy_text(trial: TrialView) -> str:
    card = trial.card
    if card is None:
        return ""
    if isinstance(card, ProgramCard):
        from nsrl_ray.symbolic.karel.program import to_text

        return to_text(card.program)
    from nsrl_ray.symbolic.text import to_display_text

    return "; ".join(f"{name} = {to_display_text(f)}" for name, f in zip(card.action_names, card.formulas))


LEADERBOARD_COLUMNS = ("rank", "trial", "seed", "status", "return", "teacher return", "agreement", "complexity", "policy")


def leaderboard_rows(run: RunView) -> list[list[Any]]:
    """One row per trial, best evaluation return first; trials without a card last."""

    def key(trial: TrialView) -> tuple[int, float, str]:
        value = _num(trial.metrics.get("return_mean"))
        return (0 if trial.card is not None and value is not None else 1 if trial.card is not None else 2,
                -(value or 0.0), trial.name)

    rows = []
    for rank, trial in enumerate(sorted(run.trials, key=key), start=1):
        metrics = trial.metrics
        complexity = trial.card.complexity if trial.card is not None else None

        def fmt(name: str, digits: str = ".4g") -> str:
            value = _num(metrics.get(name))
            return "" if value is None else format(value, digits)

        agreement = _num(metrics.get("agreement"))
        rows.append([
            rank, trial.name, "" if trial.seed is None else trial.seed, trial.status, fmt("return_mean"),
            fmt("teacher_return_mean"), "" if agreement is None else f"{agreement:.1%}",
            "" if complexity is None else complexity, _policy_text(trial) or (trial.problem or "")[:120],
        ])
    return rows
