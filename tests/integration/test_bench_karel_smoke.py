"""scripts/bench_karel.py --smoke runs every task with both searches and prints the markdown table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_karel_smoke_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    done = subprocess.run(
        [sys.executable, "scripts/bench_karel.py", "--smoke", "--out", str(out)],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| task |"))
    assert "LEAPS (published)" in header and "hill climbing: held-out return" in header and "CEM: evaluations" in header
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| task")]
    assert [row.split(" | ")[0][2:] for row in rows] == [
        "stair_climber", "four_corner", "top_off", "maze", "clean_house", "harvester",
        "door_key", "one_stroke", "seeder", "snake",
    ]
    assert "| 1.00 | 1.00 |" in rows[0] and "| 0.45 |" in rows[5]  # LEAPS's published STAIRCLIMBER and HARVESTER
    assert len(out.read_text().splitlines()) == 20  # ten tasks x two methods x one seed
    # --resume finds all runs done and only prints the table again.
    again = subprocess.run(
        [sys.executable, "scripts/bench_karel.py", "--smoke", "--out", str(out), "--resume"],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0 and again.stderr == "" and "| stair_climber |" in again.stdout
    tabled = subprocess.run(
        [sys.executable, "scripts/bench_karel.py", "--from-results", str(out), str(out)],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert tabled.returncode == 0 and "(1 seeds)" in tabled.stdout  # a run read twice counts once
