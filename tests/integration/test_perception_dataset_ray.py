"""Frame-object datasets recorded on Ray actors: shards on disk, same data for 1 and 2 actors."""

from __future__ import annotations


import numpy as np
import pytest

ray = pytest.importorskip("ray")

from nsrl_ray.perception import load_frame_dataset  # noqa: E402
from nsrl_ray.pipeline.frame_dataset import collect_frame_dataset  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def test_same_dataset_with_one_and_two_actors(ray_session, tmp_path) -> None:
    paths = {}
    for actors in (1, 2):
        paths[actors] = collect_frame_dataset(
            "Pong", tmp_path / f"actors_{actors}", steps=50, shard_steps=20, num_actors=actors, seed=4,
        )
        assert [p.name for p in paths[actors]] == ["shard_00000.npz", "shard_00001.npz", "shard_00002.npz"]
    one, two = load_frame_dataset(tmp_path / "actors_1"), load_frame_dataset(tmp_path / "actors_2")
    assert len(one) == 50 and one.slot_names == ("player", "ball", "enemy")
    np.testing.assert_array_equal(one.frames, two.frames)
    np.testing.assert_array_equal(one.centre, two.centre)
    assert not np.array_equal(one.frames[:20], one.frames[20:40])  # shards are seeded apart
