"""Tune callbacks: TensorBoard events with `group/metric` tags, and stage progress on the terminal."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from ray.tune.callback import Callback
from ray.tune.logger import TBXLoggerCallback


class GroupedTensorBoardCallback(TBXLoggerCallback):
    """Writes each numeric `group/metric` result under exactly that tag (Tune's own logger prefixes `ray/tune/`).

    Subclassing Tune's TensorBoard logger keeps Tune from adding its own beside it.
    """

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        step = result.get("training_iteration", iteration)
        writer = self._trial_writer[trial]
        final = result.get("stage") == "done"  # the final row repeats every metric: only its times are new
        for key, value in result.items():
            if final and not key.startswith("time/"):
                continue
            if "/" not in key:
                continue
            if isinstance(value, numbers.Number) and not isinstance(value, bool):
                writer.add_scalar(key, float(value), global_step=step)
            elif isinstance(value, str):  # formulas and programs (e.g. text/best_program): the Text tab
                writer.add_text(key, value, global_step=step)
        writer.flush()


class StageProgressCallback(Callback):
    """One terminal line per reported result: trial, stage and how far it is."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        stage = result.get("stage", "?")
        try:
            line = _progress(stage, result)
        except (TypeError, ValueError, KeyError):  # a row this line does not know: the run must go on regardless
            line = "  ".join(f"{k.split('/', 1)[1]}={v}" for k, v in result.items()
                             if k.startswith(f"{stage}/") and isinstance(v, (int, float)))[:200]
        self.write(f"{_label(trial, trials)} {stage:<8} {line}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.write(f"{_label(trial, trials)} FAILED: see {trial.local_path}/error.txt")


def _label(trial: Any, trials: list) -> str:
    """`[seed 0]`, plus the trial number when a search runs several trials per seed."""
    seed = trial.config.get("seed", "?")
    if len(trials) > len({t.config.get("seed") for t in trials}):
        return f"[seed {seed} #{str(trial.trial_id).rsplit('_', 1)[-1]}]"
    return f"[seed {seed}]"


def _progress(stage: str, result: dict) -> str:
    get = lambda key: result.get(f"{stage}/{key}")
    if stage == "done":
        return "all stages finished"
    if f"time/{stage}_s" in result:
        return f"finished in {result[f'time/{stage}_s']:.1f} s"
    if stage == "teacher" and get("best_return") is not None:  # algorithm CEM
        return (f"iteration {get('iteration')}/{get('max_iterations')}  population mean={get('return_mean'):.1f}"
                f"  best={get('best_return'):.1f}  {get('episodes')} episodes")
    if stage == "teacher":
        return f"iteration {get('iteration')}/{get('max_iterations')}  return_mean={get('return_mean'):.1f}  steps={get('env_steps')}"
    if stage == "collect" and get("chunks_total") is not None and get("episodes") is None:
        return f"chunk {get('chunks_done')}/{get('chunks_total')}"
    if stage == "collect":
        return f"{get('episodes')} episodes, {get('samples')} samples, teacher return {get('teacher_return_mean'):.1f}"
    if stage == "symbolic" and result.get("vae/step") is not None:  # karel_vae
        return (f"VAE step {int(result['vae/step'])}  val token accuracy={result.get('vae/val_token_accuracy', 0.0):.3f}"
                f"  val programs exact={result.get('vae/val_program_accuracy', 0.0):.3f}  ({result.get('vae/steps_per_s', 0.0):.1f} steps/s)")
    if stage == "symbolic" and result.get("vae/dataset_programs") is not None:
        return f"program dataset: {int(result['vae/dataset_programs'])} programs in {result['vae/dataset_seconds']:.1f} s"
    if stage == "symbolic" and get("kan_step") is not None:
        return f"KAN step {int(get('kan_step')) + 1}  train_loss={get('kan_train_loss'):.4g}"
    if stage == "symbolic" and get("distilled_return_mean") is not None and get("complexity") is None:
        return f"warm start: distilled formulas return {get('distilled_return_mean'):.1f}, complexity {get('distilled_complexity')}"
    if stage == "finetune" and get("best_fitness") is not None:  # constants_cem
        return (f"iteration {get('iteration')}/{get('iterations')}  best_fitness={get('best_fitness'):.2f}"
                f"  population_mean={get('population_mean'):.1f}  {int(get('evaluations'))} scored")
    if stage == "finetune" and get("iteration") is not None:
        return (f"iteration {get('iteration')}/{get('iterations')}  return_mean={get('return_mean'):.1f}"
                f"  supervision_weight={get('supervision_weight') or 0.0:.3g}")
    if stage == "finetune" and get("return_after") is not None:
        kept = "tuned constants kept" if get("accepted") else "original constants kept"
        return f"greedy return {get('return_before'):.1f} -> {get('return_after'):.1f} ({kept})"
    if stage == "symbolic" and result.get("search/best_fitness") is not None:  # gp_search
        return (f"generation {int(result['search/generation']) + 1}  best_fitness={result['search/best_fitness']:.2f}"
                f"  {int(result['search/evaluations'])} scored ({result['search/evaluations_per_s']:.1f}/s)")
    if stage == "symbolic" and result.get("search/evaluations") is not None:
        return (f"{int(result['search/evaluations'])} programs scored  best_return={result['search/best_return']:.3f}"
                f"  ({result['search/evaluations_per_s']:.0f}/s)")
    if stage == "symbolic" and get("generation") is not None:
        return f"generation {int(get('generation')) + 1}/{get('generations')}  best_fitness={get('best_fitness'):.4f}"
    if stage == "perceive" and get("mae") is not None:
        return f"coordinate MAE {get('mae'):.4f} (mean-position baseline {get('baseline_mae'):.4f})  F1={get('f1'):.3f}"
    if stage == "perceive" and get("train_step") is not None:
        return f"CNN step {get('train_step')}  loss={get('train_loss'):.4g}"
    if stage == "perceive":
        return f"frame shard {get('shards_done')}/{get('shards_total')}"
    if stage == "symbolic" and get("distillation_loss") is not None:  # insight
        eql = get("eql_return_mean")
        return (f"iteration {get('iteration')}/{get('max_iterations')}  return_mean={get('return_mean'):.1f}"
                f"  distillation={get('distillation_loss'):.3g}" + (f"  eql_return={eql:.1f}" if eql is not None else ""))
    if stage == "symbolic" and get("eql_return_mean") is not None and get("complexity") is not None:  # insight's end
        return (f"complexity {get('complexity')}  neural actor {get('neural_return_mean'):.1f}"
                f"  EQL actor {get('eql_return_mean'):.1f}  formula agreement={get('formula_agreement_neural')}")
    if stage == "symbolic":
        return f"complexity {get('complexity')}  train_agreement={get('train_agreement')}"
    if stage == "evaluate" and get("teacher_return_mean") is None:
        return f"return {get('return_mean'):.3f} ± {get('return_std'):.3f} over {get('episodes')} task instances"
    if stage == "evaluate":
        return f"return {get('return_mean'):.1f} ± {get('return_std'):.1f} (teacher {get('teacher_return_mean'):.1f}) over {get('episodes')} episodes"
    return "done"
