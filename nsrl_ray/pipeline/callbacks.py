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
        for key, value in result.items():
            if "/" in key and isinstance(value, numbers.Number) and not isinstance(value, bool):
                writer.add_scalar(key, float(value), global_step=step)
        writer.flush()


class StageProgressCallback(Callback):
    """One terminal line per reported result: trial, stage and how far it is."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        stage = result.get("stage", "?")
        seed = trial.config.get("seed", "?")
        self.write(f"[seed {seed}] {stage:<8} {_progress(stage, result)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.write(f"[seed {trial.config.get('seed', '?')}] FAILED: see {trial.local_path}/error.txt")


def _progress(stage: str, result: dict) -> str:
    get = lambda key: result.get(f"{stage}/{key}")
    if stage == "teacher":
        return f"iteration {get('iteration')}/{get('max_iterations')}  return_mean={get('return_mean'):.1f}  steps={get('env_steps')}"
    if stage == "collect" and get("chunks_total") is not None and get("episodes") is None:
        return f"chunk {get('chunks_done')}/{get('chunks_total')}"
    if stage == "collect":
        return f"{get('episodes')} episodes, {get('samples')} samples, teacher return {get('teacher_return_mean'):.1f}"
    if stage == "symbolic" and get("generation") is not None:
        return f"generation {int(get('generation')) + 1}/{get('generations')}  best_fitness={get('best_fitness'):.4f}"
    if stage == "symbolic":
        return f"complexity {get('complexity')}  train_agreement={get('train_agreement')}"
    if stage == "evaluate":
        return f"return {get('return_mean'):.1f} ± {get('return_std'):.1f} (teacher {get('teacher_return_mean'):.1f}) over {get('episodes')} episodes"
    return "done"
