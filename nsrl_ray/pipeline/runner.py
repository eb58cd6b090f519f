"""Run an experiment as a Ray Tune experiment (one trial per seed) and summarise what it produced."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from nsrl_ray.config import ConfigError, ExperimentConfig, dump_experiment, to_mapping
from nsrl_ray.pipeline.callbacks import GroupedTensorBoardCallback, StageProgressCallback
from nsrl_ray.pipeline.context import EVALUATION, POLICY_JSON, STAGE_RESULTS, write_text_atomic
from nsrl_ray.pipeline.trial import ARTIFACTS, run_trial


@dataclass
class TrialSummary:
    """What one seed's trial produced."""

    seed: int
    path: Path
    error: str | None = None
    stage_results: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)

    @property
    def artifacts(self) -> Path:
        return self.path / ARTIFACTS


@dataclass
class ExperimentSummary:
    name: str
    path: Path
    trials: list[TrialSummary]

    @property
    def failed(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.error]


def trial_resources(config: ExperimentConfig) -> tune.PlacementGroupFactory:
    """One bundle for the trial process, one per actor its busiest stage runs (children land in them)."""
    res = config.resources
    bundles = [{"CPU": res.cpus_per_trial}] + [{"CPU": res.cpus_per_actor}] * config.actors_needed()
    return tune.PlacementGroupFactory(bundles)


def check_resources(config: ExperimentConfig, available_cpus: float) -> None:
    """Refuse a trial that can never be placed (Tune would leave it PENDING forever, silently)."""
    needed = sum(bundle.get("CPU", 0) for bundle in trial_resources(config).bundles)
    if needed > available_cpus:
        raise ConfigError(
            f"one trial needs {needed:g} CPUs (resources.cpus_per_trial={config.resources.cpus_per_trial:g} + "
            f"{config.actors_needed()} actor(s) × resources.cpus_per_actor={config.resources.cpus_per_actor:g}) "
            f"but the Ray cluster has {available_cpus:g}. Lower num_env_runners/num_actors or cpus_per_actor, "
            "or connect to a bigger cluster with --address."
        )


def _start_ray(address: str | None) -> bool:
    """Connect to ``address`` or start a local instance; True when this call started Ray."""
    if ray.is_initialized():
        return False
    env = {"env_vars": {"OMP_NUM_THREADS": "1"}}
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, runtime_env=env, log_to_driver=False)
    return True


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}


def run_experiment(
    config: ExperimentConfig,
    address: str | None = None,
    write: Callable[[str], None] | None = None,
) -> ExperimentSummary:
    """Run every seed as a Tune trial; stages run in order inside each trial."""
    # Tune's own console output would repeat ours and point TensorBoard at the wrong folder.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    started_ray = _start_ray(address)
    try:
        check_resources(config, ray.cluster_resources().get("CPU", 0))
        storage = Path(config.storage_path).expanduser().resolve()
        storage.mkdir(parents=True, exist_ok=True)
        callbacks: list[Any] = [GroupedTensorBoardCallback()]
        if write is not None:
            callbacks.append(StageProgressCallback(write))
        tuner = tune.Tuner(
            tune.with_resources(run_trial, trial_resources(config)),
            param_space={"experiment": to_mapping(config), "seed": tune.grid_search(list(config.seeds))},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=config.resources.max_concurrent_trials,
                trial_dirname_creator=lambda trial: f"seed_{trial.config['seed']}_{trial.trial_id}",
            ),
            run_config=tune.RunConfig(name=config.name, storage_path=str(storage), callbacks=callbacks, verbose=0),
        )
        grid = tuner.fit()
        experiment_dir = Path(grid.experiment_path)
        write_text_atomic(experiment_dir / "experiment.yaml", dump_experiment(config))
        trials = []
        for result in grid:
            path = Path(result.path)
            seed = int(result.config["seed"])
            artifacts = path / ARTIFACTS
            card = _read_json(artifacts / POLICY_JSON)
            trials.append(
                TrialSummary(
                    seed=seed,
                    path=path,
                    error=str(result.error).strip().splitlines()[-1] if result.error else None,
                    stage_results=_read_json(artifacts / STAGE_RESULTS),
                    evaluation=_read_json(artifacts / EVALUATION).get("metrics", {}),
                    formulas={a["name"]: a.get("display", a["formula"]) for a in card.get("actions", [])},
                )
            )
        trials.sort(key=lambda t: t.seed)
        return ExperimentSummary(config.name, experiment_dir, trials)
    finally:
        if started_ray:
            ray.shutdown()


def format_summary(summary: ExperimentSummary) -> str:
    """The closing lines of `nsrl run`: returns, formula, where things are, how to open TensorBoard."""
    lines = [f"experiment {summary.name}: {summary.path}"]
    for trial in summary.trials:
        lines.append(f"  seed {trial.seed}: {trial.path}")
        if trial.error:
            lines.append(f"    FAILED: {trial.error}")
            continue
        ev = trial.evaluation
        teacher = trial.stage_results.get("teacher", {})
        if ev:
            lines.append(
                f"    teacher return {ev['teacher_return_mean']:.1f} ± {ev['teacher_return_std']:.1f}; "
                f"symbolic return {ev['return_mean']:.1f} ± {ev['return_std']:.1f} over {ev['episodes']} episodes"
                + (f"; agreement {ev['agreement']:.1%}" if "agreement" in ev else "")
            )
        elif teacher:
            lines.append(f"    teacher training return {teacher.get('return_mean', float('nan')):.1f}")
        for action, formula in trial.formulas.items():
            lines.append(f"    {action} = {formula}")
        if trial.formulas:
            lines.append(f"    policy card: {trial.artifacts / POLICY_JSON}")
        explanation = trial.stage_results.get("explain", {}).get("summary")
        if explanation:
            lines.append(f"    explanation: {explanation}")
        times = ", ".join(f"{name} {r['wall_s']:.1f}s" for name, r in trial.stage_results.items())
        if times:
            lines.append(f"    stage wall time: {times}")
    lines.append(f"TensorBoard: tensorboard --logdir {summary.path}")
    return "\n".join(lines)
