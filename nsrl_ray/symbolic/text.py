"""Canonical text form of expressions: printer with minimal parentheses and a safe parser.

Grammar (lowest to highest precedence; binary operators are left associative)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := '-' NUMBER | '-' unary | atom        # '-' directly before a number is a negative constant
    atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

`a / b` is gplearn's PROTECTED division (1.0 where |b| <= 0.001), not true division.
All other primitives use the call syntax, e.g. `log(x)` (protected log|x|), `max(a, b)`.
A negated non-negative constant prints as `-(1.5)` so that it stays distinct from the
constant -1.5, which prints as `-1.5`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, suggest, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES, ExpressionError, Primitive

__all__ = [
    "ExpressionSyntaxError",
    "RenderStyle",
    "parse_expression",
    "render",
    "to_display_text",
    "to_text",
]

_BINARY_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_PREFIX_PRECEDENCE = 3
_ATOM_PRECEDENCE = 4


# --------------------------------------------------------------------------- printing


@dataclass(frozen=True)
class RenderStyle:
    """How to print leaves and calls; shared by the text, LaTeX and Python renderers.

    `is_operator(p)` selects primitives (with an `infix` symbol) printed as infix/prefix
    operators whose operands get parenthesised by precedence; all others are atoms whose
    arguments are printed without extra parentheses.
    """

    const: Callable[[float], str]
    var: Callable[[str], str]
    call: Callable[[Primitive, Sequence[str]], str]
    is_operator: Callable[[Primitive], bool]
    paren: Callable[[str], str] = lambda s: f"({s})"
    # Parenthesise non-leading operands that start with a minus sign (x - (-y), -(-y)) for readability.
    paren_signed_operands: bool = False
    # Wrap constants under prefix minus so `-(1.5)` (neg of 1.5) differs from `-1.5` (a constant).
    paren_negated_const: bool = False


def render(expr: Expr, style: RenderStyle) -> str:
    """Render a validated expression with `style`, inserting only the parentheses needed."""
    return _render(expr, style)[0]


def _render(node: Expr, style: RenderStyle) -> tuple[str, int]:
    if isinstance(node, Const):
        signed = math.copysign(1.0, node.value) < 0
        return style.const(node.value), (_PREFIX_PRECEDENCE if signed else _ATOM_PRECEDENCE)
    if isinstance(node, Var):
        return style.var(node.name), _ATOM_PRECEDENCE
    prim = PRIMITIVES[node.op]
    if prim.infix is None or not style.is_operator(prim):
        return style.call(prim, [_render(arg, style)[0] for arg in node.args]), _ATOM_PRECEDENCE
    if prim.arity == 1:
        (child,) = node.args
        text, prec = _render(child, style)
        if (
            prec < _PREFIX_PRECEDENCE
            or (style.paren_signed_operands and prec == _PREFIX_PRECEDENCE)
            or (style.paren_negated_const and isinstance(child, Const))
        ):
            text = style.paren(text)
        return style.call(prim, [text]), _PREFIX_PRECEDENCE
    prec = _BINARY_PRECEDENCE[prim.infix]
    left, right = node.args
    left_text, left_prec = _render(left, style)
    right_text, right_prec = _render(right, style)
    if left_prec < prec:
        left_text = style.paren(left_text)
    # Left associativity: an equal-precedence right operand needs parentheses (a - (b - c)).
    if right_prec <= prec or (style.paren_signed_operands and right_prec == _PREFIX_PRECEDENCE):
        right_text = style.paren(right_text)
    return style.call(prim, [left_text, right_text]), prec


def _text_call(prim: Primitive, args: Sequence[str]) -> str:
    if prim.infix is not None:
        return f"{prim.infix}{args[0]}" if prim.arity == 1 else f"{args[0]} {prim.infix} {args[1]}"
    return f"{prim.name}({', '.join(args)})"


# repr(float) is the shortest string that round-trips exactly.
TEXT_STYLE = RenderStyle(
    const=repr, var=str, call=_text_call, is_operator=lambda p: True, paren_negated_const=True
)


def to_text(expr: Expr) -> str:
    """Canonical text of `expr`; `parse_expression(to_text(e)) == e` for every valid `e`."""
    validate(expr)
    return render(expr, TEXT_STYLE)


def _rounded_const(digits: int) -> Callable[[float], str]:
    def const(value: float) -> str:
        text = f"{value:.{digits}g}"
        # Rounding up near the float maximum would print a number that no longer parses.
        return text if math.isfinite(float(text)) else repr(value)

    return const


def to_display_text(expr: Expr, digits: int = 4) -> str:
    """Text of `expr` for humans: like `to_text` but constants rounded to `digits` significant digits.

    `0.1 + 2.8434593865203484 * x` displays as `0.1 + 2.843 * x`. The result parses back with
    `parse_expression` to the same tree with rounded constants; it is not exact, so use
    `to_text` to store or compare formulas.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive int, got {digits!r}.")
    validate(expr)
    return render(expr, dataclasses.replace(TEXT_STYLE, const=_rounded_const(digits)))


