"""Equation learner (EQL): linear maps into primitive units, sparsified into one formula per output.

`EQL` stacks `EQLLayer`s (Linear -> units such as x, x^2, x^3, 1, x*y, x+y) and a final Linear.
Training adds the smoothed L1/2 penalty (`smoothed_l_half`, weight ramped by `linear_ramp`);
`prune` zeroes small weights for good (masks are registered buffers, so they travel with the
state dict); `refit_pruned` retrains the weights a pruning kept; `formulas` exports one simplified expression per output, in the IR, via sympy.
Guarded units match the IR's protected primitives (div -> 1 and log -> 0 near zero, sqrt |x|).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nsrl_ray.symbolic.expression import Expr

__all__ = [
    "DEFAULT_UNITS",
    "EQL",
    "EQLFitConfig",
    "EQLLayer",
    "UNITS",
    "Unit",
    "fit_eql",
    "refit_pruned",
    "linear_ramp",
    "smoothed_l_half",
]

_GUARD = 1e-3  # = PROTECTION_THRESHOLD of the IR's protected primitives


def _div(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    safe = torch.where(y.abs() > _GUARD, y, torch.ones_like(y))
    return torch.where(y.abs() > _GUARD, x / safe, torch.ones_like(x))


def _log(x: torch.Tensor) -> torch.Tensor:
    safe = torch.where(x.abs() > _GUARD, x.abs(), torch.ones_like(x))
    return torch.where(x.abs() > _GUARD, torch.log(safe), torch.zeros_like(x))


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x.abs().clamp_min(1e-12))


def _exp(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x.clamp(max=20.0))  # keeps training finite; fitted formulas stay far below


@dataclass(frozen=True)
class Unit:
    """A primitive unit: its arity (inputs it takes from the linear map), torch and sympy forms."""

    name: str
    arity: int
    torch_fn: Callable[..., torch.Tensor]
    sympy_fn: Callable[..., Any]


def _sympy_units() -> dict[str, Callable[..., Any]]:
    import sympy

    from nsrl_ray.symbolic.export_sympy import protected_div, protected_log
    from nsrl_ray.symbolic.from_sympy import SympySigmoid

    return {
        "x": lambda a: a, "square": lambda a: a**2, "cube": lambda a: a**3, "const": lambda: sympy.Integer(1),
        "mul": lambda a, b: a * b, "add": lambda a, b: a + b, "sin": sympy.sin,
        "sqrt": lambda a: sympy.sqrt(sympy.Abs(a)), "exp": sympy.exp, "log": protected_log,
        "sigmoid": SympySigmoid, "div": protected_div,
    }


UNITS: dict[str, Unit] = {
    u.name: u
    for u in (
        Unit("x", 1, lambda a: a, None),  # type: ignore[arg-type]
        Unit("square", 1, lambda a: a * a, None),  # type: ignore[arg-type]
        Unit("cube", 1, lambda a: a * a * a, None),  # type: ignore[arg-type]
        Unit("const", 0, None, None),  # type: ignore[arg-type]
        Unit("mul", 2, lambda a, b: a * b, None),  # type: ignore[arg-type]
        Unit("add", 2, lambda a, b: a + b, None),  # type: ignore[arg-type]
        Unit("sin", 1, torch.sin, None),  # type: ignore[arg-type]
        Unit("sqrt", 1, _sqrt, None),  # type: ignore[arg-type]
        Unit("exp", 1, _exp, None),  # type: ignore[arg-type]
        Unit("log", 1, _log, None),  # type: ignore[arg-type]
        Unit("sigmoid", 1, torch.sigmoid, None),  # type: ignore[arg-type]
        Unit("div", 2, _div, None),  # type: ignore[arg-type]
    )
}
#: INSIGHT's library: x^2, x^3, 1, x, x*y, x+y.
DEFAULT_UNITS: tuple[str, ...] = ("x", "square", "cube", "const", "mul", "add")


def _check_units(units: Sequence[str]) -> tuple[str, ...]:
    units = tuple(units)
    if not units:
        raise ValueError(f"EQL needs at least one unit; choose from {tuple(UNITS)}.")
    for u in units:
        if u not in UNITS:
            close = difflib.get_close_matches(str(u), list(UNITS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown EQL unit {u!r}.{hint} Available units: {tuple(UNITS)}.")
    return units


class _MaskedLinear(nn.Linear):
    """Linear whose pruned weights stay zero: `weight * mask`, the mask a registered buffer."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("weight_mask", torch.ones_like(self.weight))
        self.register_buffer("bias_mask", torch.ones_like(self.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.weight_mask, self.bias * self.bias_mask)

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.weight * self.weight_mask).detach(), (self.bias * self.bias_mask).detach()

    @torch.no_grad()
    def prune(self, threshold: float) -> int:
        self.weight_mask.mul_((self.weight.abs() >= threshold).to(self.weight_mask.dtype))
        self.bias_mask.mul_((self.bias.abs() >= threshold).to(self.bias_mask.dtype))
        self.weight.mul_(self.weight_mask)
        self.bias.mul_(self.bias_mask)
        return int(self.weight_mask.sum() + self.bias_mask.sum())


