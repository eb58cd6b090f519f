"""Symbolic learner `karel_vae`: LEAPS's program embedding, trained as a stage (no policy card).

It generates the program dataset in chunks on Ray (one remote call per chunk; `num_actors: 0`
generates in process) into `artifacts/karel_programs/` shards, trains the program VAE there, reports
`vae/*` losses and accuracies to TensorBoard, checkpoints the trainer's whole state every
`checkpoint_every` steps (a resumed trial continues from the last one), and writes
`artifacts/karel_vae.pt` (and a copy at `export_path`) for the `karel_latent_cem` learner.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

from nsrl_ray.config.schema import KarelVAESettings
from nsrl_ray.pipeline.context import StageContext
from nsrl_ray.pipeline.seeding import stage_seed
from nsrl_ray.symbolic.karel.embedding.dataset import DatasetSpec, generate_chunk, load_shards, merge_chunks, read_meta, save_shards
from nsrl_ray.symbolic.karel.embedding.vae import (
    LossWeights,
    ProgramVAE,
    TrainingData,
    VAEArchitecture,
    VAETrainer,
    evaluate_vae,
    save_vae,
)

DATASET_FOLDER = "karel_programs"
MODEL_FILE = "karel_vae.pt"
TRAINER_FILE = "karel_vae_trainer.pt"


@ray.remote
def _generate_chunk_remote(spec: DatasetSpec, seed: int, index: int) -> dict[str, np.ndarray]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return generate_chunk(spec, seed, index)


def launch_path(path: str) -> Path:
    """A path from an experiment file: a relative one is taken from where `nsrl run` was started
    (Tune runs a trial in its own working directory, and keeps the original in TUNE_ORIG_WORKING_DIR)."""
    resolved = Path(path).expanduser()
    if resolved.is_absolute():
        return resolved
    return Path(os.environ.get("TUNE_ORIG_WORKING_DIR") or os.getcwd()) / resolved


def dataset_spec(settings: KarelVAESettings) -> DatasetSpec:
    return DatasetSpec(
        programs=settings.programs, demos_per_program=settings.demos_per_program, height=settings.demo_height,
        width=settings.demo_width, max_demo_length=settings.max_demo_length, max_tokens=settings.max_tokens,
        max_nesting=settings.max_nesting, max_block=settings.max_block, wall_prob=settings.wall_prob,
        marker_prob=settings.marker_prob, max_initial_markers=settings.max_initial_markers, chunk_size=settings.chunk_size,
    )


def generate_dataset(spec: DatasetSpec, seed: int, num_workers: int, cpus_per_worker: float = 1.0) -> dict[str, np.ndarray]:
    """All chunks, on Ray tasks (at most ``num_workers`` running at once) or in process for 0."""
    if num_workers == 0:
        return merge_chunks(generate_chunk(spec, seed, i) for i in range(spec.chunks))
    remote = _generate_chunk_remote.options(num_cpus=cpus_per_worker)
    results: dict[int, dict[str, np.ndarray]] = {}
    pending: dict[Any, int] = {}
    upcoming = iter(range(spec.chunks))
    for index in upcoming:  # keep a few chunks per worker in flight, so the results never pile up
        pending[remote.remote(spec, seed, index)] = index
        if len(pending) >= 2 * num_workers:
            break
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        results[pending.pop(done[0])] = ray.get(done[0])
        following = next(upcoming, None)
        if following is not None:
            pending[remote.remote(spec, seed, following)] = following
    return merge_chunks(results[i] for i in range(spec.chunks))


def _dataset(ctx: StageContext, settings: KarelVAESettings, seed: int) -> dict[str, np.ndarray]:
    """The trial's dataset: the shards already there when they match the settings (a resumed trial), else new ones."""
    folder = ctx.path(DATASET_FOLDER)
    spec = dataset_spec(settings)
    meta = read_meta(folder)
    if meta is not None and meta["seed"] == seed and meta["spec"] == asdict(spec):
        return load_shards(folder)
    started = time.perf_counter()
    data = generate_dataset(spec, seed, settings.num_actors, ctx.config.resources.cpus_per_actor)
    save_shards(folder, data, spec, seed, shard_size=settings.chunk_size)
    ctx.report("symbolic", {"vae/dataset_programs": float(len(data["program_ids"])),
                            "vae/dataset_seconds": time.perf_counter() - started})
    return data


