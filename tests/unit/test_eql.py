"""EQL: units, penalty, ramp, pruning, recovery of a known formula and its export to the IR."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from nsrl_ray.symbolic import evaluate, parse_expression, to_text, variables_of
from nsrl_ray.symbolic.eql import (
    EQL,
    UNITS,
    EQLFitConfig,
    EQLLayer,
    fit_eql,
    linear_ramp,
    refit_pruned,
    smoothed_l_half,
)
from nsrl_ray.symbolic.from_sympy import SympySigmoid, from_sympy

torch.set_num_threads(1)
NAMES = ("ball_x_t0", "ball_y_t0", "player_y_t0")


def _columns(x: torch.Tensor, names=NAMES) -> dict[str, np.ndarray]:
    return {n: x[:, i].double().numpy() for i, n in enumerate(names)}


def test_layer_shapes_and_default_library() -> None:
    layer = EQLLayer(3)  # INSIGHT: x, x^2, x^3, 1, x*y, x+y, 8 copies each
    assert layer.out_features == 48 and layer.n_inputs == 8 * (1 + 1 + 1 + 0 + 2 + 2)
    out = layer(torch.randn(5, 3))
    assert out.shape == (5, 48)
    np.testing.assert_allclose(out[:, 24:32].detach().numpy(), 1.0)  # the const units
    with pytest.raises(ValueError, match="Did you mean 'square'"):
        EQLLayer(3, units=("x", "sqare"))


def test_guarded_units_match_the_ir_primitives() -> None:
    x = torch.tensor([-2.0, -5e-4, 0.0, 5e-4, 3.0])
    y = torch.tensor([0.5, 1e-4, -2.0, 0.0, -1.5])
    checks = {"div": ("a / b", (x, y)), "log": ("log(a)", (x,)), "sqrt": ("sqrt(a)", (x,)),
              "sigmoid": ("sigmoid(a)", (x,)), "sin": ("sin(a)", (x,))}
    for unit, (text, args) in checks.items():
        expected = evaluate(parse_expression(text), {"a": x.double().numpy(), "b": y.double().numpy()})
        np.testing.assert_allclose(UNITS[unit].torch_fn(*args).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_smoothed_l_half_and_ramp() -> None:
    w = torch.tensor([0.0, 0.005, 0.01, 0.25, -4.0], requires_grad=True)
    penalty = smoothed_l_half(w, a=0.01)
    # sqrt|w| away from 0; smooth (finite gradient) at 0, continuous at |w| = a.
    expected_tail = 0.25**0.5 + 4.0**0.5 + 0.01**0.5
    assert penalty.item() > expected_tail
    penalty.backward()
    assert torch.isfinite(w.grad).all() and w.grad[0] == 0
    just_below = smoothed_l_half(torch.tensor([0.01 - 1e-7]), a=0.01).item()
    assert just_below == pytest.approx(0.1, abs=1e-4)
    assert [linear_ramp(s, 10, 1e-3, start=5) for s in (0, 5, 10, 15, 30)] == pytest.approx([0, 0, 5e-4, 1e-3, 1e-3])


def test_prune_zeroes_small_weights_for_good() -> None:
    model = EQL(3, 2)
    with torch.no_grad():
        model.output.weight[0, :5] = 1e-3
    kept = model.prune(1e-2)
    assert (model.output.weight[0, :5] == 0).all() and (model.output.weight_mask[0, :5] == 0).all()
    state = model.state_dict()
    assert "output.weight_mask" in state and "blocks.0.linear.weight_mask" in state  # masks travel with the state
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimiser.step()
    assert (model.output.weight[0, :5] * model.output.weight_mask[0, :5] == 0).all()
    assert kept == sum(int(lin.weight_mask.sum() + lin.bias_mask.sum()) for lin in model.linears())


def test_eql_recovers_a_known_formula_and_exports_it() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(512, 3, generator=g) * 2 - 1
    y = torch.stack([2 * x[:, 0] * x[:, 1] - x[:, 2] ** 2 + 0.5, 1.5 * x[:, 0] - 0.7], dim=1)
    torch.manual_seed(0)  # the initialisation decides which terms survive pruning
    model = EQL(3, 2, variable_names=NAMES, copies=4)
    result = fit_eql(model, x, y, EQLFitConfig(steps=800, seed=0))
    assert result["loss"] < 1e-4

    first, second = model.formulas(digits=3)
    assert variables_of(first) == set(NAMES) and variables_of(second) == {"ball_x_t0"}
    # Checked numerically, not by string: the rounded formulas are the true ones.
    cols = _columns(x)
    truth = y.double().numpy()
    np.testing.assert_allclose(evaluate(first, cols), truth[:, 0], atol=1e-2)
    np.testing.assert_allclose(evaluate(second, cols), truth[:, 1], atol=1e-2)
    assert "ball_x_t0" in to_text(first) and "player_y_t0" in to_text(first)

    # Exact export computes what the pruned network computes.
    with torch.no_grad():
        net = model(x).double().numpy()
    for k, formula in enumerate(model.formulas(digits=None)):
        np.testing.assert_allclose(evaluate(formula, cols), net[:, k], atol=1e-5)


def test_cross_entropy_fit_gives_one_formula_per_action() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(400, 2, generator=g)
    actions = (x[:, 1] > x[:, 0]).long()  # "move up when the ball is above the paddle"
    torch.manual_seed(0)
    model = EQL(2, 2, variable_names=("paddle_y_t0", "ball_y_t0"), copies=2)
    fit_eql(model, x, actions, EQLFitConfig(steps=400, loss="cross_entropy", reg_weight=1e-4))
    formulas = model.formulas()
    assert len(formulas) == 2
    logits = np.stack([evaluate(f, _columns(x, model.variable_names)) for f in formulas], axis=1)
    assert (logits.argmax(1) == actions.numpy()).mean() > 0.95


def test_refit_moves_only_the_weights_a_pruning_kept() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(512, 2, generator=g)
    actions = (x[:, 0] > x[:, 1]).long()
    model = EQL(2, 2, units=("x",), copies=1)
    with torch.no_grad():  # one unit reading x0 + x1: the sign of x0 - x1, which decides, is out of its reach
        first, out = model.linears()
        first.weight.copy_(torch.tensor([[1.0, 1.0]]))
        first.bias.zero_()
        out.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        out.bias.copy_(torch.tensor([0.3, -0.2]))
        out.bias_mask.zero_()  # pruned: must stay out of the formula
    accuracy = lambda: float((model(x).argmax(-1) == actions).float().mean())  # noqa: E731
    assert accuracy() < 0.6
    result = refit_pruned(model, x, actions, steps=300, lr=5e-2, output_scale=10.0, batch_size=128)
    assert result["loss"] < 0.5 * result["loss_before"]
    assert accuracy() > 0.95
    assert float(out.bias_mask.sum()) == 0.0 and torch.equal(model.linears()[1].effective()[1], torch.zeros(2))
    with pytest.raises(ValueError, match="as many targets"):
        refit_pruned(model, x, actions[:10], steps=1)


def test_from_sympy_handles_eql_nodes() -> None:
    a, b = sympy.symbols("a b")
    from nsrl_ray.symbolic.export_sympy import protected_div, protected_log

    expr = 3 * a**2 - 2 * b + SympySigmoid(a) + protected_div(a, b) + protected_log(b) + sympy.sqrt(sympy.Abs(a)) - 1
    ir = from_sympy(expr, ("a", "b"))
    rng = np.random.default_rng(0)
    cols = {"a": rng.uniform(-2, 2, 50), "b": rng.uniform(-2, 2, 50)}
    reference = sympy.lambdify((a, b), expr.subs(SympySigmoid(a), 1 / (1 + sympy.exp(-a))))(cols["a"], cols["b"])
    np.testing.assert_allclose(evaluate(ir, cols), reference, rtol=1e-9)
