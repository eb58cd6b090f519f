"""Symbolic learner `gp_search`: genetic programming whose fitness is the episode return, on Ray actors.

DiffSES stage III: optionally warm-started from a gplearn distillation of the teacher (stage II)
or from an earlier policy card, the population is scored on fixed evaluation seeds by the
shared evaluator pool. Every generation reports `search/best_fitness`, `search/mean_fitness`,
`search/best_complexity`, `search/evaluations`, `search/evaluations_per_s` and the best formula
(`search/best_formula`, text), and checkpoints the population so a stopped trial resumes from
its last generation. At the end the leaders are re-scored on unseen seeds and the winner is
written as the policy card.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nsrl_ray.config.schema import GPSearchSettings
from nsrl_ray.envs import EnvSpec, get_env_spec
from nsrl_ray.pipeline.context import StageContext
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.pipeline.stages.symbolic import action_bounds, sample_dataset, write_formula_card
from nsrl_ray.search.episode_fitness import EpisodeReturnFactory
from nsrl_ray.search.gp import GPParams, GPState, Individual, gp_search, pick_best
from nsrl_ray.search.pool import Pool, make_pool
from nsrl_ray.symbolic.expression import Expr, complexity
from nsrl_ray.symbolic.gp_operators import TreeFactory
from nsrl_ray.symbolic.simplify import simplify
from nsrl_ray.symbolic.text import parse_expression, to_display_text, to_text
from nsrl_ray.symbolic.tree_policy import TreeEncoding

#: The population after the last checkpointed generation (artifact folder file).
GP_STATE = "gp_state.json"
#: The warm-start formulas and how they played, written once before the search.
GP_WARM_START = "gp_warm_start.json"
#: Episodes on the evaluation seeds when the file has no evaluate stage.
_MEASURE_EPISODES = 20


def search_seed(trial_seed: int) -> int:
    """The GP's own seed: a child of the symbolic stream (gplearn's distillation uses the stream itself)."""
    return int(np.random.SeedSequence([stage_seed(trial_seed, "symbolic"), 1]).generate_state(1)[0] % (2**31 - 1))


def fitness_seeds(trial_seed: int, settings: GPSearchSettings) -> tuple[list[int], list[int]]:
    """Seeds of the fitness episodes (fixed for the search) and, after them, of the final re-scoring."""
    seeds = episode_seeds(trial_seed, "symbolic", settings.episodes + settings.select_episodes)
    return seeds[: settings.episodes], seeds[settings.episodes :]


def build_search(ctx: StageContext, settings: GPSearchSettings, spec: EnvSpec) -> tuple[EpisodeReturnFactory, TreeEncoding, TreeFactory, GPParams]:
    """The evaluator recipe, tree encoding, operators and parameters a trial's search uses."""
    low, high = action_bounds(ctx.config.env)
    factory = EpisodeReturnFactory(ctx.config.env, spec.feature_names, spec.action_names, spec.action_kind, low, high)
    encoding = TreeEncoding(spec.action_kind, len(spec.action_names), settings.reference_action, low, high)
    trees = TreeFactory(
        functions=settings.function_set, variables=spec.feature_names, const_range=settings.const_range,
        const_log_uniform=settings.const_log_uniform,
        point_replace=settings.point_replace, constant_sigma=settings.constant_sigma,
    )
    target = settings.stop_return if settings.stop_return is not None else spec.solved_return
    params = GPParams(
        population_size=settings.population_size, generations=settings.generations,
        tournament_size=settings.tournament_size, elitism=settings.elitism,
        parsimony_coefficient=settings.parsimony_coefficient, init_depth=settings.init_depth,
        max_nodes=settings.max_nodes, p_crossover=settings.p_crossover,
        p_subtree_mutation=settings.p_subtree_mutation, p_hoist_mutation=settings.p_hoist_mutation,
        p_point_mutation=settings.p_point_mutation, p_constant_mutation=settings.p_constant_mutation, target=target,
    )
    return factory, encoding, trees, params


