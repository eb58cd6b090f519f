"""INSIGHT's formulas from a trained module: refit an EQL to the neural actor's actions in recorded states (with
DAgger rounds), prune it on its standardised inputs, refit what the pruning kept, fold the standardisation into raw
coordinates and read one formula per action."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nsrl_ray.rl_modules.insight_rollout import Actor, ActorRollout, export_formulas, prune_for_export
from nsrl_ray.symbolic.eql import EQL, refit_pruned
from nsrl_ray.symbolic.expression import Expr

__all__ = ["ExportedEQL", "RefitSettings", "StudentGames", "distillation_data", "eql_actor", "export_eql",
           "halving_budgets", "prune_gradually", "refit_on_states", "student_games"]


@dataclass(frozen=True)
class RefitSettings:
    """How an EQL is refitted to recorded states (`steps` 0: not at all, as INSIGHT's)."""

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
    rounds: int = 1
    """Refits: the first on the recorded states; each further one after the refitted EQL played fresh games, their
    states (labelled by the neural actor) added to the data (DAgger); with more than one, the best-playing is kept."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.rounds < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"RefitSettings: steps >= 0, rounds >= 1, batch_size >= 1 and lr > 0 expected; got {self}.")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"RefitSettings: holdout_fraction in [0, 1) expected; got {self.holdout_fraction}.")


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


#: Plays an actor on fresh games with `record=True` (round k = 1, 2, ...): where the formulas' own states come from.
StudentGames = Callable[[Actor, int], ActorRollout]


def student_games(module: Any, game: str, seeds: Sequence[int], games_per_round: int, max_steps: int) -> StudentGames:
    """`StudentGames` on `seeds`: round k plays the k-th block of `games_per_round` of them, recording every state."""
    from nsrl_ray.rl_modules.insight_rollout import play_actor

    def play(actor: Actor, round_: int) -> ActorRollout:
        block = list(seeds[(round_ - 1) * games_per_round: round_ * games_per_round])
        if len(block) < games_per_round:
            raise ValueError(f"round {round_} needs seeds {games_per_round * round_}, only {len(seeds)} were given.")
        return play_actor(module, game, actor, block, max_steps, record=True)

    return play


def eql_actor(module: Any, eql: EQL) -> Actor:
    """An actor for `play_actor`: `eql` (reading the module's standardised inputs) on its perceived features."""
    def act(outputs: dict[str, torch.Tensor]) -> Any:
        with torch.no_grad():
            out = eql(module.eql_input_values(outputs["features"]))[0]
        return int(out.argmax()) if module.discrete else out.numpy().astype(np.float32)

    return act


def _split(n: int, refit: RefitSettings) -> int:
    """How many of `n` recorded states are refitted on (the rest are held out)."""
    return max(1, int(round(n * (1.0 - refit.holdout_fraction))))


def _output_scale(module: Any) -> float:
    """What the EQL's outputs are multiplied by to act: the inverse temperature of discrete logits, else 1."""
    return float(module.eql_inverse_temperature) if module.discrete else 1.0


def _targets(module: Any, neural: torch.Tensor) -> tuple[torch.Tensor, str, float]:
    """(targets, loss, output scale) of a refit to the neural actor's outputs."""
    if module.discrete:
        return neural.argmax(-1), "cross_entropy", _output_scale(module)
    return neural, "mse", _output_scale(module)


def halving_budgets(largest: int, max_weights: int) -> list[int]:
    """Weights per layer at each stage of a gradual pruning: halved from `largest` down to `max_weights`."""
    budgets, n = [], largest
    while n > max_weights:
        n = max(max_weights, n // 2)
        budgets.append(n)
    return budgets


def prune_gradually(module: Any, eql: EQL, threshold: float, max_weights: int,
                    data: tuple[torch.Tensor, torch.Tensor], refit: RefitSettings) -> tuple[EQL, dict[str, float]]:
    """A copy of `eql` pruned to `max_weights` a layer in halvings, the kept weights refitted (`refit.steps` // 2
    Adam steps on the training part of `data`) after each: pruning everything at once drops weights whose work
    the others could have taken over. Pong, the final module of a 2h run, 96 weights a layer, refitted: held-out
    agreement 0.646 in halvings against 0.609 at once, and 4 of 10 games won against 2; at 24 both lost them all."""
    pruned = prune_for_export(eql, threshold)
    features, neural = data
    split = _split(len(features), refit)
    inputs = module.eql_input_values(features)[:split]
    targets, loss, scale = _targets(module, neural[:split])
    largest = max(int((linear.weight_mask > 0).sum()) for linear in pruned.linears())
    budgets = halving_budgets(largest, max_weights)
    for k, budget in enumerate(budgets):
        pruned = prune_for_export(pruned, 0.0, budget)
        refit_pruned(pruned, inputs, targets, steps=max(1, refit.steps // 2), lr=refit.lr, loss=loss,
                     output_scale=scale, batch_size=refit.batch_size, seed=refit.seed + 1000 + k)
    return pruned, {"export_prune_stages": float(len(budgets))}


def refit_on_states(module: Any, eql: EQL, data: tuple[torch.Tensor, torch.Tensor], refit: RefitSettings,
                    play_student: StudentGames | None = None) -> dict[str, float]:
    """Train `eql` (on the module's standardised inputs; its masks hold pruned weights at 0) on `data` = (features,
    neural outputs), in place; returns the held-out agreement with the neural actor before (`agreement_before`) and
    after (`agreement`), the data sizes, losses and, per DAgger round, the student's return.

    Discrete actions: cross-entropy on the neural argmax at the actor's inverse temperature; continuous: MSE on
    the neural means. With `refit.rounds` > 1, after each refit k `eql` plays games of its own (`play_student(actor,
    k)`, return `student_return_k`) whose states, labelled by the neural actor, join the data of the next refit
    (DAgger): a cloned policy's mistakes take it where its teacher never goes (the EQL of a Pong run that lost 21-0
    sat at the bottom of the screen). The refit whose games scored best is kept (`selected`: its k)."""
    features, neural = data
    inputs = module.eql_input_values(features)
    split = _split(len(inputs), refit)
    held = slice(split, None)
    measured = module.discrete and len(inputs) > split
    metrics = {"states": float(split), "heldout_states": float(len(inputs) - split)}
    if measured:
        metrics["agreement_before"] = _agreement(eql, inputs[held], neural[held])
    if refit.steps == 0:
        return metrics
    targets, loss, scale = _targets(module, neural)
    train_x, train_y = inputs[:split], targets[:split]
    if refit.rounds > 1 and play_student is None:
        raise ValueError(f"refit.rounds = {refit.rounds} needs play_student, to play the formulas.")
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    for k in range(1, refit.rounds + 1):
        fit = refit_pruned(eql, train_x, train_y, steps=refit.steps, lr=refit.lr, loss=loss, output_scale=scale,
                           batch_size=refit.batch_size, seed=refit.seed + k - 1)
        if k == 1:
            metrics["loss_before"] = fit["loss_before"]
        if refit.rounds == 1:
            break
        run = play_student(eql_actor(module, eql), k)
        score = float(np.mean(run.returns))
        metrics[f"student_return_{k}"] = score
        if best is None or score > best[0]:
            best = (score, k, copy.deepcopy(eql.state_dict()))
        if k < refit.rounds:
            new_features, new_neural = distillation_data([run])
            train_x = torch.cat([train_x, module.eql_input_values(new_features)])
            train_y = torch.cat([train_y, _targets(module, new_neural)[0]])
    if best is not None:
        # Why keep the best round: an EQL cloned from a Pong actor either won or lost 21-0 from one round to the
        # next (5 games each: -20.2, 1.2, -21.0, 19.2), so the last refit is no better a bet than any.
        eql.load_state_dict(best[2])
        metrics["selected"] = float(best[1])
    metrics.update({"loss": fit["loss"], "states": float(len(train_x))})
    if measured:
        metrics["agreement"] = _agreement(eql, inputs[held], neural[held])
    return metrics


def export_eql(module: Any, threshold: float, max_weights: int | None, digits: int,
               data: tuple[torch.Tensor, torch.Tensor] | None = None,
               refit: RefitSettings = RefitSettings(), play_student: StudentGames | None = None,
               source: EQL | None = None, gradual: bool = False) -> ExportedEQL:
    """Prune `source` (default: the module's EQL) on its standardised inputs (in raw units a nearly constant
    coordinate's weights look largest), with `gradual` (and `data`, `max_weights` and refit steps) in halvings
    refitted in between (`prune_gradually`), refit the kept weights on `data` (`refit_on_states`; its metrics come
    back prefixed `refit_`), then fold the standardisation in and read one formula per output."""
    source = module.eql if source is None else source
    metrics: dict[str, float] = {}
    if gradual and data is not None and max_weights is not None and refit.steps > 0:
        pruned, stages = prune_gradually(module, source, threshold, max_weights, data, refit)
        metrics.update(stages)
    else:
        pruned = prune_for_export(source, threshold, max_weights)
    if data is not None:
        metrics.update({f"refit_{k}": v for k, v in refit_on_states(module, pruned, data, refit, play_student).items()})
    folded = module.eql_in_input_units(pruned)
    return ExportedEQL(folded, export_formulas(folded, digits, _output_scale(module)), metrics)
