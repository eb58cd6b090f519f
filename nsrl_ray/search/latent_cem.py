"""LEAPS's cross-entropy method in the latent space of a program VAE (karel.md §8.4).

Each epoch draws a population of latent vectors around a centre (centre + sigma·N(0, I)), decodes
them to programs with the syntax-masked decoder (sampled, as LEAPS does, or greedy), and scores the
programs on the shared evaluator pool (one pool call per epoch, cut into chunks there). The next
centre is the reward-weighted mean of the elites (LEAPS; a plain mean as in prog_policies with
`weighted_mean=False`). Sigma can decay exponentially to `min_sigma` over `decay_epochs`. The
centre itself is decoded greedily and scored every epoch too, as LEAPS reports it. The search stops
when the mean of the last `early_stop_window` epoch-best returns reaches the target (LEAPS: 10
epochs at 1.0, i.e. 1.1 with its validity bonus), after `max_epochs`, or when the budget is spent.

All randomness (population noise, decoder sampling) comes from one seed on the driver; the pool
returns scores in order, so the same seed gives the same search with any number of actors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nsrl_ray.search.pool import Pool
from nsrl_ray.search.program_search import ProgressCallback, SearchProgress, SearchResult
from nsrl_ray.symbolic.karel.embedding.vae import ProgramVAE
from nsrl_ray.symbolic.karel.program import Program, to_text


@dataclass(frozen=True)
class LatentCEMSetting:
    """LEAPS's per-task CEM settings."""

    population: int
    elite_fraction: float
    sigma: float
    exp_decay: bool
    init: Literal["normal", "constant"]
    init_scale: float


#: karel.md §8.3–8.4: LEAPS's pretrain/leaps_*.py for the six LEAPS tasks; for the four harder tasks
#: prog_policies's re-run of LEAPS's CEM (their initial centre is not recorded: N(0, 0.1²) here).
LEAPS_LATENT_CEM: dict[str, LatentCEMSetting] = {
    "stair_climber": LatentCEMSetting(32, 0.05, 0.25, True, "normal", 0.1),
    "four_corner": LatentCEMSetting(64, 0.2, 0.5, False, "normal", 0.1),
    "top_off": LatentCEMSetting(64, 0.05, 0.25, False, "normal", 0.1),
    "maze": LatentCEMSetting(16, 0.1, 0.1, False, "constant", 0.01),
    "clean_house": LatentCEMSetting(32, 0.05, 0.25, True, "constant", 0.01),
    "harvester": LatentCEMSetting(32, 0.1, 0.5, True, "normal", 1.0),
    "door_key": LatentCEMSetting(32, 0.1, 0.25, False, "normal", 0.1),
    "seeder": LatentCEMSetting(32, 0.1, 0.25, False, "normal", 0.1),
    "one_stroke": LatentCEMSetting(64, 0.05, 0.5, True, "normal", 0.1),
    "snake": LatentCEMSetting(32, 0.2, 0.25, False, "normal", 0.1),
}


def decayed_sigma(sigma: float, epoch: int, min_sigma: float, decay_epochs: int) -> float:
    """LEAPS's exponential decay: sigma at epoch 0, min_sigma at ``decay_epochs`` and after."""
    if sigma <= min_sigma:
        return sigma
    fraction = min(epoch / decay_epochs, 1.0)
    return sigma * (min_sigma / sigma) ** fraction


def elite_weights(rewards: np.ndarray, weighted: bool) -> np.ndarray:
    """Weights of the elites in the new centre: proportional to reward (shifted to be positive when some
    are not, as a return may be negative), or equal."""
    if not weighted or len(rewards) == 1:
        return np.full(len(rewards), 1.0 / len(rewards))
    shifted = rewards if rewards.min() > 0 else rewards - rewards.min() + 1e-3
    return shifted / shifted.sum()


