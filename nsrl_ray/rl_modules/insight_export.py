"""INSIGHT's formulas from a trained module: prune the standardised EQL, refit what the pruning kept on the neural
actor's actions in recorded states, fold the standardisation into raw coordinates, read one formula per action."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nsrl_ray.rl_modules.insight_rollout import ActorRollout, export_formulas, prune_for_export
from nsrl_ray.symbolic.eql import EQL, refit_pruned
from nsrl_ray.symbolic.expression import Expr

__all__ = ["ExportedEQL", "RefitSettings", "distillation_data", "export_eql"]


@dataclass(frozen=True)
class RefitSettings:
    """How the pruned EQL is refitted before export (`steps` 0: plain pruning, as INSIGHT's)."""

    steps: int = 2000
    """Adam steps on the kept weights."""
    lr: float = 1e-2
    """Adam learning rate."""
    batch_size: int = 1024
    """Recorded states per step."""
    holdout_fraction: float = 0.2
    """The last share of the recorded states, kept out of the refit to measure agreement on."""
    seed: int = 0
    """Seeds the minibatches."""


@dataclass
class ExportedEQL:
    """The exported EQL (pruned, refitted, reading raw coordinates), its formulas and what the export measured."""

    eql: EQL
    formulas: tuple[Expr, ...]
    metrics: dict[str, float] = field(default_factory=dict)


def distillation_data(rollouts: Sequence[ActorRollout]) -> tuple[torch.Tensor, torch.Tensor]:
    """(perceived features N×F, the neural actor's outputs N×A) of every state recorded in `rollouts`, in order."""
    features = [np.asarray(f) for r in rollouts for f in r.features]
    neural = [np.asarray(n) for r in rollouts for n in r.neural]
    if not features:
        raise ValueError("no recorded states: play the actors with record=True before refitting the formulas.")
    return torch.as_tensor(np.stack(features), dtype=torch.float32), torch.as_tensor(np.stack(neural), dtype=torch.float32)


def _agreement(eql: EQL, inputs: torch.Tensor, neural: torch.Tensor) -> float:
    with torch.no_grad():
        return float((eql(inputs).argmax(-1) == neural.argmax(-1)).float().mean())


def export_eql(module: Any, threshold: float, max_weights: int | None, digits: int,
               data: tuple[torch.Tensor, torch.Tensor] | None = None,
               refit: RefitSettings = RefitSettings()) -> ExportedEQL:
    """Prune `module`'s EQL on its standardised inputs (in raw units a nearly constant coordinate's weights look
    largest), refit the kept weights on `data` = (features, neural outputs) when `refit.steps` > 0, then fold the
    standardisation in and export. Discrete actions: cross-entropy on the neural argmax at the actor's inverse
    temperature; continuous: MSE on the neural means. With `data`, the metrics give the held-out agreement with
    the neural actor before the refit (`refit_agreement_before`) and after it (`refit_agreement`)."""
    pruned = prune_for_export(module.eql, threshold, max_weights)
    metrics: dict[str, float] = {}
    if data is not None:
        features, neural = data
        inputs = (features.index_select(-1, module.eql_inputs) - module.eql_input_shift) / module.eql_input_scale
        split = max(1, int(round(len(inputs) * (1.0 - refit.holdout_fraction))))
        train, held = slice(0, split), slice(split, None)
        measured = module.discrete and len(inputs) > split
        metrics.update({"refit_states": float(split), "refit_heldout_states": float(len(inputs) - split)})
        if measured:
            metrics["refit_agreement_before"] = _agreement(pruned, inputs[held], neural[held])
        if refit.steps > 0:
            if module.discrete:
                targets, loss, scale = neural.argmax(-1), "cross_entropy", float(module.eql_inverse_temperature)
            else:
                targets, loss, scale = neural, "mse", 1.0
            fit = refit_pruned(pruned, inputs[train], targets[train], steps=refit.steps, lr=refit.lr, loss=loss,
                               output_scale=scale, batch_size=refit.batch_size, seed=refit.seed)
            metrics.update({"refit_loss_before": fit["loss_before"], "refit_loss": fit["loss"]})
            if measured:
                metrics["refit_agreement"] = _agreement(pruned, inputs[held], neural[held])
    folded = module.eql_in_input_units(pruned)
    scale = float(module.eql_inverse_temperature) if module.discrete else 1.0
    return ExportedEQL(folded, export_formulas(folded, digits, scale), metrics)