class EQLLayer(nn.Module):
    """Linear(in -> inputs of all units), then each unit applied to its slice; `copies` of each unit."""

    def __init__(self, in_features: int, units: Sequence[str] = DEFAULT_UNITS, copies: int = 8) -> None:
        super().__init__()
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}.")
        kinds = _check_units(units)
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"units {kinds} repeat a name; list each unit once and set copies instead.")
        self.units = tuple(u for u in kinds for _ in range(copies))
        self.in_features = in_features
        self.n_inputs = sum(UNITS[u].arity for u in self.units)
        self.out_features = len(self.units)
        self.linear = _MaskedLinear(in_features, max(self.n_inputs, 1))
        # The copies of a unit are contiguous: one vectorised call per unit kind.
        self._groups, start = [], 0
        for kind in kinds:
            self._groups.append((kind, start, copies))
            start += UNITS[kind].arity * copies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        outputs = []
        for kind, start, copies in self._groups:
            unit = UNITS[kind]
            if unit.arity == 0:
                outputs.append(torch.ones(*x.shape[:-1], copies, dtype=z.dtype, device=z.device))
                continue
            block = z[..., start: start + unit.arity * copies].unflatten(-1, (copies, unit.arity))
            outputs.append(unit.torch_fn(*block.unbind(-1)))
        return torch.cat(outputs, dim=-1)

    def symbolic(self, inputs: Sequence[Any]) -> list[Any]:
        """Sympy expressions of the unit outputs given sympy inputs (pruned weights, exact values)."""
        import sympy

        weight, bias = self.linear.effective()
        sympy_units = _sympy_units()
        z = []
        for j in range(self.linear.out_features):
            terms = [sympy.Float(float(weight[j, i])) * inputs[i] for i in range(len(inputs)) if float(weight[j, i]) != 0.0]
            if float(bias[j]) != 0.0:
                terms.append(sympy.Float(float(bias[j])))
            z.append(sympy.Add(*terms) if terms else sympy.Integer(0))
        outputs, i = [], 0
        for name in self.units:
            arity = UNITS[name].arity
            outputs.append(sympy_units[name](*z[i: i + arity]))
            i += arity
        return outputs


