"""The perception CNN learns Pong's objects from OCAtari labels: held-out MAE far below the mean baseline."""

from __future__ import annotations

import pytest
import torch

from nsrl_ray.perception import (
    PerceptionCNN,
    PerceptionTrainConfig,
    mean_baseline_mae,
    perception_metrics,
    record_frames,
    train_perception,
)

# ~25 s on an idle 2-core machine (450 CNN steps); slow under load.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def test_cnn_learns_pong_objects() -> None:
    torch.set_num_threads(1)
    data = record_frames("Pong", 600, seed=0)
    train, test = data.split_by_time(0.8)  # INSIGHT's split: the last 20% of play is held out
    baseline = mean_baseline_mae(train, test)
    torch.manual_seed(0)
    model = PerceptionCNN(data.slot_names, channels=(8, 16, 16), hidden=128)  # small: INSIGHT's is 32-64-64, 2048
    untrained = perception_metrics(model, test)
    history = train_perception(model, train, PerceptionTrainConfig(steps=450, lr=1e-3, seed=0))
    assert history[-1]["coordinates"] < history[0]["coordinates"]
    metrics = perception_metrics(model, test, subset=["player_y_t0", "ball"])
    # A learner that only fits the means (or nothing) stays at or above the baseline (~0.12).
    assert metrics["mae"] < 0.5 * baseline, (metrics, baseline)
    assert metrics["mae_subset"] < baseline
    # "Always present" scores precision ~0.8 here (the ball is often off screen) and balanced
    # accuracy 0.5, as does any constant guess; learning beats both clearly.
    assert metrics["precision"] > untrained["precision"] + 0.05, metrics
    assert metrics["balanced_accuracy"] > 0.8, metrics
