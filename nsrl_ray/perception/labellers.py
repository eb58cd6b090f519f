"""Object labellers for frame datasets: RGB frame (+ RAM) -> one `SlotFrame` per step.

`RamLabeller` reads OCAtari's RAM objects (ground truth, semantic slot names); `ColourLabeller`
segments the RGB frame by colour and connected components and tracks objects by nearest match
(usable where no RAM table exists); `SamLabeller` plugs a SAM-style mask generator into the same
tracker when its weights are present locally (none are downloaded).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from nsrl_ray.envs.atari.games import AtariGame, get_game
from nsrl_ray.envs.atari.slots import SlotFrame, SlotTable

__all__ = [
    "LABELLERS",
    "ColourLabeller",
    "Detection",
    "Labeller",
    "NearestMatchTracker",
    "RamLabeller",
    "SamLabeller",
    "make_labeller",
    "segment_by_colour",
]


@runtime_checkable
class Labeller(Protocol):
    """Labels one frame at a time; `reset` starts a new episode (trackers forget their tracks)."""

    slot_names: tuple[str, ...]

    def reset(self) -> None: ...

    def label(self, rgb: np.ndarray, ram: np.ndarray | None = None) -> SlotFrame: ...


class RamLabeller:
    """OCAtari RAM ground truth mapped onto the game's slot table (default labeller)."""

    def __init__(self, game: str | AtariGame) -> None:
        import ocatari.ram  # noqa: F401  (imports every game's extractor module)
        from ocatari.ram.extract_ram_info import detect_objects_ram, init_objects

        from nsrl_ray.envs.atari.ocatari_compat import apply_patches

        apply_patches()
        self.game = get_game(game)
        self.table = SlotTable(self.game)
        self.slot_names = self.table.slot_names
        self._init, self._detect = init_objects, detect_objects_ram
        self.reset()

    def reset(self) -> None:
        self._objects = self._init(self.game.name, False)

    def label(self, rgb: np.ndarray, ram: np.ndarray | None = None) -> SlotFrame:
        if ram is None:
            raise ValueError("RamLabeller needs the RAM of the frame (128 uint8 bytes); got ram=None.")
        with np.errstate(over="ignore"):  # OCAtari's uint8 RAM arithmetic wraps on purpose
            self._detect(self._objects, ram, self.game.name, False)
        return self.table.extract(self._objects)


class Detection:
    """One segmented object: centre and size normalised by the screen, its colour key, its area."""

    __slots__ = ("area", "centre", "colour", "size")

    def __init__(self, centre: tuple[float, float], size: tuple[float, float], colour: int, area: int) -> None:
        self.centre, self.size, self.colour, self.area = centre, size, colour, area


class NearestMatchTracker:
    """Keeps detections in stable slots: each frame, detections are matched to the previous frame's
    tracks of the same colour by nearest centre (Hungarian assignment); unmatched ones take free slots."""

    def __init__(self, n_slots: int, max_distance: float = 0.1, max_missing: int = 4) -> None:
        if n_slots < 1:
            raise ValueError(f"n_slots must be >= 1, got {n_slots}.")
        self.n_slots, self.max_distance, self.max_missing = n_slots, max_distance, max_missing
        self.reset()

    def reset(self) -> None:
        # slot -> (colour, centre, frames missing)
        self._tracks: dict[int, tuple[int, np.ndarray, int]] = {}

    def update(self, detections: Sequence[Detection]) -> SlotFrame:
        from scipy.optimize import linear_sum_assignment

        frame = SlotFrame.empty(self.n_slots)
        slots = sorted(self._tracks)
        assigned: dict[int, Detection] = {}
        if slots and detections:
            cost = np.full((len(detections), len(slots)), 1e6)
            for i, d in enumerate(detections):
                for j, s in enumerate(slots):
                    colour, centre, _ = self._tracks[s]
                    if colour == d.colour:
                        cost[i, j] = float(np.hypot(*(np.asarray(d.centre) - centre)))
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] <= self.max_distance:
                    assigned[slots[j]] = detections[i]
        used = {id(d) for d in assigned.values()}
        # Larger objects claim free slots first, so a slot overflow drops specks, not players.
        for d in sorted((d for d in detections if id(d) not in used), key=lambda d: -d.area):
            free = next((s for s in range(self.n_slots) if s not in self._tracks and s not in assigned), None)
            if free is None:
                break
            assigned[free] = d
        for s in list(self._tracks):
            if s not in assigned:
                colour, centre, missing = self._tracks[s]
                if missing + 1 > self.max_missing:
                    del self._tracks[s]
                else:
                    self._tracks[s] = (colour, centre, missing + 1)
        for s, d in assigned.items():
            self._tracks[s] = (d.colour, np.asarray(d.centre, dtype=np.float64), 0)
            frame.centre[s], frame.size[s], frame.present[s] = d.centre, d.size, 1.0
        return frame


