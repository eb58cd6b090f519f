"""Registry of primitive operators: numeric semantics and their sympy / LaTeX / Python renderings."""

from __future__ import annotations

import difflib
import inspect
import keyword
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # sympy is imported lazily so that evaluating policies never pays for it
    import sympy

__all__ = [
    "ExpressionError",
    "PRIMITIVES",
    "Primitive",
    "PREDICATES",
    "get_primitive",
    "register_primitive",
]


class ExpressionError(ValueError):
    """An expression (or a request about one) is malformed."""


# Threshold used by gplearn's protected functions; kept identical so conversion is exact.
PROTECTION_THRESHOLD = 0.001


@dataclass(frozen=True)
class Primitive:
    """One operator of the expression language.

    numpy_fn: vectorised float64 semantics (gplearn-compatible for the protected ops).
    sympy_fn: builds the equivalent sympy expression from sympy arguments.
    latex_fn: renders LaTeX from already-rendered argument strings.
    python_fn: renders Python source (numpy available as `np`) from argument source strings;
        None when the primitive cannot be exported to standalone Python.
    infix: operator symbol in the text syntax ('+', '-', '*', '/'; '-' with arity 1 is the
        prefix minus) or None for the function-call syntax `name(a, b)`.
    python_helper: module-level Python source that `python_fn`'s output relies on.
    """

    name: str
    arity: int
    numpy_fn: Callable[..., np.ndarray]
    sympy_fn: Callable[..., sympy.Expr]
    latex_fn: Callable[..., str]
    python_fn: Callable[..., str] | None
    infix: str | None = None
    python_helper: str = ""


def _sympy() -> Any:
    import sympy

    return sympy


# --- numeric semantics (the protected ones are copied from gplearn.functions) -------------


def _protected_division(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x2) > 0.001, np.divide(x1, x2), 1.0)


def _protected_sqrt(x1: np.ndarray) -> np.ndarray:
    return np.sqrt(np.abs(x1))


def _protected_log(x1: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x1) > 0.001, np.log(np.abs(x1)), 0.0)


def _protected_inverse(x1: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x1) > 0.001, 1.0 / x1, 0.0)


def _exp(x1: np.ndarray) -> np.ndarray:
    # Plain exp: inf past ~709, like numpy; formulas fitted on data stay far from that.
    with np.errstate(over="ignore"):
        return np.exp(x1)


