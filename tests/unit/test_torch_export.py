"""The torch form of expressions: same values as evaluate() on random trees, finite gradients, constants round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nsrl_ray.symbolic import PRIMITIVES, Call, Const, ExpressionError, Var, evaluate, parse_expression, register_primitive, unregister_primitive
from nsrl_ray.symbolic.torch_export import TORCH_FUNCTIONS, ExpressionModule, FormulaSet

VARIABLES = ["x", "y", "z"]


def random_expr(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.6:
            return Var(rng.choice(VARIABLES))
        return Const(rng.choice([0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-4, rng.uniform(-3, 3)]))
    name = rng.choice(sorted(TORCH_FUNCTIONS))
    return Call(name, tuple(random_expr(rng, depth - 1) for _ in range(PRIMITIVES[name].arity)))


def columns(seed: int, n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {name: rng.uniform(-3.0, 3.0, size=n) for name in VARIABLES}
    cols["x"][:4] = [0.0, 0.0005, -0.0005, 2.0]  # the protected branches
    cols["y"][:2] = [0.0, 2.0]  # ties with x for the comparisons
    return cols


def test_every_builtin_has_a_torch_form():
    assert set(TORCH_FUNCTIONS) == set(PRIMITIVES)


def test_torch_matches_evaluate_on_random_trees():
    rng = random.Random(0)
    cols = columns(0)
    X = torch.tensor(np.column_stack([cols[n] for n in VARIABLES]), dtype=torch.float64)
    noise = np.random.default_rng(1)
    nudged = {k: v * (1 + 1e-13 * noise.standard_normal(v.shape)) for k, v in cols.items()}
    compared = total = 0
    for _ in range(300):
        expr = random_expr(rng, 4)
        with np.errstate(all="ignore"):
            expected = evaluate(expr, cols)
            # Rows where a 1e-13 nudge of the inputs moves the value (sin of a huge exp, a tie at a
            # step) are ill-conditioned: two libraries' last-bit rounding may differ there.
            stable = np.isclose(evaluate(expr, nudged), expected, rtol=1e-9, atol=1e-9, equal_nan=True)
        got = ExpressionModule(expr, VARIABLES, dtype=torch.float64)(X).detach().numpy()
        np.testing.assert_allclose(got[stable], expected[stable], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=str(expr))
        compared, total = compared + int(stable.sum()), total + len(stable)
    assert compared > 0.9 * total


def test_gradients_stay_finite_at_the_guards():
    expr = parse_expression("1.5 / x + log(x) + inv(x) + sqrt(x) + distance(x, y, x, y) + 2.0 * ifelse(x, y, 0.5)")
    module = ExpressionModule(expr, ["x", "y"], dtype=torch.float64)
    X = torch.tensor([[0.0, 0.0], [0.0005, 1.0], [-2.0, 3.0]], dtype=torch.float64, requires_grad=True)
    module(X).sum().backward()
    assert torch.all(torch.isfinite(module.constants.grad)) and torch.all(torch.isfinite(X.grad))


def test_tuned_constants_go_back_into_the_tree():
    expr = parse_expression("2.0 * x + tanh(y - 0.5)")
    module = ExpressionModule(expr, ["x", "y"], dtype=torch.float64)
    assert module.constants.tolist() == [2.0, 0.5]
    # Fit y_target = 3x + tanh(y - 1) by gradient descent on the constants only.
    X = torch.tensor(np.random.default_rng(0).uniform(-2, 2, size=(256, 2)))
    target = 3.0 * X[:, 0] + torch.tanh(X[:, 1] - 1.0)
    optimiser = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(400):
        optimiser.zero_grad()
        loss = torch.mean((module(X) - target) ** 2)
        loss.backward()
        optimiser.step()
    tuned = module.to_expression()
    assert tuned.op == "add" and tuned.args[0].args[0].value == pytest.approx(3.0, abs=1e-2)
    assert tuned.args[1].args[0].args[1].value == pytest.approx(1.0, abs=2e-2)
    cols = {"x": X[:, 0].numpy(), "y": X[:, 1].numpy()}
    np.testing.assert_allclose(evaluate(tuned, cols), module(X).detach().numpy(), rtol=1e-12)


def test_formula_set_and_errors():
    formulas = (Const(0.0), parse_expression("x - y"))
    module = FormulaSet(formulas, ["x", "y"])
    out = module(torch.tensor([[1.0, 3.0]]))
    assert out.shape == (1, 2) and out[0, 1].item() == -2.0 and out.dtype == torch.float32
    assert module.to_expressions() == formulas
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        module(torch.zeros(3))
    register_primitive("cube", 1, lambda a: a * a * a)
    try:
        with pytest.raises(ExpressionError, match="no torch form"):
            ExpressionModule(parse_expression("cube(x)"), ["x"])
        cube = ExpressionModule(parse_expression("cube(x)"), ["x"], functions={"cube": lambda a: a ** 3})
        assert cube(torch.tensor([[2.0]])).item() == 8.0
    finally:
        unregister_primitive("cube")
