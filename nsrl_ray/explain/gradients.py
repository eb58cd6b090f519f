"""Exact gradients of a formula policy: d logit / d variable and d log pi(a|s) / d variable, via sympy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nsrl_ray.symbolic.expression import Expr, variables_of
from nsrl_ray.symbolic.formula_policy import FormulaPolicy

_GradFn = Callable[[np.ndarray], np.ndarray]


def _exact_partials(formula: Expr, variables: tuple[str, ...]) -> list[_GradFn] | None:
    """One numpy function per variable for d formula / d variable, or None when sympy cannot do it.

    Protected operators are expanded to their Piecewise definition before differentiating, and
    the symbols are declared real so that d|x|/dx is sign(x) rather than a complex expression.
    """
    import sympy

    from nsrl_ray.symbolic.export_sympy import to_sympy

    used = variables_of(formula)
    try:
        expr = to_sympy(formula).rewrite(sympy.Piecewise)
        real = {name: sympy.Symbol(name, real=True) for name in used}
        expr = expr.xreplace({sympy.Symbol(name): symbol for name, symbol in real.items()})
        args = [real.get(name, sympy.Symbol(name, real=True)) for name in variables]
        functions: list[_GradFn] = []
        for name in variables:
            if name not in used:
                functions.append(lambda X: np.zeros(X.shape[0]))
                continue
            derivative = sympy.diff(expr, real[name])
            if derivative.has(sympy.Derivative, sympy.Subs):
                return None  # a primitive sympy cannot differentiate: fall back to differences
            raw = sympy.lambdify(args, derivative, modules="numpy")
            functions.append(lambda X, raw=raw: np.broadcast_to(
                np.asarray(raw(*X.T), dtype=np.float64), (X.shape[0],)).copy())
        return functions
    except Exception:  # any sympy failure (an exotic primitive): differences always work
        return None


@dataclass(frozen=True)
class FormulaGradients:
    """Gradients of each action's formula with respect to every variable, exact where sympy allows.

    Formulas whose derivative sympy cannot express (a registered primitive without a derivative)
    use central differences; `exact` tells which.
    """

    policy: FormulaPolicy
    relative_step: float = 1e-6
    """Central-difference step for the fallback, relative to max(1, |value|)."""
    _partials: tuple[list[_GradFn] | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        partials = tuple(_exact_partials(f, self.policy.variables) for f in self.policy.formulas)
        object.__setattr__(self, "_partials", partials)

    @property
    def exact(self) -> tuple[bool, ...]:
        """Per action: True when its gradient comes from sympy's symbolic derivative."""
        return tuple(p is not None for p in self._partials)

    def _batch(self, states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        return states[None, :] if states.ndim == 1 else states

    def _difference(self, states: np.ndarray, action: int) -> np.ndarray:
        grads = np.empty(states.shape)
        for j in range(states.shape[1]):
            step = self.relative_step * np.maximum(1.0, np.abs(states[:, j]))
            up, down = states.copy(), states.copy()
            up[:, j] += step
            down[:, j] -= step
            grads[:, j] = (self.policy.outputs(up)[:, action] - self.policy.outputs(down)[:, action]) / (2 * step)
        return grads

    def output_gradients(self, states: np.ndarray) -> np.ndarray:
        """d formula_a / d variable_j, shape (states, variables, actions)."""
        states = self._batch(states)
        out = np.empty((len(states), states.shape[1], len(self.policy.formulas)))
        for a, partials in enumerate(self._partials):
            if partials is None:
                out[:, :, a] = self._difference(states, a)
            else:
                with np.errstate(all="ignore"):
                    out[:, :, a] = np.stack([fn(states) for fn in partials], axis=1)
        # A derivative can be undefined where the formula has a kink (|x| at 0): use differences there.
        bad = ~np.isfinite(out)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            for a in range(out.shape[2]):
                out[rows, :, a] = self._difference(states[rows], a)
        return out

    def log_prob_gradients(self, states: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        """d log pi(a|s) / d variable for discrete policies, shape (states, variables, actions).

        With softmax probabilities p over the formulas f: d log p_a = d f_a - sum_b p_b d f_b.
        For continuous policies (no probabilities) the formula's own gradient is returned. With
        ``actions`` (one index per state) only that action's column is returned, shape (states, variables).
        """
        states = self._batch(states)
        grads = self.output_gradients(states)
        if self.policy.action_kind == "discrete":
            probs = self.policy.probabilities(states)
            grads = grads - np.einsum("nvb,nb->nv", grads, probs)[:, :, None]
        if actions is None:
            return grads
        actions = np.asarray(actions, dtype=int).reshape(-1)
        return grads[np.arange(len(states)), :, actions]
