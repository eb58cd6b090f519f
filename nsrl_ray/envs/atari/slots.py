"""Fixed object slots of a game: OCAtari objects -> per-slot centre, size and presence arrays.

Shared by the object-centric env (feature vectors) and the perception labellers (CNN targets),
so a slot index means the same object everywhere. Coordinates are normalised to [0, 1] by the
Atari screen (x / 160, y / 210; origin top left, y down), i.e. the same in 84x84 frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nsrl_ray.envs.atari.games import SCREEN_HEIGHT, SCREEN_WIDTH, AtariGame, get_game, slot_names

__all__ = ["ATTRIBUTES", "SlotFrame", "SlotTable"]

#: Per-slot attributes a feature vector may carry besides the presence flag.
ATTRIBUTES: tuple[str, ...] = ("x", "y", "w", "h")
_ATTRIBUTE_TEXT = {
    "x": "horizontal centre, 0 = left edge, 1 = right edge of the screen",
    "y": "vertical centre, 0 = top, 1 = bottom of the screen (y grows downwards)",
    "w": "width as a fraction of the screen width",
    "h": "height as a fraction of the screen height",
}


@dataclass(frozen=True)
class SlotFrame:
    """One frame's objects in slot order: centre (S, 2) as (x, y), size (S, 2) as (w, h), present (S,)."""

    centre: np.ndarray
    size: np.ndarray
    present: np.ndarray

    @classmethod
    def empty(cls, n_slots: int) -> SlotFrame:
        return cls(np.zeros((n_slots, 2), np.float32), np.zeros((n_slots, 2), np.float32), np.zeros(n_slots, np.float32))


class SlotTable:
    """Maps a game's OCAtari objects onto its fixed slots (see `games.py` for the tables)."""

    def __init__(self, game: str | AtariGame) -> None:
        self.game = get_game(game)
        self.slot_names: tuple[str, ...] = slot_names(self.game)
        self._slots_of: dict[str, list[int]] = {}
        self.slot_descriptions: list[str] = []
        index = 0
        for group in self.game.slots:
            self._slots_of[group.category] = list(range(index, index + group.count))
            for k in range(group.count):
                suffix = f" (slot {k + 1} of {group.count})" if group.count > 1 else ""
                self.slot_descriptions.append(group.description + suffix)
            index += group.count

    @property
    def n_slots(self) -> int:
        return len(self.slot_names)

    def extract(self, objects: Iterable[object]) -> SlotFrame:
        """Fill the slots from OCAtari objects (anything with `category` and `xywh`); absent = zeros."""
        frame = SlotFrame.empty(self.n_slots)
        used = {c: 0 for c in self._slots_of}
        for obj in objects:
            if not obj or not getattr(obj, "visible", True):
                continue
            category = getattr(obj, "category", None)
            slots = self._slots_of.get(category)  # type: ignore[arg-type]
            if slots is None or used[category] >= len(slots):
                continue
            slot = slots[used[category]]
            used[category] += 1
            x, y, w, h = (float(v) for v in obj.xywh)  # type: ignore[attr-defined]
            frame.centre[slot] = ((x + w / 2) / SCREEN_WIDTH, (y + h / 2) / SCREEN_HEIGHT)
            frame.size[slot] = (w / SCREEN_WIDTH, h / SCREEN_HEIGHT)
            frame.present[slot] = 1.0
        np.clip(frame.centre, 0.0, 1.0, out=frame.centre)
        np.clip(frame.size, 0.0, 1.0, out=frame.size)
        return frame

    # -- flat feature vectors -------------------------------------------------------------
    @staticmethod
    def check_attributes(attributes: Sequence[str]) -> tuple[str, ...]:
        attributes = tuple(attributes)
        bad = [a for a in attributes if a not in ATTRIBUTES]
        if bad or not attributes or len(set(attributes)) != len(attributes):
            raise ValueError(
                f"attributes {attributes!r} are invalid; expected distinct names from {ATTRIBUTES}, e.g. ('x', 'y')."
            )
        return attributes

    def feature_names(self, n_frames: int = 2, attributes: Sequence[str] = ("x", "y")) -> tuple[str, ...]:
        """`<slot>_<attribute>_t<k>` then `<slot>_present_t<k>`, slot-major, newest frame t0 first."""
        attributes = self.check_attributes(attributes)
        return tuple(
            f"{slot}_{attr}_t{k}"
            for slot in self.slot_names for k in range(n_frames) for attr in (*attributes, "present")
        )

    def feature_descriptions(self, n_frames: int = 2, attributes: Sequence[str] = ("x", "y")) -> tuple[str, ...]:
        attributes = self.check_attributes(attributes)
        out = []
        for slot, text in zip(self.slot_names, self.slot_descriptions):
            for k in range(n_frames):
                when = "newest frame" if k == 0 else f"{k} agent step{'s' if k > 1 else ''} earlier"
                for attr in attributes:
                    out.append(f"{text}: {_ATTRIBUTE_TEXT[attr]}, {when}; 0 when absent.")
                out.append(f"{text}: 1 if present, 0 if absent, {when}.")
        return tuple(out)

    def to_vector(self, frames: Sequence[SlotFrame], attributes: Sequence[str] = ("x", "y")) -> np.ndarray:
        """Flatten frames (newest first) in the order of `feature_names`."""
        attributes = self.check_attributes(attributes)
        columns = []
        for f in frames:
            parts = {"x": f.centre[:, 0], "y": f.centre[:, 1], "w": f.size[:, 0], "h": f.size[:, 1]}
            columns.append(np.stack([parts[a] for a in attributes] + [f.present], axis=1))  # (S, A+1)
        return np.stack(columns, axis=1).reshape(-1).astype(np.float32)  # (S, K, A+1) flattened
