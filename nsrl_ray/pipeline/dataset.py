"""Read a collected dataset's shards (numpy only, so reading one never imports Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_dataset(folder: Path) -> dict[str, np.ndarray]:
    """All shards of a dataset folder, concatenated in shard order."""
    shards = sorted(folder.glob("shard_*.npz"))
    if not shards:
        raise FileNotFoundError(f"no dataset shards in {folder}: run the collect stage first")
    parts = [np.load(path) for path in shards]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0].files}
