"""Tests for the canonical text form: printing, parsing, exact round trip and error reporting."""

from __future__ import annotations

import random

import pytest

from nsrl_ray.symbolic import (
    PRIMITIVES,
    Call,
    Const,
    ExpressionError,
    ExpressionSyntaxError,
    Var,
    parse_expression,
    to_text,
)

# Variables deliberately include names of primitives ("max", "sin", "neg", "div").
VARIABLES = ["x", "y", "z", "x_1", "max", "sin", "neg", "div", "e", "inf"]
CONSTANTS = [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, 0.1, 1e-300, 5e-324, -2.5e-7, 1e16, -1.7976931348623157e308, 123456789.0]
BUILTIN_OPS = sorted(PRIMITIVES.items())


def random_expr(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.5:
            return Var(rng.choice(VARIABLES))
        return Const(rng.choice(CONSTANTS + [rng.uniform(-1e3, 1e3)]))
    # Bias towards the operators whose printing needs care.
    name = rng.choice(["add", "sub", "mul", "div", "neg", "neg"] + [n for n, _ in BUILTIN_OPS])
    arity = PRIMITIVES[name].arity
    return Call(name, tuple(random_expr(rng, depth - 1) for _ in range(arity)))


def test_round_trip_random_trees() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        expr = random_expr(rng, rng.randint(0, 6))
        text = to_text(expr)
        parsed = parse_expression(text)
        assert parsed == expr, text
        assert to_text(parsed) == text


@pytest.mark.parametrize(
    "expr",
    [
        Const(-1.5),
        Call("neg", (Const(1.5),)),
        Call("neg", (Const(-1.5),)),
        Call("neg", (Call("neg", (Const(1.5),)),)),
        Const(-0.0),
        Call("neg", (Const(0.0),)),
        Call("sub", (Var("a"), Call("sub", (Var("b"), Var("c"))))),
        Call("sub", (Call("sub", (Var("a"), Var("b"))), Var("c"))),
        Call("add", (Var("a"), Call("add", (Var("b"), Var("c"))))),
        Call("div", (Var("a"), Call("mul", (Var("b"), Var("c"))))),
        Call("mul", (Var("a"), Call("div", (Var("b"), Var("c"))))),
        Call("mul", (Call("neg", (Var("a"),)), Var("b"))),
        Call("neg", (Call("mul", (Var("a"), Var("b"))),)),
        Call("mul", (Var("a"), Const(-2.0))),
        Call("sub", (Var("a"), Const(-2.0))),
        Call("add", (Var("a"), Const(-2.0))),
        Call("max", (Var("max"), Call("max", (Var("max"), Const(1.0))))),
        Call("sin", (Var("sin"),)),
        Call("neg", (Var("neg"),)),
        Call("div", (Var("div"), Var("div"))),
        Const(1e-300),
        Const(1e16),
        Const(0.1 + 0.2),
    ],
)
def test_round_trip_tricky_cases(expr: object) -> None:
    assert parse_expression(to_text(expr)) == expr


def test_minimal_parentheses() -> None:
    a, b, c = Var("a"), Var("b"), Var("c")
    assert to_text(Call("sub", (a, Call("sub", (b, c))))) == "a - (b - c)"
    assert to_text(Call("sub", (Call("sub", (a, b)), c))) == "a - b - c"
    assert to_text(Call("mul", (Call("add", (a, b)), c))) == "(a + b) * c"
    assert to_text(Call("add", (a, Call("mul", (b, c))))) == "a + b * c"
    assert to_text(Call("neg", (Call("mul", (a, b)),))) == "-(a * b)"
    assert to_text(Call("mul", (Call("neg", (a,)), b))) == "-a * b"
    assert to_text(Call("log", (Call("add", (a, b)),))) == "log(a + b)"
    assert to_text(Const(-1.5)) == "-1.5"
    assert to_text(Call("neg", (Const(1.5),))) == "-(1.5)"
    assert to_text(Const(0.1 + 0.2)) == "0.30000000000000004"


def test_parse_precedence_and_literals() -> None:
    x, y = Var("x"), Var("y")
    assert parse_expression("1 + 2 * 3") == Call("add", (Const(1.0), Call("mul", (Const(2.0), Const(3.0)))))
    assert parse_expression("x - y - 1") == Call("sub", (Call("sub", (x, y)), Const(1.0)))
    assert parse_expression("x / y / 2") == Call("div", (Call("div", (x, y)), Const(2.0)))
    assert parse_expression("-x * y") == Call("mul", (Call("neg", (x,)), y))
    assert parse_expression("- 2 * x") == Call("mul", (Const(-2.0), x))
    assert parse_expression("x-1") == Call("sub", (x, Const(1.0)))
    assert parse_expression(" .5 + 5. + 1e-3 + 2E+2 ") == Call(
        "add", (Call("add", (Call("add", (Const(0.5), Const(5.0))), Const(0.001))), Const(200.0))
    )
    assert parse_expression("\tmax( x ,\n y )") == Call("max", (x, y))
    assert parse_expression("add(x, y)") == Call("add", (x, y))  # operators may also be called by name
    assert parse_expression("((x))") == x


def _syntax_error(text: str, **kwargs: object) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression(text, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ExpressionError)
    return info.value


def test_error_unexpected_token() -> None:
    err = _syntax_error("x + )")
    assert (err.position, err.token) == (4, ")")
    assert "expected an expression" in str(err)
    assert "position 4" in str(err)
    assert str(err).splitlines()[-1] == "      ^"


def test_error_missing_close_paren() -> None:
    err = _syntax_error("sin(x")
    assert (err.position, err.token) == (5, "")
    assert "end of input" in str(err) and "')'" in err.expected


def test_error_trailing_token() -> None:
    err = _syntax_error("x y")
    assert (err.position, err.token) == (2, "y")
    assert "operator" in err.expected


def test_error_number_followed_by_name() -> None:
    err = _syntax_error("2x")
    assert (err.position, err.token) == (1, "x")


def test_error_bad_character_and_no_eval() -> None:
    err = _syntax_error("x $ y")
    assert (err.position, err.token) == (2, "$")
    err = _syntax_error("__import__('os').system('true')")
    assert err.position == 11 and err.token == "'"


def test_error_unknown_function_suggests() -> None:
    err = _syntax_error("x + sinn(y)")
    assert (err.position, err.token) == (4, "sinn")
    assert "Did you mean 'sin'?" in str(err)


def test_error_wrong_arity() -> None:
    err = _syntax_error("sin(x, y)")
    assert (err.position, err.token) == (0, "sin")
    assert "1 argument(s), got 2" in str(err)


def test_error_unknown_variable_with_allowed_set() -> None:
    err = _syntax_error("position + velocty", variables=["position", "velocity"])
    assert (err.position, err.token) == (11, "velocty")
    assert "Did you mean 'velocity'?" in str(err)
    assert parse_expression("position + velocity", variables=["position", "velocity"])


def test_error_empty_and_overflow() -> None:
    err = _syntax_error("")
    assert (err.position, err.token) == (0, "")
    err = _syntax_error("x * 1e999")
    assert (err.position, err.token) == (4, "1e999")
    assert "finite" in err.expected


def test_to_text_rejects_invalid() -> None:
    with pytest.raises(ExpressionError, match="not finite"):
        to_text(Const(float("inf")))
    with pytest.raises(ExpressionError, match="Unknown operator"):
        to_text(Call("nope", (Var("x"),)))
    assert str(Call("add", (Var("x"), Const(1.0)))) == "x + 1.0"
