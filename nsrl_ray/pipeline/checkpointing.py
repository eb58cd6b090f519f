"""Trial checkpoints: the artifact folder plus which stages are done and where a running stage stood.

One mechanism serves `nsrl run --resume` (a stopped experiment continues from the last completed
stage and the last checkpoint inside a running one) and Population Based Training (a trial takes
over another trial's checkpoint).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

PROGRESS_FILE = "progress.json"


@dataclass
class TrialProgress:
    """Stages finished, and the saved position of the stage that was running."""

    completed: list[str] = field(default_factory=list)
    running: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"completed": list(self.completed), "running": dict(self.running)}


@contextmanager
def checkpoint_of(artifacts: Path, progress: TrialProgress) -> Iterator[tune.Checkpoint]:
    """A Tune checkpoint holding a copy of ``artifacts`` and ``progress``; Tune persists it on report."""
    with tempfile.TemporaryDirectory(prefix="nsrl_ckpt_") as tmp:
        target = Path(tmp)
        shutil.copytree(artifacts, target / "artifacts")
        (target / PROGRESS_FILE).write_text(json.dumps(progress.to_dict()))
        yield tune.Checkpoint.from_directory(tmp)


def restore_checkpoint(checkpoint: tune.Checkpoint, artifacts: Path) -> TrialProgress:
    """Make ``artifacts`` match a checkpoint's copy and return its progress.

    A file that already matches is left untouched (a resumed trial never rewrites a completed
    artifact); a differing one is replaced (PBT hands over another trial's state); one that the
    checkpoint lacks was written after it, by work that will be redone, and is removed.
    """
    with checkpoint.as_directory() as folder:
        source = Path(folder) / "artifacts"
        data = json.loads((Path(folder) / PROGRESS_FILE).read_text())
        wanted = {path.relative_to(source) for path in source.rglob("*") if path.is_file()}
        if artifacts.exists():
            for path in sorted(artifacts.rglob("*"), reverse=True):
                if path.is_file() and path.relative_to(artifacts) not in wanted:
                    path.unlink()
        for relative in sorted(wanted):
            target = artifacts / relative
            if target.is_file() and filecmp.cmp(source / relative, target, shallow=False):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, target)
    return TrialProgress(completed=list(data["completed"]), running=dict(data["running"]))
