"""Frame-object datasets: preprocessed frame stacks with per-slot object labels, as .npz shards.

A sample is one agent step: `frames` (4, 84, 84) uint8 (newest frame last, as the pixel env
gives it) and labels for each stacked frame, newest first (index k = suffix t<k>):
`centre` (K, S, 2) as normalised (x, y), `size` (K, S, 2) as (w, h), `present` (K, S).
Recording is plain Python (one env, one labeller); `nsrl_ray.pipeline.frame_dataset` fans it
out over Ray actors.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nsrl_ray.envs.atari.slots import SlotFrame
from nsrl_ray.perception.labellers import Labeller, make_labeller

__all__ = ["FrameDataset", "Policy", "load_frame_dataset", "record_frames", "write_shard"]

#: Observation (4, 84, 84) uint8 -> action index.
Policy = Callable[[np.ndarray], int]

_ARRAYS = ("frames", "centre", "size", "present", "actions", "episodes")


@dataclass
class FrameDataset:
    """Samples in time order (episodes are contiguous); see the module doc for the layout."""

    frames: np.ndarray
    centre: np.ndarray
    size: np.ndarray
    present: np.ndarray
    actions: np.ndarray
    episodes: np.ndarray
    slot_names: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.frames)
        for name in _ARRAYS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"FrameDataset: {name} has {len(getattr(self, name))} rows, frames has {n}.")
        if self.centre.ndim != 4 or self.centre.shape[2] != len(self.slot_names):
            raise ValueError(
                f"FrameDataset: centre has shape {self.centre.shape}; expected (N, K, {len(self.slot_names)}, 2)."
            )
        self.slot_names = tuple(self.slot_names)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def n_label_frames(self) -> int:
        return int(self.centre.shape[1])

    def subset(self, index: np.ndarray | slice) -> FrameDataset:
        return FrameDataset(*(getattr(self, n)[index] for n in _ARRAYS), self.slot_names, dict(self.meta))

    def split_by_time(self, train_fraction: float = 0.8) -> tuple[FrameDataset, FrameDataset]:
        """First `train_fraction` of the samples for training, the rest for validation (as INSIGHT)."""
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
        cut = int(round(len(self) * train_fraction))
        return self.subset(slice(0, cut)), self.subset(slice(cut, None))

    @staticmethod
    def concatenate(parts: Sequence[FrameDataset]) -> FrameDataset:
        if not parts:
            raise ValueError("FrameDataset.concatenate needs at least one part.")
        names = parts[0].slot_names
        for p in parts[1:]:
            if p.slot_names != names:
                raise ValueError(f"cannot concatenate datasets with different slots: {names} vs {p.slot_names}.")
        offset, episodes = 0, []
        for p in parts:  # keep episode ids unique across shards
            episodes.append(p.episodes + offset)
            offset += int(p.episodes.max()) + 1 if len(p) else 0
        arrays = {n: np.concatenate([getattr(p, n) for p in parts]) for n in _ARRAYS if n != "episodes"}
        return FrameDataset(**arrays, episodes=np.concatenate(episodes), slot_names=names, meta=dict(parts[0].meta))


def record_frames(
    game: str,
    steps: int,
    *,
    seed: int = 0,
    epsilon: float = 1.0,
    policy: Policy | None = None,
    labeller: str | Labeller = "ocatari_ram",
    label_frames: int = 4,
    env_options: dict | None = None,
) -> FrameDataset:
    """Play `steps` agent steps of a game and label every step.

    Actions: `policy(obs)` with probability 1 - `epsilon`, uniformly random otherwise (no policy =
    random play). Episodes use the evaluation flags (no episodic life, raw rewards).
    """
    from nsrl_ray.envs.atari.pixel import make_pixel_env

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}.")
    if policy is None and epsilon < 1.0:
        raise ValueError(f"epsilon={epsilon} < 1 needs a policy; pass policy=callable(obs) -> action or epsilon=1.")
    labeller = make_labeller(labeller, game) if isinstance(labeller, str) else labeller
    env = make_pixel_env(game, training=False, **(env_options or {}))
    ale = env.unwrapped.ale
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    frames = np.empty((steps, *env.observation_space.shape), np.uint8)
    n_slots = len(labeller.slot_names)
    centre = np.empty((steps, label_frames, n_slots, 2), np.float32)
    size = np.empty_like(centre)
    present = np.empty((steps, label_frames, n_slots), np.float32)
    actions = np.empty(steps, np.int64)
    episodes = np.empty(steps, np.int64)

    def observe() -> SlotFrame:
        return labeller.label(ale.getScreenRGB(), ale.getRAM())

    history: deque[SlotFrame] = deque(maxlen=label_frames)
    episode = 0
    try:
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        labeller.reset()
        history.extend([observe()] * label_frames)
        for t in range(steps):
            frames[t] = obs
            for k, f in enumerate(history):  # history[0] is the newest frame = t0
                centre[t, k], size[t, k], present[t, k] = f.centre, f.size, f.present
            episodes[t] = episode
            if policy is not None and rng.random() >= epsilon:
                action = int(policy(obs))
            else:
                action = int(rng.integers(n_actions))
            actions[t] = action
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                episode += 1
                obs, _ = env.reset(seed=int(rng.integers(2**31)))
                labeller.reset()
                history.clear()
                history.extend([observe()] * label_frames)
            else:
                history.appendleft(observe())
    finally:
        env.close()
    meta = {"game": game, "labeller": type(labeller).__name__, "seed": seed, "epsilon": epsilon}
    return FrameDataset(frames, centre, size, present, actions, episodes, labeller.slot_names, meta)


def write_shard(dataset: FrameDataset, path: str | Path) -> Path:
    """Write one shard (.npz, compressed; frames compress ~20x). Written to a temp name, then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, **{n: getattr(dataset, n) for n in _ARRAYS},
        slot_names=np.array(dataset.slot_names), meta=np.array(json.dumps(dataset.meta)),
    )
    tmp.replace(path)
    return path


def load_frame_dataset(path: str | Path) -> FrameDataset:
    """One shard file, or every `*.npz` shard of a folder in name order, concatenated."""
    path = Path(path)
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path] if path.is_file() else []
    files = [f for f in files if not f.name.endswith(".tmp.npz")]
    if not files:
        raise FileNotFoundError(f"no frame-dataset shards (*.npz) at {path}; record some with record_frames/collect.")
    parts = []
    for f in files:
        with np.load(f, allow_pickle=False) as data:
            parts.append(FrameDataset(
                *(data[n] for n in _ARRAYS), tuple(str(s) for s in data["slot_names"]),
                json.loads(str(data["meta"])),
            ))
    return FrameDataset.concatenate(parts) if len(parts) > 1 else parts[0]
