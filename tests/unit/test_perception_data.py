"""Labellers and frame-object datasets: RAM ground truth, colour segmentation + tracking, SAM hook, shards."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.perception import (
    ColourLabeller,
    FrameDataset,
    NearestMatchTracker,
    SamLabeller,
    load_frame_dataset,
    make_labeller,
    record_frames,
    segment_by_colour,
    write_shard,
)
from nsrl_ray.perception.labellers import Detection

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def pong() -> FrameDataset:
    return record_frames("Pong", 240, seed=3)


def test_record_frames_layout(pong: FrameDataset) -> None:
    assert pong.frames.shape == (240, 4, 84, 84) and pong.frames.dtype == np.uint8
    assert pong.slot_names == ("player", "ball", "enemy")
    assert pong.centre.shape == (240, 4, 3, 2) and pong.size.shape == (240, 4, 3, 2) and pong.present.shape == (240, 4, 3)
    assert pong.present[:, 0, 0].all()  # the agent's paddle is always on screen
    assert 0 <= pong.centre.min() and pong.centre.max() <= 1
    # Label k of step t is label k-1 of step t-1 (same episode): t0 newest, like the frame stack.
    same = pong.episodes[1:] == pong.episodes[:-1]
    np.testing.assert_array_equal(pong.centre[1:, 1][same], pong.centre[:-1, 0][same])
    assert pong.meta["labeller"] == "RamLabeller"


def test_labels_match_the_frames(pong: FrameDataset) -> None:
    # The paddle's labelled centre lies on bright paddle pixels of the newest 84x84 frame.
    frame = pong.frames[:, -1].astype(int)
    hits = 0
    for t in range(0, 240, 10):
        x, y = (pong.centre[t, 0, 0] * 84).astype(int)
        patch = frame[t, max(y - 2, 0): y + 3, max(x - 1, 0): x + 2]
        hits += int(np.abs(patch - 87).max() > 30)  # 87 = Pong's grey background
    assert hits >= 22


def test_same_seed_same_data_and_policy_is_used() -> None:
    a = record_frames("Pong", 30, seed=5)
    b = record_frames("Pong", 30, seed=5)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.actions, b.actions)
    greedy = record_frames("Pong", 30, seed=5, epsilon=0.0, policy=lambda obs: 3)
    assert (greedy.actions == 3).all()
    with pytest.raises(ValueError, match="needs a policy"):
        record_frames("Pong", 30, epsilon=0.5)


def test_shards_round_trip_and_concatenate(pong: FrameDataset, tmp_path) -> None:
    first, second = pong.split_by_time(0.5)
    write_shard(first, tmp_path / "shard_00000.npz")
    write_shard(second, tmp_path / "shard_00001.npz")
    loaded = load_frame_dataset(tmp_path)
    np.testing.assert_array_equal(loaded.frames, pong.frames)
    np.testing.assert_array_equal(loaded.centre, pong.centre)
    assert loaded.slot_names == pong.slot_names and loaded.meta["game"] == "Pong"
    assert len(set(loaded.episodes[:120]) & set(loaded.episodes[120:])) == 0  # ids kept apart across shards
    with pytest.raises(FileNotFoundError, match="no frame-dataset shards"):
        load_frame_dataset(tmp_path / "missing")


def _frame_with(boxes: list[tuple[int, int, int, int, tuple[int, int, int]]]) -> np.ndarray:
    rgb = np.zeros((210, 160, 3), np.uint8)
    rgb[...] = (144, 72, 17)
    for x, y, w, h, colour in boxes:
        rgb[y: y + h, x: x + w] = colour
    return rgb


def test_colour_segmentation_finds_objects() -> None:
    rgb = _frame_with([(140, 50, 4, 15, (92, 186, 92)), (80, 100, 2, 4, (236, 236, 236)), (16, 60, 4, 15, (213, 130, 74))])
    found = sorted(segment_by_colour(rgb), key=lambda d: d.centre[0])
    assert len(found) == 3
    assert found[2].centre == pytest.approx((142 / 160, 57.5 / 210))
    assert found[1].size == pytest.approx((2 / 160, 4 / 210)) and found[1].area == 8


def test_tracker_keeps_slots_by_nearest_match() -> None:
    labeller = ColourLabeller(n_slots=4)
    first = labeller.label(_frame_with([(140, 50, 4, 15, (92, 186, 92)), (80, 100, 2, 4, (236, 236, 236))]))
    slots = {tuple(np.round(first.centre[s], 3)): s for s in np.nonzero(first.present)[0]}
    assert len(slots) == 2
    ball_slot = int(np.argmin([first.size[s, 0] if first.present[s] else 9 for s in range(4)]))
    # Both move a little; a new object appears: old ones keep their slots, the new one takes a free one.
    second = labeller.label(_frame_with([(140, 54, 4, 15, (92, 186, 92)), (84, 97, 2, 4, (236, 236, 236)),
                                         (16, 60, 4, 15, (213, 130, 74))]))
    assert second.present.sum() == 3
    assert second.centre[ball_slot] == pytest.approx((85 / 160, 99 / 210))
    labeller.reset()
    assert labeller.tracker._tracks == {}


def test_tracker_releases_slots_after_missing_frames() -> None:
    tracker = NearestMatchTracker(2, max_missing=1)
    tracker.update([Detection((0.5, 0.5), (0.1, 0.1), 1, 10)])
    assert tracker.update([]).present.sum() == 0 and 0 in tracker._tracks  # remembered for one frame
    tracker.update([])
    assert 0 not in tracker._tracks


def test_colour_labeller_on_real_frames() -> None:
    data = record_frames("Pong", 20, seed=0, labeller="colour")
    assert data.slot_names[0] == "object1" and data.present[:, 0].sum(axis=1).min() >= 3


def test_sam_labeller_needs_local_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NSRL_SAM_CHECKPOINT", raising=False)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        make_labeller("sam", "Pong")
    with pytest.raises(FileNotFoundError, match="no such file"):
        SamLabeller(checkpoint=tmp_path / "FastSAM-s.pt")
    # With a mask generator (what a local FastSAM provides) it labels through the same tracker.
    rgb = _frame_with([(140, 50, 4, 15, (92, 186, 92))])
    mask = np.zeros((210, 160), bool)
    mask[50:65, 140:144] = True
    frame = SamLabeller(n_slots=2, mask_generator=lambda image: [mask]).label(rgb)
    assert frame.present.tolist() == [1, 0] and frame.centre[0] == pytest.approx((142 / 160, 57.5 / 210))


def test_unknown_labeller_suggests() -> None:
    with pytest.raises(ValueError, match="Did you mean 'colour'"):
        make_labeller("color", "Pong")
