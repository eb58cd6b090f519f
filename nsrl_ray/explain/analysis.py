"""Facts about a formula policy and one of its decisions, computed from the formulas: the ground truth of explanations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsrl_ray.explain.gradients import FormulaGradients
from nsrl_ray.symbolic.expression import Call, Const, Expr, variables_of
from nsrl_ray.symbolic.formula_policy import FormulaPolicy

#: A variable's effect counts as one-signed when at least this share of visited states agree on the sign.
SIGN_AGREEMENT = 0.9
#: Expansions longer than this are not shown: the top-level terms of the formula are used instead.
MAX_TERMS = 16
#: Grid points per variable when looking for the values where the preferred action switches.
THRESHOLD_GRID = 401


@dataclass(frozen=True)
class Term:
    """One additive term of an action's formula after expanding it."""

    action: str
    text: str
    """The term as text, constants to 4 significant digits."""
    latex: str
    variables: tuple[str, ...]
    coefficient: float | None
    """The numeric factor of a product term (None when the term is not constant × rest)."""
    mean_abs: float
    """Mean |term| over the visited states."""
    share: float
    """mean_abs as a share of the sum over the action's terms."""
    linear: bool = False
    """The term is coefficient × one variable."""


@dataclass(frozen=True)
class Effect:
    """How raising one variable moves one action, over the visited states."""

    variable: str
    action: str
    mean_log_prob_gradient: float
    """Mean d log pi(action|s) / d variable (continuous policies: d output / d variable)."""
    mean_output_gradient: float
    """Mean d formula_action / d variable (the logit's own slope)."""
    sign: int | None
    """+1 or -1 when at least SIGN_AGREEMENT of the states agree on the log-probability's sign, 0 when
    the gradient is zero there, None when the sign depends on the state."""
    output_sign: int | None
    """The same for the formula's own slope."""
    agreement: float
    """Share of states whose log-probability gradient has the majority sign."""


@dataclass(frozen=True)
class Threshold:
    """A value of one variable where the preferred action changes, the others held at their median."""

    variable: str
    value: float
    below: str
    """Action preferred just below the value (continuous: 'negative' or 'positive' output)."""
    above: str


@dataclass(frozen=True)
class PolicyFacts:
    """What the formulas imply over a set of visited states."""

    variables: tuple[str, ...]
    actions: tuple[str, ...]
    action_kind: str
    used: frozenset[str]
    """Variables that occur in some formula."""
    constants: tuple[float, ...]
    """Every constant written in the formulas."""
    terms: dict[str, tuple[Term, ...]]
    effects: tuple[Effect, ...]
    thresholds: tuple[Threshold, ...]
    pair_signs: dict[tuple[str, str, str], int | None]
    """(variable, action A, action B) -> sign of d(logit_A - logit_B) / d variable over the states (as Effect.sign)."""
    action_shares: dict[str, float]
    """Discrete: share of visited states where each action is taken."""
    median_state: dict[str, float]
    importance: dict[str, float]
    """Share of the policy's sensitivity per variable: mean |d log pi / d variable| × spread, normalised."""
    states: int
    exact_gradients: bool

    def effect(self, variable: str, action: str) -> Effect:
        for effect in self.effects:
            if effect.variable == variable and effect.action == action:
                return effect
        raise KeyError((variable, action))

    def formula_numbers(self) -> tuple[float, ...]:
        """The formulas' own numbers: their constants, the expanded coefficients and the switch values."""
        values = list(self.constants) + [t.value for t in self.thresholds]
        values += [term.coefficient for terms in self.terms.values() for term in terms if term.coefficient is not None]
        return tuple(values)

    def numbers(self) -> tuple[float, ...]:
        """Every number an explanation of this policy may quote."""
        values: list[float] = list(self.constants)
        for terms in self.terms.values():
            for term in terms:
                values += [term.mean_abs, term.share]
                if term.coefficient is not None:
                    values.append(term.coefficient)
        for e in self.effects:
            values += [e.mean_log_prob_gradient, e.mean_output_gradient, e.agreement]
        values += [t.value for t in self.thresholds]
        values += list(self.action_shares.values()) + list(self.median_state.values()) + list(self.importance.values())
        return tuple(values)