def learn_karel_vae(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    if not isinstance(settings, KarelVAESettings):
        raise TypeError(f"learn_karel_vae needs KarelVAESettings, got {type(settings).__name__}.")
    seed = stage_seed(ctx.seed, "symbolic")
    torch.manual_seed(seed)
    data = _dataset(ctx, settings, seed)
    architecture = VAEArchitecture(settings.latent_dim, settings.hidden_size, settings.embedding_size,
                                   settings.policy_hidden_size, settings.max_tokens)
    model = ProgramVAE(architecture)
    tensors = TrainingData(data, settings.max_tokens, model.masks)
    order = np.random.default_rng(seed).permutation(len(tensors))
    n_valid = max(1, int(round(len(tensors) * settings.validation_fraction)))
    valid_rows, train_rows = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    weights = LossWeights(settings.reconstruction_weight, settings.kl_weight, settings.latent_behaviour_weight,
                          settings.program_behaviour_weight)
    trainer = VAETrainer(model, tensors, train_rows, weights, settings.learning_rate, settings.batch_size, seed,
                         settings.reinforce_programs, settings.grad_clip)
    position = ctx.resume_position("symbolic")
    state_path = ctx.path(TRAINER_FILE)
    if position is not None and state_path.is_file():
        trainer.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    started, last_step, last_time = time.perf_counter(), trainer.step_count, time.perf_counter()
    running: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    while trainer.step_count < settings.steps:
        for key, value in trainer.step().items():
            running.setdefault(key, []).append(value)
        step = trainer.step_count
        if step % settings.eval_every == 0 or step == settings.steps:
            now = time.perf_counter()
            metrics = {f"vae/train_{k}": float(np.mean(v)) for k, v in running.items()}
            metrics.update({f"vae/val_{k}": v for k, v in evaluate_vae(model, tensors, valid_rows).items()})
            metrics.update({"vae/step": float(step), "vae/steps_per_s": (step - last_step) / max(now - last_time, 1e-9),
                            "vae/train_seconds": now - started})
            running, last_step, last_time = {}, step, now
            if step % settings.checkpoint_every == 0 and step < settings.steps:
                torch.save(trainer.state_dict(), state_path)
                # An interrupted run still leaves a usable model (the latest checkpoint's).
                save_vae(ctx.path(MODEL_FILE), model, metrics, {"seed": ctx.seed, "experiment": ctx.config.name,
                                                                "step": step, "of_steps": settings.steps})
                ctx.report("symbolic", metrics, checkpoint={"step": step})
            else:
                ctx.report("symbolic", metrics)
    if not metrics:  # resumed after the last step
        metrics = {f"vae/val_{k}": v for k, v in evaluate_vae(model, tensors, valid_rows).items()}
    model_path = save_vae(ctx.path(MODEL_FILE), model, metrics,
                          {"seed": ctx.seed, "experiment": ctx.config.name, "programs": len(tensors), "step": trainer.step_count,
                           "dataset": asdict(dataset_spec(settings)), "loss_weights": asdict(weights)})
    state_path.unlink(missing_ok=True)
    outcome: dict[str, Any] = {"model": f"artifacts/{MODEL_FILE}", "programs": len(tensors), **{k.split("/", 1)[1]: v for k, v in metrics.items()}}
    if settings.export_path:
        export = launch_path(settings.export_path)
        export.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_path, export)
        outcome["exported"] = str(export.resolve())
    return outcome
