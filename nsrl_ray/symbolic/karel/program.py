"""Karel DSL programs: LEAPS's 50 tokens, an immutable syntax tree, the canonical text, size measures.

Grammar (shared/reference/karel.md §2.1):

    prog := DEF run m( S m)
    S    := WHILE c( B c) w( S w) | REPEAT R=k r( S r) | S S | A
          | IF c( B c) i( S i) | IFELSE c( B c) i( S i) ELSE e( S e)
    B    := P | not c( P c)
    P    := frontIsClear | leftIsClear | rightIsClear | markersPresent | noMarkersPresent
    A    := move | turnLeft | turnRight | pickMarker | putMarker
    k    := 0 ... 19

A sequence `S S` is kept flat: every body is a non-empty tuple of statements (a block). LEAPS
parses sequences left-associatively, and the interpreter counts its budget that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from nsrl_ray.envs.karel.world import ACTIONS, PERCEPTIONS

#: REPEAT counts allowed by the grammar.
MAX_REPEAT = 19

#: LEAPS's token vocabulary in its id order (karel_env/dsl/dsl_data.py): ids 0..49.
TOKENS: tuple[str, ...] = (
    "DEF", "run", "m(", "m)", "move", "turnRight", "turnLeft", "pickMarker", "putMarker", "r(", "r)",
    *(f"R={k}" for k in range(MAX_REPEAT + 1)),
    "REPEAT", "c(", "c)", "i(", "i)", "e(", "e)", "IF", "IFELSE", "ELSE",
    "frontIsClear", "leftIsClear", "rightIsClear", "markersPresent", "noMarkersPresent", "not", "w(", "w)", "WHILE",
)
TOKEN_IDS: dict[str, int] = {token: index for index, token in enumerate(TOKENS)}
#: The end-of-program / padding id that LEAPS's decoders add after the 50 tokens.
END_TOKEN = "<end>"
END_ID = len(TOKENS)


@dataclass(frozen=True)
class Condition:
    """A perception, optionally negated (`not` wraps exactly one perception)."""

    perception: str
    negated: bool = False


@dataclass(frozen=True)
class Action:
    name: str


@dataclass(frozen=True)
class While:
    cond: Condition
    body: "Block"


@dataclass(frozen=True)
class Repeat:
    count: int
    body: "Block"


@dataclass(frozen=True)
class If:
    cond: Condition
    body: "Block"


@dataclass(frozen=True)
class IfElse:
    cond: Condition
    body: "Block"
    orelse: "Block"


Statement = Union[Action, While, Repeat, If, IfElse]
#: A non-empty sequence of statements.
Block = tuple[Statement, ...]


@dataclass(frozen=True)
class Program:
    """`DEF run m( body m)`; build one with `parse_program` or the node classes (validated here)."""

    body: Block

    def __post_init__(self) -> None:
        validate_block(self.body, "program body")

    def __str__(self) -> str:
        return to_text(self)


def validate_block(block: Block, where: str) -> None:
    """Refuse a tree the grammar cannot produce (empty block, unknown action, count out of range)."""
    if not isinstance(block, tuple) or not block:
        raise ValueError(f"{where}: got {block!r}, expected a non-empty tuple of statements.")
    for index, stmt in enumerate(block):
        at = f"{where}[{index}]"
        if isinstance(stmt, Action):
            if stmt.name not in ACTIONS:
                raise ValueError(f"{at}: unknown action {stmt.name!r}; expected one of {ACTIONS}.")
        elif isinstance(stmt, Repeat):
            if isinstance(stmt.count, bool) or not isinstance(stmt.count, int) or not 0 <= stmt.count <= MAX_REPEAT:
                raise ValueError(f"{at}: REPEAT count {stmt.count!r}; expected an integer 0..{MAX_REPEAT}.")
            validate_block(stmt.body, f"{at}.body")
        elif isinstance(stmt, (While, If, IfElse)):
            if not isinstance(stmt.cond, Condition) or stmt.cond.perception not in PERCEPTIONS:
                raise ValueError(f"{at}: condition {stmt.cond!r}; expected a Condition over one of {PERCEPTIONS}.")
            validate_block(stmt.body, f"{at}.body")
            if isinstance(stmt, IfElse):
                validate_block(stmt.orelse, f"{at}.orelse")
        else:
            raise TypeError(f"{at}: got {type(stmt).__name__}, expected Action, While, Repeat, If or IfElse.")


# ------------------------------------------------------------------------------------------ text
def _cond_tokens(cond: Condition, out: list[str]) -> None:
    out.append("c(")
    if cond.negated:
        out += ["not", "c(", cond.perception, "c)"]
    else:
        out.append(cond.perception)
    out.append("c)")


def _block_tokens(block: Block, out: list[str]) -> None:
    for stmt in block:
        if isinstance(stmt, Action):
            out.append(stmt.name)
        elif isinstance(stmt, While):
            out.append("WHILE")
            _cond_tokens(stmt.cond, out)
            out.append("w(")
            _block_tokens(stmt.body, out)
            out.append("w)")
        elif isinstance(stmt, Repeat):
            out += ["REPEAT", f"R={stmt.count}", "r("]
            _block_tokens(stmt.body, out)
            out.append("r)")
        elif isinstance(stmt, If):
            out.append("IF")
            _cond_tokens(stmt.cond, out)
            out.append("i(")
            _block_tokens(stmt.body, out)
            out.append("i)")
        else:
            out.append("IFELSE")
            _cond_tokens(stmt.cond, out)
            out.append("i(")
            _block_tokens(stmt.body, out)
            out += ["i)", "ELSE", "e("]
            _block_tokens(stmt.orelse, out)
            out.append("e)")


def to_tokens(program: Program) -> list[str]:
    """LEAPS's token sequence of a program."""
    out = ["DEF", "run", "m("]
    _block_tokens(program.body, out)
    out.append("m)")
    return out