def _colour_key(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def segment_by_colour(
    rgb: np.ndarray, *, min_area: int = 2, max_area_fraction: float = 0.1, ignore_rows: tuple[int, int] = (0, 0)
) -> list[Detection]:
    """Connected components of every non-background colour (background = the most frequent colour)."""
    from scipy import ndimage

    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB frame of shape (H, W, 3), got {rgb.shape}.")
    height, width = rgb.shape[:2]
    keys = _colour_key(rgb)
    top, bottom = ignore_rows
    region = keys[top: height - bottom if bottom else height]
    colours, counts = np.unique(region, return_counts=True)
    background = colours[np.argmax(counts)]
    max_area = max_area_fraction * height * width
    detections: list[Detection] = []
    for colour in colours:
        if colour == background:
            continue
        labels, n = ndimage.label(region == colour)
        if n == 0:
            continue
        areas = np.bincount(labels.ravel())[1:]
        for index, box in enumerate(ndimage.find_objects(labels)):
            area = int(areas[index])
            if box is None or not (min_area <= area <= max_area):
                continue
            rows, cols = box
            y0, y1, x0, x1 = rows.start + top, rows.stop + top, cols.start, cols.stop
            detections.append(Detection(
                ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height), ((x1 - x0) / width, (y1 - y0) / height),
                int(colour), area,
            ))
    return detections


class ColourLabeller:
    """Unsupervised labels: colour segmentation + connected components + nearest-match tracking.

    Slots carry no semantics, so they are named `object1`, `object2`, ...
    """

    def __init__(self, n_slots: int = 16, *, min_area: int = 2, max_area_fraction: float = 0.1,
                 max_distance: float = 0.1, ignore_rows: tuple[int, int] = (0, 0)) -> None:
        self.slot_names = tuple(f"object{i + 1}" for i in range(n_slots))
        self.segment_options = dict(min_area=min_area, max_area_fraction=max_area_fraction, ignore_rows=ignore_rows)
        self.tracker = NearestMatchTracker(n_slots, max_distance=max_distance)

    def reset(self) -> None:
        self.tracker.reset()

    def label(self, rgb: np.ndarray, ram: np.ndarray | None = None) -> SlotFrame:
        return self.tracker.update(segment_by_colour(rgb, **self.segment_options))


MaskGenerator = Callable[[np.ndarray], Sequence[np.ndarray]]
_SAM_ENV = "NSRL_SAM_CHECKPOINT"


class SamLabeller:
    """A SAM-style segmenter (FastSAM, SAM) feeding the nearest-match tracker.

    Needs local weights: `checkpoint` or the environment variable NSRL_SAM_CHECKPOINT. Nothing is
    downloaded. `mask_generator` (RGB frame -> boolean masks) may be given directly instead; by
    default one is built with `ultralytics.FastSAM` when that package is installed.
    """

    def __init__(self, n_slots: int = 16, *, checkpoint: str | os.PathLike | None = None,
                 mask_generator: MaskGenerator | None = None, min_area: int = 2,
                 max_area_fraction: float = 0.1, max_distance: float = 0.1) -> None:
        if mask_generator is None:
            mask_generator = self._load(checkpoint)
        self.mask_generator = mask_generator
        self.slot_names = tuple(f"object{i + 1}" for i in range(n_slots))
        self.min_area, self.max_area_fraction = min_area, max_area_fraction
        self.tracker = NearestMatchTracker(n_slots, max_distance=max_distance)

    @staticmethod
    def _load(checkpoint: str | os.PathLike | None) -> MaskGenerator:
        path = checkpoint or os.environ.get(_SAM_ENV)
        if not path or not Path(path).is_file():
            raise FileNotFoundError(
                f"labeller 'sam' needs local segmenter weights, got checkpoint={path!r} (no such file). "
                f"Weights are never downloaded: put a FastSAM checkpoint (e.g. FastSAM-s.pt) on disk and pass "
                f"checkpoint=PATH or set {_SAM_ENV}; or use labeller 'ocatari_ram' (default) or 'colour'."
            )
        try:
            from ultralytics import FastSAM  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError(
                "labeller 'sam' found weights but not the `ultralytics` package that runs FastSAM; install it, "
                "or pass mask_generator=callable(rgb) -> list of boolean masks."
            ) from exc
        model = FastSAM(str(path))

        def generate(rgb: np.ndarray) -> list[np.ndarray]:
            result = model(rgb, verbose=False, retina_masks=True)[0]
            return [] if result.masks is None else [m.astype(bool) for m in result.masks.data.cpu().numpy()]

        return generate

    def reset(self) -> None:
        self.tracker.reset()

    def label(self, rgb: np.ndarray, ram: np.ndarray | None = None) -> SlotFrame:
        height, width = rgb.shape[:2]
        keys = _colour_key(rgb)
        detections = []
        for mask in self.mask_generator(rgb):
            area = int(mask.sum())
            if not (self.min_area <= area <= self.max_area_fraction * height * width):
                continue
            ys, xs = np.nonzero(mask)
            values, counts = np.unique(keys[mask], return_counts=True)
            colour = int(values[counts.argmax()])  # the mask's dominant colour keys the tracker
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            detections.append(Detection(((xs.mean() + 0.5) / width, (ys.mean() + 0.5) / height),
                                        ((x1 - x0) / width, (y1 - y0) / height), colour, area))
        return self.tracker.update(detections)


LABELLERS = ("ocatari_ram", "colour", "sam")


def make_labeller(kind: str, game: str | AtariGame, **options) -> Labeller:
    """'ocatari_ram' (default, semantic slots), 'colour' (unsupervised) or 'sam' (local weights)."""
    if kind == "ocatari_ram":
        return RamLabeller(game, **options)
    if kind == "colour":
        return ColourLabeller(**options)
    if kind == "sam":
        return SamLabeller(**options)
    import difflib

    close = difflib.get_close_matches(str(kind), LABELLERS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown labeller {kind!r}.{hint} Expected one of {LABELLERS}.")