@dataclass(frozen=True)
class DecisionFacts:
    """One decision: the state, what each formula gave, and why in terms of gradients."""

    episode: int | None
    step: int | None
    state: dict[str, float]
    action: str
    action_index: int
    outputs: dict[str, float]
    """Each formula's value at the state: logits (discrete) or unclipped outputs (continuous)."""
    probabilities: dict[str, float]
    """Softmax of the logits (empty for continuous policies)."""
    gradients: dict[str, float]
    """d log pi(action|s) / d variable (continuous: d output / d variable) at the state."""
    output_gradients: dict[str, dict[str, float]]
    """action -> variable -> d formula_action / d variable at the state."""
    attributions: dict[str, float]
    """gradient × (value − median visited value): each variable's first-order share of the decision."""
    baseline: dict[str, float]
    evidence: str = "gradient"
    """'gradient' for differentiable policies; an execution trace for programs (see evidence.py)."""
    trace: tuple[str, ...] = ()

    def numbers(self) -> tuple[float, ...]:
        values = list(self.state.values()) + list(self.outputs.values()) + list(self.probabilities.values())
        values += list(self.gradients.values()) + list(self.attributions.values()) + list(self.baseline.values())
        values += [g for slopes in self.output_gradients.values() for g in slopes.values()]
        if len(self.outputs) == 2:  # the gap between two logits is what a two-action decision compares
            a, b = self.outputs.values()
            values.append(a - b)
        values += [float(v) for v in (self.episode, self.step) if v is not None]
        return tuple(values)


def _constants(expr: Expr) -> list[float]:
    found: list[float] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Const):
            found.append(node.value)
        elif isinstance(node, Call):
            stack.extend(node.args)
    return found


def _sympy_text(term: Any) -> str:
    from sympy.printing.str import StrPrinter

    class _Printer(StrPrinter):
        def _print_Float(self, expr: Any) -> str:
            return f"{float(expr):.4g}"

        def _print_protected_div(self, expr: Any) -> str:
            a, b = expr.args
            return f"({self._print(a)}) / ({self._print(b)})"

        def _print_protected_log(self, expr: Any) -> str:
            return f"log({self._print(expr.args[0])})"

        def _print_protected_inv(self, expr: Any) -> str:
            return f"inv({self._print(expr.args[0])})"

    # 1.0*x prints as 1*x: drop the unit factor.
    return re.sub(r"(?<![\d.])1\*", "", _Printer().doprint(term))


def join_terms(texts: list[str]) -> str:
    """Terms as a sum, with 'a + -b' written 'a - b'."""
    out = texts[0] if texts else "0"
    for text in texts[1:]:
        out += f" - {text[1:]}" if text.startswith("-") else f" + {text}"
    return out


