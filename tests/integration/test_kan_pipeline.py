"""The `kan` learner end to end at smoke budgets: scripts/bench_kan.py --smoke on Pendulum (continuous
actions through collect, KAN, evaluate, videos) and, marked slow, CartPole through the `nsrl` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def pendulum_bench(tmp_path_factory, repo):
    storage = tmp_path_factory.mktemp("kan_bench")
    result = subprocess.run(
        [sys.executable, "scripts/bench_kan.py", "--smoke", "--envs", "pendulum", "--video", "--storage-path", str(storage)],
        cwd=repo, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = list((storage / "kan_pendulum").glob("seed_0_*"))
    assert len(trials) == 1, trials
    return result.stdout, trials[0]


def test_benchmark_prints_the_table(pendulum_bench):
    stdout, _ = pendulum_bench
    header, _, row = stdout.splitlines()[:3]
    assert "teacher (reference)" in header and "KAN spline" in header and "KAN formula" in header
    assert row.startswith("| Pendulum-v1 | 1 × 2 |")


def test_continuous_card_plays_within_bounds(pendulum_bench):
    import gymnasium as gym

    import nsrl_ray

    _, trial = pendulum_bench
    artifacts = trial / "artifacts"
    card = json.loads((artifacts / "policy.json").read_text())
    assert card["learner"] == "kan" and card["action_kind"] == "continuous"
    assert card["action_low"] == [-2.0] and card["action_high"] == [2.0]
    assert {"symbolic/spline_return_mean", "symbolic/fit_time_s", "evaluate/return_mean"} <= set(card["metrics"])
    assert card["provenance"]["kan_widths"][0] == 3
    policy = nsrl_ray.load_policy(artifacts)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        action = policy(obs)
        assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
        obs, *_ = env.step(action.astype(np.float32))
    evaluation = json.loads((artifacts / "evaluation.json").read_text())
    assert len(evaluation["returns"]) == 2 and all(np.isfinite(evaluation["returns"]))


def test_diagram_and_videos_beside_the_card(pendulum_bench):
    import imageio.v3 as iio

    _, trial = pendulum_bench
    artifacts = trial / "artifacts"
    assert (artifacts / "kan_diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for who in ("teacher", "symbolic"):
        frames = iio.imread(artifacts / f"video_{who}.gif")
        assert frames.ndim == 4 and frames.shape[0] >= 10 and frames.shape[-1] == 3


def test_tensorboard_holds_the_diagram_and_kan_metrics(pendulum_bench):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    _, trial = pendulum_bench
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(trial))
    multiplexer.Reload()
    tags = {kind: set() for kind in ("images", "scalars")}
    for run_tags in multiplexer.Runs().values():
        for kind in tags:
            tags[kind] |= set(run_tags.get(kind, []))
    assert "symbolic/kan_diagram" in tags["images"]
    assert {"symbolic/kan_train_loss", "symbolic/spline_return_mean", "symbolic/complexity"} <= tags["scalars"]


@pytest.mark.slow
def test_cartpole_kan_smoke_through_the_cli(tmp_path, nsrl):
    result = nsrl("run", "tune_configs/kan_cartpole.yaml", "--smoke", "--storage-path", str(tmp_path),
                  "--set", "stages.symbolic.restarts=2", "--set", "stages.symbolic.select_episodes=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "push_right = " in result.stdout and "KAN step" in result.stdout
    (trial,) = (tmp_path / "kan_cartpole").glob("seed_0_*")
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    metrics = card["metrics"]
    assert card["learner"] == "kan" and metrics["symbolic/train_agreement"] > 0.5
    # two restarts were played on the selection seeds and the better one was kept
    played = [metrics["symbolic/selection_return_0"], metrics["symbolic/selection_return_1"]]
    assert played[metrics["symbolic/selected_restart"]] == max(played)
