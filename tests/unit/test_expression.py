"""Tests for the expression IR: nodes, validation, evaluation, compilation, primitives, simplify."""

from __future__ import annotations

import dataclasses
import math
import pickle
import random

import numpy as np
import pytest

from nsrl_ray.symbolic import (
    PRIMITIVES,
    Call,
    Const,
    ExpressionError,
    Var,
    compile_expression,
    complexity,
    evaluate,
    get_primitive,
    parse_expression,
    register_primitive,
    simplify,
    unregister_primitive,
    validate,
    variables_of,
)

VARIABLES = ["x", "y", "z"]
BUILTIN_OPS = sorted(PRIMITIVES.items())


def random_expr(rng: random.Random, depth: int) -> object:
    """Random tree over the built-in primitives, with awkward constants."""
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.6:
            return Var(rng.choice(VARIABLES))
        return Const(rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-4, 3.0, rng.uniform(-5, 5)]))
    name, prim = rng.choice(BUILTIN_OPS)
    return Call(name, tuple(random_expr(rng, depth - 1) for _ in range(prim.arity)))


def random_columns(seed: int, n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {name: rng.normal(scale=3.0, size=n) for name in VARIABLES}
    # Values at and around the protection threshold exercise the guarded branches.
    cols["x"][:6] = [0.0, 0.001, -0.001, 0.0005, 1e-300, -2.0]
    return cols


def p(text: str):
    return parse_expression(text)


# ----------------------------------------------------------------------------- nodes


def test_nodes_are_frozen_hashable_and_picklable() -> None:
    expr = Call("add", (Var("x"), Call("mul", (Const(2.0), Var("y")))))
    with pytest.raises(dataclasses.FrozenInstanceError):
        expr.op = "sub"  # type: ignore[misc]
    assert hash(expr) == hash(Call("add", (Var("x"), Call("mul", (Const(2.0), Var("y"))))))
    assert {expr: 1}[p("x + 2.0 * y")] == 1
    assert pickle.loads(pickle.dumps(expr)) == expr


def test_const_coerces_numbers_and_rejects_strings() -> None:
    assert Const(np.float64(1.5)) == Const(1.5)
    assert type(Const(np.float32(0.5)).value) is float
    assert type(Const(2).value) is float
    with pytest.raises(TypeError, match="real number"):
        Const("1.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Var(3)  # type: ignore[arg-type]


def test_call_args_stored_as_tuple() -> None:
    call = Call("add", [Var("x"), Const(1.0)])  # type: ignore[arg-type]
    assert call.args == (Var("x"), Const(1.0))
    hash(call)


def test_complexity_and_variables() -> None:
    expr = p("x * 2.0 + log(y) - x")
    assert complexity(expr) == 8
    assert complexity(Const(1.0)) == 1
    assert variables_of(expr) == frozenset({"x", "y"})
    assert variables_of(Const(1.0)) == frozenset()


# ----------------------------------------------------------------------------- validate


def test_validate_accepts_valid_expression() -> None:
    validate(p("x + sin(y) / 2.0"), VARIABLES)
    validate(p("x + sin(y) / 2.0"))


def test_validate_unknown_op_suggests() -> None:
    with pytest.raises(ExpressionError, match=r"Unknown operator 'sinn'.*Did you mean 'sin'\?"):
        validate(Call("sinn", (Var("x"),)))


def test_validate_wrong_arity() -> None:
    with pytest.raises(ExpressionError, match=r"'add' takes 2 argument\(s\) but was given 3"):
        validate(Call("add", (Var("x"), Var("y"), Var("z"))))


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_validate_non_finite_const(value: float) -> None:
    with pytest.raises(ExpressionError, match="not finite"):
        validate(Call("add", (Var("x"), Const(value))))


def test_validate_unknown_variable_suggests() -> None:
    with pytest.raises(ExpressionError, match=r"Unknown variable 'velocty'.*Did you mean 'velocity'\?") as info:
        validate(Var("velocty"), ["position", "velocity"])
    assert "position, velocity" in str(info.value)


def test_validate_bad_variable_name_and_node_type() -> None:
    with pytest.raises(ExpressionError, match="not an identifier"):
        validate(Var("cart position"))
    with pytest.raises(ExpressionError, match="Expected an expression node"):
        validate(Call("neg", (1.0,)))  # type: ignore[arg-type]


def test_expression_error_is_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_broadcasts_constants_and_returns_float64() -> None:
    cols = {"x": np.arange(5)}
    out = evaluate(Const(2.5), cols)
    assert out.dtype == np.float64 and out.shape == (5,)
    np.testing.assert_array_equal(out, np.full(5, 2.5))
    assert evaluate(Const(2.5), {}).shape == (1,)


def test_evaluate_matches_numpy() -> None:
    cols = random_columns(0)
    x, y = cols["x"], cols["y"]
    np.testing.assert_array_equal(evaluate(p("x * y - sin(x) + max(x, y)"), cols),
                                  x * y - np.sin(x) + np.maximum(x, y))


def test_protected_semantics_match_gplearn() -> None:
    cols = {"x": np.array([0.0, 0.0005, -0.001, 0.002, -4.0]), "y": np.ones(5)}
    np.testing.assert_array_equal(evaluate(p("y / x"), cols), [1.0, 1.0, 1.0, 500.0, -0.25])
    np.testing.assert_array_equal(evaluate(p("log(x)"), cols), [0.0, 0.0, 0.0, np.log(0.002), np.log(4.0)])
    np.testing.assert_array_equal(evaluate(p("inv(x)"), cols), [0.0, 0.0, 0.0, 500.0, -0.25])
    np.testing.assert_array_equal(evaluate(p("sqrt(x)"), cols), np.sqrt(np.abs(cols["x"])))


def test_evaluate_does_not_alias_input() -> None:
    cols = {"x": np.array([1.0, 2.0])}
    out = evaluate(Var("x"), cols)
    out[0] = 99.0
    assert cols["x"][0] == 1.0


def test_evaluate_errors() -> None:
    with pytest.raises(ExpressionError, match=r"No column for variable 'yy'.*Did you mean 'y'\?"):
        evaluate(Var("yy"), {"x": np.ones(2), "y": np.ones(2)})
    with pytest.raises(ValueError, match="different lengths"):
        evaluate(Var("x"), {"x": np.ones(2), "y": np.ones(3)})
    with pytest.raises(ValueError, match="1-D"):
        evaluate(Var("x"), {"x": np.ones((2, 2))})


# ----------------------------------------------------------------------------- compile


def test_compiled_matches_evaluate_on_random_trees() -> None:
    rng = random.Random(1)
    cols = random_columns(1)
    X = np.column_stack([cols[name] for name in VARIABLES])
    for _ in range(300):
        expr = random_expr(rng, 5)
        fn = compile_expression(expr, VARIABLES)
        with np.errstate(all="ignore"):
            expected = evaluate(expr, cols)
            got = fn(X)
            single = fn(X[:1])
        assert got.shape == (X.shape[0],) and got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
        assert single.shape == (1,)
        np.testing.assert_array_equal(single, expected[:1])


def test_compiled_column_order_and_shapes() -> None:
    fn = compile_expression(p("a - b"), ["b", "a"])
    np.testing.assert_array_equal(fn(np.array([[1.0, 10.0], [2.0, 3.0]])), [9.0, 1.0])
    const_fn = compile_expression(Const(4.0), ["a"])
    np.testing.assert_array_equal(const_fn(np.zeros((3, 1))), [4.0, 4.0, 4.0])
    X = np.array([[1.0, 2.0]])
    out = compile_expression(Var("a"), ["a", "b"])(X)
    out[0] = -1.0
    assert X[0, 0] == 1.0  # result is not a view of the input
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        fn(np.zeros(2))
    with pytest.raises(ExpressionError, match="Unknown variable 'c'"):
        compile_expression(p("a + c"), ["a", "b"])
    with pytest.raises(ValueError, match="duplicates"):
        compile_expression(Var("a"), ["a", "a"])


def test_compiled_function_does_no_validation_or_parsing_per_call(monkeypatch) -> None:
    # Speed is measured in scripts/bench_quickstart.py (formula actions/s); here, structurally: once
    # compiled, a call never goes back to the validator (which every re-parse or re-build would).
    import nsrl_ray.symbolic.expression as expression

    fn = compile_expression(p("x * 0.5 + log(y / z) - max(sin(x), 1.0 / 3.0) * tanh(y + 2.0)"), VARIABLES)
    obs = np.array([[0.1, -0.2, 0.3]])
    expected = fn(obs)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the compiled function validated its expression again")

    monkeypatch.setattr(expression, "validate", refuse)
    np.testing.assert_array_equal(fn(obs), expected)
    with pytest.raises(AssertionError, match="validated"):
        compile_expression(p("x + y"), VARIABLES)  # the guard does catch a rebuild


# ----------------------------------------------------------------------------- primitives


def test_builtin_primitive_set() -> None:
    assert set(PRIMITIVES) >= {"add", "sub", "mul", "div", "neg", "abs", "sqrt", "log", "inv",
                               "max", "min", "sin", "cos", "tan", "tanh", "sigmoid"}
    with pytest.raises(TypeError):
        PRIMITIVES["foo"] = PRIMITIVES["add"]  # type: ignore[index]
    with pytest.raises(ExpressionError, match="Did you mean 'sigmoid'"):
        get_primitive("sigmod")


def test_register_primitive_roundtrip() -> None:
    def square(x):
        return x * x

    prim = register_primitive("square", 1, square, python_fn=lambda a: f"({a}) * ({a})")
    try:
        assert PRIMITIVES["square"] is prim
        expr = parse_expression("square(x) + 1.0")
        np.testing.assert_array_equal(evaluate(expr, {"x": np.array([2.0, -3.0])}), [5.0, 10.0])
        with pytest.raises(ValueError, match="already registered"):
            register_primitive("square", 1, square)
    finally:
        unregister_primitive("square")
    assert "square" not in PRIMITIVES


def test_register_primitive_refusals() -> None:
    with pytest.raises(TypeError, match="arity=2"):
        register_primitive("bad_arity", 2, lambda x: x)
    with pytest.raises(TypeError, match="arity=1"):
        register_primitive("bad_ufunc", 1, np.add)
    with pytest.raises(ValueError, match="not closed"):
        register_primitive("unsafe_inv", 1, lambda x: 1.0 / x)
    with pytest.raises(ValueError, match="not closed"):
        register_primitive("unsafe_log", 1, lambda x: np.log(x))
    with pytest.raises(ValueError, match="same shape"):
        register_primitive("scalar_out", 1, lambda x: float(np.sum(x)))
    with pytest.raises(ValueError, match="built-in"):
        register_primitive("add", 2, np.add)
    with pytest.raises(ValueError, match="identifier"):
        register_primitive("my op", 1, np.sin)
    for name in ("bad_arity", "bad_ufunc", "unsafe_inv", "unsafe_log", "scalar_out", "my op"):
        assert name not in PRIMITIVES


# ----------------------------------------------------------------------------- simplify


def test_simplify_reduces_to_zero() -> None:
    assert simplify(p("x - x + 0.0 * y")) == Const(0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + 0.0", "x"),
        ("1.0 * x", "x"),
        ("x / 1.0", "x"),
        ("--x", "x"),
        ("x - -y", "x + y"),
        ("x + -y", "x - y"),
        ("-x + y", "y - x"),
        ("x + -2.0", "x - 2.0"),
        ("-(x - y)", "y - x"),
        ("x * -1.0", "-x"),
        ("log(abs(-x))", "log(x)"),
        ("sqrt(-x)", "sqrt(x)"),
        ("max(sin(x), sin(x))", "sin(x)"),
        ("x / x", "1.0"),
        ("2.0 * 3.0 + x", "6.0 + x"),
        ("(1.0 / 0.0) * x", "x"),  # protected division folds to 1.0
        ("log(0.0) + x", "x"),  # protected log folds to 0.0
    ],
)
def test_simplify_rules(text: str, expected: str) -> None:
    assert simplify(p(text)) == p(expected)


def test_simplify_preserves_values_and_never_grows() -> None:
    rng = random.Random(2)
    cols = random_columns(2, n=200)
    changed = 0
    for _ in range(400):
        expr = random_expr(rng, 5)
        simple = simplify(expr)
        assert complexity(simple) <= complexity(expr)
        validate(simple)
        changed += simple != expr
        with np.errstate(all="ignore"):
            before = evaluate(expr, cols)
            after = evaluate(simple, cols)
        # Rewrites like x*0 -> 0 are exact only where the dropped subtree is finite.
        finite = np.isfinite(before)
        np.testing.assert_allclose(after[finite], before[finite], rtol=1e-9, atol=1e-9)
        assert simplify(simple) == simple  # idempotent
    assert changed > 50


def test_simplify_does_not_fold_to_non_finite() -> None:
    expr = p("1e308 * 10.0")
    assert simplify(expr) == expr
