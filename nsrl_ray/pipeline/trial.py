"""One Tune trial: run the experiment's stages in order for one seed, handing artifacts on through its folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ray import tune

from nsrl_ray.config import parse_experiment
from nsrl_ray.pipeline.context import STAGE_RESULTS, StageContext, write_json_atomic
from nsrl_ray.pipeline.stages import stage_runner

ARTIFACTS = "artifacts"


def run_trial(params: dict[str, Any]) -> None:
    """Tune function trainable; ``params`` holds the experiment (plain data) and this trial's seed."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)  # a second thread on a busy core makes PPO updates several times slower
    config = parse_experiment(params["experiment"])
    seed = int(params["seed"])
    artifacts = Path(tune.get_context().get_trial_dir()) / ARTIFACTS
    artifacts.mkdir(parents=True, exist_ok=True)

    def reporter(stage: str, metrics: dict[str, Any]) -> None:
        tune.report({**metrics, "stage": stage, "seed": seed})

    ctx = StageContext(config=config, seed=seed, artifacts=artifacts, reporter=reporter)
    results: dict[str, Any] = {}
    for name in config.stages.enabled():
        started = time.perf_counter()
        outcome = stage_runner(name)(ctx)
        results[name] = {**outcome, "wall_s": time.perf_counter() - started}
        write_json_atomic(artifacts / STAGE_RESULTS, results)
    reporter("done", {f"time/{name}_s": r["wall_s"] for name, r in results.items()})
