"""scripts/bench_insight.py --smoke prints the throughput table with the object-centric / raw ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_insight_smoke_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_insight.py", "--smoke"],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "| raw ale-py Pong (ALE/Pong-v5, RGB) |" in out and "| object-centric Pong (PongObjects-v0) |" in out
    assert "perception CNN, INSIGHT size" in out and "object-centric / raw ale-py Pong = " in out
    ratio = float(out.rsplit("= ", 1)[1].split()[0])
    assert 0.05 < ratio < 5


def test_bench_insight_refit_table_names_the_run_it_needs(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_insight.py", "--table", "refit", "--run", str(tmp_path)],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "needs --run ARTIFACTS" in done.stderr and str(tmp_path) in done.stderr
