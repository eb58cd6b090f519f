"""Restoring a trial checkpoint leaves matching artifacts untouched and replaces the rest."""

from __future__ import annotations

import os
from pathlib import Path

from nsrl_ray.pipeline.checkpointing import TrialProgress, checkpoint_of, restore_checkpoint


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_restore_keeps_matching_files_replaces_changed_and_drops_later_ones(tmp_path):
    artifacts = tmp_path / "artifacts"
    kept = _write(artifacts / "dataset" / "shard_0000.npz", "data")
    changed = _write(artifacts / "formulas.json", "old")
    progress = TrialProgress(completed=["teacher", "collect"], running={"stage": "symbolic", "generation": 3})
    with checkpoint_of(artifacts, progress) as checkpoint:
        saved = tmp_path / "saved"
        checkpoint.to_directory(str(saved))
    from ray import tune

    stored = tune.Checkpoint.from_directory(str(saved))
    os.utime(kept, (1_000_000, 1_000_000))  # an old mtime reveals any rewrite
    changed.write_text("newer, from work after the checkpoint")
    later = _write(artifacts / "evaluation.json", "written after the checkpoint")

    restored = restore_checkpoint(stored, artifacts)

    assert restored.completed == ["teacher", "collect"]
    assert restored.running == {"stage": "symbolic", "generation": 3}
    assert kept.stat().st_mtime == 1_000_000, "a completed artifact was rewritten"
    assert changed.read_text() == "old"
    assert not later.exists()


def test_restore_into_an_empty_trial_folder(tmp_path):
    source = tmp_path / "a"
    _write(source / "teacher_module" / "module_state.pkl", "weights")
    with checkpoint_of(source, TrialProgress(completed=["teacher"])) as checkpoint:
        progress = restore_checkpoint(checkpoint, tmp_path / "b")
    assert progress.completed == ["teacher"]
    assert (tmp_path / "b" / "teacher_module" / "module_state.pkl").read_text() == "weights"
