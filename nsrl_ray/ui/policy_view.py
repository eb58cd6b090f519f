"""What the policy page shows of a formula card: formulas as maths, returns, explanations, and what-if.

What-if: one value per variable gives the symbolic policy's outputs, action probabilities (softmax
of the logits, discrete actions) and gradient attributions (d log pi(a|s) / d variable, exact via
sympy where it can, from nsrl_ray.explain.gradients). Plain numpy and Markdown: no Gradio here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.symbolic.export_latex import to_latex
from nsrl_ray.symbolic.text import to_display_text
from nsrl_ray.ui.runs import (
    EXPLANATION_JSON,
    EXPLANATION_MD,
    LLM_EXPLANATION_JSON,
    LLM_EXPLANATION_MD,
    TrialView,
)

#: The range of a variable nothing tells about (no dataset, no explanation statistics, no env range).
DEFAULT_RANGE = (-1.0, 1.0)
SLIDER_STEPS = 200


def _latex_name(name: str) -> str:
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def formula_markdown(card: PolicyCard) -> str:
    """One display-maths line per action (Markdown with $$...$$), rendered from the parsed formulas."""
    lines = [f"**{card.env}** · learner `{card.learner}` · {len(card.variables)} variables · "
             f"complexity {card.complexity} nodes", ""]
    role = "logit" if card.action_kind == "discrete" else "action"
    for index, (name, formula) in enumerate(zip(card.action_names, card.formulas)):
        lines += [f"action {index} `{name}` ({role}):", "",
                  f"$$ {_latex_name(name)} = {to_latex(formula)} $$", "", f"`{to_display_text(formula)}`", ""]
    if card.action_kind == "discrete":
        lines.append("The policy takes the action with the largest logit; the softmax of the logits gives probabilities.")
    else:
        lines.append("Each formula is one action dimension, clipped to the action bounds.")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def returns_markdown(trial: TrialView) -> str:
    """The symbolic policy's return beside the teacher's (Markdown table), or why there is none."""
    metrics = trial.metrics
    if "return_mean" not in metrics:
        return "_No evaluation yet: the evaluate stage has not written evaluation.json for this trial._"
    rows = ["| policy | return mean | return std | episodes |", "|---|---|---|---|"]
    episodes = _fmt(metrics.get("episodes", ""))
    rows.append(f"| symbolic | {_fmt(metrics.get('return_mean'))} | {_fmt(metrics.get('return_std', ''))} | {episodes} |")
    if "teacher_return_mean" in metrics:
        rows.append(f"| teacher | {_fmt(metrics['teacher_return_mean'])} | {_fmt(metrics.get('teacher_return_std', ''))} | {episodes} |")
    extra = [f"agreement with the teacher {metrics['agreement']:.1%}" if isinstance(metrics.get("agreement"), float) else "",
             f"solved {metrics['solved']:.0%}" if isinstance(metrics.get("solved"), float) else ""]
    extra = [e for e in extra if e]
    return "\n".join(rows) + ("\n\n" + "; ".join(extra) + "." if extra else "")


def metrics_markdown(card_metrics: dict[str, Any]) -> str:
    scalars = {k: v for k, v in card_metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    if not scalars:
        return ""
    return "\n".join(["| metric | value |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in scalars.items())])


def _faithfulness_rows(data: Any) -> list[str]:
    words = data.get("words") if isinstance(data, dict) else None
    if not isinstance(words, dict):
        return []
    rows = []
    for part in ("policy", "decision"):
        for entry in words.get(part) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("faithfulness"), dict):
                continue
            report = entry["faithfulness"]
            violations = report.get("violations") or []
            detail = "; ".join(str(v.get("detail", v)) if isinstance(v, dict) else str(v) for v in violations)
            rows.append(f"| {part} | {entry.get('label', '')} | {'ok' if report.get('ok') else 'violations'} | "
                        f"{report.get('names_checked', '')} | {report.get('numbers_checked', '')} | "
                        f"{report.get('claims_checked', '')} | {detail.replace('|', '/') or '—'} |")
    return rows


def explanation_markdown(trial: TrialView) -> str:
    """The explanations written beside the card (offline, and LLM when present) and their faithfulness table."""
    parts: list[str] = []
    for md_name, json_name, title in ((EXPLANATION_MD, EXPLANATION_JSON, "Offline explanation"),
                                      (LLM_EXPLANATION_MD, LLM_EXPLANATION_JSON, "LLM explanation")):
        md_path, json_path = trial.artifacts / md_name, trial.artifacts / json_name
        data: Any = {}
        if json_path.is_file():
            try:
                data = json.loads(json_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
                parts.append(f"### {title}\n\n**Error:** {json_name} is corrupt ({error}).")
                continue
        if isinstance(data, dict) and data.get("error") and not md_path.is_file():
            parts.append(f"### {title}\n\n_Failed: {data['error']}_")
            continue
        if not md_path.is_file():
            continue
        try:
            text = md_path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            parts.append(f"### {title}\n\n**Error:** {md_name} cannot be read ({error}).")
            continue
        # Demote the file's headings so they sit under this page's sections.
        text = "\n".join("##" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(f"### {title}\n\n{text}")
        rows = _faithfulness_rows(data)
        if rows:
            parts.append("#### Faithfulness report\n\n| part | about | result | names | numbers | directions | violations |\n"
                         "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    summary = trial.card.explanation.get("summary") if trial.card is not None else None
    if not parts and summary:
        parts.append(f"### Explanation\n\n{summary}")
    return "\n\n".join(parts) or "_No explanation beside this card (the experiment has no explain stage)._"


# ---------------------------------------------------------------------------------------------- what-if
@dataclass(frozen=True)
class VariableRange:
    """A what-if slider: the variable, its range and its starting value."""

    name: str
    low: float
    high: float
    value: float
    source: str
    """Where the range comes from: 'dataset', 'explanation', 'env' (or 'dataset + env': both), 'default'."""

    @property
    def step(self) -> float:
        return (self.high - self.low) / SLIDER_STEPS


def _finite_pair(low: float, high: float) -> tuple[float, float] | None:
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if high - low < 1e-9:
        pad = max(abs(low), 1.0) * 0.5
        low, high = low - pad, high + pad
    return float(low), float(high)


def _dataset_obs(artifacts: Path, n_variables: int) -> np.ndarray | None:
    shards = sorted((artifacts / "dataset").glob("shard_*.npz"))
    rows = []
    for shard in shards:
        try:
            with np.load(shard) as data:
                obs = np.asarray(data["obs"], dtype=np.float64) if "obs" in data.files else None
        except (OSError, ValueError, KeyError, EOFError):
            return None  # a half-written shard: fall back to other sources
        if obs is None or obs.ndim != 2 or obs.shape[1] != n_variables:
            return None
        rows.append(obs)
    if not rows:
        return None
    obs = np.concatenate(rows)
    obs = obs[np.all(np.isfinite(obs), axis=1)]
    return obs if len(obs) else None


def _explanation_stats(artifacts: Path) -> dict[str, tuple[float, float]]:
    try:
        data = json.loads((artifacts / EXPLANATION_JSON).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    stats = {}
    for entry in data.get("variables", []) if isinstance(data, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("mean"), (int, float)) and isinstance(entry.get("std"), (int, float)):
            stats[str(entry.get("name"))] = (float(entry["mean"]), float(entry["std"]))
    return stats


def _env_ranges(env: str, variables: Sequence[str]) -> dict[str, tuple[float, float]]:
    try:
        from nsrl_ray.envs import get_env_spec

        spec = get_env_spec(env)
    except Exception:  # an env this install does not know (a card from elsewhere): no ranges from it
        return {}
    if tuple(spec.feature_names) != tuple(variables):
        return {}
    return {name: bounds for name, bounds in zip(spec.feature_names, spec.feature_ranges) if bounds is not None}


def variable_ranges(card: PolicyCard, artifacts: str | Path | None = None) -> list[VariableRange]:
    """Slider ranges: the env's range widened to the visited states (the dataset), else the explanation's
    mean ± 3 std, else [-1, 1]; each slider starts at the median visited value (or the middle)."""
    artifacts = Path(artifacts) if artifacts is not None else None
    obs = _dataset_obs(artifacts, len(card.variables)) if artifacts is not None else None
    stats = _explanation_stats(artifacts) if artifacts is not None and obs is None else {}
    env = _env_ranges(card.env, card.variables)
    ranges = []
    for j, name in enumerate(card.variables):
        pair, start, source = None, None, "default"
        if obs is not None:
            pair = _finite_pair(float(obs[:, j].min()), float(obs[:, j].max()))
            start, source = float(np.median(obs[:, j])), "dataset"
        elif name in stats:
            mean, std = stats[name]
            pair = _finite_pair(mean - 3 * std, mean + 3 * std)
            start, source = mean, "explanation"
        if name in env:
            low, high = env[name]
            pair = (min(low, pair[0]), max(high, pair[1])) if pair else (low, high)
            source = "env" if source == "default" else f"{source} + env"
        low, high = pair or DEFAULT_RANGE
        value = (low + high) / 2 if start is None else min(max(start, low), high)
        ranges.append(VariableRange(name, float(low), float(high), float(value), source))
    return ranges


@dataclass(frozen=True)
class WhatIf:
    """The symbolic policy at one state: its action, per-action outputs and attributions."""

    variables: tuple[str, ...]
    action_names: tuple[str, ...]
    values: tuple[float, ...]
    outputs: tuple[float, ...]
    """Logits (discrete) or unclipped action values (continuous), one per action."""
    action: str
    """The chosen action's name (discrete), or the clipped action vector in words (continuous)."""
    probabilities: tuple[float, ...] | None
    attributions: tuple[tuple[float, ...], ...]
    """Per variable, per action: d log pi(a|s) / d variable (discrete) or d action / d variable (continuous)."""
    chosen: int | None
    """The chosen action's index (discrete)."""
    clipped: tuple[float, ...] | None = None


