"""Attention overlays: a 14×14 mask (or any saliency grid) drawn over the screen, as images, gifs and TensorBoard videos.

IFE's recipe: the mask is min-max scaled, resized to the frame and blended with it (0.6·frame +
0.4·colour-mapped mask). No Ray here: callers pass frames and masks as arrays.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

__all__ = ["blend", "heatmap", "log_video_tensorboard", "overlay_frames", "write_gif"]


def heatmap(mask: np.ndarray, size: tuple[int, int], colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Min-max scale a 2-D mask, resize it to ``size`` = (height, width) and colour-map it: (H, W, 3) uint8 RGB."""
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError(f"heatmap: got a mask of shape {mask.shape}, expected a 2-D grid such as (14, 14).")
    low, high = float(mask.min()), float(mask.max())
    scaled = (mask - low) / (high - low) if high > low else np.zeros_like(mask)
    # Linear interpolation: a smooth map reads better than blocks, and cell centres keep their values.
    resized = cv2.resize(scaled, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap(np.clip(resized * 255.0, 0, 255).astype(np.uint8), colormap)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def blend(frame: np.ndarray, mask: np.ndarray, frame_weight: float = 0.6) -> np.ndarray:
    """The mask's heat map blended over an RGB (H, W, 3) or grey (H, W) frame: frame_weight·frame + (1 − frame_weight)·heat."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"blend: got a frame of shape {frame.shape}, expected (H, W, 3) RGB or (H, W) grey.")
    if not 0.0 <= frame_weight <= 1.0:
        raise ValueError(f"blend: frame_weight {frame_weight}, expected a value in [0, 1].")
    heat = heatmap(mask, frame.shape[:2]).astype(np.float32)
    mixed = frame_weight * frame.astype(np.float32) + (1.0 - frame_weight) * heat
    return np.clip(mixed, 0, 255).astype(np.uint8)


def overlay_frames(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], scale: int = 2,
                   frame_weight: float = 0.6) -> list[np.ndarray]:
    """Blend each mask over its frame; ``scale`` enlarges the result (nearest) so the 14×14 cells stay visible."""
    if len(frames) != len(masks):
        raise ValueError(f"overlay_frames: {len(frames)} frames but {len(masks)} masks; expected one mask per frame.")
    out = []
    for frame, mask in zip(frames, masks):
        image = blend(frame, mask, frame_weight)
        if scale != 1:
            image = cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        out.append(image)
    return out


def _gif_bytes(frames: Sequence[np.ndarray], fps: int) -> bytes:
    import imageio.v2 as imageio

    buffer = io.BytesIO()
    imageio.mimsave(buffer, [np.asarray(f, dtype=np.uint8) for f in frames], format="GIF", duration=1.0 / fps, loop=0)
    return buffer.getvalue()


def write_gif(path: str | Path, frames: Sequence[np.ndarray], fps: int = 15) -> Path:
    """Write frames as a looping gif (through a temporary file, so a crash never leaves half a video)."""
    if not frames:
        raise ValueError(f"write_gif {path}: no frames to write.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(_gif_bytes(frames, fps))
    tmp.replace(path)
    return path


def log_video_tensorboard(logdir: str | Path, tag: str, frames: Sequence[np.ndarray], step: int = 0, fps: int = 15) -> None:
    """Log frames to TensorBoard as an animated gif in the Images tab (what tensorboardX's add_video writes,
    encoded here with imageio so moviepy is not needed)."""
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary

    if not frames:
        raise ValueError(f"log_video_tensorboard {tag}: no frames to log.")
    height, width = np.asarray(frames[0]).shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=_gif_bytes(frames, fps))
    writer = SummaryWriter(str(logdir))
    try:
        writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
    finally:
        writer.close()
