"""Symbolic learner `kan`: distil the teacher into a KAN, extract its formulas, draw it, play its spline form."""

from __future__ import annotations

from typing import Any

import numpy as np

from nsrl_ray.envs import get_env_spec
from nsrl_ray.pipeline.context import StageContext
from nsrl_ray.pipeline.episodes import play_episodes
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.pipeline.stages.symbolic import action_bounds, sample_dataset, write_formula_card
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.kan_fit import KANFitResult, fit_kan
from nsrl_ray.symbolic.text import to_display_text

KAN_DIAGRAM = "kan_diagram.png"


def _log_diagram(ctx: StageContext, path) -> None:
    """The diagram as an image in the trial's TensorBoard folder (beside Tune's scalar events)."""
    import imageio.v3 as iio
    from tensorboardX import SummaryWriter

    image = np.asarray(iio.imread(path))[..., :3]
    writer = SummaryWriter(logdir=str(ctx.artifacts.parent), filename_suffix=".kan_diagram")
    try:
        writer.add_image("symbolic/kan_diagram", image, global_step=0, dataformats="HWC")
    finally:
        writer.close()


def _provenance(result: KANFitResult, samples: int) -> dict[str, Any]:
    return {
        "samples": samples,
        "kan_widths": result.widths,
        "normalisation_mean": [float(v) for v in result.mean],
        "normalisation_std": [float(v) for v in result.std],
        "kan_edges": [
            {"layer": e.layer, "source": e.source, "target": e.target, "function": e.function, "r2": round(e.r2, 6)}
            for e in result.edges
        ],
    }


def _restart_seed(trial_seed: int, restart: int) -> int:
    """Restart 0 keeps the single-fit seed, so `restarts: 1` reproduces earlier runs."""
    base = stage_seed(trial_seed, "symbolic")
    return base if restart == 0 else int(np.random.SeedSequence([base, restart]).generate_state(1)[0] % (2**31 - 1))


def _select_restart(ctx: StageContext, spec, fits: list[KANFitResult], low, high) -> dict[str, Any]:
    """Play every restart's formula on the selection seeds (never the evaluation's); the best mean return wins.

    Why by return and not by fit error: on Pendulum three fits with near-equal imitation error
    played -172, -381 and -428 (the swing-up punishes small errors in the wrong places).
    """
    seeds = episode_seeds(ctx.seed, "symbolic_selection", ctx.config.stages.symbolic.select_episodes)
    means = []
    for fit in fits:
        policy = FormulaPolicy(spec.feature_names, fit.formulas, spec.action_names, spec.action_kind, low, high)
        means.append(float(np.mean([r.episode_return for r in play_episodes(ctx.config.env, seeds, policy.act)])))
    # One scalar per restart: Tune's TensorBoard logger and the card's metrics take numbers, not lists.
    return {"selected_restart": int(np.argmax(means)),
            **{f"selection_return_{restart}": round(mean, 3) for restart, mean in enumerate(means)}}


def learn_kan(ctx: StageContext) -> dict:
    """Fit, prune and symbolise a KAN on the teacher's (state, action) pairs; write the formula card."""
    settings = ctx.config.stages.symbolic
    spec = get_env_spec(ctx.config.env)
    data = sample_dataset(ctx, settings.max_samples)
    obs = data["obs"]
    low, high = action_bounds(ctx.config.env)
    if spec.action_kind == "discrete":
        targets = data["teacher_action"]
    else:
        targets = data["teacher_action"].reshape(len(obs), -1)
    # The env clips continuous actions: the fit sees the clipped teacher and forgives overshoot past a bound.
    bounds = (low, high) if spec.action_kind == "continuous" and low is not None and high is not None else None
    fits = [
        fit_kan(obs, targets, spec.feature_names, spec.action_kind, settings, _restart_seed(ctx.seed, restart),
                n_actions=spec.n_actions, action_bounds=bounds)
        for restart in range(settings.restarts)
    ]
    selection = _select_restart(ctx, spec, fits, low, high) if len(fits) > 1 else {}
    result = fits[selection.get("selected_restart", 0)]
    for row in result.history:
        ctx.report("symbolic", {f"kan_{key}": value for key, value in row.items()})
    metrics: dict[str, Any] = {"fit_time_s": float(sum(fit.fit_seconds for fit in fits)), "samples": int(len(obs)),
                               **result.metrics, **selection}
    policy = FormulaPolicy(spec.feature_names, result.formulas, spec.action_names, spec.action_kind, low, high)
    if spec.action_kind == "discrete":
        metrics["train_agreement"] = float(np.mean(policy.act(obs) == targets.astype(int)))
    if settings.spline_episodes:
        seeds = episode_seeds(ctx.seed, "evaluate", settings.spline_episodes)
        runs = play_episodes(ctx.config.env, seeds, result.spline_policy(low, high))
        returns = np.array([r.episode_return for r in runs])
        metrics.update(spline_return_mean=float(returns.mean()), spline_return_std=float(returns.std()))
    if settings.diagram:
        path = result.draw(ctx.path(KAN_DIAGRAM), spec.feature_names, spec.action_names, obs[: settings.edge_samples])
        _log_diagram(ctx, path)
    card = write_formula_card(ctx, spec, settings.learner, result.formulas, metrics, _provenance(result, int(len(obs))))
    return {
        "complexity": card.complexity,
        "formulas": [to_display_text(f) for f in result.formulas],
        **{k: metrics[k] for k in ("spline_return_mean", "fit_time_s") if k in metrics},
    }
