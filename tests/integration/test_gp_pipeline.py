"""gp_cartpole end to end at a smoke budget through the CLI: teacher, distillation warm start, GP on actors,
constants PPO, evaluation; TensorBoard gets the search metrics and the best formula as text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, nsrl):
    storage = tmp_path_factory.mktemp("results")
    result = nsrl("run", "tune_configs/gp_cartpole.yaml", "--smoke", "--storage-path", str(storage))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (trial,) = list((storage / "gp_cartpole").glob("seed_0_*"))
    return result.stdout, trial, storage


def test_every_stage_runs_and_the_card_records_each_step(smoke_run):
    stdout, trial, _ = smoke_run
    for stage in ("teacher", "collect", "symbolic", "finetune", "evaluate", "explain", "report"):
        assert f"] {stage}" in stdout, f"no progress line for {stage}"
    assert "warm start: distilled formulas return" in stdout and "best_fitness=" in stdout
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    assert card["learner"] == "gp_search"
    for key in ("symbolic/distilled_return_mean", "symbolic/gp_return_mean", "symbolic/env_episodes",
                "finetune/return_before", "finetune/return_after", "evaluate/return_mean"):
        assert key in card["metrics"], key
    assert card["provenance"]["finetune"]["method"] == "constants_ppo"
    assert card["metrics"]["finetune/return_after"] >= card["metrics"]["finetune/return_before"]


def test_tensorboard_has_search_metrics_and_the_formula_text(smoke_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, trial, _ = smoke_run
    accumulator = EventAccumulator(str(trial))
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    for tag in ("search/best_fitness", "search/mean_fitness", "search/best_complexity", "search/evaluations",
                "search/evaluations_per_s", "finetune/return_mean", "finetune/supervision_weight"):
        assert tag in scalars, f"{tag} missing from {sorted(scalars)}"
    texts = set(accumulator.Tags()["tensors"])  # tensorboardX files text under `<tag>/text_summary`
    assert any(tag.startswith("search/best_formula") for tag in texts), sorted(texts)


def test_bench_classic_control_smoke_prints_both_tables(smoke_run):
    # --reuse reads the smoke run above instead of training the same experiment a second time.
    _, _, storage = smoke_run
    done = subprocess.run(
        [sys.executable, "scripts/bench_classic_control.py", "--smoke", "--reuse", "--storage-path", str(storage)],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("| CartPole-v1 | 1 |") for line in lines), done.stdout
    rows = [line for line in lines if line.startswith("| plain loop") or line.startswith("| evaluator pool")]
    assert len(rows) == 3 and "1.00×" in rows[0]
