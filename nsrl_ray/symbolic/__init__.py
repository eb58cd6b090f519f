"""Symbolic expression IR: formulas as trees, their text form, exporters and gplearn import."""

from nsrl_ray.symbolic.export_latex import to_latex
from nsrl_ray.symbolic.export_python import to_python_source
from nsrl_ray.symbolic.expression import (
    Call,
    Const,
    Expr,
    Var,
    compile_expression,
    complexity,
    evaluate,
    validate,
    variables_of,
)
from nsrl_ray.symbolic.from_gplearn import GPLEARN_FUNCTION_MAP, from_gplearn_program
from nsrl_ray.symbolic.primitives import (
    PRIMITIVES,
    ExpressionError,
    Primitive,
    get_primitive,
    register_primitive,
    unregister_primitive,
)
from nsrl_ray.symbolic.simplify import simplify
from nsrl_ray.symbolic.text import ExpressionSyntaxError, parse_expression, to_display_text, to_text


def __getattr__(name: str) -> object:
    # to_sympy is loaded on first use so that importing the package (e.g. in RL workers that
    # only evaluate policies) does not pay for importing sympy.
    if name == "to_sympy":
        from nsrl_ray.symbolic.export_sympy import to_sympy

        return to_sympy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "GPLEARN_FUNCTION_MAP",
    "PRIMITIVES",
    "Call",
    "Const",
    "Expr",
    "ExpressionError",
    "ExpressionSyntaxError",
    "Primitive",
    "Var",
    "compile_expression",
    "complexity",
    "evaluate",
    "from_gplearn_program",
    "get_primitive",
    "parse_expression",
    "register_primitive",
    "simplify",
    "to_display_text",
    "to_latex",
    "to_python_source",
    "to_sympy",
    "to_text",
    "unregister_primitive",
    "validate",
    "variables_of",
]
