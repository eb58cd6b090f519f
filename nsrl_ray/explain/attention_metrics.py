"""Does the attention look at the right place? Attention (or saliency) maps scored against OCAtari object boxes.

Two scores per frame, on the map's own grid (IFE: 14×14 cells over the 84×84 input):
- attention mass inside the object boxes ÷ the share of the screen the boxes cover (1 = no better
  than spreading attention uniformly; higher = the mass sits on the objects);
- the pointing game: the map's peak cell touches a box (its chance level is the share of cells
  that touch a box, reported beside it).
Coordinates: OCAtari boxes are (x, y, w, h) in the 210×160 screen (x = column, y = row); the
84×84 observation is the whole screen resized (no crop), so a grid cell (i, j) of an h×w grid
covers screen rows [i·210/h, (i+1)·210/h) and columns [j·160/w, (j+1)·160/w). Coverage is
computed by rasterising the boxes at screen resolution and area-averaging into the grid.
No Ray here; the rollout helper takes a plain action function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

__all__ = [
    "SCREEN_SHAPE",
    "AttentionFrames",
    "MapScores",
    "ObjectBoxReader",
    "box_coverage",
    "gradient_saliency",
    "pool_to_grid",
    "record_frames",
    "score_maps",
]

#: The Atari screen, (rows, columns).
SCREEN_SHAPE: tuple[int, int] = (210, 160)


class ObjectBoxReader:
    """Object boxes of one game from the emulator's RAM (OCAtari's RAM extraction, HUD left out)."""

    def __init__(self, game: str, hud: bool = False) -> None:
        from ocatari.core import AVAILABLE_GAMES
        from ocatari.ram.extract_ram_info import detect_objects_ram, init_objects

        name = game.split("/")[-1].split("-")[0].split("NoFrameskip")[0]
        if name not in AVAILABLE_GAMES:
            raise ValueError(f"ObjectBoxReader: OCAtari has no RAM extraction for {game!r}; "
                             f"expected one of {AVAILABLE_GAMES}.")
        importlib.import_module(f"ocatari.ram.{name.lower()}")  # OCAtari finds the game module in sys.modules
        self.game, self.hud = name, hud
        self._detect = detect_objects_ram
        self._objects = init_objects(name, hud)

    def reset(self) -> None:
        """Forget tracked objects (call at each episode start)."""
        from ocatari.ram.extract_ram_info import init_objects

        self._objects = init_objects(self.game, self.hud)

    def read(self, ram: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(k, 4) boxes (x, y, w, h) in screen pixels and their categories, for the objects present now."""
        with np.errstate(over="ignore"):  # OCAtari does uint8 arithmetic on the RAM and lets it wrap
            self._detect(self._objects, ram, self.game, self.hud)
        boxes, names = [], []
        for obj in self._objects:
            if not obj or getattr(obj, "category", "NoObject") == "NoObject":
                continue
            x, y, w, h = (int(v) for v in obj.xywh)
            if w > 0 and h > 0:
                boxes.append((x, y, w, h))
                names.append(str(obj.category))
        return np.asarray(boxes, dtype=np.int64).reshape(-1, 4), names


def box_coverage(boxes: np.ndarray, grid: tuple[int, int], screen: tuple[int, int] = SCREEN_SHAPE) -> np.ndarray:
    """Per grid cell, the fraction of its screen area inside the union of the boxes: (grid_h, grid_w) in [0, 1]."""
    mask = np.zeros(screen, dtype=np.float32)
    for x, y, w, h in np.asarray(boxes).reshape(-1, 4):
        r0, r1 = max(int(y), 0), min(int(y + h), screen[0])
        c0, c1 = max(int(x), 0), min(int(x + w), screen[1])
        if r1 > r0 and c1 > c0:
            mask[r0:r1, c0:c1] = 1.0
    # INTER_AREA is an exact area average, also for 160 → 14 (not an integer factor).
    return cv2.resize(mask, (int(grid[1]), int(grid[0])), interpolation=cv2.INTER_AREA)


