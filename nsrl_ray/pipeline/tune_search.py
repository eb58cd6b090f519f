"""The experiment file's search section in Ray Tune's terms: spaces, scheduler, metric."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining, TrialScheduler

from nsrl_ray.config import ExperimentConfig
from nsrl_ray.config.search_space import SearchDimension


def to_tune_domain(dimension: SearchDimension) -> Any:
    """One searched setting as a Tune search-space object."""
    values = list(dimension.values)
    if dimension.kind == "grid":
        return tune.grid_search(values)
    if dimension.kind == "choice":
        return tune.choice(values)
    if dimension.kind == "uniform":
        return tune.uniform(*values)
    if dimension.kind == "loguniform":
        return tune.loguniform(*values)
    if dimension.kind == "randint":
        return tune.randint(*values)
    raise ValueError(f"unknown search space kind {dimension.kind!r}")


def param_space(config: ExperimentConfig, plain_experiment: dict[str, Any]) -> dict[str, Any]:
    """Tune's param_space: the experiment as plain data, the seeds as a grid, the searched settings."""
    space = {d.path: to_tune_domain(d) for d in config.search.space} if config.search else {}
    return {"experiment": plain_experiment, "seed": tune.grid_search(list(config.seeds)), "space": space}


def num_samples(config: ExperimentConfig) -> int:
    return config.search.num_samples if config.search else 1


def scheduler(config: ExperimentConfig) -> TrialScheduler:
    """FIFO, ASHA or PBT on the scheduler metric; a result without that metric (another stage) is left alone."""
    search = config.search
    if search is None or search.scheduler == "fifo":
        return FIFOScheduler()
    if search.scheduler == "asha":
        return ASHAScheduler(
            time_attr="training_iteration",
            metric=search.scheduler_metric,
            mode=search.mode,
            max_t=search.max_t,
            grace_period=search.grace_period,
            reduction_factor=search.reduction_factor,
        )
    mutations = {d.path: to_tune_domain(d) for d in search.space if d.kind != "grid"}
    return PopulationBasedTraining(
        time_attr="training_iteration",
        metric=search.scheduler_metric,
        mode=search.mode,
        perturbation_interval=search.perturbation_interval,
        hyperparam_mutations={"space": mutations},
        require_attrs=False,  # later stages report other metrics; PBT acts during the teacher stage
        synch=False,
    )
