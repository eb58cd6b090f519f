"""The IFE experiment file and benchmark script run end to end at their smoke budgets, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_bench_smoke_prints_the_table_for_a_game(tmp_path):
    # Untrained modules, 16 frames, one 30-step game: checks the wiring, not the numbers (no Ray needed).
    done = subprocess.run([sys.executable, "scripts/bench_ife.py", "bench", "--smoke", "--games", "Boxing", "--out", str(tmp_path)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "### Boxing" in done.stdout and "Nature CNN gradient saliency" in done.stdout
    assert "frames/s" in done.stdout
    result = json.loads((tmp_path / "bench_ife.json").read_text())
    scores = result["games"][0]["scores"]["ife_attention"]
    assert scores["frames"] == 16 and 0 < scores["box_area_share"] < 0.1  # two boxers cover a few % of the screen
    assert set(result["fps"]) == {"ife", "ife_small", "nature_cnn"}


@pytest.mark.slow
@pytest.mark.ray
def test_ife_boxing_experiment_smoke_writes_module_and_overlay_video(nsrl, tmp_path):
    done = nsrl("run", "tune_configs/ife_boxing.yaml", "--smoke", "--set", f"storage_path={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    results = list(tmp_path.glob("ife_boxing/seed_0_*/artifacts/stage_results.json"))
    assert results, done.stdout[-2000:]
    teacher = json.loads(results[0].read_text())["teacher"]
    assert teacher["attention_video_steps"] == 20
    artifacts = results[0].parent
    assert (artifacts / "teacher_module").is_dir()
    assert (artifacts / "attention" / "attention_overlay.gif").stat().st_size > 1000
    assert list((artifacts / "attention").glob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.ray
def test_bench_train_smoke_saves_a_module_and_evaluates_it(tmp_path):
    done = subprocess.run([sys.executable, "scripts/bench_ife.py", "train", "--smoke", "--out", str(tmp_path)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["game"] == "Boxing" and len(evaluation["returns"]) == 1 and "random_return_mean" in evaluation
    assert (tmp_path / "module").is_dir() and (tmp_path / "attention" / "attention_overlay.gif").is_file()
    (row,) = json.loads((tmp_path / "progress.json").read_text())
    assert 0.0 < row["entropy"] <= np.log(18) + 1e-3  # Boxing's 18 actions: RLlib's learner stats reached the row
    assert np.isfinite(row["vf_explained_var"]) and row["kl"] >= 0.0
    done = subprocess.run([sys.executable, "scripts/bench_ife.py", "evaluate", "--module", str(tmp_path / "module"),
                           "--episodes", "2", "--out", str(tmp_path / "again")],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "evaluation.json").read_text())
    assert len(again["returns"]) == len(again["random_returns"]) == 2 and {"gap", "p_better"} <= set(again)