def pool_to_grid(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Sum-pool (N, H, W) maps onto a coarser (N, gh, gw) grid (H, W multiples of it), keeping the total mass."""
    maps = np.asarray(maps, dtype=np.float64)
    n, h, w = maps.shape
    gh, gw = grid
    if h % gh or w % gw:
        raise ValueError(f"pool_to_grid: maps of {h}×{w} do not divide into a {gh}×{gw} grid.")
    return maps.reshape(n, gh, h // gh, gw, w // gw).sum(axis=(2, 4))


@dataclass(frozen=True)
class MapScores:
    """Scores of one kind of map over a set of frames (frames without any object box are left out)."""

    frames: int
    """Frames scored."""
    mass_in_boxes: float
    """Mean share of the map's mass inside the boxes."""
    box_area_share: float
    """Mean share of the screen the boxes cover (the mass a uniform map would put there)."""
    pointing_hit_rate: float
    """Share of frames whose peak cell touches a box."""
    chance_hit_rate: float
    """Mean share of cells that touch a box (the hit rate of a random peak)."""

    @property
    def mass_ratio(self) -> float:
        """mass_in_boxes ÷ box_area_share: 1 is chance, higher is better."""
        return self.mass_in_boxes / self.box_area_share if self.box_area_share > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"frames": self.frames, "mass_in_boxes": self.mass_in_boxes, "box_area_share": self.box_area_share,
                "mass_ratio": self.mass_ratio, "pointing_hit_rate": self.pointing_hit_rate,
                "chance_hit_rate": self.chance_hit_rate}


def score_maps(maps: np.ndarray, boxes: Sequence[np.ndarray], screen: tuple[int, int] = SCREEN_SHAPE) -> MapScores:
    """Score non-negative (N, gh, gw) maps against each frame's boxes (x, y, w, h in screen pixels)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or len(maps) != len(boxes):
        raise ValueError(f"score_maps: maps of shape {maps.shape} for {len(boxes)} frames; expected (N, gh, gw) with N = frames.")
    if (maps < 0).any():
        raise ValueError("score_maps: maps must be non-negative (take |gradient| for saliency).")
    mass, share, hits, chance = [], [], [], []
    for attention, frame_boxes in zip(maps, boxes):
        if len(frame_boxes) == 0:
            continue
        coverage = box_coverage(frame_boxes, attention.shape, screen)
        total = attention.sum()
        weights = attention / total if total > 0 else np.full_like(attention, 1.0 / attention.size)
        mass.append(float((weights * coverage).sum()))
        share.append(float(coverage.mean()))
        peak = np.unravel_index(int(np.argmax(attention)), attention.shape)
        hits.append(float(coverage[peak] > 0))
        chance.append(float((coverage > 0).mean()))
    if not mass:
        return MapScores(0, float("nan"), float("nan"), float("nan"), float("nan"))
    return MapScores(len(mass), float(np.mean(mass)), float(np.mean(share)), float(np.mean(hits)), float(np.mean(chance)))


def gradient_saliency(logits_fn: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Vanilla gradient saliency: |∂ (top logit) / ∂ input| summed over the stacked frames, (N, H, W)."""
    out = []
    for start in range(0, len(obs), batch_size):
        x = torch.as_tensor(np.asarray(obs[start:start + batch_size]), dtype=torch.float32).requires_grad_(True)
        logits = logits_fn(x)
        logits.max(dim=-1).values.sum().backward()
        out.append(x.grad.abs().sum(dim=1).numpy())
    return np.concatenate(out, axis=0)


@dataclass
class AttentionFrames:
    """Frames of a rollout with what the scores need: the network input, the screen and the object boxes."""

    obs: list[np.ndarray] = field(default_factory=list)
    """Network inputs, one (C, 84, 84) stack per step."""
    screens: list[np.ndarray] = field(default_factory=list)
    """RGB screens (210, 160, 3) at the same steps."""
    boxes: list[np.ndarray] = field(default_factory=list)
    """Object boxes (k, 4) at the same steps."""
    returns: list[float] = field(default_factory=list)
    """Returns of the episodes that ended during the rollout."""


def record_frames(env: object, act: Callable[[np.ndarray], int], steps: int, seed: int, reader: ObjectBoxReader,
                  keep_screens: bool = True) -> AttentionFrames:
    """Play ``steps`` steps of an ALE-based pixel env with ``act`` (one obs -> action), keeping obs, screen and boxes.

    The boxes are read from the emulator's RAM after each step, i.e. at the newest frame of the stack.
    """
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    frames = AttentionFrames()
    obs, _ = env.reset(seed=int(seed))  # type: ignore[attr-defined]
    reader.reset()
    episode_return = 0.0
    for _ in range(int(steps)):
        frames.obs.append(np.asarray(obs))
        frames.boxes.append(reader.read(ale.getRAM())[0])
        if keep_screens:
            frames.screens.append(np.asarray(ale.getScreenRGB(), dtype=np.uint8))
        obs, reward, terminated, truncated, _ = env.step(int(act(np.asarray(obs))))  # type: ignore[attr-defined]
        episode_return += float(reward)
        if terminated or truncated:
            frames.returns.append(episode_return)
            episode_return = 0.0
            obs, _ = env.reset()  # type: ignore[attr-defined]
            reader.reset()
    return frames
