"""scripts/bench_karel.py --methods latent: LEAPS's latent CEM in the benchmark table (no Ray: in process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from nsrl_ray.symbolic.karel.embedding.vae import ProgramVAE, VAEArchitecture, save_vae


def test_bench_karel_runs_latent_cem_with_a_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = save_vae(tmp_path / "vae.pt", ProgramVAE(VAEArchitecture(8, 32, 16, 16, 45)))
    out = tmp_path / "runs.jsonl"
    done = subprocess.run(
        [sys.executable, "scripts/bench_karel.py", "--smoke", "--tasks", "top_off", "--methods", "latent",
         "--model", str(model), "--out", str(out)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "latent CEM: search return" in done.stdout and "| top_off | 0.81 |" in done.stdout
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["method"] == "latent" and 0 < row["evaluations"] <= 200 and row["program"].startswith("DEF run m(")
