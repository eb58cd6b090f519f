"""nsrl_ray: learn interpretable policies (formulas, programs) on Ray, prove they perform, explain them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsrl_ray.symbolic.formula_policy import FormulaPolicy
    from nsrl_ray.symbolic.karel.policy import ProgramPolicy

__version__ = "0.1.0"
__all__ = ["__version__", "load_policy"]


def load_policy(path: str | Path) -> "FormulaPolicy | ProgramPolicy":
    """Turn a policy card (policy.json, or the folder holding it) into a callable policy.

    Needs neither Ray nor torch: for a formula card `load_policy(p)(obs)` returns the action for one
    observation; for a Karel program card `load_policy(p)(world)` runs the program on a KarelWorld.
    """
    from nsrl_ray.explain.program_card import read_any_card

    return read_any_card(path).policy()
