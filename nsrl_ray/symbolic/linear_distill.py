"""Distil a teacher into linear formulas by ridge least squares: the smallest symbolic regression there is.

For a discrete teacher each action's formula is a linear fit of its logit (an argmax over the fits
picks the teacher's action wherever the logit gaps are large); for a continuous teacher each action
dimension's formula fits the teacher's mean action. A linear fit of the logits often plays far
better than a gplearn fit of the same data (on LunarLander-v3, 224 against -125), because it
keeps every input's weight where a tree search keeps only the few it happened to combine, and it
is exact and instant. It seeds the GP search (`warm_start: linear`), which then adds nonlinearity
where the return asks for it.
"""

from __future__ import annotations

import numpy as np

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var

__all__ = ["fit_linear", "linear_formula"]


def fit_linear(obs: np.ndarray, targets: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Weights (inputs x outputs) and biases (outputs) of the ridge least-squares fit targets ~ obs @ W + b.

    The inputs are standardised for the fit, so ``ridge`` shrinks every input's weight alike whatever its
    scale, and the weights are mapped back to raw inputs afterwards.
    """
    obs = np.asarray(obs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64).reshape(len(obs), -1)
    if obs.ndim != 2 or len(obs) < 2:
        raise ValueError(f"linear distillation needs a 2-D batch of at least 2 observations, got shape {obs.shape}.")
    if not (np.isfinite(obs).all() and np.isfinite(targets).all()):
        raise ValueError("linear distillation: the dataset holds NaN or infinite values.")
    mean, scale = obs.mean(axis=0), obs.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)  # a constant input (a leg that never touched) gets no weight
    z = (obs - mean) / scale
    target_mean = targets.mean(axis=0)
    gram = z.T @ z + ridge * len(z) * np.eye(z.shape[1])
    weights_z = np.linalg.solve(gram, z.T @ (targets - target_mean))
    weights = weights_z / scale[:, None]
    biases = target_mean - mean @ weights
    return weights, biases


def linear_formula(weights: np.ndarray, bias: float, variables: tuple[str, ...], digits: int = 4) -> Expr:
    """bias + w1 * x1 + ... as an IR tree, constants rounded to ``digits`` significant digits; zero weights dropped."""
    if len(weights) != len(variables):
        raise ValueError(f"{len(weights)} weights for {len(variables)} variables.")
    rounded = lambda value: float(f"{value:.{digits}g}")  # noqa: E731
    tree: Expr = Const(rounded(bias))
    for weight, name in zip(weights, variables):
        if rounded(weight) != 0.0:
            tree = Call("add", (tree, Call("mul", (Const(rounded(weight)), Var(name)))))
    return tree