def warm_start_formulas(ctx: StageContext, settings: GPSearchSettings, spec: EnvSpec, pool: Pool,
                        encoding: TreeEncoding) -> tuple[tuple[Expr, ...] | None, int]:
    """The formulas the first population starts from (one per action), or None for a random start, and the
    environment episodes spent finding them."""
    if settings.warm_start == "none":
        return None, 0
    if settings.warm_start == "linear_search":
        from nsrl_ray.search.linear_search import linear_search

        seeds, _ = fitness_seeds(ctx.seed, settings)
        search = settings.linear_search
        result = linear_search(pool, seeds, encoding, spec.feature_names, spec.feature_ranges,
                               rng=np.random.default_rng(stage_seed(ctx.seed, "symbolic")),
                               iterations=search.iterations, population=search.population, sigma=search.sigma)
        for row in result.history:
            ctx.report("symbolic", {f"linear_search/{k}": v for k, v in row.items()})
        return encoding.formulas(result.trees), result.evaluations * len(seeds)
    return _teacher_warm_start(ctx, settings, spec), 0


def _teacher_warm_start(ctx: StageContext, settings: GPSearchSettings, spec: EnvSpec) -> tuple[Expr, ...]:
    """Formulas from a card or from the teacher's dataset (gplearn or linear distillation)."""
    if settings.warm_start == "card":
        from nsrl_ray.explain.policy_card import read_policy_card

        card = read_policy_card(settings.warm_start_card)  # type: ignore[arg-type]
        if card.variables != spec.feature_names or len(card.formulas) != len(spec.action_names):
            raise ValueError(
                f"warm_start_card {settings.warm_start_card!r} is a policy for variables {list(card.variables)} with "
                f"{len(card.formulas)} actions; env {ctx.config.env} has variables {list(spec.feature_names)} and "
                f"{len(spec.action_names)} actions. Give a card of the same environment."
            )
        return card.formulas
    from nsrl_ray.symbolic.gp_distill import distill_continuous, distill_discrete

    distill = settings.distill
    data = sample_dataset(ctx, distill.max_samples)
    seed = stage_seed(ctx.seed, "symbolic")
    if settings.warm_start == "linear":
        return _linear_warm_start(ctx, data, spec, settings.linear_ridge)
    if spec.action_kind == "discrete":
        result = distill_discrete(data["obs"], data["teacher_action"], data["teacher_logits"], spec.feature_names, distill, seed)
    else:
        # The dataset's teacher actions are env units already (collect maps a normalised teacher's means).
        result = distill_continuous(data["obs"], data["teacher_action"], spec.feature_names, distill, seed)
    return result.formulas


def _linear_warm_start(ctx: StageContext, data: dict[str, np.ndarray], spec: EnvSpec, ridge: float) -> tuple[Expr, ...]:
    """One linear formula per action: a ridge fit of the teacher's logits (discrete) or mean actions in env units."""
    from nsrl_ray.symbolic.linear_distill import fit_linear, linear_formula

    targets = data["teacher_logits"] if spec.action_kind == "discrete" else data["teacher_action"]
    weights, biases = fit_linear(data["obs"], targets, ridge)
    return tuple(linear_formula(weights[:, k], float(biases[k]), spec.feature_names) for k in range(weights.shape[1]))


def measure(factory: EpisodeReturnFactory, formulas: tuple[Expr, ...], seeds: list[int]) -> tuple[float, float]:
    """Mean and standard deviation of the return on ``seeds`` (played in this process)."""
    evaluator = factory()
    try:
        returns = evaluator.returns(formulas, seeds)
    finally:
        evaluator.close()
    return float(np.mean(returns)), float(np.std(returns))


def _measure_seeds(ctx: StageContext) -> list[int]:
    """The evaluate stage's seeds, so the numbers here line up with its."""
    evaluate = ctx.config.stages.evaluate
    return episode_seeds(ctx.seed, "evaluate", evaluate.episodes if evaluate is not None else _MEASURE_EPISODES)


def _start(ctx: StageContext, settings: GPSearchSettings, spec: EnvSpec, factory: EpisodeReturnFactory,
           encoding: TreeEncoding, pool: Pool) -> dict[str, Any]:
    """Run (or, after a resume, read back) the warm start and how its formulas play."""
    path = ctx.path(GP_WARM_START)
    if ctx.resume_position("symbolic") is not None and path.is_file():
        return ctx.read_json(GP_WARM_START)
    started = time.perf_counter()
    formulas, episodes = warm_start_formulas(ctx, settings, spec, pool, encoding)
    record: dict[str, Any] = {"kind": settings.warm_start, "formulas": None, "episodes": episodes}
    if formulas is not None:
        mean, std = measure(factory, formulas, _measure_seeds(ctx))
        record.update(
            formulas=[to_text(f) for f in formulas],
            trees=[to_text(t) for t in encoding.trees(formulas)],
            return_mean=mean, return_std=std, complexity=sum(complexity(f) for f in formulas),
            seconds=time.perf_counter() - started,
        )
        ctx.report("symbolic", {"distilled_return_mean": mean, "distilled_return_std": std,
                                "distilled_complexity": record["complexity"]})
    ctx.write_json(GP_WARM_START, record)
    return record


