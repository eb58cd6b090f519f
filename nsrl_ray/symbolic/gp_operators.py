"""Genetic-programming operators on IR trees: random trees, crossover, subtree/hoist/point/constant mutation.

Pure functions of an explicit `numpy.random.Generator`, so the caller (the search driver) owns
every random draw. Trees are the immutable `Expr` of expression.py; an operator returns a new
tree and never changes its inputs. Subtrees are addressed by their preorder index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsrl_ray.symbolic.expression import Call, Const, Expr, Var, suggest
from nsrl_ray.symbolic.primitives import PRIMITIVES

__all__ = ["TreeFactory", "node_count", "replace_subtree", "subtree_at", "subtrees", "tree_depth"]


def subtrees(expr: Expr) -> list[Expr]:
    """Every subtree in preorder (index 0 is the tree itself)."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, Call):
            stack.extend(reversed(node.args))
    return out


def node_count(expr: Expr) -> int:
    return len(subtrees(expr))


def tree_depth(expr: Expr) -> int:
    """0 for a leaf, 1 + the deepest argument for a call."""
    if not isinstance(expr, Call):
        return 0
    return 1 + max(tree_depth(arg) for arg in expr.args)


def subtree_at(expr: Expr, index: int) -> Expr:
    return subtrees(expr)[index]


def replace_subtree(expr: Expr, index: int, new: Expr) -> Expr:
    """A copy of ``expr`` with the subtree at preorder ``index`` replaced by ``new``."""

    def walk(node: Expr, position: int) -> tuple[Expr, int]:
        # Returns the rebuilt node and the preorder index just past its subtree.
        if position == index:
            return new, position + node_count(node)
        if not isinstance(node, Call):
            return node, position + 1
        args = []
        cursor = position + 1
        for arg in node.args:
            rebuilt, cursor = walk(arg, cursor)
            args.append(rebuilt)
        return Call(node.op, tuple(args)), cursor

    if not 0 <= index < node_count(expr):
        raise IndexError(f"subtree index {index} out of range for a tree of {node_count(expr)} nodes.")
    return walk(expr, 0)[0]


