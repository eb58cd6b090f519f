"""GP distillation with gplearn: one program per action (or a classifier for two), as IR formulas."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsrl_ray.config.schema import SymbolicSettings
from nsrl_ray.symbolic.expression import Const, Expr, complexity
from nsrl_ray.symbolic.formula_policy import FormulaPolicy
from nsrl_ray.symbolic.from_gplearn import from_gplearn_program
from nsrl_ray.symbolic.simplify import simplify


_GPLEARN_ARGUMENTS = (
    "population_size", "generations", "tournament_size", "function_set", "parsimony_coefficient",
    "init_depth", "const_range", "p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation",
)


def gplearn_kwargs(settings: SymbolicSettings, seed: int) -> dict[str, Any]:
    """gplearn's estimator arguments from our settings (the fields carry gplearn's own names)."""
    kwargs = {name: getattr(settings, name) for name in _GPLEARN_ARGUMENTS}
    # gplearn's result does not depend on n_jobs; one job keeps one core per trial.
    return {**kwargs, "random_state": seed, "n_jobs": 1}


@dataclass
class DistillResult:
    """The distilled formulas and how the evolution went."""

    formulas: tuple[Expr, ...]
    history: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0


def _pick_program(estimator: Any, feature_names: tuple[str, ...], max_complexity: int | None) -> Expr:
    """gplearn's own pick, or the fittest program of the last generation whose simplified
    form has at most ``max_complexity`` nodes (gplearn's parsimony alone lets trees bloat)."""
    if max_complexity is None:
        return simplify(from_gplearn_program(estimator._program, feature_names))
    best: tuple[float, int, Expr] | None = None
    smallest: tuple[int, Expr] | None = None
    for program in estimator._programs[-1]:
        if program is None:
            continue
        formula = simplify(from_gplearn_program(program, feature_names))
        size = complexity(formula)
        if smallest is None or size < smallest[0]:
            smallest = (size, formula)
        if size <= max_complexity:
            # raw_fitness_ is the error without the parsimony penalty: lower is better for
            # log loss (classifier) and MSE (regressor), the metrics used here.
            key = (float(program.raw_fitness_), size, formula)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is not None:
        return best[2]
    assert smallest is not None
    return smallest[1]


def _history(estimators: list[Any]) -> list[dict[str, float]]:
    """Per-generation statistics, averaged over the per-action programs."""
    details = [e.run_details_ for e in estimators]
    rows = []
    for g in range(min(len(d["generation"]) for d in details)):
        rows.append(
            {
                "generation": g,
                "best_fitness": float(np.mean([d["best_fitness"][g] for d in details])),
                "average_fitness": float(np.mean([d["average_fitness"][g] for d in details])),
                "best_length": float(np.mean([d["best_length"][g] for d in details])),
                "average_length": float(np.mean([d["average_length"][g] for d in details])),
            }
        )
    return rows


def distill_discrete(
    obs: np.ndarray,
    teacher_action: np.ndarray,
    teacher_logits: np.ndarray,
    feature_names: tuple[str, ...],
    settings: SymbolicSettings,
    seed: int,
) -> DistillResult:
    """Two actions: a classifier whose program is action 1's logit (action 0's is 0), so
    softmax of the pair is exactly gplearn's sigmoid probability. More actions: one
    regressor per action on the teacher's centred logits; the policy takes the argmax."""
    from gplearn.genetic import SymbolicClassifier, SymbolicRegressor

    n_actions = teacher_logits.shape[1]
    started = time.perf_counter()
    if n_actions == 2:
        present = np.unique(teacher_action)
        if len(present) == 1:
            # The teacher never switched: the faithful policy is that constant action.
            only = int(present[0])
            formulas = (Const(0.0), Const(1.0 if only == 1 else -1.0))
            return DistillResult(formulas, [], time.perf_counter() - started)
        estimator = SymbolicClassifier(**gplearn_kwargs(settings, seed))
        estimator.fit(obs, teacher_action.astype(int))
        program = _pick_program(estimator, feature_names, settings.max_complexity)
        return DistillResult((Const(0.0), program), _history([estimator]), time.perf_counter() - started)
    centred = teacher_logits - teacher_logits.mean(axis=1, keepdims=True)
    estimators = []
    for action in range(n_actions):
        estimator = SymbolicRegressor(**gplearn_kwargs(settings, seed + action))
        estimator.fit(obs, centred[:, action])
        estimators.append(estimator)
    formulas = tuple(_pick_program(e, feature_names, settings.max_complexity) for e in estimators)
    return DistillResult(formulas, _history(estimators), time.perf_counter() - started)


def distill_continuous(
    obs: np.ndarray,
    teacher_action: np.ndarray,
    feature_names: tuple[str, ...],
    settings: SymbolicSettings,
    seed: int,
) -> DistillResult:
    """One regressor per action dimension on the teacher's greedy (mean) action."""
    from gplearn.genetic import SymbolicRegressor

    started = time.perf_counter()
    targets = teacher_action.reshape(len(obs), -1)
    estimators = []
    for dim in range(targets.shape[1]):
        estimator = SymbolicRegressor(**gplearn_kwargs(settings, seed + dim))
        estimator.fit(obs, targets[:, dim])
        estimators.append(estimator)
    formulas = tuple(_pick_program(e, feature_names, settings.max_complexity) for e in estimators)
    return DistillResult(formulas, _history(estimators), time.perf_counter() - started)


def agreement(policy: FormulaPolicy, obs: np.ndarray, teacher_action: np.ndarray) -> float:
    """Share of states where a discrete policy picks the teacher's action."""
    return float(np.mean(policy.act(obs) == teacher_action.astype(int)))
