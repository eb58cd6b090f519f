"""scripts/bench_scaling.py runs at its smoke budget and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def test_bench_scaling_smoke_prints_every_row():
    result = subprocess.run([sys.executable, "scripts/bench_scaling.py", "--smoke"], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    labels = [row.split("|")[1].strip() for row in rows[1:]]
    assert labels == ["plain loop (no Ray)", "one node", "one node", "two nodes", "two nodes"]
    assert all(float(row.split("|")[3].replace(",", "")) > 0 for row in rows[1:])