def _latex_name(name: str) -> str:
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def expand_terms(policy: FormulaPolicy, action: int, states: np.ndarray) -> tuple[Term, ...]:
    """The additive terms of one formula (expanded when that stays short), ranked by size on ``states``."""
    import sympy

    from nsrl_ray.symbolic.export_sympy import to_sympy

    name = policy.action_names[action]
    expr = to_sympy(policy.formulas[action])
    expanded = sympy.expand(expr)
    parts = sympy.Add.make_args(expanded)
    if len(parts) > MAX_TERMS:
        parts = sympy.Add.make_args(expr)
    symbols = [sympy.Symbol(v) for v in policy.variables]
    rows = []
    try:
        for part in parts:
            fn = sympy.lambdify(symbols, part, modules="numpy")
            with np.errstate(all="ignore"):
                values = np.broadcast_to(np.asarray(fn(*states.T), dtype=np.float64), (len(states),))
            coefficient, rest = part.as_coeff_Mul()
            rows.append((part, float(np.nanmean(np.abs(values))) if len(values) else 0.0,
                         float(coefficient) if rest != 1 and coefficient.is_number else None, bool(rest.is_Symbol)))
    except (NameError, TypeError, ValueError, AttributeError):
        # A registered primitive numpy cannot evaluate through sympy: the formula is one term.
        values = policy.outputs(states)[:, action]
        rows = [(expr, float(np.abs(values).mean()), None, False)]
    total = sum(row[1] for row in rows)
    terms = [
        Term(
            action=name,
            text=_sympy_text(part),
            latex=sympy.latex(part.evalf(3), symbol_names={s: _latex_name(str(s)) for s in part.free_symbols}),
            variables=tuple(sorted(str(s) for s in part.free_symbols)),
            coefficient=coefficient,
            mean_abs=size,
            share=size / total if total > 0 else 0.0,
            linear=linear,
        )
        for part, size, coefficient, linear in rows
    ]
    return tuple(sorted(terms, key=lambda t: -t.mean_abs))


def _majority_sign(values: np.ndarray) -> tuple[int | None, float]:
    """(+1 / -1 / 0 for 'no effect', or None when mixed, and the share of states agreeing)."""
    tiny = 1e-12 * max(1.0, float(np.abs(values).max(initial=0.0)))
    positive, negative = float((values > tiny).mean()), float((values < -tiny).mean())
    zero = 1.0 - positive - negative
    agreement = max(positive, negative, zero)
    if agreement < SIGN_AGREEMENT:
        return None, agreement
    if zero == agreement:
        return 0, agreement
    return (1 if positive > negative else -1), agreement


def _preferred(policy: FormulaPolicy, states: np.ndarray) -> np.ndarray:
    if policy.action_kind == "discrete":
        return policy.act(states)
    return (policy.outputs(states)[:, 0] > 0).astype(int)


def find_thresholds(
    policy: FormulaPolicy, states: np.ndarray, ranges: dict[str, tuple[float, float]] | None = None
) -> tuple[Threshold, ...]:
    """Values of each used variable where the preferred action changes, the others at their median.

    The scan covers the variable's documented range widened to the visited values; each switch
    is refined by bisection. For continuous policies a switch is where the first output changes sign.
    """
    median = np.median(states, axis=0)
    used = set().union(*(variables_of(f) for f in policy.formulas))
    labels = policy.action_names if policy.action_kind == "discrete" else ("negative", "positive")
    found: list[Threshold] = []
    for j, name in enumerate(policy.variables):
        if name not in used:
            continue
        low, high = float(states[:, j].min()), float(states[:, j].max())
        if ranges and ranges.get(name):
            low, high = min(low, ranges[name][0]), max(high, ranges[name][1])
        if not high > low:
            continue
        grid = np.linspace(low, high, THRESHOLD_GRID)
        probe = np.repeat(median[None, :], len(grid), axis=0)
        probe[:, j] = grid
        choice = _preferred(policy, probe)
        for k in np.nonzero(choice[1:] != choice[:-1])[0]:
            a, b = grid[k], grid[k + 1]
            left = choice[k]
            for _ in range(40):
                mid = 0.5 * (a + b)
                point = median.copy()
                point[j] = mid
                if _preferred(policy, point[None, :])[0] == left:
                    a = mid
                else:
                    b = mid
            found.append(Threshold(name, float(0.5 * (a + b)), labels[left], labels[choice[k + 1]]))
    return tuple(found)


