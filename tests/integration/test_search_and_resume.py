"""A PBT search from a file names its best trial; an interrupted run resumes without redoing finished stages."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]


def test_pbt_search_writes_a_leaderboard_naming_the_best_trial(nsrl, tmp_path):
    result = nsrl(
        "tune", "tune_configs/cartpole_pbt.yaml", "--storage-path", str(tmp_path),
        "--set", "stages.teacher.max_iterations=4", "--set", "stages.teacher.train_batch_size=400",
        "--set", "stages.teacher.minibatch_size=64", "--set", "search.num_samples=2",
        "--set", "search.perturbation_interval=2",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    board = (tmp_path / "cartpole_pbt" / "leaderboard.md").read_text()
    rows = [line for line in board.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 2
    values = [float(row.split("|")[5]) for row in rows]
    assert values == sorted(values, reverse=True), board
    best_name = rows[0].split("|")[2].strip()
    assert f"best trial: {best_name}" in result.stdout
    # Each trial checkpointed inside the teacher at PBT's interval.
    assert list((tmp_path / "cartpole_pbt").glob("seed_0_*/checkpoint_*"))


def test_interrupted_run_resumes_from_the_last_completed_stage(nsrl, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "nsrl_ray.cli.main", "run", "tune_configs/quickstart.yaml", "--smoke",
               "--storage-path", str(tmp_path)]
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    interrupted = False
    for line in first.stdout:
        lines.append(line)
        if "] symbolic" in line and not interrupted:  # collect's checkpoint is in before the next stage reports
            first.send_signal(signal.SIGINT)  # once: a second SIGINT makes Tune stop without saving
            interrupted = True
    assert first.wait(timeout=300) == 1, "".join(lines)[-3000:]
    assert any("INTERRUPTED" in line for line in lines), "".join(lines)[-3000:]
    (trial,) = list((tmp_path / "quickstart").glob("seed_0_*"))
    shard = trial / "artifacts" / "dataset" / "shard_0000.npz"
    module = trial / "artifacts" / "teacher_module"
    # Contents, not mtimes: Tune itself re-copies trial files when a trial stops.
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    stamps = {path: digest(path) for path in [shard, *module.rglob("*")] if path.is_file()}

    second = nsrl("run", "tune_configs/quickstart.yaml", "--smoke", "--storage-path", str(tmp_path), "--resume")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "] teacher  iteration" not in second.stdout and "] collect  " not in second.stdout
    assert "] evaluate" in second.stdout and "policy card:" in second.stdout
    assert {path: digest(path) for path in stamps} == stamps, "a completed artifact changed"
    assert (trial / "artifacts" / "policy.json").is_file()


def test_resume_without_a_previous_run_is_refused(nsrl, tmp_path):
    result = nsrl("run", "tune_configs/quickstart.yaml", "--smoke", "--storage-path", str(tmp_path), "--resume")
    assert result.returncode == 2
    assert "nothing to resume" in result.stderr
