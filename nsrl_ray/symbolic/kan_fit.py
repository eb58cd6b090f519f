"""KAN policy extraction: fit a Kolmogorov–Arnold network to teacher data, prune it, fit each edge
with an elementary function, refit the constants, and read off one IR formula per action.

pykan (`kan.MultKAN`) builds, trains (LBFGS, optional sparsity regulariser, grid updates),
scores, prunes and draws the network. These parts are our own, and why:

* Edge fitting. pykan's `suggest_symbolic` sweeps a 101 x 101 (a, b) grid over every cached
  sample for every candidate function: 82 s for the 12 edges of a [4, 2, 2] CartPole KAN on one
  core, and its linear candidate comes out ill-conditioned (a ≈ -10, c ≈ 4e-5). Ours
  standardises each edge's input, sweeps a coarser zooming grid on a seeded subsample with the
  IR's own (protected) functions, fits `x` in closed form, and scores candidates with pykan's
  rule (weight_simple * complexity + (1 - weight_simple) * log2(1 - r²)).
* The symbolic network and the refit of its constants run in torch with the IR's semantics
  (protected log and sqrt), so the refitted constants are those of the printed formula;
  pykan's symbolic front uses unprotected torch functions.
* Conversion to the IR with the observation normalisation folded into the first layer's
  affine constants (pykan's `symbolic_formula` runs sympy.simplify and exec).
* Pruning calls pykan's `prune_node`/`prune_edge` directly: its `prune` builds the pruned copy
  with auto_save=True and then writes checkpoints into ./model.
* The spline least squares (`curve2coef`, used at initialisation and at every grid update):
  pykan's torch.linalg.lstsq on a broadcast batch differs in the last bits from call to call
  on CPU, which LBFGS turns into different formulas for the same seed; ours is deterministic
  and is swapped in only while pykan runs inside this module.

pykan also seeds the global random generators and prints progress bars; both are contained
(generator states are restored afterwards, its output is captured), so a fit is deterministic
for a seed and leaves no trace outside its result. pykan is pinned (0.2.8) for these reasons.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nsrl_ray.config.schema import KANSettings
from nsrl_ray.symbolic.expression import Call, Const, Expr, Var
from nsrl_ray.symbolic.primitives import PRIMITIVES
from nsrl_ray.symbolic.simplify import simplify

#: pykan's edge-function names -> IR primitive (None: the identity) and pykan's complexity score.
EDGE_FUNCTIONS: dict[str, tuple[str | None, int]] = {
    "x": (None, 1),
    "x^2": ("pow2", 2),
    "x^3": ("pow3", 3),
    "x^4": ("pow4", 3),
    "exp": ("exp", 2),
    "log": ("log", 2),
    "sqrt": ("sqrt", 2),
    "tanh": ("tanh", 3),
    "sin": ("sin", 2),
    "abs": ("abs", 3),
}

# Edge search: (a, b) grid per zoom round on the standardised input, as in pykan's fit_params.
_GRID_POINTS = 41
_ZOOM_ROUNDS = 3
_AB_RANGE = 10.0


# --------------------------------------------------------------------------- torch semantics


def _torch_log(x: torch.Tensor) -> torch.Tensor:
    # The IR's protected log: log|x| where |x| > 0.001, else 0; clamped so the unused branch
    # never produces an inf gradient.
    magnitude = x.abs()
    return torch.where(magnitude > 0.001, torch.log(magnitude.clamp_min(0.001)), torch.zeros_like(x))


def _torch_sqrt(x: torch.Tensor) -> torch.Tensor:
    # sqrt|x|; the clamp only keeps the gradient finite at 0 (value change below 1e-6).
    return torch.sqrt(x.abs().clamp_min(1e-12))


_TORCH_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x": lambda x: x,
    "x^2": lambda x: x**2,
    "x^3": lambda x: x**3,
    "x^4": lambda x: x**4,
    "exp": torch.exp,
    "log": _torch_log,
    "sqrt": _torch_sqrt,
    "tanh": torch.tanh,
    "sin": torch.sin,
    "abs": torch.abs,
}


def _numpy_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    op = EDGE_FUNCTIONS[name][0]
    return (lambda x: x) if op is None else PRIMITIVES[op].numpy_fn


# --------------------------------------------------------------------------- edge fitting


@dataclass(frozen=True)
class EdgeFit:
    """One edge of the KAN replaced by c * f(a * input + b) + d."""

    layer: int
    """Layer index (0 reads the observation)."""
    source: int
    """Input node index within the layer."""
    target: int
    """Output node index within the layer."""
    function: str
    """Edge function name (a key of EDGE_FUNCTIONS)."""
    a: float
    b: float
    c: float
    d: float
    r2: float
    """How well c * f(a * x + b) + d matched the spline edge on the fitting sample."""


def _r2_grid(post: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared correlation of each candidate row (..., n) with y (n,); 0 where undefined."""
    centred = post - post.mean(axis=-1, keepdims=True)
    yc = y - y.mean()
    numerator = (centred @ yc) ** 2
    denominator = np.einsum("...n,...n->...", centred, centred) * float(yc @ yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(denominator > 1e-300, numerator / denominator, 0.0)
    return np.nan_to_num(r2, nan=0.0, posinf=0.0, neginf=0.0)


def _fit_one(name: str, u: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Best (a, b, r²) for c * f(a * u + b) + d on a standardised input u, by a zooming grid."""
    if name == "x":
        return 1.0, 0.0, float(_r2_grid(u[None, :], y)[0])
    fn = _numpy_function(name)
    a_low, a_high, b_low, b_high = -_AB_RANGE, _AB_RANGE, -_AB_RANGE, _AB_RANGE
    best = (1.0, 0.0, 0.0)
    for _ in range(_ZOOM_ROUNDS):
        a_values = np.linspace(a_low, a_high, _GRID_POINTS)
        b_values = np.linspace(b_low, b_high, _GRID_POINTS)
        with np.errstate(all="ignore"):
            post = fn(a_values[:, None, None] * u[None, None, :] + b_values[None, :, None])
        r2 = _r2_grid(post, y)
        ia, ib = np.unravel_index(int(np.argmax(r2)), r2.shape)
        best = (float(a_values[ia]), float(b_values[ib]), float(r2[ia, ib]))
        da, db = a_values[1] - a_values[0], b_values[1] - b_values[0]
        a_low, a_high = a_values[ia] - da, a_values[ia] + da
        b_low, b_high = b_values[ib] - db, b_values[ib] + db
    return best


def fit_edge(
    x: np.ndarray, y: np.ndarray, library: Sequence[str], weight_simple: float
) -> tuple[str, float, float, float, float, float]:
    """The library function that best explains y(x) as c * f(a * x + b) + d.

    Returns (name, a, b, c, d, r²). Candidates are scored like pykan's auto_symbolic:
    weight_simple * complexity + (1 - weight_simple) * log2(1 + 1e-5 - r²), lowest wins.
    A constant input or output gives the constant edge ("x" with c = 0).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, std = float(x.mean()), float(x.std())
    if std < 1e-12 or float(y.std()) < 1e-12:
        return "x", 1.0, 0.0, 0.0, float(y.mean()), 1.0
    u = (x - mean) / std
    best: tuple[float, str, float, float, float] | None = None
    for name in library:
        a_u, b_u, r2 = _fit_one(name, u, y)
        score = weight_simple * EDGE_FUNCTIONS[name][1] + (1 - weight_simple) * np.log2(1 + 1e-5 - min(r2, 1.0))
        if best is None or score < best[0]:
            best = (float(score), name, a_u, b_u, r2)
    assert best is not None
    _, name, a_u, b_u, r2 = best
    if name == "x":  # a linear edge is c * x + d: a = 1 and b = 0 keep the form unique
        c = float(np.mean((x - mean) * (y - y.mean())) / std**2)
        return name, 1.0, 0.0, c, float(y.mean() - c * mean), r2
    # Back to the raw input: a_u * (x - mean) / std + b_u = a * x + b.
    a = a_u / std
    b = b_u - a_u * mean / std
    with np.errstate(all="ignore"):
        post = _numpy_function(name)(a * x + b)
    variance = float(post.var())
    c = float(np.mean((post - post.mean()) * (y - y.mean())) / variance) if variance > 1e-300 else 0.0
    d = float(y.mean() - c * post.mean())
    return name, a, b, c, d, r2


# --------------------------------------------------------------------------- symbolic network


@dataclass
class _Layer:
    """The symbolic edges of one layer: node j = bias_j + sum over its edges of c * f(a * h_i + b)."""

    edges: list[EdgeFit]
    width_out: int
    bias: np.ndarray


class SymbolicKAN(torch.nn.Module):
    """The KAN with every edge an elementary function; its constants are trainable parameters.

    Takes the (normalised) inputs the KAN was fitted on. Per output node the edges' d terms are
    merged into one bias, and a linear edge keeps a = 1, b = 0 (its c and the bias carry it).
    """

    def __init__(self, layers: list[_Layer]) -> None:
        super().__init__()
        self.structure = [[(e.source, e.target, e.function) for e in layer.edges] for layer in layers]
        self.widths = [layer.width_out for layer in layers]
        self.abc = torch.nn.ParameterList(
            torch.nn.Parameter(torch.tensor([[e.a, e.b, e.c] for e in layer.edges], dtype=torch.float64).reshape(-1, 3))
            for layer in layers
        )
        biases = []
        for layer in layers:
            bias = torch.as_tensor(layer.bias, dtype=torch.float64).clone()
            for e in layer.edges:
                bias[e.target] += e.d
            biases.append(torch.nn.Parameter(bias))
        self.bias = torch.nn.ParameterList(biases)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for edges, width, abc, bias in zip(self.structure, self.widths, self.abc, self.bias):
            columns = [bias[j].expand(h.shape[0]) for j in range(width)]
            for k, (i, j, name) in enumerate(edges):
                if name == "x":
                    term = abc[k, 2] * h[:, i]
                else:
                    term = abc[k, 2] * _TORCH_FUNCTIONS[name](abc[k, 0] * h[:, i] + abc[k, 1])
                columns[j] = columns[j] + term
            h = torch.stack(columns, dim=1)
        return h

    def edge_fits(self) -> list[list[tuple[int, int, str, float, float, float]]]:
        """Current (source, target, function, a, b, c) of every edge, per layer."""
        return [
            [(i, j, name, *(float(v) for v in abc[k].tolist())) for k, (i, j, name) in enumerate(edges)]
            for edges, abc in zip(self.structure, self.abc)
        ]


# --------------------------------------------------------------------------- conversion to the IR


class _Linear:
    """sum(coef * term) + const over IR terms; keeps linear edges from nesting formulas."""

    def __init__(self, terms: dict[Expr, float] | None = None, const: float = 0.0) -> None:
        self.terms: dict[Expr, float] = dict(terms or {})
        self.const = float(const)

    def scaled(self, k: float) -> _Linear:
        return _Linear({t: k * c for t, c in self.terms.items()}, k * self.const)

    def shifted(self, k: float) -> _Linear:
        return _Linear(self.terms, self.const + k)

    def add(self, other: _Linear) -> None:
        for term, coef in other.terms.items():
            self.terms[term] = self.terms.get(term, 0.0) + coef
        self.const += other.const

    def to_expr(self) -> Expr:
        result: Expr | None = None
        for term, coef in self.terms.items():
            if coef == 0.0:
                continue
            piece: Expr = term if abs(coef) == 1.0 else Call("mul", (Const(abs(coef)), term))
            if result is None:
                result = piece if coef > 0 else Call("neg", (piece,))
            else:
                result = Call("add" if coef > 0 else "sub", (result, piece))
        if result is None:
            return Const(self.const)
        if self.const > 0:
            result = Call("add", (result, Const(self.const)))
        elif self.const < 0:
            result = Call("sub", (result, Const(-self.const)))
        return result


def symbolic_to_formulas(
    network: SymbolicKAN, feature_names: Sequence[str], mean: np.ndarray, std: np.ndarray
) -> tuple[Expr, ...]:
    """One IR formula per output node, in raw observation units: z_i = (x_i - mean_i) / std_i
    is folded into the first layer, so a * z_i + b becomes (a / std_i) * x_i + (b - a * mean_i / std_i)."""
    nodes = [_Linear({Var(name): 1.0 / float(s)}, -float(m) / float(s)) for name, m, s in zip(feature_names, mean, std)]
    for edges, width, bias in zip(network.edge_fits(), network.widths, network.bias):
        outputs = [_Linear(const=float(bias[j].detach())) for j in range(width)]
        for i, j, name, a, b, c in edges:
            if c == 0.0:
                continue
            if name == "x":
                outputs[j].add(nodes[i].scaled(c))
                continue
            inner = nodes[i].scaled(a).shifted(b)
            term = Call(EDGE_FUNCTIONS[name][0], (simplify(inner.to_expr()),))  # type: ignore[arg-type]
            outputs[j].add(_Linear({term: c}))
        nodes = outputs
    return tuple(simplify(node.to_expr()) for node in nodes)


# --------------------------------------------------------------------------- pykan plumbing


def _curve2coef(x_eval: torch.Tensor, y_eval: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """pykan's spline least squares (coefficients fitting y at x), solved deterministically.

    pykan calls torch.linalg.lstsq on a broadcast batch; on CPU its result changes in the last
    bits from call to call (it depends on where the copy lands in memory), and LBFGS amplifies
    that into different formulas for the same seed. The normal equations here are summed with
    numpy's plain loops (no BLAS) and solved per spline with a tiny ridge for empty grid cells.
    """
    from kan.spline import B_batch

    basis = B_batch(x_eval, grid, k).detach().double().numpy()  # (batch, in, n_coef)
    targets = y_eval.detach().double().numpy()  # (batch, in, out)
    gram = np.einsum("bin,bim->inm", basis, basis, optimize=False)
    rhs = np.einsum("bin,bio->ino", basis, targets, optimize=False)
    n_coef = basis.shape[2]
    ridge = 1e-10 * (np.trace(gram, axis1=1, axis2=2)[:, None, None] + 1e-12) * np.eye(n_coef)[None]
    coef = np.stack([np.linalg.solve(g, r) for g, r in zip(gram + ridge, rhs)])  # (in, n_coef, out)
    return torch.as_tensor(np.ascontiguousarray(coef.transpose(0, 2, 1)), dtype=y_eval.dtype, device=y_eval.device)


@contextlib.contextmanager
def _contained() -> Iterator[None]:
    """Run pykan deterministically and quietly: our spline least squares, its prints and progress
    bars captured, and the global random generators it seeds restored afterwards."""
    # The modules, not the same-named classes that `kan` re-exports.
    layer_module, network_module = import_module("kan.KANLayer"), import_module("kan.MultKAN")
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    patched = (layer_module.curve2coef, network_module.curve2coef)
    layer_module.curve2coef = network_module.curve2coef = _curve2coef
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        layer_module.curve2coef, network_module.curve2coef = patched
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _forward_with_activations(model: Any, x: torch.Tensor) -> None:
    """One forward pass that records pykan's per-edge activations (needed to score and fit edges)."""
    model.save_act = True
    with torch.no_grad():
        model(x)


def _prune(model: Any, x: torch.Tensor, node_threshold: float, edge_threshold: float) -> Any:
    """pykan's prune (nodes, then edges) without its checkpoint writing; keeps one node per layer."""
    _forward_with_activations(model, x)
    model.attribute()
    active = []
    for scores in model.node_scores[1:-1]:
        keep = torch.where(scores > node_threshold)[0].tolist()
        active.append(keep or [int(torch.argmax(scores))])
    pruned = model.prune_node(active_neurons_id=active, log_history=False)
    pruned.auto_save = False  # prune_node makes its copy with auto_save=True
    pruned.symbolic_enabled = False
    _forward_with_activations(pruned, x)
    pruned.attribute()
    pruned.prune_edge(edge_threshold, log_history=False)
    return pruned


def _widths(model: Any) -> list[int]:
    return [int(w[0]) if isinstance(w, (list, tuple)) else int(w) for w in model.width]


def _fit_layers(model: Any, x: torch.Tensor, library: Sequence[str], weight_simple: float) -> list[_Layer]:
    """Replace every active edge of the spline network by its best library function."""
    _forward_with_activations(model, x)
    layers = []
    for l in range(len(model.act_fun)):
        inputs = model.acts[l].double().numpy()
        outputs = model.spline_postacts[l].double().numpy()  # (batch, out, in)
        mask = model.act_fun[l].mask.detach().numpy()  # (in, out)
        # pykan's subnode and node affine maps (identity unless made trainable) fold into c and d.
        scale = (model.node_scale[l] * model.subnode_scale[l]).detach().double().numpy()
        shift = (model.node_scale[l] * model.subnode_bias[l] + model.node_bias[l]).detach().double().numpy()
        edges = []
        for j in range(outputs.shape[1]):
            for i in range(inputs.shape[1]):
                if mask[i, j] == 0:
                    continue
                name, a, b, c, d, r2 = fit_edge(inputs[:, i], outputs[:, j, i], library, weight_simple)
                edges.append(EdgeFit(l, i, j, name, a, b, float(scale[j] * c), float(scale[j] * d), r2))
        layers.append(_Layer(edges, outputs.shape[1], shift))
    return layers


# --------------------------------------------------------------------------- the fit


@dataclass
class KANFitResult:
    """The extracted formulas and the networks and numbers behind them."""

    formulas: tuple[Expr, ...]
    """One formula per action (discrete: logits, argmax acts) on raw observations."""
    model: Any
    """The pruned pykan KAN (spline edges); it takes normalised observations."""
    symbolic: SymbolicKAN
    """The same network with symbolic edges and refitted constants (normalised inputs)."""
    mean: np.ndarray
    std: np.ndarray
    action_kind: Literal["discrete", "continuous"]
    edges: list[EdgeFit]
    """The edge functions as first fitted, before the constants refit."""
    widths: list[int]
    """Layer widths after pruning."""
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs, dtype=np.float64) - self.mean) / self.std

    def spline_outputs(self, obs: np.ndarray) -> np.ndarray:
        """The KAN network's outputs (logits or actions) for raw observations (batch, n_features)."""
        self.model.save_act = False
        with torch.no_grad():
            out = self.model(torch.as_tensor(self.normalise(obs), dtype=torch.float32))
        return out.double().numpy()

    def symbolic_outputs(self, obs: np.ndarray) -> np.ndarray:
        """The symbolic network's outputs for raw observations (what the formulas compute)."""
        with torch.no_grad():
            return self.symbolic(torch.as_tensor(self.normalise(obs), dtype=torch.float64)).numpy()

    def spline_policy(self, low: Sequence[float] | None = None, high: Sequence[float] | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """The KAN network as a batch policy on raw observations (argmax, or clipped actions)."""

        def act(obs: np.ndarray) -> np.ndarray:
            out = self.spline_outputs(obs)
            if self.action_kind == "discrete":
                return out.argmax(axis=1)
            return np.clip(out, low, high) if low is not None and high is not None else out

        return act

    def draw(self, path: Path, feature_names: Sequence[str], output_names: Sequence[str], obs: np.ndarray) -> Path:
        """pykan's diagram of the pruned network (edge shapes on `obs`) as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x = torch.as_tensor(self.normalise(obs), dtype=torch.float32)
        with _contained(), tempfile.TemporaryDirectory() as folder:
            _forward_with_activations(self.model, x)
            # pykan writes one image per edge into `folder`, then composes the figure.
            # Labels sit 1/n of the 10 * scale inch width apart at 40 * scale * varscale points:
            # shrink them until the longest name fits its slot.
            slots = max(len(feature_names), len(output_names)) * max(len(n) for n in (*feature_names, *output_names))
            self.model.plot(folder=folder, in_vars=list(feature_names), out_vars=list(output_names), beta=3,
                            scale=1.0, varscale=min(1.0, 30.0 / slots))
            figure = plt.gcf()
            figure.savefig(path, bbox_inches="tight", dpi=80)
            plt.close(figure)
        return path


Bounds = tuple[np.ndarray, np.ndarray]


def _loss_function(action_kind: str, bounds: Bounds | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy on action indices; squared error on continuous actions.

    With action `bounds` the error is the one the environment sees after it clips the action:
    where the teacher sits on a bound, overshooting that bound costs nothing. A swing-up
    teacher is saturated much of the time, and a plain MSE spends the network's few edges on
    reproducing the flat top of the clipped teacher instead of the switching surface.
    """
    if action_kind == "discrete":
        return torch.nn.functional.cross_entropy
    if bounds is None:
        return lambda pred, target: torch.mean((pred - target) ** 2)
    low, high = (torch.tensor(np.array(b, dtype=np.float64)) for b in bounds)

    def bounded_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = pred - target
        at_high = target >= high.to(target.dtype) - 1e-6
        at_low = target <= low.to(target.dtype) + 1e-6
        error = torch.where(at_high, error.clamp(max=0.0), error)
        error = torch.where(at_low, error.clamp(min=0.0), error)
        return torch.mean(error**2)

    return bounded_mse


def _refit(
    network: SymbolicKAN, loss_fn: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor,
    x_val: torch.Tensor, y_val: torch.Tensor, steps: int,
) -> tuple[float, float]:
    """LBFGS on all constants; keeps the refit only when the held-out loss does not get worse.

    Returns the held-out loss before and after (after = before when the refit was refused)."""

    def held_out() -> float:
        with torch.no_grad():
            value = float(loss_fn(network(x_val), y_val))
        return value if np.isfinite(value) else float("inf")

    before = held_out()
    if steps == 0:
        return before, before
    saved = {k: v.detach().clone() for k, v in network.state_dict().items()}
    optimiser = torch.optim.LBFGS(network.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = loss_fn(network(x), y)
        if torch.isfinite(loss):
            loss.backward()
        return loss

    try:
        optimiser.step(closure)
    except RuntimeError:  # a non-finite step inside the line search; keep the unrefitted constants
        network.load_state_dict(saved)
        return before, before
    after = held_out()
    if not after <= before:
        network.load_state_dict(saved)
        return before, before
    return before, after


def _score(outputs: np.ndarray, targets: np.ndarray, action_kind: str, bounds: Bounds | None = None) -> float:
    """Agreement with the teacher's action (discrete) or mean squared error of the clipped action (continuous)."""
    if action_kind == "discrete":
        return float(np.mean(outputs.argmax(axis=1) == targets))
    if bounds is not None:
        outputs = np.clip(outputs, *bounds)
    return float(np.mean((outputs - targets) ** 2))


def fit_kan(
    obs: np.ndarray,
    targets: np.ndarray,
    feature_names: Sequence[str],
    action_kind: Literal["discrete", "continuous"],
    settings: KANSettings,
    seed: int,
    n_actions: int | None = None,
    action_bounds: Bounds | None = None,
) -> KANFitResult:
    """Fit a KAN to (observation -> teacher action) pairs and extract one formula per action.

    discrete: `targets` are action indices (cross-entropy, `n_actions` outputs, argmax acts);
    continuous: `targets` are (batch, dims) actions (mean squared error; with `action_bounds`,
    the error of the clipped action, see `_loss_function`). Deterministic for a seed.
    """
    from kan import KAN

    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim != 2 or obs.shape[1] != len(feature_names):
        raise ValueError(f"obs has shape {obs.shape}; expected (batch, {len(feature_names)}) for features {list(feature_names)}.")
    if action_kind == "discrete":
        labels = np.asarray(targets).astype(np.int64).reshape(-1)
        if n_actions is None:
            raise ValueError("fit_kan: n_actions is required for discrete actions.")
        if labels.min() < 0 or labels.max() >= n_actions:
            raise ValueError(f"targets hold actions {sorted(set(labels.tolist()))[:10]}; expected indices in [0, {n_actions}).")
        n_out = n_actions
    elif action_kind == "continuous":
        labels = np.asarray(targets, dtype=np.float64).reshape(len(obs), -1)
        n_out = labels.shape[1]
        if action_bounds is not None:
            action_bounds = tuple(np.broadcast_to(np.asarray(b, dtype=np.float64), (n_out,)) for b in action_bounds)
            labels = np.clip(labels, *action_bounds)
    else:
        raise ValueError(f"action_kind {action_kind!r}; expected 'discrete' or 'continuous'.")
    if len(obs) != len(labels):
        raise ValueError(f"{len(obs)} observations but {len(labels)} targets; expected one target per observation.")
    if len(obs) < 10:
        raise ValueError(f"only {len(obs)} samples; a KAN fit needs at least 10 (collect more episodes).")

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    if settings.normalize:
        mean, std = obs.mean(axis=0), obs.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)  # a constant feature stays as it is
    else:
        mean, std = np.zeros(obs.shape[1]), np.ones(obs.shape[1])
    order = rng.permutation(len(obs))
    n_val = max(1, int(round(settings.validation_fraction * len(obs))))
    val, train = order[:n_val], order[n_val:]
    z = (obs - mean) / std
    label_dtype = torch.int64 if action_kind == "discrete" else torch.float32
    dataset = {
        "train_input": torch.as_tensor(z[train], dtype=torch.float32),
        "train_label": torch.as_tensor(labels[train], dtype=label_dtype),
        "test_input": torch.as_tensor(z[val], dtype=torch.float32),
        "test_label": torch.as_tensor(labels[val], dtype=label_dtype),
    }
    bounds = action_bounds if action_kind == "continuous" else None
    loss_fn = _loss_function(action_kind, bounds)
    width = [obs.shape[1], *settings.hidden, n_out]
    edge_rows = rng.choice(train, size=min(settings.edge_samples, len(train)), replace=False)
    x_edges = torch.as_tensor(z[np.sort(edge_rows)], dtype=torch.float32)
    history: list[dict[str, float]] = []
    with _contained():
        model = KAN(width=list(width), grid=settings.grid, k=settings.spline_order, seed=seed,
                    auto_save=False, symbolic_enabled=False, device="cpu")
        fitted = model.fit(dataset, opt="LBFGS", steps=settings.steps, lamb=settings.sparsity,
                           lamb_entropy=settings.sparsity_entropy, loss_fn=loss_fn)
        history += [{"step": i, "train_loss": float(t) ** 2, "validation_loss": float(v) ** 2}
                    for i, (t, v) in enumerate(zip(fitted["train_loss"], fitted["test_loss"]))]
        if settings.prune:
            model = _prune(model, dataset["train_input"], settings.prune_node_threshold, settings.prune_edge_threshold)
            if settings.retrain_steps:
                refitted = model.fit(dataset, opt="LBFGS", steps=settings.retrain_steps, loss_fn=loss_fn, update_grid=False)
                history += [{"step": len(history) + i, "train_loss": float(t) ** 2, "validation_loss": float(v) ** 2}
                            for i, (t, v) in enumerate(zip(refitted["train_loss"], refitted["test_loss"]))]
        layers = _fit_layers(model, x_edges, settings.library, settings.weight_simple)
    edges = [e for layer in layers for e in layer.edges]
    network = SymbolicKAN(layers)
    x_train = torch.as_tensor(z[train], dtype=torch.float64)
    x_val = torch.as_tensor(z[val], dtype=torch.float64)
    y_train = torch.as_tensor(labels[train], dtype=torch.int64 if action_kind == "discrete" else torch.float64)
    y_val = torch.as_tensor(labels[val], dtype=y_train.dtype)
    with _contained():
        torch.manual_seed(seed)
        loss_before, loss_after = _refit(network, loss_fn, x_train, y_train, x_val, y_val, settings.refit_steps)
    formulas = symbolic_to_formulas(network, feature_names, mean, std)
    result = KANFitResult(
        formulas=formulas, model=model, symbolic=network, mean=mean, std=std, action_kind=action_kind,
        edges=edges, widths=_widths(model), history=history,
    )
    spline_out = result.spline_outputs(obs[val])
    symbolic_out = result.symbolic_outputs(obs[val])
    result.metrics = {
        "spline_validation_" + ("agreement" if action_kind == "discrete" else "mse"): _score(spline_out, labels[val], action_kind, bounds),
        "symbolic_validation_" + ("agreement" if action_kind == "discrete" else "mse"): _score(symbolic_out, labels[val], action_kind, bounds),
        "refit_loss_before": loss_before,
        "refit_loss_after": loss_after,
        "edges": float(len([e for e in edges if e.c != 0.0])),
        "edge_r2_mean": float(np.mean([e.r2 for e in edges])) if edges else 1.0,
        "hidden_nodes": float(sum(result.widths[1:-1])),
    }
    result.fit_seconds = time.perf_counter() - started
    return result