@dataclass(frozen=True)
class TreeFactory:
    """What random trees are made of, and the operators that vary them (gplearn's semantics).

    functions: primitive names trees may use; variables: the input names; const_range: the
    interval random constants are drawn from (None: no constants); const_probability: the share
    of leaves that are constants.
    """

    functions: tuple[str, ...]
    variables: tuple[str, ...]
    const_range: tuple[float, float] | None = (-3.0, 3.0)
    const_probability: float = 0.2
    const_log_uniform: bool = False
    """Draw constants with a log-uniform magnitude between 0.001 and the range's largest |bound| (either
    sign): small scale factors (0.002 for a velocity in units of 0.07) become as likely as large ones."""
    point_replace: float = 0.05
    """Point mutation: the probability that each node is replaced."""
    constant_sigma: float = 0.1
    """Constant mutation: relative Gaussian step applied to every constant of a tree."""

    def __post_init__(self) -> None:
        unknown = [name for name in self.functions if name not in PRIMITIVES]
        if unknown:
            raise ValueError(
                f"function set: unknown primitive {unknown[0]!r}; known: {sorted(PRIMITIVES)}."
                f"{suggest(unknown[0], PRIMITIVES)}"
            )
        if not self.functions:
            raise ValueError("function set is empty; give at least one primitive such as add.")
        if not self.variables:
            raise ValueError("variables is empty; a tree needs at least one input variable.")
        by_arity: dict[int, list[str]] = {}
        for name in self.functions:
            by_arity.setdefault(PRIMITIVES[name].arity, []).append(name)
        object.__setattr__(self, "_by_arity", {k: tuple(v) for k, v in by_arity.items()})

    # ------------------------------------------------------------------ random trees
    def terminal(self, rng: np.random.Generator) -> Expr:
        if self.const_range is not None and rng.random() < self.const_probability:
            low, high = self.const_range
            if self.const_log_uniform:
                top = max(abs(low), abs(high), 2e-3)
                value = 10 ** rng.uniform(-3.0, np.log10(top)) * (1.0 if rng.random() < 0.5 else -1.0)
                value = float(np.clip(value, low, high))
            else:
                value = float(rng.uniform(low, high))
            return Const(_rounded(value))
        return Var(self.variables[int(rng.integers(len(self.variables)))])

    def random_tree(self, rng: np.random.Generator, depth: int, method: str) -> Expr:
        """A tree of at most ``depth`` levels of calls: 'full' (every branch that deep) or 'grow'."""
        if method not in ("full", "grow"):
            raise ValueError(f"method: got {method!r}, expected 'full' or 'grow'.")
        n_terminals = len(self.variables) + (self.const_range is not None)

        def build(level: int) -> Expr:
            if level >= depth:
                return self.terminal(rng)
            # gplearn's grow: a terminal with probability terminals / (terminals + functions).
            if method == "grow" and level > 0 and rng.random() < n_terminals / (n_terminals + len(self.functions)):
                return self.terminal(rng)
            name = self.functions[int(rng.integers(len(self.functions)))]
            return Call(name, tuple(build(level + 1) for _ in range(PRIMITIVES[name].arity)))

        return build(0)

    def ramped(self, rng: np.random.Generator, depth_range: tuple[int, int]) -> Expr:
        """Ramped half-and-half: a depth from the range and full or grow with equal chance."""
        low, high = depth_range
        depth = int(rng.integers(low, high + 1))
        return self.random_tree(rng, depth, "full" if rng.random() < 0.5 else "grow")

    # ------------------------------------------------------------------ variation
    def _pick(self, rng: np.random.Generator, tree: Expr) -> int:
        """Koza's rule as in gplearn: function nodes are picked with probability 0.9."""
        nodes = subtrees(tree)
        weights = np.array([0.9 if isinstance(n, Call) else 0.1 for n in nodes])
        return int(rng.choice(len(nodes), p=weights / weights.sum()))

    def crossover(self, rng: np.random.Generator, tree: Expr, donor: Expr) -> Expr:
        """Replace a random subtree of ``tree`` by a random subtree of ``donor``."""
        return replace_subtree(tree, self._pick(rng, tree), subtree_at(donor, self._pick(rng, donor)))

    def subtree_mutation(self, rng: np.random.Generator, tree: Expr, depth_range: tuple[int, int]) -> Expr:
        """Crossover with a fresh random tree (the headless chicken)."""
        return self.crossover(rng, tree, self.ramped(rng, depth_range))

    def hoist_mutation(self, rng: np.random.Generator, tree: Expr) -> Expr:
        """Replace a random subtree by one of its own subtrees: shrinks the tree (fights bloat)."""
        index = self._pick(rng, tree)
        chosen = subtree_at(tree, index)
        return replace_subtree(tree, index, subtree_at(chosen, self._pick(rng, chosen)))

    def point_mutation(self, rng: np.random.Generator, tree: Expr) -> Expr:
        """Replace each node with probability ``point_replace``: a call by another of the same arity, a leaf by a leaf."""
        by_arity: dict[int, tuple[str, ...]] = self._by_arity  # type: ignore[attr-defined]

        def walk(node: Expr) -> Expr:
            replace = rng.random() < self.point_replace
            if isinstance(node, Call):
                args = tuple(walk(arg) for arg in node.args)
                op = node.op
                if replace:
                    same = by_arity.get(len(args), (op,))
                    op = same[int(rng.integers(len(same)))]
                return Call(op, args)
            return self.terminal(rng) if replace else node

        return walk(tree)

    def constant_mutation(self, rng: np.random.Generator, tree: Expr) -> Expr:
        """Nudge every constant by a relative Gaussian step (a gradient-free cousin of DiffSES's constant SGD)."""

        def walk(node: Expr) -> Expr:
            if isinstance(node, Const):
                scale = max(abs(node.value), 1e-3)
                return Const(_rounded(node.value + self.constant_sigma * scale * float(rng.standard_normal())))
            if isinstance(node, Call):
                return Call(node.op, tuple(walk(arg) for arg in node.args))
            return node

        return walk(tree)


def _rounded(value: float) -> float:
    """Six significant digits: printed formulas stay short, small constants keep their precision."""
    return float(f"{value:.6g}")


def check_depth_range(depth_range: Sequence[int]) -> tuple[int, int]:
    low, high = (int(v) for v in depth_range)
    if not 0 <= low <= high:
        raise ValueError(f"init depth: got {list(depth_range)}, expected [low, high] with 0 <= low <= high.")
    return low, high
