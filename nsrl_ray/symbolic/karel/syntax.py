"""Parsing Karel program text, and the syntax automaton that also serves as a decoding mask.

The grammar is LL(1), so one pushdown automaton answers both questions: is this token sequence a
program, and which tokens may come next after a prefix. Invalid text is refused with the 0-based
token position (and character offset) of the first bad token and the tokens that were expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from nsrl_ray.envs.karel.world import ACTIONS, PERCEPTIONS
from nsrl_ray.symbolic.karel.program import (
    END_ID,
    END_TOKEN,
    MAX_REPEAT,
    TOKEN_IDS,
    TOKENS,
    Action,
    Block,
    Condition,
    If,
    IfElse,
    Program,
    Repeat,
    While,
)

_STMTS1, _STMTS, _COND, _PERC, _COUNT = "<statements>", "<more statements>", "<condition>", "<perception>", "<count>"
_COUNTS = frozenset(f"R={k}" for k in range(MAX_REPEAT + 1))
_STMT_FIRST = frozenset(ACTIONS) | {"WHILE", "REPEAT", "IF", "IFELSE"}
_ACTION_SET = frozenset(ACTIONS)
_PERCEPTION_SET = frozenset(PERCEPTIONS)
_ALLOWED = {_STMTS1: _STMT_FIRST, _COND: _PERCEPTION_SET | {"not"}, _PERC: _PERCEPTION_SET, _COUNT: _COUNTS}
# What each statement keyword pushes, in reading order.
_EXPANSIONS: dict[str, tuple[str, ...]] = {
    "WHILE": ("c(", _COND, "c)", "w(", _STMTS1, "w)"),
    "REPEAT": (_COUNT, "r(", _STMTS1, "r)"),
    "IF": ("c(", _COND, "c)", "i(", _STMTS1, "i)"),
    "IFELSE": ("c(", _COND, "c)", "i(", _STMTS1, "i)", "ELSE", "e(", _STMTS1, "e)"),
}
_NOT_EXPANSION = ("c(", _PERC, "c)")
# Fewest tokens that complete each stack symbol.
_MIN_LENGTH = {_STMTS1: 1, _STMTS: 0, _COND: 1, _PERC: 1, _COUNT: 1}


class KarelSyntaxError(ValueError):
    """Program text that the grammar refuses: where (0-based token index, character offset) and what was expected."""

    def __init__(self, message: str, position: int, offset: int, expected: tuple[str, ...], got: str | None) -> None:
        super().__init__(message)
        self.position = position
        self.offset = offset
        self.expected = expected
        self.got = got


def _describe(tokens: Iterable[str]) -> str:
    ordered = [t for t in (*TOKENS, END_TOKEN) if t in set(tokens)]
    if len(ordered) > 8:
        return ", ".join(repr(t) for t in ordered[:8]) + f", ... ({len(ordered)} tokens)"
    return ", ".join(repr(t) for t in ordered)


class SyntaxState:
    """The automaton after a prefix: `allowed()` gives the tokens that may follow, `feed` advances."""

    __slots__ = ("stack", "length")

    def __init__(self) -> None:
        self.stack: list[str] = ["m)", _STMTS1, "m(", "run", "DEF"]  # top of the stack is the end
        self.length = 0

    def copy(self) -> "SyntaxState":
        other = SyntaxState.__new__(SyntaxState)
        other.stack = list(self.stack)
        other.length = self.length
        return other

    @property
    def complete(self) -> bool:
        return not self.stack

    def allowed(self) -> frozenset[str]:
        """Tokens that may come next; {END_TOKEN} once the program is complete."""
        allowed: set[str] = set()
        for symbol in reversed(self.stack):
            if symbol == _STMTS:
                allowed |= _STMT_FIRST
                continue  # may be empty: what lies below may come next too
            allowed |= _ALLOWED.get(symbol, {symbol})
            return frozenset(allowed)
        return frozenset(allowed | {END_TOKEN})

    def min_remaining(self) -> int:
        """The fewest tokens that complete the program from here."""
        return sum(_MIN_LENGTH.get(symbol, 1) for symbol in self.stack)

    def feed(self, token: str) -> None:
        """Advance by one token; raises ValueError (with the allowed tokens) when it may not come next."""
        stack = self.stack
        while True:
            if not stack:
                raise ValueError(f"expected the end of the program, got {token!r}")
            top = stack[-1]
            if top == _STMTS:
                if token in _STMT_FIRST:
                    self._statement(token)
                    break
                stack.pop()  # no more statements in this block
                continue
            if top == _STMTS1:
                if token not in _STMT_FIRST:
                    raise ValueError(f"expected a statement, got {token!r}")
                stack[-1] = _STMTS
                self._statement(token)
                break
            if top == _COND:
                if token in _PERCEPTION_SET:
                    stack.pop()
                elif token == "not":
                    stack.pop()
                    stack.extend(reversed(_NOT_EXPANSION))
                else:
                    raise ValueError(f"expected a condition, got {token!r}")
                break
            if top == _PERC:
                if token not in _PERCEPTION_SET:
                    raise ValueError(f"expected a perception, got {token!r}")
                stack.pop()
                break
            if top == _COUNT:
                if token not in _COUNTS:
                    raise ValueError(f"expected a REPEAT count R=0..R={MAX_REPEAT}, got {token!r}")
                stack.pop()
                break
            if token != top:
                raise ValueError(f"expected {top!r}, got {token!r}")
            stack.pop()
            break
        self.length += 1

    def _statement(self, token: str) -> None:
        expansion = _EXPANSIONS.get(token)
        if expansion is not None:
            self.stack.extend(reversed(expansion))


def allowed_next(prefix: Sequence[str | int], max_tokens: int | None = None) -> frozenset[str]:
    """Tokens that may follow ``prefix`` (token strings or LEAPS ids); with ``max_tokens``, only those
    after which the program can still be completed within that many tokens."""
    state = SyntaxState()
    for position, token in enumerate(prefix):
        name = TOKENS[token] if isinstance(token, (int, np.integer)) else token
        try:
            state.feed(name)
        except ValueError as error:
            raise ValueError(f"prefix token {position} ({name!r}) is not allowed: {error}") from None
    allowed = state.allowed()
    if max_tokens is None:
        return allowed
    fitting = set()
    for token in allowed:
        if token == END_TOKEN:
            fitting.add(token)
            continue
        after = state.copy()
        after.feed(token)
        if after.length + after.min_remaining() <= max_tokens:
            fitting.add(token)
    return frozenset(fitting)


def token_mask(prefix_ids: Sequence[int], max_tokens: int | None = None) -> np.ndarray:
    """Boolean mask over the 50 LEAPS token ids plus the end id (index 50): True where allowed next."""
    mask = np.zeros(END_ID + 1, dtype=bool)
    for token in allowed_next(prefix_ids, max_tokens):
        mask[END_ID if token == END_TOKEN else TOKEN_IDS[token]] = True
    return mask


# ------------------------------------------------------------------------------------------ parser
def _check(tokens: list[str], offsets: list[int], text_length: int) -> None:
    state = SyntaxState()
    for position, token in enumerate(tokens):
        expected = state.allowed()
        try:
            state.feed(token)
        except ValueError:
            raise KarelSyntaxError(
                f"invalid Karel program: token {position} (character {offsets[position]}) is {token!r}; "
                f"expected {_describe(expected)}.",
                position, offsets[position], tuple(sorted(expected)), token,
            ) from None
    if not state.complete:
        expected = state.allowed()
        raise KarelSyntaxError(
            f"invalid Karel program: it ends after {len(tokens)} tokens (character {text_length}); "
            f"expected {_describe(expected)}.",
            len(tokens), text_length, tuple(sorted(expected)), None,
        )


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.at = tokens, 0

    def take(self) -> str:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def condition(self) -> Condition:
        self.take()  # c(
        token = self.take()
        if token == "not":
            self.take()  # c(
            cond = Condition(self.take(), negated=True)
            self.take()  # c)
        else:
            cond = Condition(token)
        self.take()  # c)
        return cond

    def block(self, closer: str) -> Block:
        out = []
        while self.tokens[self.at] != closer:
            out.append(self.statement())
        self.take()
        return tuple(out)

    def statement(self):
        token = self.take()
        if token in _ACTION_SET:
            return Action(token)
        if token == "WHILE":
            cond = self.condition()
            self.take()  # w(
            return While(cond, self.block("w)"))
        if token == "REPEAT":
            count = int(self.take()[2:])
            self.take()  # r(
            return Repeat(count, self.block("r)"))
        cond = self.condition()
        self.take()  # i(
        body = self.block("i)")
        if token == "IF":
            return If(cond, body)
        self.take()  # ELSE
        self.take()  # e(
        return IfElse(cond, body, self.block("e)"))


def parse_tokens(tokens: Sequence[str]) -> Program:
    """A program from LEAPS tokens; refuses invalid sequences with KarelSyntaxError."""
    tokens = list(tokens)
    _check(tokens, list(range(len(tokens))), len(tokens))
    reader = _Reader(tokens)
    reader.at = 3  # DEF run m(
    return Program(reader.block("m)"))


def parse_program(text: str) -> Program:
    """Parse program text such as 'DEF run m( WHILE c( frontIsClear c) w( move w) m)'.

    Tokens are separated by whitespace, as in LEAPS. Never evaluates the text: it is read token by
    token against the grammar, and anything else raises KarelSyntaxError naming the first bad token.
    """
    if not isinstance(text, str):
        raise TypeError(f"program text: got {type(text).__name__}, expected a string such as 'DEF run m( move m)'.")
    matches = list(re.finditer(r"\S+", text))
    tokens = [m.group() for m in matches]
    _check(tokens, [m.start() for m in matches], len(text))
    reader = _Reader(tokens)
    reader.at = 3
    return Program(reader.block("m)"))


def parse_ids(ids: Sequence[int]) -> Program:
    """A program from LEAPS token ids; an END id (50) ends the sequence."""
    tokens = []
    for position, token in enumerate(ids):
        token = int(token)
        if token == END_ID:
            break
        if not 0 <= token < len(TOKENS):
            raise KarelSyntaxError(
                f"invalid Karel program: id {token} at position {position} is not a token id (0..{len(TOKENS) - 1}).",
                position, position, (), str(token),
            )
        tokens.append(TOKENS[token])
    return parse_tokens(tokens)
