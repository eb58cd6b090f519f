"""Conversion of fitted gplearn programs (prefix lists of _Function / int / float) to the IR."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES, ExpressionError

__all__ = ["GPLEARN_FUNCTION_MAP", "from_gplearn_program"]

# gplearn function name -> our primitive name. Both sides share numeric semantics exactly
# (the protected functions in primitives.py are copies of gplearn's).
GPLEARN_FUNCTION_MAP: Mapping[str, str] = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "sqrt": "sqrt",
    "log": "log",
    "abs": "abs",
    "neg": "neg",
    "inv": "inv",
    "max": "max",
    "min": "min",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "sig": "sigmoid",
}


def _program_nodes(program: Any) -> list[Any]:
    # Accept a fitted estimator (its best `_program`), a `_Program` or its raw prefix list.
    if hasattr(program, "_program") and not hasattr(program, "program"):
        program = program._program
    nodes = getattr(program, "program", program)
    if not isinstance(nodes, (list, tuple)) or not nodes:
        raise TypeError(
            "from_gplearn_program expects a fitted gplearn _Program (e.g. est._program), a fitted "
            f"estimator or its non-empty prefix list, got {type(program).__name__}."
        )
    return list(nodes)


def from_gplearn_program(
    program: Any,
    feature_names: Sequence[str],
    function_map: Mapping[str, str] | None = None,
) -> Expr:
    """Convert a gplearn program to an Expr; feature index i becomes Var(feature_names[i]).

    `function_map` adds/overrides gplearn-name -> primitive-name entries, e.g. for a custom
    gplearn function registered here with register_primitive() under the same semantics.
    """
    names = list(feature_names)
    mapping = {**GPLEARN_FUNCTION_MAP, **(function_map or {})}

    def convert_function(node: Any) -> str:
        gp_name = node.name
        if gp_name not in mapping:
            raise ExpressionError(
                f"gplearn function {gp_name!r} (arity {node.arity}) has no counterpart; supported: "
                f"{', '.join(sorted(mapping))}. Register an equivalent with register_primitive() and "
                f"pass function_map={{{gp_name!r}: 'your_name'}}."
            )
        op = mapping[gp_name]
        if op not in PRIMITIVES or PRIMITIVES[op].arity != node.arity:
            raise ExpressionError(
                f"gplearn function {gp_name!r} (arity {node.arity}) maps to {op!r}, which is "
                "not a registered primitive of that arity."
            )
        return op

    def convert_terminal(node: Any) -> Expr:
        if isinstance(node, (int, np.integer)) and not isinstance(node, bool):
            if not 0 <= node < len(names):
                raise ExpressionError(
                    f"Program uses feature index {int(node)} but only {len(names)} feature_names were "
                    "given; pass one name per column of the training X."
                )
            return Var(names[int(node)])
        if isinstance(node, (float, np.floating)):
            return Const(float(node))
        raise ExpressionError(f"Unexpected gplearn program node {node!r} of type {type(node).__name__}.")

    # Same stack discipline as gplearn's _Program.execute: a function waits for its arguments.
    stack: list[tuple[str, int, list[Expr]]] = []
    result: Expr | None = None
    nodes = _program_nodes(program)
    for position, node in enumerate(nodes):
        if result is not None:
            raise ExpressionError(f"gplearn program has trailing nodes after position {position - 1}.")
        if hasattr(node, "arity") and hasattr(node, "name"):
            stack.append((convert_function(node), node.arity, []))
            continue
        value = convert_terminal(node)
        while True:
            if not stack:
                result = value
                break
            op, arity, args = stack[-1]
            args.append(value)
            if len(args) < arity:
                break
            stack.pop()
            value = Call(op, tuple(args))
    if result is None:
        raise ExpressionError("gplearn program is incomplete: a function is missing arguments.")
    validate(result, names)
    return result