def to_text(program: Program) -> str:
    """The canonical program text (LEAPS's format: tokens separated by single spaces)."""
    return " ".join(to_tokens(program))


def to_ids(program: Program) -> list[int]:
    return [TOKEN_IDS[token] for token in to_tokens(program)]


def _cond_display(cond: Condition) -> str:
    return f"not {cond.perception}" if cond.negated else cond.perception


def _block_display(block: Block, indent: int, out: list[str]) -> None:
    pad = "    " * indent
    for stmt in block:
        if isinstance(stmt, Action):
            out.append(pad + stmt.name)
        elif isinstance(stmt, While):
            out.append(f"{pad}while {_cond_display(stmt.cond)}:")
            _block_display(stmt.body, indent + 1, out)
        elif isinstance(stmt, Repeat):
            out.append(f"{pad}repeat {stmt.count}:")
            _block_display(stmt.body, indent + 1, out)
        elif isinstance(stmt, If):
            out.append(f"{pad}if {_cond_display(stmt.cond)}:")
            _block_display(stmt.body, indent + 1, out)
        else:
            out.append(f"{pad}if {_cond_display(stmt.cond)}:")
            _block_display(stmt.body, indent + 1, out)
            out.append(f"{pad}else:")
            _block_display(stmt.orelse, indent + 1, out)


def to_display(program: Program) -> str:
    """An indented, Python-like rendering for people (not parsed back)."""
    out: list[str] = ["def run():"]
    _block_display(program.body, 1, out)
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ size
def _walk_blocks(block: Block):
    yield block
    for stmt in block:
        if isinstance(stmt, (While, Repeat, If)):
            yield from _walk_blocks(stmt.body)
        elif isinstance(stmt, IfElse):
            yield from _walk_blocks(stmt.body)
            yield from _walk_blocks(stmt.orelse)


def token_count(program: Program) -> int:
    return len(to_tokens(program))


def _nesting(block: Block) -> int:
    depth = 0
    for stmt in block:
        if isinstance(stmt, (While, Repeat, If)):
            depth = max(depth, 1 + _nesting(stmt.body))
        elif isinstance(stmt, IfElse):
            depth = max(depth, 1 + _nesting(stmt.body), 1 + _nesting(stmt.orelse))
    return depth


def nesting_depth(program: Program) -> int:
    """Most control structures (WHILE, REPEAT, IF, IFELSE) nested in one another; prog_policies's height is this + 1."""
    return _nesting(program.body)


def longest_block(program: Program) -> int:
    """Most statements in one block (prog_policies's 'sequence length')."""
    return max(len(block) for block in _walk_blocks(program.body))


def node_count(program: Program) -> int:
    """Statements plus conditions: the program's size as a person reads it."""
    count = 0
    for block in _walk_blocks(program.body):
        for stmt in block:
            count += 1 + (0 if isinstance(stmt, (Action, Repeat)) else 1)
    return count
