"""What a stage receives: the config, the trial's seed and folder, and the one reporting path."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsrl_ray.config import ExperimentConfig

# File and folder names inside a trial's artifact folder: the hand-off between stages.
TEACHER_MODULE = "teacher_module"
TEACHER_ALGO = "teacher_algo"  # the whole PPO state while training runs, for resume and PBT
DATASET = "dataset"
FORMULAS = "formulas.json"
EVALUATION = "evaluation.json"
EXPLANATION_JSON = "explanation.json"
EXPLANATION_MD = "explanation.md"
POLICY_JSON = "policy.json"
POLICY_MD = "policy.md"
STAGE_RESULTS = "stage_results.json"

# (stage, metrics, position to save in a checkpoint or None) -> None
Reporter = Callable[[str, Mapping[str, Any], "dict[str, Any] | None"], None]


@dataclass
class StageContext:
    """Shared by the stages of one trial."""

    config: ExperimentConfig
    seed: int
    artifacts: Path
    reporter: Reporter
    resume: dict[str, Any] = field(default_factory=dict)
    """Where the running stage stood at the checkpoint this trial was restored from (empty: fresh start)."""

    def report(self, stage: str, metrics: Mapping[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        """Send `group/metric` values (group = stage unless the key has its own) to Tune.

        With ``checkpoint`` (the stage's position, e.g. its iteration), the artifact folder is
        checkpointed with the report, so a resumed or PBT-exploited trial continues from here.
        """
        named = {key if "/" in key else f"{stage}/{key}": value for key, value in metrics.items()}
        self.reporter(stage, named, checkpoint)

    def resume_position(self, stage: str) -> dict[str, Any] | None:
        """The saved position of ``stage`` when the trial was restored in the middle of it."""
        return self.resume if self.resume.get("stage") == stage else None

    def path(self, name: str) -> Path:
        return self.artifacts / name

    def read_json(self, name: str) -> Any:
        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the stage that writes it has not run in this trial")
        return json.loads(path.read_text())

    def write_json(self, name: str, data: Any) -> Path:
        return write_json_atomic(self.path(name), data)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and rename, so a crash never leaves half a file over a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