class EQL(nn.Module):
    """`layers` EQLLayers then Linear(units -> out_features); one output per action (logit) or target."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        units: Sequence[str] = DEFAULT_UNITS,
        copies: int = 8,
        layers: int = 1,
        variable_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}.")
        names = tuple(variable_names) if variable_names is not None else tuple(f"x{i}" for i in range(in_features))
        if len(names) != in_features:
            raise ValueError(f"got {len(names)} variable_names for {in_features} inputs; give one name per input.")
        self.variable_names = names
        blocks, width = [], in_features
        for _ in range(layers):
            blocks.append(EQLLayer(width, units, copies))
            width = blocks[-1].out_features
        self.blocks = nn.ModuleList(blocks)
        self.output = _MaskedLinear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.output(x)

    def linears(self) -> list[_MaskedLinear]:
        return [b.linear for b in self.blocks] + [self.output]

    def regularization(self, a: float = 0.01) -> torch.Tensor:
        """Smoothed L1/2 of all (unpruned) weights and biases."""
        return sum(
            smoothed_l_half(lin.weight * lin.weight_mask, a) + smoothed_l_half(lin.bias * lin.bias_mask, a)
            for lin in self.linears()
        )

    def prune(self, threshold: float = 1e-2) -> int:
        """Zero every weight and bias with |w| < threshold, for good; returns how many remain."""
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}.")
        return sum(lin.prune(threshold) for lin in self.linears())

    def sympy_formulas(self, digits: int | None = 4) -> list[Any]:
        """One expanded sympy expression per output, in the variable names; with `digits`, every
        coefficient is rounded to that many significant digits and terms that round to 0 vanish."""
        import sympy

        values: list[Any] = [sympy.Symbol(n) for n in self.variable_names]
        for block in self.blocks:
            values = block.symbolic(values)
        weight, bias = self.output.effective()
        out = []
        for k in range(self.output.out_features):
            terms = [sympy.Float(float(weight[k, j])) * values[j] for j in range(len(values)) if float(weight[k, j]) != 0.0]
            if float(bias[k]) != 0.0:
                terms.append(sympy.Float(float(bias[k])))
            expr = sympy.expand(sympy.Add(*terms)) if terms else sympy.Integer(0)
            out.append(_round_floats(expr, digits) if digits is not None else expr)
        return out

    def formulas(self, digits: int | None = 4) -> list[Expr]:
        """One simplified IR expression per output (coefficients to `digits` significant digits;
        None keeps them exact, so the formula computes what the pruned network computes)."""
        from nsrl_ray.symbolic.from_sympy import from_sympy
        from nsrl_ray.symbolic.simplify import simplify

        return [simplify(from_sympy(e, self.variable_names)) for e in self.sympy_formulas(digits)]


def _round_floats(expr: Any, digits: int) -> Any:
    """Round every float to `digits` significant digits, then drop additive terms that became
    negligible (|coefficient| below 10^-digits of the largest one) -- expand leaves such dust."""
    import sympy

    expr = expr.xreplace({f: sympy.Float(float(f"{float(f):.{digits}g}")) for f in expr.atoms(sympy.Float)})
    if not expr.is_Add:
        return expr
    coefficients = [abs(float(t.as_coeff_Mul()[0])) for t in expr.args]
    floor = max(coefficients) * 10.0 ** -digits
    return sympy.Add(*(t for t, c in zip(expr.args, coefficients) if c >= floor))


def smoothed_l_half(w: torch.Tensor, a: float = 0.01) -> torch.Tensor:
    """Smoothed L1/2 penalty (Wu et al. 2014): sqrt|w| for |w| >= a, a quartic below (smooth at 0)."""
    absw = w.abs()
    small = (-(w**4) / (8 * a**3) + 3 * w**2 / (4 * a) + 3 * a / 8)
    return torch.where(absw >= a, absw, small).clamp_min(1e-12).sqrt().sum()


def linear_ramp(step: int, ramp_steps: int, final: float, start: int = 0) -> float:
    """0 until `start`, then linearly up to `final` over `ramp_steps` steps, then `final`."""
    if ramp_steps <= 0:
        return final if step >= start else 0.0
    return final * min(1.0, max(0.0, (step - start) / ramp_steps))


@dataclass(frozen=True)
class EQLFitConfig:
    """Settings of `fit_eql` (supervised fitting: MSE on targets or cross-entropy on actions)."""

    steps: int = 3000
    """Adam steps in total (warm-up, ramped regularisation, then fine-tuning after pruning)."""
    lr: float = 1e-2
    """Adam learning rate."""
    reg_weight: float = 1e-3
    """Final weight of the smoothed L1/2 penalty (INSIGHT: 1e-3)."""
    warmup_fraction: float = 0.25
    """Fraction of the steps without regularisation."""
    ramp_fraction: float = 0.25
    """Fraction of the steps over which the penalty ramps linearly to `reg_weight`."""
    prune_threshold: float = 1e-2
    """Weights below this are zeroed at the start of the last `finetune_fraction` (INSIGHT: 1e-2)."""
    finetune_fraction: float = 0.2
    """Fraction of the steps trained after pruning, without the penalty."""
    loss: str = "mse"
    """'mse' for regression targets, 'cross_entropy' for action labels (targets = class indices)."""
    seed: int = 0
    """Seeds the initialisation."""


def _data_loss(loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if loss not in ("mse", "cross_entropy"):
        raise ValueError(f"loss must be 'mse' or 'cross_entropy', got {loss!r}.")
    return nn.functional.mse_loss if loss == "mse" else nn.functional.cross_entropy


def fit_eql(model: EQL, x: torch.Tensor, y: torch.Tensor, config: EQLFitConfig = EQLFitConfig()) -> dict[str, float]:
    """Fit `model` on (x, y) with the ramped penalty, prune, fine-tune; returns the final losses."""
    data_loss = _data_loss(config.loss)
    torch.manual_seed(config.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    warmup = int(config.steps * config.warmup_fraction)
    ramp = int(config.steps * config.ramp_fraction)
    prune_at = config.steps - int(config.steps * config.finetune_fraction)
    if config.loss == "mse" and y.ndim == 1:
        y = y[:, None]
    fit = 0.0
    for step in range(prune_at):
        data = data_loss(model(x), y)
        loss = data + linear_ramp(step, ramp, config.reg_weight, start=warmup) * model.regularization()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        fit = float(data.detach())
    if prune_at < config.steps:
        model.prune(config.prune_threshold)
        fit = refit_pruned(model, x, y, steps=config.steps - prune_at, lr=config.lr, loss=config.loss)["loss"]
    return {"loss": fit, "regularization": float(model.regularization().detach())}


def refit_pruned(model: EQL, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float = 1e-2,
                 loss: str = "cross_entropy", output_scale: float = 1.0, batch_size: int | None = None,
                 seed: int = 0) -> dict[str, float]:
    """The EQL's last phase (Sahoo et al. 2018): train the weights a pruning kept on (x, y), without the penalty;
    the masks hold the pruned ones at zero, so the formula keeps its terms and only their constants move.

    `output_scale` multiplies the outputs before the loss (an actor's inverse temperature); `batch_size` draws
    seeded minibatches (None: the whole data each step). Returns the data loss before and after.
    """
    data_loss = _data_loss(loss)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"refit_pruned needs as many targets as inputs, at least one: got {len(x)} and {len(y)}.")
    if loss == "mse" and y.ndim == 1:
        y = y[:, None]
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        before = float(data_loss(model(x) * output_scale, y))
    fit = torch.tensor(before)
    for _ in range(steps):
        if batch_size is None or batch_size >= len(x):
            xb, yb = x, y
        else:
            index = torch.randint(0, len(x), (batch_size,), generator=generator)
            xb, yb = x[index], y[index]
        fit = data_loss(model(xb) * output_scale, yb)
        optimiser.zero_grad(set_to_none=True)
        fit.backward()
        optimiser.step()
    with torch.no_grad():
        after = float(data_loss(model(x) * output_scale, y))
    return {"loss_before": before, "loss": after}
