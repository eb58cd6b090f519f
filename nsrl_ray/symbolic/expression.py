"""Expression IR: immutable formula trees, validation, evaluation and closure compilation."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsrl_ray.symbolic.primitives import PRIMITIVES, ExpressionError, get_primitive

__all__ = [
    "Call",
    "Const",
    "Expr",
    "ExpressionError",
    "compile_expression",
    "complexity",
    "evaluate",
    "suggest",
    "validate",
    "variables_of",
    "IDENTIFIER_PATTERN",
]

# Variable names must be plain identifiers so that every expression has a text form
# that parses back (see text.py) and a valid Python export.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Const:
    """A float constant."""

    value: float

    def __post_init__(self) -> None:
        # Coerce numpy scalars and ints to a plain float so equality, hashing and
        # repr-based printing behave identically whatever produced the constant.
        if isinstance(self.value, (str, bytes)) or not isinstance(self.value, (int, float, np.number)):
            raise TypeError(
                f"Const value must be a real number, got {type(self.value).__name__} {self.value!r}"
            )
        object.__setattr__(self, "value", float(self.value))

    def __str__(self) -> str:
        from nsrl_ray.symbolic.text import to_text

        return to_text(self)


@dataclass(frozen=True)
class Var:
    """A named input variable (an observation feature)."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"Var name must be a str, got {type(self.name).__name__} {self.name!r}")

    def __str__(self) -> str:
        from nsrl_ray.symbolic.text import to_text

        return to_text(self)


@dataclass(frozen=True)
class Call:
    """Application of a registered primitive (see primitives.py) to argument expressions."""

    op: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.op, str):
            raise TypeError(f"Call op must be a str, got {type(self.op).__name__} {self.op!r}")
        # Accept any iterable of arguments but store a tuple so the node stays hashable.
        if not isinstance(self.args, tuple):
            object.__setattr__(self, "args", tuple(self.args))

    def __str__(self) -> str:
        from nsrl_ray.symbolic.text import to_text

        return to_text(self)


Expr = Const | Var | Call


