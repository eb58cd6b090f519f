"""Frames -> object slots: labellers, frame-object datasets and INSIGHT's perception CNN (torch, no Ray)."""

from nsrl_ray.perception.dataset import FrameDataset, load_frame_dataset, record_frames, write_shard
from nsrl_ray.perception.labellers import (
    LABELLERS,
    ColourLabeller,
    Labeller,
    NearestMatchTracker,
    RamLabeller,
    SamLabeller,
    make_labeller,
    segment_by_colour,
)
from nsrl_ray.perception.model import PerceptionCNN, perception_feature_names
from nsrl_ray.perception.train import (
    PerceptionTrainConfig,
    focal_loss,
    mean_baseline_mae,
    perception_loss,
    perception_metrics,
    rarity_weights,
    train_perception,
)

__all__ = [
    "LABELLERS", "ColourLabeller", "FrameDataset", "Labeller", "NearestMatchTracker", "PerceptionCNN",
    "PerceptionTrainConfig", "RamLabeller", "SamLabeller", "focal_loss", "load_frame_dataset", "make_labeller",
    "mean_baseline_mae", "perception_feature_names", "perception_loss", "perception_metrics", "rarity_weights",
    "record_frames", "segment_by_colour", "train_perception", "write_shard",
]