def _power(exponent: int) -> Callable[[np.ndarray], np.ndarray]:
    def power(x1: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.power(x1, exponent)

    return power


def _sigmoid(x1: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return 1 / (1 + np.exp(-x1))


# Comparisons give 1.0 / 0.0 so that they compose with arithmetic (a*gt(x, y) switches a term
# on); a NaN operand compares False, as in numpy, so the result is always finite.


def _greater(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(x1 > x2, 1.0, 0.0)


def _if_positive(condition: np.ndarray, then: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(condition > 0, then, otherwise)


# --- DiffSES's relational predicates over object coordinates (x grows rightwards, y grows
# downwards as in image coordinates, so "above" means a smaller y). ---------------------------


def _axis_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.abs(a - b)


def _euclidean_distance(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    # np.square rather than hypot: the sympy and Python exports compute exactly this.
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.square(x1 - x2) + np.square(y1 - y2))


def _less(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    return _greater(x2, x1)


def _within_range(a: np.ndarray, b: np.ndarray, radius: np.ndarray) -> np.ndarray:
    # |radius|: a negative range is the same range (a constant of either sign stays meaningful).
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.abs(a - b) > np.abs(radius), 0.0, 1.0)


# --- sympy builders -------------------------------------------------------------------------


def _sympy_div(a: Any, b: Any) -> Any:
    from nsrl_ray.symbolic.export_sympy import protected_div

    return protected_div(a, b)


def _sympy_log(a: Any) -> Any:
    from nsrl_ray.symbolic.export_sympy import protected_log

    return protected_log(a)


def _sympy_inv(a: Any) -> Any:
    from nsrl_ray.symbolic.export_sympy import protected_inv

    return protected_inv(a)


def _sympy_sigmoid(a: Any) -> Any:
    sp = _sympy()
    return 1 / (1 + sp.exp(-a))


def _sympy_gt(a: Any, b: Any) -> Any:
    from nsrl_ray.symbolic.export_sympy import greater_than

    return greater_than(a, b)


def _sympy_ifelse(c: Any, a: Any, b: Any) -> Any:
    from nsrl_ray.symbolic.export_sympy import if_positive

    return if_positive(c, a, b)


def _sympy_distance(x1: Any, y1: Any, x2: Any, y2: Any) -> Any:
    return _sympy().sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2)


def _sympy_within(a: Any, b: Any, r: Any) -> Any:
    sp = _sympy()
    return 1 - _sympy_gt(sp.Abs(a - b), sp.Abs(r))


# --- Python export helpers. Python floats follow IEEE for + - * and the guarded division;
# nan/inf-sensitive functions use numpy so the exported code matches the array semantics. ---

_PY_DIV = '''def _protected_div(a, b):
    """a / b, or 1.0 when |b| <= 0.001 (gplearn's protected division)."""
    return a / b if abs(b) > 0.001 else 1.0
'''
_PY_LOG = '''def _protected_log(x):
    """log|x|, or 0.0 when |x| <= 0.001 (gplearn's protected log)."""
    return np.log(abs(x)) if abs(x) > 0.001 else 0.0
'''
_PY_INV = '''def _protected_inv(x):
    """1 / x, or 0.0 when |x| <= 0.001 (gplearn's protected inverse)."""
    return 1.0 / x if abs(x) > 0.001 else 0.0
'''
_PY_SIGMOID = '''def _sigmoid(x):
    """Logistic function 1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-x))
'''


_PY_GT = '''def _gt(a, b):
    """1.0 when a > b, else 0.0 (NaN compares False)."""
    return 1.0 if a > b else 0.0
'''
_PY_IFELSE = '''def _ifelse(c, a, b):
    """a when c > 0, else b."""
    return a if c > 0 else b
'''


def _latex_fn(command: str) -> Callable[[str], str]:
    return lambda a: rf"{command}\left({a}\right)"


def _py_fn(name: str) -> Callable[..., str]:
    return lambda *args: f"{name}({', '.join(args)})"


_BUILTINS: tuple[Primitive, ...] = (
    Primitive("add", 2, np.add, lambda a, b: a + b, lambda a, b: f"{a} + {b}",
              lambda a, b: f"{a} + {b}", infix="+"),
    Primitive("sub", 2, np.subtract, lambda a, b: a - b, lambda a, b: f"{a} - {b}",
              lambda a, b: f"{a} - {b}", infix="-"),
    Primitive("mul", 2, np.multiply, lambda a, b: a * b, lambda a, b: rf"{a} \cdot {b}",
              lambda a, b: f"{a} * {b}", infix="*"),
    # In the text syntax `a / b` is the PROTECTED division (1.0 where |b| <= 0.001).
    Primitive("div", 2, _protected_division, _sympy_div, lambda a, b: rf"\frac{{{a}}}{{{b}}}",
              _py_fn("_protected_div"), infix="/", python_helper=_PY_DIV),
    Primitive("neg", 1, np.negative, lambda a: -a, lambda a: f"-{a}", lambda a: f"-{a}", infix="-"),
    Primitive("abs", 1, np.abs, lambda a: _sympy().Abs(a), lambda a: rf"\left|{a}\right|",
              _py_fn("abs")),
    Primitive("sqrt", 1, _protected_sqrt, lambda a: _sympy().sqrt(_sympy().Abs(a)),
              lambda a: rf"\sqrt{{\left|{a}\right|}}", lambda a: f"np.sqrt(abs({a}))"),
    Primitive("log", 1, _protected_log, _sympy_log, lambda a: rf"\log\left|{a}\right|",
              _py_fn("_protected_log"), python_helper=_PY_LOG),
    Primitive("inv", 1, _protected_inverse, _sympy_inv, lambda a: rf"\frac{{1}}{{{a}}}",
              _py_fn("_protected_inv"), python_helper=_PY_INV),
    Primitive("max", 2, np.maximum, lambda a, b: _sympy().Max(a, b),
              lambda a, b: rf"\max\left({a}, {b}\right)", _py_fn("np.maximum")),
    Primitive("min", 2, np.minimum, lambda a, b: _sympy().Min(a, b),
              lambda a, b: rf"\min\left({a}, {b}\right)", _py_fn("np.minimum")),
    Primitive("sin", 1, np.sin, lambda a: _sympy().sin(a), _latex_fn(r"\sin"), _py_fn("np.sin")),
    Primitive("cos", 1, np.cos, lambda a: _sympy().cos(a), _latex_fn(r"\cos"), _py_fn("np.cos")),
    Primitive("tan", 1, np.tan, lambda a: _sympy().tan(a), _latex_fn(r"\tan"), _py_fn("np.tan")),
    Primitive("tanh", 1, np.tanh, lambda a: _sympy().tanh(a), _latex_fn(r"\tanh"), _py_fn("np.tanh")),
    Primitive("sigmoid", 1, _sigmoid, _sympy_sigmoid, _latex_fn(r"\sigma"),
              _py_fn("_sigmoid"), python_helper=_PY_SIGMOID),
    # Edge functions of KAN policies (x^2, x^3, x^4, exp): one call node each, so a squared
    # subformula is not written out twice as mul(a, a).
    Primitive("exp", 1, _exp, lambda a: _sympy().exp(a), lambda a: rf"e^{{{a}}}", _py_fn("np.exp")),
    Primitive("pow2", 1, _power(2), lambda a: a**2, lambda a: rf"\left({a}\right)^{{2}}",
              lambda a: f"np.power({a}, 2)"),
    Primitive("pow3", 1, _power(3), lambda a: a**3, lambda a: rf"\left({a}\right)^{{3}}",
              lambda a: f"np.power({a}, 3)"),
    Primitive("pow4", 1, _power(4), lambda a: a**4, lambda a: rf"\left({a}\right)^{{4}}",
              lambda a: f"np.power({a}, 4)"),
    # Comparison and branching: gt(a, b) is 1.0 where a > b else 0.0; ifelse(c, a, b) is a
    # where c > 0 else b.
    Primitive("gt", 2, _greater, _sympy_gt, lambda a, b: rf"\left[{a} > {b}\right]",
              _py_fn("_gt"), python_helper=_PY_GT),
    Primitive("ifelse", 3, _if_positive, _sympy_ifelse,
              lambda c, a, b: rf"\begin{{cases}}{a} & \text{{if }} {c} > 0\\ {b} & \text{{otherwise}}\end{{cases}}",
              _py_fn("_ifelse"), python_helper=_PY_IFELSE),
    # DiffSES's relational predicates on object coordinates: distances along one axis, the
    # Euclidean distance between two objects (x1, y1, x2, y2), and 1.0/0.0 relations.
    Primitive("dist_x", 2, _axis_distance, lambda a, b: _sympy().Abs(a - b),
              lambda a, b: rf"\operatorname{{dist}}_x\left({a}, {b}\right)", lambda a, b: f"abs(({a}) - ({b}))"),
    Primitive("dist_y", 2, _axis_distance, lambda a, b: _sympy().Abs(a - b),
              lambda a, b: rf"\operatorname{{dist}}_y\left({a}, {b}\right)", lambda a, b: f"abs(({a}) - ({b}))"),
    Primitive("distance", 4, _euclidean_distance, _sympy_distance,
              lambda x1, y1, x2, y2: rf"\operatorname{{dist}}\left(({x1}, {y1}), ({x2}, {y2})\right)",
              lambda x1, y1, x2, y2: f"np.sqrt(np.square(({x1}) - ({x2})) + np.square(({y1}) - ({y2})))"),
    Primitive("is_left_of", 2, _less, lambda a, b: _sympy_gt(b, a), lambda a, b: rf"\left[{a} < {b}\right]",
              lambda a, b: f"_gt({b}, {a})", python_helper=_PY_GT),
    Primitive("is_above", 2, _less, lambda a, b: _sympy_gt(b, a), lambda a, b: rf"\left[{a} < {b}\right]",
              lambda a, b: f"_gt({b}, {a})", python_helper=_PY_GT),
    Primitive("within_range", 3, _within_range, _sympy_within,
              lambda a, b, r: rf"\left[\left|{a} - \left({b}\right)\right| \le \left|{r}\right|\right]",
              lambda a, b, r: f"(1.0 - _gt(abs(({a}) - ({b})), abs({r})))", python_helper=_PY_GT),
)

#: Built-in primitives that carry a 0/1 truth value (predicates), for readers and explanations.
PREDICATES = frozenset({"gt", "is_left_of", "is_above", "within_range"})

_REGISTRY: dict[str, Primitive] = {p.name: p for p in _BUILTINS}
_BUILTIN_NAMES = frozenset(_REGISTRY)

# Read-only live view: primitives registered later appear here too.
PRIMITIVES: Mapping[str, Primitive] = types.MappingProxyType(_REGISTRY)


def get_primitive(name: str) -> Primitive:
    """Look up a primitive by name; ExpressionError with a suggestion if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ExpressionError(
            f"Unknown operator {name!r}; allowed operators: {', '.join(sorted(_REGISTRY))}.{hint} "
            "New operators can be added with register_primitive()."
        ) from None


_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _declared_arity(function: Callable[..., Any]) -> int | None:
    """Number of positional parameters, or None when it cannot be determined."""
    if isinstance(function, np.ufunc):
        return function.nin
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in positional if p.default is p.empty])


def _probe(name: str, function: Callable[..., np.ndarray], arity: int) -> None:
    """Check closure like gplearn's make_function: shape-preserving and finite on hard inputs."""
    rng = np.random.default_rng(0)
    probes = {
        "ones": [np.ones(10) for _ in range(arity)],
        "zeros": [np.zeros(10) for _ in range(arity)],
        "negative ones": [-np.ones(10) for _ in range(arity)],
        "random normal (scale 10)": [rng.normal(scale=10.0, size=10) for _ in range(arity)],
        "large magnitudes (1e6)": [rng.choice([-1e6, 1e6], size=10) for _ in range(arity)],
    }
    for label, args in probes.items():
        try:
            with np.errstate(all="ignore"):
                out = function(*args)
        except TypeError as exc:
            raise TypeError(
                f"Primitive {name!r}: calling the function with {arity} array argument(s) failed "
                f"({exc}); check that arity={arity} matches the function's parameters."
            ) from exc
        except Exception as exc:  # any failure on plain float arrays makes it unusable in GP
            raise ValueError(
                f"Primitive {name!r} raised {type(exc).__name__}: {exc} on {label} inputs; it must "
                "accept float64 arrays of any values."
            ) from exc
        if not isinstance(out, np.ndarray) or out.shape != (10,):
            got = f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(
                f"Primitive {name!r} must return a numpy array of the same shape as its inputs "
                f"(10,), got {got}; use numpy operations (np.where instead of if/else)."
            )
        if not np.all(np.isfinite(out)):
            raise ValueError(
                f"Primitive {name!r} is not closed: it returned non-finite values on {label} inputs. "
                "Protect it like gplearn does (e.g. np.where(np.abs(x) > 0.001, 1 / x, 0.0))."
            )


def register_primitive(
    name: str,
    arity: int,
    function: Callable[..., np.ndarray],
    *,
    sympy_fn: Callable[..., sympy.Expr] | None = None,
    latex_fn: Callable[..., str] | None = None,
    python_fn: Callable[..., str] | None = None,
    python_helper: str = "",
    overwrite: bool = False,
) -> Primitive:
    """Add a user primitive after probing it (gplearn make_function style) and return it.

    Without `sympy_fn` the sympy form is an undefined function `name(...)`; without `latex_fn`
    it renders as \\operatorname{name}; without `python_fn` it cannot be exported to Python.
    Raises TypeError when the arity does not match the function, ValueError when the name
    is invalid/taken or the output is not a finite, shape-preserving array.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise ValueError(f"Primitive name must be an identifier like 'sinc', got {name!r}.")
    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in primitive and cannot be replaced; choose another name.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"Primitive {name!r} is already registered; pass overwrite=True to replace it.")
    if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
        raise TypeError(f"arity must be a positive int, got {arity!r}.")
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}.")
    declared = _declared_arity(function)
    if declared is not None and declared != arity:
        raise TypeError(
            f"Primitive {name!r}: arity={arity} but the function takes {declared} required "
            "positional argument(s); make them match."
        )
    _probe(name, function, arity)

    def default_sympy(*args: Any) -> Any:
        return _sympy().Function(name)(*args)

    def default_latex(*args: str) -> str:
        return rf"\operatorname{{{name}}}\left({', '.join(args)}\right)"

    primitive = Primitive(
        name=name,
        arity=arity,
        numpy_fn=function,
        sympy_fn=sympy_fn or default_sympy,
        latex_fn=latex_fn or default_latex,
        python_fn=python_fn,
        infix=None,
        python_helper=python_helper,
    )
    _REGISTRY[name] = primitive
    return primitive


def unregister_primitive(name: str) -> None:
    """Remove a user-registered primitive (built-ins cannot be removed)."""
    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in primitive and cannot be removed.")
    get_primitive(name)
    del _REGISTRY[name]
