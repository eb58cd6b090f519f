"""One Tune trial: run the experiment's stages in order for one seed, handing artifacts on through its folder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ray import tune

from nsrl_ray.config import apply_overrides, parse_experiment
from nsrl_ray.config.schema import ResourcesConfig
from nsrl_ray.pipeline.checkpointing import TrialProgress, checkpoint_of, restore_checkpoint
from nsrl_ray.pipeline.context import STAGE_RESULTS, StageContext, write_json_atomic
from nsrl_ray.pipeline.stages import stage_runner

ARTIFACTS = "artifacts"


def trial_config(params: dict[str, Any]):
    """The trial's experiment: the file's settings with this trial's searched values put in."""
    return parse_experiment(apply_overrides(params["experiment"], params.get("space") or {}))


def torch_threads(resources: ResourcesConfig) -> int:
    """Torch threads of the trial process: `learner_threads` where set, else the whole CPUs it reserved (≥ 1).

    Not more by default: a thread on a core that an EnvRunner or another trial holds makes PPO updates
    several times slower. A learner given `cpus_per_trial: 4` on a cluster node updates on 4 threads.
    """
    return resources.learner_threads or max(1, int(resources.cpus_per_trial))


def run_trial(params: dict[str, Any]) -> None:
    """Tune function trainable; ``params`` holds the experiment (plain data), the seed and searched values."""
    os.environ["OMP_NUM_THREADS"] = "1"  # libraries that read it (numpy's BLAS) stay on one thread
    import torch

    config = trial_config(params)
    torch.set_num_threads(torch_threads(config.resources))
    seed = int(params["seed"])
    artifacts = Path(tune.get_context().get_trial_dir()) / ARTIFACTS
    checkpoint = tune.get_checkpoint()
    progress = restore_checkpoint(checkpoint, artifacts) if checkpoint else TrialProgress()
    artifacts.mkdir(parents=True, exist_ok=True)
    latest: dict[str, Any] = {}  # the last value of every metric: the trial's final row holds them all

    def reporter(stage: str, metrics: dict[str, Any], position: dict[str, Any] | None = None) -> None:
        latest.update(metrics)
        row = {**metrics, "stage": stage, "seed": seed}
        if position is None:
            tune.report(row)
            return
        progress.running = {"stage": stage, **position}
        with checkpoint_of(artifacts, progress) as saved:
            tune.report(row, checkpoint=saved)

    ctx = StageContext(config=config, seed=seed, artifacts=artifacts, reporter=reporter, resume=dict(progress.running))
    results_path = artifacts / STAGE_RESULTS
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name in config.stages.enabled():
        if name in progress.completed:
            continue  # finished before a resume: its artifacts stay as they are
        started = time.perf_counter()
        outcome = stage_runner(name)(ctx)
        results[name] = {**outcome, "wall_s": time.perf_counter() - started}
        write_json_atomic(results_path, results)
        progress.completed.append(name)
        progress.running = {}
        ctx.resume = {}
        with checkpoint_of(artifacts, progress) as saved:
            tune.report({f"time/{name}_s": results[name]["wall_s"], "stage": name, "seed": seed}, checkpoint=saved)
    tune.report({**latest, **{f"time/{n}_s": r["wall_s"] for n, r in results.items()}, "stage": "done", "seed": seed})
