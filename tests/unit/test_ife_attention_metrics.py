"""Scoring attention against object boxes (coordinate transform, mass ratio, pointing game) and drawing overlays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsrl_ray.explain.attention_metrics import (
    ObjectBoxReader,
    box_coverage,
    gradient_saliency,
    pool_to_grid,
    record_frames,
    score_maps,
)
from nsrl_ray.explain.attention_overlay import blend, heatmap, log_video_tensorboard, overlay_frames, write_gif

torch.set_num_threads(1)


def test_coverage_maps_screen_boxes_onto_the_grid():
    # A box covering screen rows 15..29 and columns 0..159 is exactly row 1 of the 14×14 grid (15 rows per cell).
    coverage = box_coverage(np.array([[0, 15, 160, 15]]), (14, 14))
    assert coverage.shape == (14, 14)
    assert np.allclose(coverage[1], 1.0) and np.allclose(np.delete(coverage, 1, axis=0), 0.0)
    # Columns: 160 / 14 is not whole; a box of the left half covers 7 cells, all of them fully.
    half = box_coverage(np.array([[0, 0, 80, 210]]), (14, 14))
    assert np.allclose(half[:, :7], 1.0) and np.allclose(half[:, 7:], 0.0)
    # Area is kept: the mean coverage is the box's share of the screen, on any grid.
    box = np.array([[37, 51, 13, 29]])
    share = 13 * 29 / (210 * 160)
    for grid in ((14, 14), (84, 84)):
        assert box_coverage(box, grid).mean() == pytest.approx(share, rel=1e-3)


def test_boxes_partly_off_screen_are_clipped():
    coverage = box_coverage(np.array([[150, 200, 50, 50]]), (210, 160))
    assert coverage.sum() == pytest.approx(10 * 10)


def test_scores_of_perfect_uniform_and_wrong_maps():
    boxes = [np.array([[0, 0, 80, 105]])]  # the top-left quarter of the screen
    perfect = np.zeros((1, 14, 14))
    perfect[0, :7, :7] = 1.0
    scores = score_maps(perfect, boxes)
    assert scores.mass_in_boxes == pytest.approx(1.0) and scores.box_area_share == pytest.approx(0.25)
    assert scores.mass_ratio == pytest.approx(4.0) and scores.pointing_hit_rate == 1.0
    assert scores.chance_hit_rate == pytest.approx(0.25)
    assert score_maps(np.ones((1, 14, 14)), boxes).mass_ratio == pytest.approx(1.0)
    wrong = np.zeros((1, 14, 14))
    wrong[0, 13, 13] = 1.0
    assert score_maps(wrong, boxes).mass_ratio == 0.0 and score_maps(wrong, boxes).pointing_hit_rate == 0.0


def test_frames_without_objects_are_left_out_and_bad_maps_refused():
    maps = np.ones((2, 14, 14))
    assert score_maps(maps, [np.zeros((0, 4)), np.array([[0, 0, 16, 15]])]).frames == 1
    assert np.isnan(score_maps(maps[:1], [np.zeros((0, 4))]).mass_ratio)
    with pytest.raises(ValueError, match="non-negative"):
        score_maps(-maps, [np.zeros((0, 4))] * 2)
    with pytest.raises(ValueError, match="expected"):
        score_maps(maps, [np.zeros((0, 4))])


def test_pooling_keeps_the_mass():
    maps = np.random.default_rng(0).random((3, 84, 84))
    pooled = pool_to_grid(maps, (14, 14))
    assert pooled.shape == (3, 14, 14) and np.allclose(pooled.sum(axis=(1, 2)), maps.sum(axis=(1, 2)))
    with pytest.raises(ValueError, match="divide"):
        pool_to_grid(maps, (13, 13))


def test_gradient_saliency_finds_the_only_pixel_the_model_reads():
    def logits(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 3, 40, 20] * 2.0, x[:, 0, 0, 0] * 0.0], dim=-1)

    saliency = gradient_saliency(logits, np.random.default_rng(0).integers(0, 255, (5, 4, 84, 84)).astype(np.uint8))
    assert saliency.shape == (5, 84, 84)
    assert np.unravel_index(saliency[0].argmax(), (84, 84)) == (40, 20)


def test_object_boxes_come_from_the_ram_and_match_a_rollout():
    from nsrl_ray.rl_modules.ife_envs import make_ife_pixel_env

    env = make_ife_pixel_env("Boxing", training=False)
    rng = np.random.default_rng(0)
    frames = record_frames(env, lambda obs: int(rng.integers(18)), steps=30, seed=0, reader=ObjectBoxReader("Boxing"))
    env.close()
    assert len(frames.obs) == len(frames.boxes) == len(frames.screens) == 30
    assert frames.obs[0].shape == (4, 84, 84) and frames.screens[0].shape == (210, 160, 3)
    # Two boxers, each a 14×46 box inside the ring.
    assert all(len(b) == 2 for b in frames.boxes)
    assert all((b[:, 2:] == (14, 46)).all() for b in frames.boxes)
    # The boxes sit on the boxers: inside them the newest grey frame differs from the ring's floor colour.
    obs, boxes = frames.obs[-1][-1], frames.boxes[-1]
    inside = box_coverage(boxes, (84, 84)) > 0.5
    floor = np.bincount(obs.ravel()).argmax()
    assert (obs[inside] != floor).mean() > 0.3 > (obs[~inside] != floor).mean()


def test_unknown_game_is_refused_with_the_list():
    with pytest.raises(ValueError, match="expected one of"):
        ObjectBoxReader("NotAGame")


def test_overlay_blends_a_min_max_scaled_mask_over_the_frame(tmp_path):
    mask = np.zeros((14, 14))
    mask[0, 0] = 1.0
    heat = heatmap(mask, (210, 160))
    assert heat.shape == (210, 160, 3) and heat.dtype == np.uint8
    # jet: the peak is red (top left), zero is blue (everywhere else).
    assert heat[0, 0, 0] > 100 > max(heat[0, 0, 1], heat[0, 0, 2])
    assert heat[-1, -1, 2] > 100 > max(heat[-1, -1, 0], heat[-1, -1, 1])
    frame = np.full((210, 160, 3), 100, dtype=np.uint8)
    blended = blend(frame, mask)
    assert np.allclose(blended.astype(float), 0.6 * 100 + 0.4 * heat.astype(float), atol=1)
    assert blend(frame[:, :, 0], np.full((14, 14), 0.5)).shape == (210, 160, 3)  # constant mask: no division by 0
    frames = overlay_frames([frame, frame], [mask, mask], scale=2)
    assert frames[0].shape == (420, 320, 3)
    with pytest.raises(ValueError, match="one mask per frame"):
        overlay_frames([frame], [mask, mask])
    with pytest.raises(ValueError, match="2-D"):
        heatmap(np.zeros(5), (10, 10))


def test_gif_and_tensorboard_video_are_written(tmp_path):
    import imageio.v3 as iio

    frames = [np.full((20, 16, 3), i * 40, dtype=np.uint8) for i in range(5)]
    path = write_gif(tmp_path / "v.gif", frames, fps=10)
    assert iio.imread(path).shape[0] == 5
    log_video_tensorboard(tmp_path / "tb", "ife/overlay", frames)
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "tb"))
    accumulator.Reload()
    assert "ife/overlay" in accumulator.Tags()["images"]
