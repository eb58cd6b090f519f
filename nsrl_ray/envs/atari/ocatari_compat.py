"""Makes OCAtari 2.2.1's RAM extractors run under numpy 2 (it pins numpy<2; we deliberately don't).

Under NEP 50 a Python int that does not fit a uint8 RAM byte raises OverflowError where numpy 1
silently widened the result. The few statements of our nine games that hit it are rewritten to
what numpy 1 computed, by recompiling just the affected function from its source. Each patch
names its exact old text, so an OCAtari upgrade that changes it fails loudly here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import threading

__all__ = ["PATCHES", "apply_patches"]

# (module, function, old statement text, numpy-1-equivalent replacement)
PATCHES: tuple[tuple[str, str, str, str], ...] = (
    # uint8 negation wrapped (256 - v), then "* -1" widened to int16: v - 256, the signed byte.
    ("ocatari.ram.enduro", "_detect_objects_ram",
     "x_drift = (-(ram_state[46]))*(-1)", "x_drift = int(ram_state[46]) - 256"),
    # uint8 + negative Python int widened to a plain integer.
    ("ocatari.ram.spaceinvaders", "_detect_objects_ram",
     "aliens[i * 6 + j].xy = x - 1 + \\", "aliens[i * 6 + j].xy = int(x) - 1 + \\"),
    # 16 * j fits a uint8, so numpy 1 wrapped the sum; "% 256" keeps that result exact.
    ("ocatari.ram.seaquest", "_detect_objects_ram",
     "x = (ram_state[30 + i] + 16 * j) % 256", "x = (int(ram_state[30 + i]) + 16 * j) % 256"),
)

_applied = False
_lock = threading.Lock()


def apply_patches() -> None:
    """Apply every patch once per process (idempotent, thread-safe)."""
    global _applied
    with _lock:
        if _applied:
            return
        by_function: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for module, function, old, new in PATCHES:
            by_function.setdefault((module, function), []).append((old, new))
        for (module_name, function), edits in by_function.items():
            module = importlib.import_module(module_name)
            lines, first_line = inspect.getsourcelines(getattr(module, function))
            source = textwrap.dedent("".join(lines))
            for old, new in edits:
                if source.count(old) != 1:
                    raise RuntimeError(
                        f"OCAtari compatibility patch for {module_name}.{function} expected the statement {old!r} "
                        f"exactly once, found it {source.count(old)} times; the installed OCAtari differs from 2.2.1. "
                        "Update nsrl_ray/envs/atari/ocatari_compat.py."
                    )
                source = source.replace(old, new)
            tree = ast.parse(source)
            ast.increment_lineno(tree, first_line - 1)  # tracebacks keep pointing at OCAtari's lines
            code = compile(tree, inspect.getsourcefile(module) or module_name, "exec")
            exec(code, module.__dict__)  # noqa: S102 - recompiles OCAtari's own function, patched above
        _applied = True
