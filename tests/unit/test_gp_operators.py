"""GP operators on IR trees and the tree -> formula encoding: valid trees, no mutation of inputs, exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.symbolic import PRIMITIVES, Call, Const, Var, evaluate, parse_expression, validate
from nsrl_ray.symbolic.gp_operators import TreeFactory, node_count, replace_subtree, subtree_at, subtrees, tree_depth
from nsrl_ray.symbolic.tree_policy import TreeEncoding

VARIABLES = ("x", "y")
FACTORY = TreeFactory(("add", "sub", "mul", "div", "tanh", "gt", "ifelse", "distance"), VARIABLES)


def test_preorder_addressing_and_replacement():
    tree = parse_expression("x * (y + 2.0) - tanh(x)")
    nodes = subtrees(tree)
    assert nodes[0] == tree and len(nodes) == node_count(tree) == 8
    assert subtree_at(tree, 2) == Var("x") and subtree_at(tree, 3) == parse_expression("y + 2.0")
    assert replace_subtree(tree, 3, Const(1.0)) == parse_expression("x * 1.0 - tanh(x)")
    assert replace_subtree(tree, 0, Var("y")) == Var("y")
    with pytest.raises(IndexError, match="out of range"):
        replace_subtree(tree, 8, Var("y"))
    assert tree_depth(tree) == 3 and tree_depth(Var("x")) == 0


def test_random_trees_are_valid_and_respect_depth():
    rng = np.random.default_rng(0)
    for depth in range(5):
        for method in ("full", "grow"):
            for _ in range(20):
                tree = FACTORY.random_tree(rng, depth, method)
                validate(tree, VARIABLES)
                assert tree_depth(tree) <= depth
                if method == "full" and depth > 0:
                    assert tree_depth(tree) == depth
    with pytest.raises(ValueError, match="'full' or 'grow'"):
        FACTORY.random_tree(rng, 2, "half")


def test_variation_gives_valid_new_trees_and_leaves_inputs_alone():
    rng = np.random.default_rng(1)
    cols = {"x": np.linspace(-2, 2, 9), "y": np.linspace(1, -1, 9)}
    changed = 0
    for _ in range(200):
        a, b = FACTORY.ramped(rng, (1, 4)), FACTORY.ramped(rng, (1, 4))
        a_text, b_text = str(a), str(b)
        children = [
            FACTORY.crossover(rng, a, b),
            FACTORY.subtree_mutation(rng, a, (1, 3)),
            FACTORY.hoist_mutation(rng, a),
            FACTORY.point_mutation(rng, a),
            FACTORY.constant_mutation(rng, a),
        ]
        for child in children:
            validate(child, VARIABLES)
            with np.errstate(all="ignore"):
                evaluate(child, cols)
            changed += child != a
        assert node_count(children[2]) <= node_count(a)  # hoisting never grows a tree
        assert tree_depth(children[3]) == tree_depth(a)  # point mutation keeps the shape
        assert str(a) == a_text and str(b) == b_text
    assert changed > 500


def test_operators_are_functions_of_the_generator():
    draws = []
    for _ in range(2):
        rng = np.random.default_rng(42)
        a = FACTORY.ramped(rng, (2, 4))
        draws.append((a, FACTORY.crossover(rng, a, FACTORY.ramped(rng, (2, 4))), FACTORY.point_mutation(rng, a)))
    assert draws[0] == draws[1]


def test_unknown_function_is_refused_with_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean 'sigmoid'"):
        TreeFactory(("add", "sigmod"), VARIABLES)
    with pytest.raises(ValueError, match="variables is empty"):
        TreeFactory(("add",), ())


def test_point_mutation_swaps_calls_of_the_same_arity_only():
    rng = np.random.default_rng(3)
    factory = TreeFactory(("add", "sub", "tanh", "ifelse"), VARIABLES, point_replace=1.0)
    tree = parse_expression("ifelse(x, tanh(y), x + y)")
    for _ in range(20):
        mutated = factory.point_mutation(rng, tree)
        ops = [n.op for n in subtrees(mutated) if isinstance(n, Call)]
        assert [PRIMITIVES[o].arity for o in ops] == [3, 1, 2]


# ----------------------------------------------------------------------------- encoding


def test_discrete_encoding_with_a_reference_action():
    encoding = TreeEncoding("discrete", 3, reference_action=True)
    trees = (parse_expression("x"), parse_expression("y - 1.0"))
    formulas = encoding.formulas(trees)
    assert encoding.n_trees == 2 and formulas[0] == Const(0.0) and formulas[1:] == trees
    assert encoding.trees(formulas) == trees
    shifted = (parse_expression("y"), parse_expression("x + y"), parse_expression("2.0 * y"))
    cols = {"x": np.array([0.5, -1.0, 3.0]), "y": np.array([1.0, 2.0, -0.5])}
    logits = np.stack([evaluate(f, cols) for f in shifted], axis=1)
    relative = np.stack([evaluate(f, cols) for f in encoding.formulas(encoding.trees(shifted))], axis=1)
    np.testing.assert_array_equal(logits.argmax(axis=1), relative.argmax(axis=1))
    assert TreeEncoding("discrete", 3, reference_action=False).n_trees == 3


def test_continuous_encoding_stays_in_bounds_and_round_trips():
    encoding = TreeEncoding("continuous", 1, low=(-2.0,), high=(3.0,))
    tree = parse_expression("100.0 * x")
    (formula,) = encoding.formulas((tree,))
    values = evaluate(formula, {"x": np.linspace(-10, 10, 101)})
    assert values.min() >= -2.0 and values.max() <= 3.0 and values.min() < -1.99 and values.max() > 2.99
    assert encoding.trees((formula,)) == (tree,)  # the squashed form is recognised exactly
    (approx,) = encoding.trees((parse_expression("0.5 + 0.1 * x"),))  # any other formula: (f - mid) / half
    np.testing.assert_allclose(evaluate(approx, {"x": np.array([1.0])}), [(0.6 - 0.5) / 2.5])
    symmetric = TreeEncoding("continuous", 1, low=(-2.0,), high=(2.0,))
    assert symmetric.formulas((Var("x"),)) == (parse_expression("2.0 * tanh(x)"),)
    with pytest.raises(ValueError, match="low and high"):
        TreeEncoding("continuous", 2, low=(-1.0,), high=(1.0,))
    with pytest.raises(ValueError, match="expected 1"):
        encoding.formulas((Var("x"), Var("y")))


def test_log_uniform_constants_span_decades_inside_the_range():
    factory = TreeFactory(("add",), VARIABLES, const_range=(-2.0, 2.0), const_probability=1.0, const_log_uniform=True)
    rng = np.random.default_rng(0)
    values = np.array([factory.terminal(rng).value for _ in range(2000)])
    magnitudes = np.abs(values)
    assert magnitudes.max() <= 2.0 and magnitudes.min() >= 1e-3
    assert (magnitudes < 0.01).mean() > 0.2 and (magnitudes > 0.5).mean() > 0.1  # every decade is drawn
    assert 0.4 < (values > 0).mean() < 0.6