def policy_facts(
    policy: FormulaPolicy,
    states: np.ndarray,
    ranges: dict[str, tuple[float, float]] | None = None,
    gradients: FormulaGradients | None = None,
) -> PolicyFacts:
    """Terms, per-variable effects, thresholds and action shares of ``policy`` on ``states``."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != len(policy.variables) or len(states) == 0:
        raise ValueError(
            f"states have shape {states.shape}; expected (n >= 1, {len(policy.variables)}) for variables {list(policy.variables)}."
        )
    gradients = gradients or FormulaGradients(policy)
    log_grads = gradients.log_prob_gradients(states)  # (n, vars, actions)
    out_grads = gradients.output_gradients(states)
    effects = []
    for j, variable in enumerate(policy.variables):
        for a, action in enumerate(policy.action_names):
            sign, agreement = _majority_sign(log_grads[:, j, a])
            output_sign, _ = _majority_sign(out_grads[:, j, a])
            effects.append(Effect(variable, action, float(log_grads[:, j, a].mean()), float(out_grads[:, j, a].mean()),
                                  sign, output_sign, agreement))
    pair_signs = {
        (variable, a, b): _majority_sign(out_grads[:, j, i] - out_grads[:, j, k])[0]
        for j, variable in enumerate(policy.variables)
        for i, a in enumerate(policy.action_names)
        for k, b in enumerate(policy.action_names)
        if i != k
    }
    spread = states.std(axis=0)
    weight = np.abs(log_grads).mean(axis=0).max(axis=1) * spread
    total = weight.sum()
    importance = {v: float(w / total) if total > 0 else 0.0 for v, w in zip(policy.variables, weight)}
    shares: dict[str, float] = {}
    if policy.action_kind == "discrete":
        chosen = policy.act(states)
        shares = {a: float((chosen == i).mean()) for i, a in enumerate(policy.action_names)}
    return PolicyFacts(
        variables=policy.variables,
        actions=policy.action_names,
        action_kind=policy.action_kind,
        used=frozenset().union(*(variables_of(f) for f in policy.formulas)),
        constants=tuple(c for f in policy.formulas for c in _constants(f)),
        terms={a: expand_terms(policy, i, states) for i, a in enumerate(policy.action_names)},
        effects=tuple(effects),
        thresholds=find_thresholds(policy, states, ranges),
        pair_signs=pair_signs,
        action_shares=shares,
        median_state={v: float(m) for v, m in zip(policy.variables, np.median(states, axis=0))},
        importance=importance,
        states=len(states),
        exact_gradients=all(gradients.exact),
    )


def decision_facts(
    policy: FormulaPolicy,
    state: np.ndarray,
    baseline: np.ndarray,
    episode: int | None = None,
    step: int | None = None,
    gradients: FormulaGradients | None = None,
) -> DecisionFacts:
    """The action the policy takes at ``state`` and the gradient of its log-probability per variable."""
    state = np.asarray(state, dtype=np.float64).reshape(1, -1)
    if state.shape[1] != len(policy.variables):
        raise ValueError(f"state has {state.shape[1]} values; expected {len(policy.variables)} for {list(policy.variables)}.")
    gradients = gradients or FormulaGradients(policy)
    outputs = policy.outputs(state)[0]
    if policy.action_kind == "discrete":
        index = int(policy.act(state)[0])
        probabilities = dict(zip(policy.action_names, map(float, policy.probabilities(state)[0])))
    else:
        index = 0  # one explained dimension: the first output (its gradient is what the words describe)
        probabilities = {}
    grad = gradients.log_prob_gradients(state, np.array([index]))[0]
    slopes = gradients.output_gradients(state)[0]  # (variables, actions)
    baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)
    return DecisionFacts(
        episode=episode,
        step=step,
        state=dict(zip(policy.variables, map(float, state[0]))),
        action=policy.action_names[index],
        action_index=index,
        outputs=dict(zip(policy.action_names, map(float, outputs))),
        probabilities=probabilities,
        gradients=dict(zip(policy.variables, map(float, grad))),
        output_gradients={a: dict(zip(policy.variables, map(float, slopes[:, i]))) for i, a in enumerate(policy.action_names)},
        attributions=dict(zip(policy.variables, map(float, grad * (state[0] - baseline)))),
        baseline=dict(zip(policy.variables, map(float, baseline))),
    )
