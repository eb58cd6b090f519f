"""The stages of a trial, by name, in the order they run."""

from __future__ import annotations

from collections.abc import Callable

from nsrl_ray.pipeline.context import StageContext


def stage_runner(name: str) -> Callable[[StageContext], dict]:
    """The function that runs stage ``name``; imported lazily so a stage's heavy imports stay its own."""
    if name == "teacher":
        from nsrl_ray.pipeline.stages.teacher import run_teacher as run
    elif name == "collect":
        from nsrl_ray.pipeline.stages.collect import run_collect as run
    elif name == "perceive":
        from nsrl_ray.pipeline.stages.perceive import run_perceive as run
    elif name == "symbolic":
        from nsrl_ray.pipeline.stages.symbolic import run_symbolic as run
    elif name == "finetune":
        from nsrl_ray.pipeline.stages.finetune import run_finetune as run
    elif name == "evaluate":
        from nsrl_ray.pipeline.stages.evaluate import run_evaluate as run
    elif name == "explain":
        from nsrl_ray.pipeline.stages.explain import run_explain as run
    elif name == "report":
        from nsrl_ray.pipeline.stages.report import run_report as run
    else:
        raise ValueError(f"unknown stage {name!r}")
    return run