class WhatIfError(ValueError):
    """The what-if values do not fit the policy (wrong count, not finite numbers)."""


def _gradients(card: PolicyCard):
    from nsrl_ray.explain.gradients import FormulaGradients

    return FormulaGradients(card.policy())


def what_if(card: PolicyCard, values: Sequence[Any], gradients: Any = None) -> WhatIf:
    """The symbolic policy's decision at the state ``values`` (one per variable, in the card's order)."""
    if len(values) != len(card.variables):
        raise WhatIfError(f"what-if: got {len(values)} values for {len(card.variables)} variables {list(card.variables)}.")
    state = []
    for name, value in zip(card.variables, values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise WhatIfError(f"what-if: {name} = {value!r} is not a number.") from None
        if not math.isfinite(number):
            raise WhatIfError(f"what-if: {name} = {value!r} is not a finite number.")
        state.append(number)
    policy = card.policy()
    gradients = gradients if gradients is not None else _gradients(card)
    with np.errstate(all="ignore"):
        outputs = policy.outputs(np.array(state))[0]
        grads = gradients.log_prob_gradients(np.array(state))[0]  # (variables, actions)
    grads = np.where(np.isfinite(grads), grads, np.nan)
    if card.action_kind == "discrete":
        probs = policy.probabilities(np.array(state))[0]
        chosen = int(np.argmax(outputs))
        return WhatIf(card.variables, card.action_names, tuple(state), tuple(float(v) for v in outputs),
                      card.action_names[chosen], tuple(float(p) for p in probs),
                      tuple(tuple(float(g) for g in row) for row in grads), chosen)
    clipped = policy.act(np.array(state))[0]
    action = ", ".join(f"{n} = {v:.3g}" for n, v in zip(card.action_names, clipped))
    return WhatIf(card.variables, card.action_names, tuple(state), tuple(float(v) for v in outputs), action, None,
                  tuple(tuple(float(g) for g in row) for row in grads), None, tuple(float(v) for v in clipped))


def _num(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.4g}"


def what_if_markdown(result: WhatIf) -> str:
    """The decision, the outputs and the attributions as Markdown tables."""
    if result.probabilities is not None:
        head = ["| action | logit | probability |", "|---|---|---|"]
        head += [f"| {'**' + n + '**' if i == result.chosen else n} | {_num(o)} | {p:.1%} |"
                 for i, (n, o, p) in enumerate(zip(result.action_names, result.outputs, result.probabilities))]
        note = (f"Attribution: d log π(a | s) / d variable (how one unit more of the variable changes the "
                f"log-probability of each action); the column of the chosen action `{result.action}` is first.")
        order = [result.chosen, *[i for i in range(len(result.action_names)) if i != result.chosen]]
    else:
        head = ["| action dimension | formula | clipped |", "|---|---|---|"]
        head += [f"| {n} | {_num(o)} | {_num(c)} |" for n, o, c in zip(result.action_names, result.outputs, result.clipped or ())]
        note = "Attribution: d action / d variable (before clipping)."
        order = list(range(len(result.action_names)))
    table = ["| variable | value | " + " | ".join(f"∂/∂ → {result.action_names[a]}" for a in order) + " |",
             "|---|---|" + "---|" * len(order)]
    for name, value, row in zip(result.variables, result.values, result.attributions):
        table.append(f"| `{name}` | {value:.4g} | " + " | ".join(_num(row[a]) for a in order) + " |")
    return "\n".join(head) + "\n\n" + note + "\n\n" + "\n".join(table)