def latent_cross_entropy(
    pool: Pool,
    seeds: Sequence[int],
    model: ProgramVAE,
    *,
    seed: int,
    setting: LatentCEMSetting,
    max_evaluations: int,
    target: float = 1.0,
    min_sigma: float = 0.1,
    decay_epochs: int = 500,
    max_epochs: int = 1000,
    early_stop_window: int = 10,
    decode: Literal["sample", "greedy"] = "sample",
    weighted_mean: bool = True,
    restart_patience: int = 0,
    on_progress: ProgressCallback | None = None,
) -> SearchResult:
    """CEM over z; every decoded program (population and centre) counts as one evaluation."""
    if setting.population < 2:
        raise ValueError(f"population: got {setting.population}, expected an integer >= 2.")
    if not 0.0 < setting.elite_fraction <= 1.0:
        raise ValueError(f"elite_fraction: got {setting.elite_fraction}, expected a share in (0, 1].")
    if setting.sigma <= 0 or setting.init_scale <= 0:
        raise ValueError(f"sigma, init_scale: got {setting.sigma}, {setting.init_scale}, expected numbers > 0.")
    if decode not in ("sample", "greedy"):
        raise ValueError(f"decode: got {decode!r}, expected 'sample' or 'greedy'.")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(seed))
    latent_dim = model.architecture.latent_dim
    n_elite = max(1, int(setting.population * setting.elite_fraction))
    progress = SearchProgress()
    seeds = list(seeds)

    def initial_centre() -> np.ndarray:
        if setting.init == "constant":
            return np.full(latent_dim, setting.init_scale)
        return rng.normal(0.0, setting.init_scale, latent_dim)

    def score(programs: list[Program]) -> list[float]:
        scores = pool.evaluate([to_text(p) for p in programs], seeds)
        progress.evaluations += len(programs)
        for program, value in zip(programs, scores):
            progress.offer(program, value)
        return scores

    centre = initial_centre()
    epoch_best: list[float] = []
    since_restart, best_since_restart, stalled = 0, -math.inf, 0
    sigma = setting.sigma
    while progress.generation < max_epochs and progress.evaluations < max_evaluations:
        if setting.exp_decay:
            sigma = decayed_sigma(setting.sigma, since_restart, min_sigma, decay_epochs)
        size = min(setting.population, max_evaluations - progress.evaluations)
        population = centre + sigma * rng.standard_normal((size, latent_dim))
        z = torch.as_tensor(population, dtype=torch.float32)
        programs = model.decode_programs(z, greedy=decode == "greedy", generator=generator)
        scores = np.asarray(score(programs))
        best_here, centre_return = float(scores.max()), math.nan
        if progress.evaluations < max_evaluations:  # the centre, decoded greedily (LEAPS's reported program)
            centre_return = score(model.decode_programs(torch.as_tensor(centre[None], dtype=torch.float32)))[0]
            best_here = max(best_here, centre_return)
        order = np.argsort(-scores, kind="stable")[: min(n_elite, size)]
        weights = elite_weights(scores[order], weighted_mean)
        centre = (weights[:, None] * population[order]).sum(axis=0)
        epoch_best.append(best_here)
        progress.generation += 1
        since_restart += 1
        row = {**progress.metrics(), "search/sigma": float(sigma), "search/epoch_best": best_here,
               "search/elite_mean": float(scores[order].mean()), "search/centre_return": float(centre_return)}
        progress.history.append(row)
        if on_progress is not None:
            on_progress(progress)
        window = epoch_best[-early_stop_window:]
        if len(window) == early_stop_window and float(np.mean(window)) >= target:
            break
        if best_here > best_since_restart + 1e-9:
            best_since_restart, stalled = best_here, 0
        else:
            stalled += 1
        if restart_patience and stalled >= restart_patience:
            centre, since_restart, best_since_restart, stalled = initial_centre(), 0, -math.inf, 0
            progress.restarts += 1
    if progress.best_program is None:
        raise ValueError(f"max_evaluations: got {max_evaluations}, expected at least 1 program evaluation.")
    return SearchResult(
        best_program=progress.best_program, best_return=float(progress.best_return), evaluations=progress.evaluations,
        generations=progress.generation, restarts=progress.restarts, seconds=progress.elapsed,
        history=tuple(progress.history),
    )


def resolve_setting(task: str, population: int | None = None, elite_fraction: float | None = None,
                    sigma: float | None = None, exp_decay: bool | None = None, init: str = "leaps",
                    init_scale: float | None = None) -> LatentCEMSetting:
    """LEAPS's setting for ``task`` with the given values put in (None keeps LEAPS's)."""
    if task not in LEAPS_LATENT_CEM:
        raise ValueError(f"task: got {task!r}, expected one of {sorted(LEAPS_LATENT_CEM)}.")
    base = LEAPS_LATENT_CEM[task]
    return LatentCEMSetting(
        population=base.population if population is None else population,
        elite_fraction=base.elite_fraction if elite_fraction is None else elite_fraction,
        sigma=base.sigma if sigma is None else sigma,
        exp_decay=base.exp_decay if exp_decay is None else exp_decay,
        init=base.init if init == "leaps" else init,  # type: ignore[arg-type]
        init_scale=base.init_scale if init_scale is None else init_scale,
    )