def learn_gp_search(ctx: StageContext) -> dict:
    settings = ctx.config.stages.symbolic
    if not isinstance(settings, GPSearchSettings):
        raise TypeError(f"learn_gp_search needs GPSearchSettings, got {type(settings).__name__}.")
    spec = get_env_spec(ctx.config.env)
    factory, encoding, trees, params = build_search(ctx, settings, spec)
    pool = make_pool(factory, settings.num_actors, ctx.config.resources.cpus_per_actor)
    try:
        warm = _start(ctx, settings, spec, factory, encoding, pool)
    except BaseException:
        pool.close()
        raise
    initial: list[Individual] = []
    if warm.get("trees"):
        initial.append(tuple(parse_expression(t, spec.feature_names) for t in warm["trees"]))
    seeds, select_seeds = fitness_seeds(ctx.seed, settings)
    seed = search_seed(ctx.seed)
    state = None
    if ctx.resume_position("symbolic") is not None:
        state = GPState.from_dict(ctx.read_json(GP_STATE))

    def on_generation(current: GPState, metrics: dict[str, Any]) -> None:
        due = settings.checkpoint_every and (current.generation + 1) % settings.checkpoint_every == 0
        last = current.generation + 1 >= params.generations
        if due and not last:  # the last generation's population is in the card, not a checkpoint
            ctx.write_json(GP_STATE, current.to_dict())
            ctx.report("symbolic", metrics, checkpoint={"generation": current.generation})
        else:
            ctx.report("symbolic", metrics)

    try:
        result = gp_search(pool, seeds, trees, encoding, params, seed=seed, initial=initial,
                           initial_copies=settings.warm_start_copies if initial else 0, state=state,
                           on_generation=on_generation)
        best, selection_return = result.best, result.best_fitness
        selection_evaluations = 0
        if settings.select_episodes > 0:
            best, selection_return, scored = pick_best(pool, result.state, encoding, select_seeds, settings.select_top,
                                                       settings.parsimony_coefficient)
            selection_evaluations = len(scored)
            # The simplified trees replace the evolved ones when they play at least as well.
            simpler = tuple(simplify(tree) for tree in best)
            if simpler != best:
                (score,) = pool.evaluate([encoding.formulas(simpler)], select_seeds)
                selection_evaluations += 1
                if score >= selection_return:
                    best, selection_return = simpler, float(score)
    finally:
        pool.close()
    formulas = encoding.formulas(best)
    mean, std = measure(factory, formulas, _measure_seeds(ctx))
    episodes = result.evaluations * len(seeds) + selection_evaluations * len(select_seeds) + int(warm.get("episodes", 0))
    metrics: dict[str, Any] = {
        "gp_return_mean": mean,
        "gp_return_std": std,
        "fitness": result.best_fitness,
        "selection_return": selection_return,
        "generations": result.generations,
        "evaluations": result.evaluations + selection_evaluations,
        "env_episodes": episodes,
        "search_time_s": result.seconds,
        "evaluations_per_s": result.evaluations / max(result.seconds, 1e-9),
        "warm_start": settings.warm_start,
    }
    if warm.get("formulas"):
        metrics.update(distilled_return_mean=warm["return_mean"], distilled_return_std=warm["return_std"],
                       distilled_complexity=warm["complexity"])
    provenance = {
        "search_seed": seed, "fitness_seeds": seeds, "selection_seeds": select_seeds, "num_actors": settings.num_actors,
        "warm_start": settings.warm_start, "warm_start_formulas": warm.get("formulas"),
    }
    card = write_formula_card(ctx, spec, settings.learner, formulas, metrics, provenance)
    return {"complexity": card.complexity, "formulas": [to_display_text(f) for f in formulas], **metrics}
