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
from nsrl_ray.pipeline.leaderboard import write_leaderboard
from nsrl_ray.pipeline.resources import fit_to_cluster, trial_bundles
from nsrl_ray.pipeline.trial import ARTIFACTS, run_trial
from nsrl_ray.pipeline.tune_search import num_samples, param_space, scheduler


@dataclass
class TrialSummary:
    """What one seed's trial produced."""

    seed: int
    path: Path
    error: str | None = None
    stage_results: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    """The searched settings' values in this trial."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The last value of every `group/metric` the trial reported."""
    finished: bool = False
    """Whether the trial ran all its stages."""

    @property
    def artifacts(self) -> Path:
        return self.path / ARTIFACTS


@dataclass
class ExperimentSummary:
    name: str
    path: Path
    trials: list[TrialSummary]
    best: TrialSummary | None = None

    @property
    def failed(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.error]

    @property
    def incomplete(self) -> list[TrialSummary]:
        """Trials that stopped before their last stage without an error (an interrupted run)."""
        return [t for t in self.trials if not t.error and not t.finished]


def trial_resources(config: ExperimentConfig) -> tune.PlacementGroupFactory:
    """The trial's placement group; actors started inside the trial land in its bundles."""
    return tune.PlacementGroupFactory(trial_bundles(config))


def _start_ray(address: str | None) -> bool:
    """Connect to ``address`` or start a local instance; True when this call started Ray."""
    if ray.is_initialized():
        return False
    if address:
        # A cluster (or the Ray job this driver runs in) brings its own runtime environment;
        # Ray already gives each worker OMP_NUM_THREADS equal to its CPUs.
        ray.init(address=address, log_to_driver=False)
    else:
        # address="local": always a new instance, never one a `ray start` on this machine left behind.
        ray.init(address="local", include_dashboard=False, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}}, log_to_driver=False)
    return True


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}


def run_experiment(
    config: ExperimentConfig,
    address: str | None = None,
    write: Callable[[str], None] | None = None,
    resume: bool = False,
) -> ExperimentSummary:
    """Run every seed (× every searched setting) as a Tune trial; stages run in order inside each trial.

    With ``resume`` an interrupted experiment of the same name continues: finished trials stay,
    the others restart from their last checkpoint (the last completed stage, or inside the teacher).
    """
    # Tune's own console output would repeat ours and point TensorBoard at the wrong folder.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Each stage reports its own metrics; schedulers act on the rows that carry theirs.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    storage = Path(config.storage_path).expanduser().resolve()
    experiment_path = storage / config.name
    if resume and not tune.Tuner.can_restore(str(experiment_path)):
        raise ConfigError(f"--resume: nothing to resume at {experiment_path} (no Tune experiment state there); run without --resume.")
    started_ray = _start_ray(address)
    try:
        cluster = ray.cluster_resources()
        config, changes = fit_to_cluster(config, cluster.get("CPU", 0), cluster.get("GPU", 0))
        if changes and write is not None:
            write("scaled down to fit this Ray cluster: " + "; ".join(changes))
        storage.mkdir(parents=True, exist_ok=True)
        callbacks: list[Any] = [GroupedTensorBoardCallback()]
        if write is not None:
            callbacks.append(StageProgressCallback(write))
        trainable = tune.with_resources(run_trial, trial_resources(config))
        run_config = tune.RunConfig(
            name=config.name,
            storage_path=str(storage),
            callbacks=callbacks,
            verbose=0,
            # PBT trials restore from each other's checkpoints: deleting old ones breaks exploits.
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if config.search and config.search.scheduler == "pbt" else 2
            ),
        )
        if resume:
            tuner = tune.Tuner.restore(
                str(experiment_path), trainable, resume_unfinished=True, resume_errored=True,
                param_space=param_space(config, to_mapping(config)),
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space(config, to_mapping(config)),
                tune_config=tune.TuneConfig(
                    num_samples=num_samples(config),
                    scheduler=scheduler(config),
                    max_concurrent_trials=config.resources.max_concurrent_trials,
                    trial_dirname_creator=lambda trial: f"seed_{trial.config['seed']}_{trial.trial_id}",
                ),
                run_config=run_config,
            )
        grid = tuner.fit()
        experiment_dir = Path(grid.experiment_path)
        write_text_atomic(experiment_dir / "experiment.yaml", dump_experiment(config))
        trials = [_trial_summary(result) for result in grid]
        trials.sort(key=lambda t: (t.seed, str(t.path)))
        summary = ExperimentSummary(config.name, experiment_dir, trials)
        if config.search is not None:
            summary.best = write_leaderboard(summary, config.search.metric, config.search.mode)
        return summary
    finally:
        if started_ray:
            ray.shutdown()


def _trial_summary(result: Any) -> TrialSummary:
    path = Path(result.path)
    artifacts = path / ARTIFACTS
    card = _read_json(artifacts / POLICY_JSON)
    metrics = result.metrics or {}
    return TrialSummary(
        seed=int(result.config["seed"]),
        path=path,
        error=str(result.error).strip().splitlines()[-1] if result.error else None,
        stage_results=_read_json(artifacts / STAGE_RESULTS),
        evaluation=_read_json(artifacts / EVALUATION).get("metrics", {}),
        formulas={a["name"]: a.get("display", a["formula"]) for a in card.get("actions", [])}
        or ({"program": card["program"]} if isinstance(card.get("program"), str) else {}),  # a Karel program card
        params=dict(result.config.get("space") or {}),
        metrics={k: v for k, v in metrics.items() if "/" in k and isinstance(v, (int, float))},
        finished=metrics.get("stage") == "done",
    )


def format_summary(summary: ExperimentSummary) -> str:
    """The closing lines of `nsrl run`: returns, formula, where things are, how to open TensorBoard."""
    lines = [f"experiment {summary.name}: {summary.path}"]
    for trial in summary.trials:
        searched = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}" for k, v in trial.params.items())
        lines.append(f"  seed {trial.seed}{' (' + searched + ')' if searched else ''}: {trial.path}")
        if trial.error:
            lines.append(f"    FAILED: {trial.error}")
            continue
        if not trial.finished:
            lines.append("    INTERRUPTED before its last stage: continue it with `nsrl run FILE --resume`")
        ev = trial.evaluation
        teacher = trial.stage_results.get("teacher", {})
        if ev and "teacher_return_mean" not in ev:  # a program scored on task instances, no teacher
            lines.append(f"    program return {ev['return_mean']:.3f} ± {ev['return_std']:.3f} over {ev['episodes']} task instances")
        elif ev:
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
    if summary.best is not None:
        card = summary.path / "best" / POLICY_JSON
        lines.append(f"best trial: {summary.best.path.name}; leaderboard: {summary.path / 'leaderboard.md'}"
                     + (f"; its policy card: {card}" if card.is_file() else ""))
    lines.append(f"TensorBoard: tensorboard --logdir {summary.path}")
    return "\n".join(lines)
