"""Standalone Python source (numpy only) computing a set of formulas from one observation."""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Mapping, Sequence

from nsrl_ray.symbolic.expression import IDENTIFIER_PATTERN, Call, Expr, validate
from nsrl_ray.symbolic.primitives import PRIMITIVES, ExpressionError, Primitive
from nsrl_ray.symbolic.text import RenderStyle, render, to_text

__all__ = ["to_python_source"]

# Names the generated module itself uses; variables named like these get mangled.
_RESERVED = frozenset(dir(builtins)) | {"np", "obs", "VARIABLE_ORDER", "FORMULA_NAMES"}


def _local_names(variable_order: Sequence[str], function_name: str) -> dict[str, str]:
    """Map each variable to a safe, unique local name (its own name whenever possible)."""
    taken = set(_RESERVED) | {function_name}
    wanted = [
        name if (IDENTIFIER_PATTERN.match(name) and not keyword.iskeyword(name)
                 and not name.startswith("_") and name not in taken) else None
        for name in variable_order
    ]
    taken |= {name for name in wanted if name is not None}
    result: dict[str, str] = {}
    for i, (name, local) in enumerate(zip(variable_order, wanted)):
        if local is None:
            local = f"x{i}"
            while local in taken:
                local += "_"
            taken.add(local)
        result[name] = local
    return result


def _python_call(prim: Primitive, args: Sequence[str]) -> str:
    if prim.python_fn is None:
        raise ExpressionError(
            f"Primitive {prim.name!r} has no Python renderer; register it with "
            "register_primitive(..., python_fn=..., python_helper=...) to export it."
        )
    return prim.python_fn(*args)


def _used_ops(expr: Expr, into: list[str]) -> None:
    if isinstance(expr, Call):
        if expr.op not in into:
            into.append(expr.op)
        for arg in expr.args:
            _used_ops(arg, into)


def to_python_source(
    formulas: Mapping[str, Expr],
    function_name: str = "policy_logits",
    variable_order: Sequence[str] | None = None,
) -> str:
    """Source of a module defining `function_name(obs) -> list[float]`.

    `obs` is a 1-D sequence ordered like `variable_order`; the returned list holds the
    formulas' values in the mapping's order. The module imports only numpy and reproduces
    `evaluate` (protected operators included). `variable_order` is required; it defaults
    to None only so it can be passed positionally or by keyword.
    """
    if variable_order is None:
        raise TypeError("to_python_source() needs variable_order: the observation's feature names in order.")
    order = list(variable_order)
    if len(set(order)) != len(order):
        duplicates = sorted({name for name in order if order.count(name) > 1})
        raise ValueError(f"variable_order contains duplicates {duplicates}; each variable must appear once.")
    if not (isinstance(function_name, str) and IDENTIFIER_PATTERN.match(function_name)
            and not keyword.iskeyword(function_name) and function_name not in _RESERVED):
        raise ValueError(f"function_name must be a Python identifier that is not reserved, got {function_name!r}.")
    if not formulas:
        raise ValueError("formulas is empty; give at least one name -> Expr entry.")
    for name, expr in formulas.items():
        try:
            validate(expr, order)
        except ExpressionError as exc:
            raise ExpressionError(f"Formula {name!r}: {exc}") from exc

    locals_ = _local_names(order, function_name)
    style = RenderStyle(
        const=repr,
        var=locals_.__getitem__,
        call=_python_call,
        # Python's precedence/associativity for + - * and prefix minus equals ours;
        # division must go through the protected helper.
        is_operator=lambda p: p.infix in ("+", "-", "*"),
    )

    ops: list[str] = []
    for expr in formulas.values():
        _used_ops(expr, ops)
    helpers = [PRIMITIVES[op].python_helper for op in ops if PRIMITIVES[op].python_helper]

    n = len(order)
    lines = [
        '"""Policy formulas exported by nsrl_ray; standalone (requires only numpy)."""',
        "",
        "import numpy as np",
        "",
        f"VARIABLE_ORDER = {tuple(order)!r}",
        f"FORMULA_NAMES = {tuple(formulas)!r}",
        "",
    ]
    for helper in dict.fromkeys(helpers):
        lines += ["", helper.rstrip("\n"), ""]
    lines += [
        "",
        f"def {function_name}(obs):",
        f'    """Return the {len(formulas)} formula values (FORMULA_NAMES order) for one observation."""',
        f"    if len(obs) != {n}:",
        f"        raise ValueError(f\"{function_name} expects {n} values ordered like VARIABLE_ORDER, "
        "got {len(obs)}\")",
    ]
    if n:
        targets = ", ".join(locals_[name] for name in order)
        lines.append(f"    {targets}{',' if n == 1 else ''} = (float(value) for value in obs)")
    lines.append("    with np.errstate(all=\"ignore\"):")
    lines.append("        return [")
    for name, expr in formulas.items():
        lines.append(f"            # {name!r}: {to_text(expr)}")
        lines.append(f"            float({render(expr, style)}),")
    lines.append("        ]")
    return "\n".join(lines) + "\n"
