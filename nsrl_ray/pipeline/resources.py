"""Fit a trial's resource request to the cluster: the same file on a GPU cluster and a 2-core laptop."""

from __future__ import annotations

import dataclasses
import math

from nsrl_ray.config import ConfigError, ExperimentConfig
from nsrl_ray.config.schema import ACTOR_COUNT_FIELDS


def trial_bundles(config: ExperimentConfig) -> list[dict[str, float]]:
    """One bundle for the trial process (its CPUs and GPUs), one per actor of its busiest stage."""
    res = config.resources
    head = {"CPU": res.cpus_per_trial, **({"GPU": res.gpus_per_trial} if res.gpus_per_trial else {})}
    return [head] + [{"CPU": res.cpus_per_actor}] * config.actors_needed()


def _needed(config: ExperimentConfig) -> tuple[float, float]:
    bundles = trial_bundles(config)
    return sum(b.get("CPU", 0) for b in bundles), sum(b.get("GPU", 0) for b in bundles)


def fit_to_cluster(config: ExperimentConfig, cpus: float, gpus: float) -> tuple[ExperimentConfig, list[str]]:
    """Return a config one trial of which fits in ``cpus``/``gpus``, and what was changed.

    GPUs the cluster lacks are dropped (the teacher trains on CPU) and every actor count is
    lowered to what the CPUs left after the trial process allow. Refuses (ConfigError) when even
    one actor cannot fit or ``resources.scale_to_cluster`` is off.
    """
    need_cpu, need_gpu = _needed(config)
    if need_cpu <= cpus and need_gpu <= gpus:
        return config, []
    res = config.resources
    if not res.scale_to_cluster:
        raise ConfigError(
            f"one trial needs {need_cpu:g} CPUs and {need_gpu:g} GPUs but the Ray cluster has {cpus:g} and {gpus:g}; "
            "lower the actor counts or resources.*, set resources.scale_to_cluster: true, or use a bigger cluster (--address)."
        )
    messages = []
    if res.gpus_per_trial > gpus:
        messages.append(f"resources.gpus_per_trial {res.gpus_per_trial:g} -> 0: the cluster has {gpus:g} GPUs; the teacher trains on CPU")
        res = dataclasses.replace(res, gpus_per_trial=0.0)
    spare = cpus - res.cpus_per_trial
    most = math.floor(spare / res.cpus_per_actor + 1e-9) if res.cpus_per_actor > 0 else config.actors_needed()
    if spare < 0 or (config.actors_needed() > 0 and most < 1):
        raise ConfigError(
            f"one trial needs resources.cpus_per_trial={res.cpus_per_trial:g} CPUs plus at least one actor of "
            f"{res.cpus_per_actor:g} CPUs, but the Ray cluster has {cpus:g}. Lower resources.cpus_per_trial or "
            "resources.cpus_per_actor, or connect to a bigger cluster with --address."
        )
    stages = {}
    for name in config.stages.enabled():
        settings = getattr(config.stages, name)
        changes = {f: most for f in ACTOR_COUNT_FIELDS if hasattr(settings, f) and getattr(settings, f) > most}
        for field, value in changes.items():
            messages.append(f"stages.{name}.{field} {getattr(settings, field)} -> {value}: the cluster has {cpus:g} CPUs")
        if changes:
            stages[name] = dataclasses.replace(settings, **changes)
    scaled = dataclasses.replace(config, resources=res, stages=dataclasses.replace(config.stages, **stages))
    return scaled, messages
