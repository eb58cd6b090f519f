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
        self.write(f"{_label(trial, trials)} {stage:<8} {_progress(stage, result)}")

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
    if stage == "teacher":
        return f"iteration {get('iteration')}/{get('max_iterations')}  return_mean={get('return_mean'):.1f}  steps={get('env_steps')}"
    if stage == "collect" and get("chunks_total") is not None and get("episodes") is None:
        return f"chunk {get('chunks_done')}/{get('chunks_total')}"
    if stage == "collect":
        return f"{get('episodes')} episodes, {get('samples')} samples, teacher return {get('teacher_return_mean'):.1f}"
    if stage == "symbolic" and get("kan_step") is not None:
        return f"KAN step {int(get('kan_step')) + 1}  train_loss={get('kan_train_loss'):.4g}"
    if stage == "symbolic" and get("distilled_return_mean") is not None and get("complexity") is None:
        return f"warm start: distilled formulas return {get('distilled_return_mean'):.1f}, complexity {get('distilled_complexity')}"
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
    if stage == "symbolic":
        return f"complexity {get('complexity')}  train_agreement={get('train_agreement')}"
    if stage == "evaluate" and get("teacher_return_mean") is None:
        return f"return {get('return_mean'):.3f} ± {get('return_std'):.3f} over {get('episodes')} task instances"
    if stage == "evaluate":
        return f"return {get('return_mean'):.1f} ± {get('return_std'):.1f} (teacher {get('teacher_return_mean'):.1f}) over {get('episodes')} episodes"
    return "done"
