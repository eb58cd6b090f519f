"""Stage `perceive`: record a frame–object dataset on Ray actors, pre-train INSIGHT's object detector on it.

Writes `frames/` (the dataset shards) and `perception/perception.pt` (the CNN) into the trial's
artifacts; reports coordinate MAE, the mean-position baseline's MAE, and existence precision,
recall and F1 on the held-out last share of the samples (by time, as INSIGHT splits).
The MAE on the objects of the final formula is reported by the learner that writes the formula.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from nsrl_ray.pipeline.context import TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.seeding import stage_seed

#: Artifact names the INSIGHT learner reads.
FRAMES = "frames"
PERCEPTION = "perception/perception.pt"


class TeacherFramePolicy:
    """The teacher module as a picklable frame policy for the recording actors (loaded on first use)."""

    def __init__(self, module_path: str) -> None:
        self.module_path = module_path
        self._teacher: Any = None

    def __call__(self, obs: np.ndarray) -> int:
        if self._teacher is None:
            from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

            self._teacher = TeacherPolicy(self.module_path, "discrete")
        return int(self._teacher.act(np.asarray(obs)[None])[0])


def game_of(env_name: str) -> str:
    """'PongPixels-v0' -> 'Pong'."""
    from nsrl_ray.envs.atari import get_game

    return get_game(env_name.removesuffix("Pixels-v0")).name


def perception_options(settings: Any) -> dict[str, Any]:
    return {"channels": list(settings.channels), "hidden": int(settings.hidden),
            "coordinate_head": settings.coordinate_head, "input_norm": settings.input_norm, "n_frames": 4}


def run_perceive(ctx: StageContext) -> dict:
    import ray
    import torch

    from nsrl_ray.perception.dataset import load_frame_dataset
    from nsrl_ray.perception.model import PerceptionCNN
    from nsrl_ray.perception.train import PerceptionTrainConfig, mean_baseline_mae, perception_metrics, train_perception
    from nsrl_ray.pipeline.frame_dataset import collect_frame_dataset
    from nsrl_ray.rl_modules.insight_algo import save_perception

    settings = ctx.config.stages.perceive
    assert settings is not None
    game = game_of(ctx.config.env)
    seed = stage_seed(ctx.seed, "perceive")
    started = time.perf_counter()
    folder = ctx.path(FRAMES)
    shutil.rmtree(folder, ignore_errors=True)  # a rerun must not mix old shards in
    teacher = settings.policy == "teacher"
    policy = TeacherFramePolicy(str(ctx.path(TEACHER_MODULE))) if teacher else None
    if not ray.is_initialized():  # outside Tune (a script or a test) the stage starts its own local Ray
        ray.init(num_cpus=max(1, settings.num_actors), include_dashboard=False, log_to_driver=False)
    collect_frame_dataset(
        game, folder, steps=settings.frames, shard_steps=settings.shard_steps, num_actors=settings.num_actors,
        cpus_per_actor=ctx.config.resources.cpus_per_actor, seed=seed, epsilon=settings.epsilon if teacher else 1.0,
        policy=policy, labeller=settings.labeller,
        on_shard=lambda done, total: ctx.report("perceive", {"shards_done": done, "shards_total": total}),
    )
    record_s = time.perf_counter() - started
    data = load_frame_dataset(folder)
    train, validation = data.split_by_time(1.0 - settings.validation_fraction)
    torch.manual_seed(seed)
    options = perception_options(settings)
    model = PerceptionCNN(data.slot_names, n_frames=data.n_label_frames, channels=tuple(settings.channels),
                          hidden=settings.hidden, coordinate_head=settings.coordinate_head,
                          input_norm=settings.input_norm)
    config = PerceptionTrainConfig(steps=settings.train_steps, batch_size=settings.batch_size, lr=settings.lr,
                                   weight_decay=settings.weight_decay, seed=seed)
    trained = time.perf_counter()
    report_every = max(1, settings.train_steps // 20)

    def on_step(row: dict[str, float]) -> None:
        if int(row["step"]) % report_every < 50 or int(row["step"]) == settings.train_steps - 1:
            ctx.report("perceive", {"train_loss": row["loss"], "train_coordinate_l1": row["coordinates"],
                                    "train_step": int(row["step"])})

    history = train_perception(model, train, config, on_step=on_step)
    metrics: dict[str, Any] = {f"{k}": float(v) for k, v in perception_metrics(model, validation).items()}
    metrics.update({
        "baseline_mae": mean_baseline_mae(train, validation),
        "train_loss": history[-1]["loss"] if history else float("nan"),
        "samples": len(data),
        "validation_samples": len(validation),
        "slots": len(data.slot_names),
        "record_time_s": record_s,
        "train_time_s": time.perf_counter() - trained,
        "time_s": time.perf_counter() - started,
    })
    path = save_perception(model, options, ctx.path(PERCEPTION))
    ctx.report("perceive", metrics)
    return {**metrics, "model": str(path), "frames": str(folder), "slot_names": list(data.slot_names)}


def validation_split(artifacts: Path, fraction: float):
    """The held-out frames of the perceive stage's dataset (for metrics after policy learning)."""
    from nsrl_ray.perception.dataset import load_frame_dataset

    return load_frame_dataset(artifacts / FRAMES).split_by_time(1.0 - fraction)