def suggest(given: str, allowed: Collection[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest allowed name, or '' if none is close."""
    matches = difflib.get_close_matches(given, list(allowed), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def _format_allowed(names: Collection[str], limit: int = 40) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:limit])
    return shown + (f", ... ({len(ordered) - limit} more)" if len(ordered) > limit else "")


def validate(expr: Expr, variables: Collection[str] | None = None) -> None:
    """Check that `expr` is well formed; raise ExpressionError describing the first problem.

    Checks node types, finite constants, identifier variable names (and membership in
    `variables` when given), known operators and their arity.
    """
    allowed_vars = None if variables is None else frozenset(variables)
    stack: list[Any] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Const):
            if not math.isfinite(node.value):
                raise ExpressionError(
                    f"Constant {node.value!r} is not finite; only finite floats are allowed in "
                    "expressions. Replace it with a finite value."
                )
        elif isinstance(node, Var):
            if not IDENTIFIER_PATTERN.match(node.name):
                raise ExpressionError(
                    f"Variable name {node.name!r} is not an identifier; names must match "
                    "[A-Za-z_][A-Za-z0-9_]* (rename the feature, e.g. replace spaces and dashes by '_')."
                )
            if allowed_vars is not None and node.name not in allowed_vars:
                raise ExpressionError(
                    f"Unknown variable {node.name!r}; allowed variables: "
                    f"{_format_allowed(allowed_vars) or '(none)'}.{suggest(node.name, allowed_vars)}"
                )
        elif isinstance(node, Call):
            if node.op not in PRIMITIVES:
                raise ExpressionError(
                    f"Unknown operator {node.op!r}; allowed operators: {_format_allowed(PRIMITIVES)}."
                    f"{suggest(node.op, PRIMITIVES)} New operators can be added with register_primitive()."
                )
            arity = PRIMITIVES[node.op].arity
            if len(node.args) != arity:
                raise ExpressionError(
                    f"Operator {node.op!r} takes {arity} argument(s) but was given {len(node.args)}."
                )
            stack.extend(node.args)
        else:
            raise ExpressionError(
                f"Expected an expression node (Const, Var or Call), got {type(node).__name__} {node!r}."
            )


def complexity(expr: Expr) -> int:
    """Number of nodes in the tree (constants, variables and calls each count 1)."""
    count = 0
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, Call):
            stack.extend(node.args)
    return count


def variables_of(expr: Expr) -> frozenset[str]:
    """Names of all variables occurring in `expr`."""
    names: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Var):
            names.add(node.name)
        elif isinstance(node, Call):
            stack.extend(node.args)
    return frozenset(names)


def _batch_columns(columns: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    arrays = {name: np.asarray(col, dtype=np.float64) for name, col in columns.items()}
    lengths = set()
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise ValueError(
                f"Column {name!r} has shape {arr.shape}; evaluate() expects 1-D columns of equal length."
            )
        lengths.add(arr.shape[0])
    if len(lengths) > 1:
        shapes = {name: arr.shape[0] for name, arr in arrays.items()}
        raise ValueError(f"Columns have different lengths {shapes}; all columns must have the same length.")
    # Without any column there is no batch: evaluate once (a constant expression).
    return arrays, (lengths.pop() if lengths else 1)


def evaluate(expr: Expr, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate `expr` on a batch given as name -> 1-D column; returns float64 of the batch length.

    The batch length is the (common) length of the columns, or 1 if `columns` is empty.
    Protected primitives behave exactly like gplearn's.
    """
    arrays, n = _batch_columns(columns)

    def run(node: Expr) -> np.ndarray:
        if isinstance(node, Const):
            return np.full(n, node.value, dtype=np.float64)
        if isinstance(node, Var):
            try:
                return arrays[node.name]
            except KeyError:
                raise ExpressionError(
                    f"No column for variable {node.name!r}; columns given: "
                    f"{_format_allowed(arrays) or '(none)'}.{suggest(node.name, arrays)}"
                ) from None
        if isinstance(node, Call):
            prim = get_primitive(node.op)
            if len(node.args) != prim.arity:
                validate(node)  # raises the descriptive arity error
            return prim.numpy_fn(*(run(arg) for arg in node.args))
        validate(node)  # raises the descriptive type error
        raise AssertionError("unreachable")

    result = np.asarray(run(expr), dtype=np.float64)
    # A Var result is the caller's column itself; return a fresh array they may mutate freely.
    return np.array(np.broadcast_to(result, (n,)), dtype=np.float64)


_Fn = Callable[[np.ndarray], Any]


def compile_expression(expr: Expr, variable_order: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Compile `expr` into a function of a (batch, n_vars) array whose columns follow `variable_order`.

    The returned function gives a float64 array of shape (batch,). It is built once by
    composing closures (no exec/eval); variable-free subtrees are folded to scalars at
    compile time, which is exact because numpy broadcasting does not change values.
    """
    order = list(variable_order)
    if len(set(order)) != len(order):
        duplicates = sorted({name for name in order if order.count(name) > 1})
        raise ValueError(f"variable_order contains duplicates {duplicates}; each variable must appear once.")
    validate(expr, order)
    index = {name: i for i, name in enumerate(order)}
    n_vars = len(order)

    def build(node: Expr) -> tuple[_Fn | None, float | None]:
        """Return (closure, None) or (None, constant value) for a variable-free subtree."""
        if isinstance(node, Const):
            return None, node.value
        if isinstance(node, Var):
            i = index[node.name]
            return (lambda X: X[:, i]), None
        assert isinstance(node, Call)
        f = PRIMITIVES[node.op].numpy_fn
        built = [build(arg) for arg in node.args]
        if all(fn is None for fn, _ in built):
            with np.errstate(all="ignore"):
                value = f(*(np.array([v], dtype=np.float64) for _, v in built))
            return None, float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
        # Constants become plain scalars; numpy broadcasts them against the columns.
        parts: list[Any] = [fn if fn is not None else _constant(v) for fn, v in built]
        if len(parts) == 1:
            (a,) = parts
            return (lambda X: f(a(X))), None
        if len(parts) == 2:
            a, b = parts
            return (lambda X: f(a(X), b(X))), None
        return (lambda X: f(*[p(X) for p in parts])), None

    root, constant = build(expr)

    if root is None:
        value = constant

        def compiled(X: np.ndarray) -> np.ndarray:
            X = _check_input(X, n_vars)
            return np.full(X.shape[0], value, dtype=np.float64)

    else:
        fn = root

        def compiled(X: np.ndarray) -> np.ndarray:
            X = _check_input(X, n_vars)
            out = fn(X)
            if out.shape != (X.shape[0],) or out.base is not None or out.dtype != np.float64:
                # Broadcast leftovers / views of the input: hand back an owned float64 array.
                out = np.array(np.broadcast_to(out, (X.shape[0],)), dtype=np.float64)
            return out

    return compiled


def _constant(value: float) -> _Fn:
    return lambda X: value


def _check_input(X: np.ndarray, n_vars: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_vars:
        raise ValueError(
            f"Compiled expression expects a 2-D array of shape (batch, {n_vars}), got shape {X.shape}; "
            "for a single observation pass obs[None, :]."
        )
    return X
