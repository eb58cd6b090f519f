"""nsrl_ray: learn interpretable policies (formulas, programs) on Ray, prove they perform, explain them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsrl_ray.symbolic.formula_policy import FormulaPolicy

__version__ = "0.1.0"
__all__ = ["__version__", "load_policy"]


def load_policy(path: str | Path) -> "FormulaPolicy":
    """Turn a policy card (policy.json, or the folder holding it) into a callable policy.

    Needs neither Ray nor torch: `load_policy(p)(obs)` returns the action for one observation.
    """
    from nsrl_ray.explain.policy_card import read_policy_card

    return read_policy_card(path).policy()
