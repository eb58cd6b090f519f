"""Perception CNN: output shapes, losses (focal, masked L1, rarity weights), features, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsrl_ray.envs import get_env_spec
from nsrl_ray.perception import (
    FrameDataset,
    PerceptionCNN,
    focal_loss,
    perception_feature_names,
    perception_loss,
    perception_metrics,
    rarity_weights,
)

torch.set_num_threads(1)
SLOTS = ("player", "ball", "enemy")


def _model(**options) -> PerceptionCNN:
    torch.manual_seed(0)
    return PerceptionCNN(SLOTS, channels=(4, 8, 8), hidden=32, **options)


@pytest.mark.parametrize("head", ["dense", "spatial_softmax"])
def test_output_shapes(head: str) -> None:
    out = _model(coordinate_head=head)(torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8))
    assert out["existence_logits"].shape == (2, 4, 3)
    assert out["centre"].shape == (2, 4, 3, 2) and out["size"].shape == (2, 3, 2)
    if head == "spatial_softmax":
        assert 0 <= out["centre"].min() and out["centre"].max() <= 1


def test_feature_names_match_the_pixel_env_spec() -> None:
    model = PerceptionCNN(SLOTS, channels=(4, 8, 8), hidden=16)
    assert model.feature_names == get_env_spec("PongPixels-v0").feature_names
    assert model.feature_names[:3] == ("player_x_t0", "player_y_t0", "player_present_t0")


def test_features_gate_and_clamp() -> None:
    outputs = {
        "existence_logits": torch.tensor([[[5.0, -5.0]]]),  # (B=1, K=1, S=2): slot 0 present, slot 1 absent
        "centre": torch.tensor([[[[1.4, 0.25], [0.5, 0.5]]]]),
    }
    features = PerceptionCNN.to_features(outputs)
    assert features.tolist() == [[1.0, 0.25, 1.0, 0.0, 0.0, 0.0]]
    assert perception_feature_names(("a", "b"), 1) == ("a_x_t0", "a_y_t0", "a_present_t0", "b_x_t0", "b_y_t0", "b_present_t0")


def test_focal_loss_down_weights_easy_examples() -> None:
    target = torch.ones(2)
    easy, hard = focal_loss(torch.tensor([4.0, -4.0]), target)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([4.0, -4.0]), target, reduction="none")
    assert easy < 1e-3 * bce[0] and hard == pytest.approx(bce[1] * (1 - torch.sigmoid(torch.tensor(-4.0))) ** 2)
    assert focal_loss(torch.tensor([4.0]), torch.ones(1), gamma=0.0).item() == pytest.approx(bce[0].item())


def test_coordinate_loss_ignores_absent_objects() -> None:
    outputs = {
        "existence_logits": torch.zeros(1, 1, 2),
        "centre": torch.tensor([[[[0.5, 0.5], [0.9, 0.9]]]]),
        "size": torch.zeros(1, 2, 2),
    }
    centre = torch.tensor([[[[0.25, 0.5], [0.0, 0.0]]]])
    present = torch.tensor([[[1.0, 0.0]]])
    terms = perception_loss(outputs, centre, torch.zeros(1, 1, 2, 2), present)
    assert terms["coordinates"].item() == pytest.approx(0.25)  # only slot 0 counts


def test_rarity_weights_favour_rare_slots() -> None:
    present = np.zeros((100, 1, 3), np.float32)
    present[:, 0, 0] = 1  # always there
    present[:10, 0, 1] = 1  # rare
    present[:50, 0, 2] = 1
    w = rarity_weights(present)
    assert w[1] > w[2] > w[0] and 0.1 < w.min() and w.max() < 1.1


def test_metrics_precision_recall_and_subset_mae() -> None:
    model = _model()
    frames = np.zeros((4, 4, 84, 84), np.uint8)
    centre = np.full((4, 4, 3, 2), 0.5, np.float32)
    present = np.ones((4, 4, 3), np.float32)
    present[:, :, 2] = 0
    data = FrameDataset(frames, centre, np.zeros_like(centre), present, np.zeros(4, int), np.zeros(4, int), SLOTS)
    with torch.no_grad():  # a model that says "present" everywhere and predicts the centre 0.5 exactly
        model.existence.weight.zero_(); model.existence.bias.fill_(5.0)
        model.coordinates.weight.zero_(); model.coordinates.bias.fill_(0.5)
        model.coordinates.bias[0] = 0.7  # player x at t0 is off by 0.2
    m = perception_metrics(model, data, subset=["ball"])
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx(0.5)  # a constant guess, however high its F1
    assert m["mae_subset"] == pytest.approx(0.0, abs=1e-6)
    assert m["mae"] == pytest.approx(0.1 / 8, abs=1e-6)  # one of 8 present slot-frames has error (0.2 + 0) / 2
    assert perception_metrics(model, data, subset=["player_x_t0"])["mae_subset"] == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ValueError, match="names no slot"):
        perception_metrics(model, data, subset=["paddle"])


def test_building_the_cnn_flushes_subnormal_floats_which_slow_cpu_convolutions_several_times():
    torch.set_flush_denormal(False)
    try:
        assert float(torch.tensor(1e-40)) != 0.0  # subnormal, kept
        PerceptionCNN(("ball",), channels=(4, 8, 8), hidden=16)
        assert float(torch.tensor(1e-40)) == 0.0  # flushed from now on in this process
    finally:
        torch.set_flush_denormal(True)