# --------------------------------------------------------------------------- parsing


class ExpressionSyntaxError(ExpressionError):
    """Text could not be parsed; carries the 0-based `position`, offending `token` and `expected`."""

    def __init__(self, text: str, position: int, token: str, expected: str, problem: str = "Syntax error"):
        self.text = text
        self.position = position
        self.token = token
        self.expected = expected
        found = "end of input" if token == "" else repr(token)
        caret = " " * position + "^"
        super().__init__(
            f"{problem} at position {position} (found {found}); expected {expected}.\n  {text}\n  {caret}"
        )


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op", "(", ")", ",", "end"
    text: str
    pos: int


_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/])"
    r"|(?P<punct>[(),])"
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ExpressionSyntaxError(
                text, pos, text[pos],
                "a number, a name, one of + - * /, a parenthesis or a comma",
                problem="Unexpected character",
            )
        kind = match.lastgroup
        if kind != "ws":
            value = match.group()
            tokens.append(_Token(value if kind == "punct" else kind, value, pos))  # type: ignore[arg-type]
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


_EXPRESSION_START = "an expression (a number, a variable, a function call, '-' or '(')"


class _Parser:
    def __init__(self, text: str, variables: Collection[str] | None):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.variables = None if variables is None else frozenset(variables)
        # Operator symbols come from the registry so the syntax follows the primitives' `infix`.
        self.binary = {p.infix: p.name for p in PRIMITIVES.values() if p.infix and p.arity == 2}
        self.prefix = {p.infix: p.name for p in PRIMITIVES.values() if p.infix and p.arity == 1}

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, token: _Token, expected: str, problem: str = "Syntax error") -> ExpressionSyntaxError:
        return ExpressionSyntaxError(self.text, token.pos, token.text, expected, problem)

    def parse(self) -> Expr:
        expr = self.expression()
        if self.tok.kind != "end":
            raise self.error(self.tok, "an operator (+ - * /) or the end of the input", "Unexpected token")
        return expr

    def expression(self) -> Expr:
        left = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.binary[self.advance().text]
            left = Call(op, (left, self.term()))
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.binary[self.advance().text]
            left = Call(op, (left, self.unary()))
        return left

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text in self.prefix:
            self.advance()
            if self.tok.kind == "num":
                return Const(-self.number(self.advance()))
            return Call(self.prefix["-"], (self.unary(),))
        return self.atom()

    def number(self, token: _Token) -> float:
        value = float(token.text)
        if not math.isfinite(value):
            raise self.error(token, "a finite number (|x| < 1.8e308)", "Number out of range")
        return value

    def atom(self) -> Expr:
        token = self.tok
        if token.kind == "num":
            self.advance()
            return Const(self.number(token))
        if token.kind == "(":
            self.advance()
            inner = self.expression()
            self.expect(")", "')' to close the '(' at position %d" % token.pos)
            return inner
        if token.kind == "name":
            self.advance()
            if self.tok.kind == "(":
                return self.call(token)
            if self.variables is not None and token.text not in self.variables:
                allowed = ", ".join(sorted(self.variables)) or "(none)"
                raise self.error(
                    token, f"one of the variables {allowed}.{suggest(token.text, self.variables)}",
                    "Unknown variable",
                )
            return Var(token.text)
        raise self.error(token, _EXPRESSION_START)

    def call(self, name: _Token) -> Expr:
        if name.text not in PRIMITIVES:
            allowed = ", ".join(sorted(PRIMITIVES))
            raise self.error(
                name, f"a known function ({allowed}).{suggest(name.text, PRIMITIVES)}", "Unknown function"
            )
        self.advance()  # '('
        args = [self.expression()]
        while self.tok.kind == ",":
            self.advance()
            args.append(self.expression())
        self.expect(")", "',' or ')' to close the argument list of %s(" % name.text)
        arity = PRIMITIVES[name.text].arity
        if len(args) != arity:
            raise self.error(
                name, f"{name.text}() to be called with {arity} argument(s), got {len(args)}",
                "Wrong number of arguments",
            )
        return Call(name.text, tuple(args))

    def expect(self, kind: str, expected: str) -> None:
        if self.tok.kind != kind:
            raise self.error(self.tok, expected)
        self.advance()


def parse_expression(text: str, variables: Collection[str] | None = None) -> Expr:
    """Parse the text syntax (see module docstring) into an Expr without eval/sympify.

    Raises ExpressionSyntaxError with the 0-based position, the offending token and what
    was expected; with `variables`, names outside it are rejected.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_expression expects a str, got {type(text).__name__}.")
    return _Parser(text, variables).parse()
