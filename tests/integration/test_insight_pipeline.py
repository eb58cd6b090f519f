"""The Pong INSIGHT experiment end to end from its YAML at the smoke budget: teacher -> frame dataset -> perceive
-> EQL with neural guidance -> evaluate -> report, ending with one formula per action in object names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from nsrl_ray.envs.atari import get_game
from nsrl_ray.envs.atari.games import slot_names

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # ~4 minutes on 2 busy cores


def test_pong_smoke_runs_end_to_end_and_writes_formulas_in_object_names(nsrl, tmp_path) -> None:
    result = nsrl("run", "tune_configs/insight_pong.yaml", "--smoke", "--storage-path", str(tmp_path),
                  "--set", "stages.symbolic.export_refit_rounds=2", timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [artifacts] = list(tmp_path.glob("insight_pong/seed_0_*/artifacts"))
    card = json.loads((artifacts / "policy.json").read_text())
    game = get_game("Pong")
    assert [a["name"] for a in card["actions"]] == list(game.action_names)  # one formula per action
    object_name = re.compile(rf"^({'|'.join(slot_names(game))})_(x|y|present)_t[0-3]$")
    assert card["variables"] and all(object_name.match(v) for v in card["variables"])
    used = set(re.findall(r"[a-z_]+_t\d", " ".join(a["formula"] for a in card["actions"])))
    assert used and all(object_name.match(v) for v in used), used
    assert card["learner"] == "insight" and (artifacts / card["provenance"]["perception"]).is_file()
    results = json.loads((artifacts / "stage_results.json").read_text())
    assert list(results) == ["teacher", "perceive", "symbolic", "evaluate", "report"]
    for key in ("mae", "precision", "recall", "f1", "baseline_mae"):
        assert key in results["perceive"], key
    for key in ("neural_return_mean", "eql_return_mean", "perception_mae", "perception_mae_formula_objects"):
        assert key in results["symbolic"], key
    assert results["evaluate"]["episodes"] == 2
    # The pruned formulas were refitted on the states of the final evaluation, a fifth of them held out, then
    # once more after they played a game of their own (DAgger), the better-playing refit kept.
    symbolic = results["symbolic"]
    assert {"refit_student_return_1", "refit_student_return_2", "refit_selected"} <= set(symbolic)
    assert card["provenance"]["export_refit_rounds"] == 2
    # The EQL actor itself was refitted the same way and played games of its own.
    assert symbolic["eql_refit_states"] > symbolic["refit_heldout_states"] and "eql_refit_return_mean" in symbolic
    assert symbolic["refit_states"] > 0 and symbolic["refit_heldout_states"] > 0
    assert 0.0 <= symbolic["refit_agreement_before"] <= 1.0 and 0.0 <= symbolic["refit_agreement"] <= 1.0
    rows = [json.loads(line) for line in (artifacts.parent / "result.json").read_text().splitlines()]
    assert any(row.get("symbolic/learn_s", 0) > 0 and row.get("symbolic/sample_s", 0) > 0 for row in rows)
    for video in ("insight_objects_before.gif", "insight_objects_after.gif"):
        assert (artifacts / video).stat().st_size > 1000, video
    assert list((artifacts / "tensorboard").glob("events.out.tfevents.*"))
    assert "left_fire = " in result.stdout and "ball_" in result.stdout  # the formulas are printed

    # Table 3 of the benchmark reads the formulas off this run both ways and plays them.
    bench = subprocess.run([sys.executable, "scripts/bench_insight.py", "--table", "refit", "--run", str(artifacts),
                            "--smoke", "--refit-steps", "0", "200"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                           capture_output=True, text=True, timeout=600)
    assert bench.returncode == 0, bench.stderr[-3000:]
    for row in ("| neural actor (network) |", "| eql actor refit offline (3000 steps × 4 rounds) |",
                "| formulas of the jointly trained EQL, pruned to 24 a layer |",
                "| formulas of the jointly trained EQL, pruned to 24 a layer + refit 200 steps |",
                "| formulas of the refitted EQL, pruned to 24 a layer + refit 200 steps × 4 rounds |",
                "| formulas of the refitted EQL, pruned in halvings to 24 a layer + refit 200 steps × 4 rounds |",
                "| random play |"):
        assert row in bench.stdout, bench.stdout
