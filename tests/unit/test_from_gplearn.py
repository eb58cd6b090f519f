"""Tests converting fitted gplearn programs to the IR: values must match gplearn exactly."""

from __future__ import annotations

import numpy as np
import pytest
from gplearn.functions import _function_map, make_function, sig1
from gplearn.genetic import SymbolicRegressor

from nsrl_ray.symbolic import (
    Call,
    Const,
    ExpressionError,
    Var,
    compile_expression,
    evaluate,
    from_gplearn_program,
    parse_expression,
    register_primitive,
    to_text,
    unregister_primitive,
)

FEATURES = ["pos", "vel", "angle"]
FUNCTION_SET = ("add", "sub", "mul", "div", "log", "sqrt", "inv", "neg", "abs", "max", "min", "sin", "cos", "tan")


def columns(X: np.ndarray) -> dict[str, np.ndarray]:
    return {name: X[:, i] for i, name in enumerate(FEATURES)}


@pytest.fixture(scope="module")
def fitted() -> tuple[SymbolicRegressor, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(120, 3))
    X[:5, 2] = [0.0, 0.0005, -0.001, 1e-5, 2.0]  # hit the protected branches
    y = X[:, 0] * X[:, 1] - np.log(np.abs(X[:, 2]) + 1.0) + 1.0 / (X[:, 1] + 3.0)
    est = SymbolicRegressor(
        population_size=200, generations=3, random_state=0, function_set=FUNCTION_SET, n_jobs=1
    )
    est.fit(X, y)
    return est, X


def test_best_program_matches_execute(fitted: tuple[SymbolicRegressor, np.ndarray]) -> None:
    est, X = fitted
    expr = from_gplearn_program(est._program, FEATURES)
    np.testing.assert_array_equal(evaluate(expr, columns(X)), est._program.execute(X))
    np.testing.assert_array_equal(compile_expression(expr, FEATURES)(X), est._program.execute(X))
    # The fitted estimator itself is accepted too.
    assert from_gplearn_program(est, FEATURES) == expr


def test_whole_population_matches_execute(fitted: tuple[SymbolicRegressor, np.ndarray]) -> None:
    est, X = fitted
    programs = [prog for generation in est._programs for prog in generation if prog is not None]
    assert len(programs) >= 200
    ops_seen: set[str] = set()
    for prog in programs:
        expr = from_gplearn_program(prog, FEATURES)
        with np.errstate(all="ignore"):
            expected = prog.execute(X)
            got = evaluate(expr, columns(X))
        np.testing.assert_array_equal(got, expected, err_msg=str(prog))
        assert parse_expression(to_text(expr), FEATURES) == expr
        ops_seen |= {node.name for node in prog.program if hasattr(node, "arity")}
    assert {"div", "log", "sqrt", "inv"} <= ops_seen


@pytest.mark.parametrize("name", sorted(_function_map) + ["sig"])
def test_each_gplearn_function_is_exact(name: str) -> None:
    function = sig1 if name == "sig" else _function_map[name]
    X = np.array([[0.0, 0.0005, -0.001, 0.0011, -3.0, 2.5, 1e-300, 40.0, -800.0],
                  [1.0, -0.0002, 0.001, -7.0, 0.5, 2.5, 3.0, -1e-4, 0.0]]).T
    program = [function, 0] if function.arity == 1 else [function, 0, 1]
    expr = from_gplearn_program(program, ["a", "b"])
    with np.errstate(all="ignore"):
        expected = function(*(X[:, i] for i in range(function.arity)))
    np.testing.assert_array_equal(evaluate(expr, {"a": X[:, 0], "b": X[:, 1]}), expected)


def test_terminal_only_programs() -> None:
    assert from_gplearn_program([2], FEATURES) == Var("angle")
    assert from_gplearn_program([np.float64(0.25)], FEATURES) == Const(0.25)


def test_prefix_order_and_constants() -> None:
    div, sub, mul = _function_map["div"], _function_map["sub"], _function_map["mul"]
    program = [sub, div, 0, 1.5, mul, 2, np.int64(1)]
    assert from_gplearn_program(program, FEATURES) == Call(
        "sub", (Call("div", (Var("pos"), Const(1.5))), Call("mul", (Var("angle"), Var("vel"))))
    )


def test_unsupported_function_is_reported() -> None:
    cube = make_function(function=lambda x: x**3, name="cube", arity=1, wrap=False)
    with pytest.raises(ExpressionError, match=r"gplearn function 'cube' \(arity 1\).*function_map"):
        from_gplearn_program([cube, 0], FEATURES)
    register_primitive("cube", 1, lambda x: x**3)
    try:
        expr = from_gplearn_program([cube, 0], FEATURES, function_map={"cube": "cube"})
        assert expr == Call("cube", (Var("pos"),))
    finally:
        unregister_primitive("cube")


def test_malformed_programs_are_reported() -> None:
    add = _function_map["add"]
    with pytest.raises(ExpressionError, match="feature index 3 but only 3 feature_names"):
        from_gplearn_program([add, 0, 3], FEATURES)
    with pytest.raises(ExpressionError, match="incomplete"):
        from_gplearn_program([add, 0], FEATURES)
    with pytest.raises(ExpressionError, match="trailing"):
        from_gplearn_program([0, 1], FEATURES)
    with pytest.raises(ExpressionError, match="not an identifier"):
        from_gplearn_program([0], ["cart position"])
    with pytest.raises(TypeError, match="_Program"):
        from_gplearn_program("add(X0, X1)", FEATURES)
