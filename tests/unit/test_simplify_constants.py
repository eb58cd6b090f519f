"""simplify(): reassociation of + / - and * chains (constant merging, like-term merging)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nsrl_ray.symbolic import (
    PRIMITIVES,
    Call,
    Const,
    Var,
    complexity,
    evaluate,
    parse_expression,
    simplify,
    to_text,
    validate,
)

VARIABLES = ["x", "y", "z"]
CHAIN_OPS = ["add", "sub", "mul", "neg"]
ALL_OPS = sorted(PRIMITIVES)
# Step functions (comparisons, predicates, if-then-else) jump at a tie, and reassociation may turn
# an exact tie into a rounding-sized gap: values are compared only for the other operators.
DISCONTINUOUS_OPS = {"gt", "ifelse", "is_left_of", "is_above", "within_range"}
CONTINUOUS_OPS = [op for op in ALL_OPS if op not in DISCONTINUOUS_OPS]
# Operators that are Lipschitz on the whole real line: rounding differences stay rounding-sized.
SMOOTH_OPS = ["add", "sub", "mul", "neg", "abs", "max", "min", "sin", "cos", "tanh", "sigmoid"]


def p(text: str):
    return parse_expression(text)


def constants_of(expr) -> list[float]:
    if isinstance(expr, Const):
        return [expr.value]
    if isinstance(expr, Call):
        return [v for arg in expr.args for v in constants_of(arg)]
    return []


def random_expr(rng: random.Random, depth: int, ops: list[str]) -> object:
    """Random tree, biased towards +, -, * and unary minus chains with several constants."""
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.5:
            return Var(rng.choice(VARIABLES))
        return Const(rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-4, 3.0, rng.uniform(-5, 5)]))
    op = rng.choice(CHAIN_OPS) if rng.random() < 0.75 else rng.choice(ops)
    return Call(op, tuple(random_expr(rng, depth - 1, ops) for _ in range(PRIMITIVES[op].arity)))


def random_columns(seed: int, n: int = 128) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(scale=3.0, size=n) for name in VARIABLES}


def evaluate_quietly(expr, cols) -> np.ndarray:
    with np.errstate(all="ignore"):
        return evaluate(expr, cols)


def close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.isclose(a, b, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- the gplearn examples


def test_nested_constant_products_merge_into_one_constant() -> None:
    expr = p("4.0 * (2.15 * (2.15 * (pole_angle + (pole_angle + pole_angular_velocity))))")
    simple = simplify(expr)
    assert isinstance(simple, Call) and simple.op == "mul"
    coefficient, rest = simple.args
    assert isinstance(coefficient, Const)
    assert coefficient.value == pytest.approx(4.0 * 2.15 * 2.15)  # 18.49
    assert constants_of(rest) in ([], [2.0])  # the sum: pole_angle twice, or 2.0 * pole_angle
    assert complexity(simple) <= complexity(expr) - 4
    cols = {"pole_angle": np.linspace(-0.2, 0.2, 50), "pole_angular_velocity": np.linspace(-2.0, 3.0, 50)}
    assert np.allclose(evaluate(simple, cols), evaluate(expr, cols), rtol=1e-9)


def test_scattered_factors_merge_into_leading_constant() -> None:
    expr = p("2.84 * pole_angular_velocity * 2.84 * 2.84")
    simple = simplify(expr)
    assert isinstance(simple, Call) and simple.op == "mul"
    assert simple.args[1] == Var("pole_angular_velocity")
    assert isinstance(simple.args[0], Const)
    assert simple.args[0].value == pytest.approx(2.84**3)  # 22.906...
    assert complexity(simple) == 3


def test_sum_constants_merge_last() -> None:
    assert simplify(p("(x + 0.5) + (y - 0.2)")) == Call("add", (p("x + y"), Const(0.5 - 0.2)))
    assert simplify(p("(x + 0.5) + (y - 0.7)")) == Call("sub", (p("x + y"), Const(0.7 - 0.5)))
    assert simplify(p("(x + 1.0) - 1.0")) == Var("x")
    assert simplify(p("1.0 + x + 2.0")) == p("x + 3.0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + x + x", "3.0 * x"),
        ("x - 1.0 - x", "-1.0"),
        ("x + y - x", "y"),
        ("2.0 * x + 3.0 * x", "5.0 * x"),
        ("x + 2.0 * x", "3.0 * x"),
        ("x * 2.0 - x * 3.0", "-x"),
        ("-x - y - x", "-2.0 * x - y"),
        ("-(x + 1.0 + 2.0)", "-3.0 - x"),
        ("2.0 * (3.0 * x)", "6.0 * x"),
        ("2.0 * -x", "-2.0 * x"),
        ("-(2.0 * x) * -3.0", "6.0 * x"),
        ("0.5 * x * 2.0", "x"),
        ("-0.5 * (x * -2.0)", "x"),
        ("-0.5 * (x * 2.0)", "-x"),
        ("2.0 * x * 3.0 * y", "6.0 * x * y"),
        ("x * y * 2.0 + 3.0 * x * y", "5.0 * (x * y)"),
        ("sin(x + 1.0 + 1.0)", "sin(x + 2.0)"),
    ],
)
def test_reassociation_rules(text: str, expected: str) -> None:
    assert simplify(p(text)) == p(expected)


@pytest.mark.parametrize(
    "text",
    [
        "2.0 * (x / 4.0)",  # protected division is not true division: never reassociated
        "(x / 2.0) / 2.0",
        "2.0 / (x * 4.0)",
        "x / 2.0 * 3.0",
        "x + y",  # a single constant or nothing to merge: left as it is
        "x * 2.0",
        "2.0 + x",
        "x + (y + z)",
        "x + x",  # 2.0 * x would not shrink the tree
        "x + (x + y)",
        "-(x + y)",
        "-x * y",
    ],
)
def test_left_alone(text: str) -> None:
    assert simplify(p(text)) == p(text)


def test_no_merge_to_non_finite_or_underflowing_constant() -> None:
    for text in ("1e300 * (1e300 * x)", "1e-300 * (1e-300 * x)", "(x + 1e308) + 1e308"):
        assert simplify(p(text)) == p(text)


# ----------------------------------------------------------------------------- random trees


def test_random_smooth_trees_keep_values_up_to_rounding() -> None:
    rng = random.Random(11)
    cols = random_columns(11)
    shrunk = 0
    for _ in range(2000):
        expr = random_expr(rng, rng.randint(2, 6), SMOOTH_OPS)
        simple = simplify(expr)
        assert complexity(simple) <= complexity(expr)
        shrunk += complexity(simple) < complexity(expr)
        before = evaluate_quietly(expr, cols)
        finite = np.isfinite(before)
        after = evaluate_quietly(simple, cols)
        assert np.all(close(after[finite], before[finite])), (to_text(expr), to_text(simple))
    assert shrunk > 1000


def test_random_trees_never_grow_are_idempotent_and_keep_values() -> None:
    rng = random.Random(5)
    cols = random_columns(5)
    noise = np.random.default_rng(5)
    # Rows where the original itself changes under a 1e-12 relative nudge of the inputs are
    # ill-conditioned (tan near a pole, sqrt of rounding noise, protected thresholds): there
    # "up to rounding" allows any difference, so only the well-conditioned rows are compared.
    nudged = [
        {k: v * (1 + 1e-12 * noise.standard_normal(v.shape)) for k, v in cols.items()} for _ in range(3)
    ]
    compared = 0
    for _ in range(3000):
        expr = random_expr(rng, rng.randint(2, 7), CONTINUOUS_OPS)
        simple = simplify(expr)
        validate(simple)
        assert complexity(simple) <= complexity(expr)
        assert simplify(simple) == simple, (to_text(expr), to_text(simple))
        before = evaluate_quietly(expr, cols)
        stable = np.isfinite(before)
        for other in nudged:
            stable &= close(evaluate_quietly(expr, other), before)
        after = evaluate_quietly(simple, cols)
        assert np.all(close(after[stable], before[stable])), (to_text(expr), to_text(simple))
        compared += int(stable.sum())
    assert compared > 0.95 * 3000 * 128 * 0.5  # most rows are well-conditioned and were compared


def test_random_trees_with_step_functions_never_grow_and_are_idempotent() -> None:
    rng = random.Random(6)
    for _ in range(1000):
        expr = random_expr(rng, rng.randint(2, 7), sorted(DISCONTINUOUS_OPS))
        simple = simplify(expr)
        validate(simple)
        assert complexity(simple) <= complexity(expr)
        assert simplify(simple) == simple, (to_text(expr), to_text(simple))


def test_text_round_trip_of_simplified_trees() -> None:
    rng = random.Random(3)
    for _ in range(500):
        simple = simplify(random_expr(rng, 5, ALL_OPS))
        assert parse_expression(to_text(simple)) == simple
