"""The terminal progress lines: every stage row gets a line, and a row the line does not know never stops a run."""

from __future__ import annotations

from types import SimpleNamespace

from nsrl_ray.pipeline.callbacks import StageProgressCallback


def lines_for(result: dict) -> list[str]:
    lines: list[str] = []
    trial = SimpleNamespace(config={"seed": 0}, trial_id="abc_00000")
    StageProgressCallback(lines.append).on_trial_result(0, [trial], trial, result)
    return lines


def test_constants_cem_rows_have_their_own_line():
    (line,) = lines_for({"stage": "finetune", "finetune/iteration": 3, "finetune/iterations": 15,
                         "finetune/best_fitness": -108.25, "finetune/population_mean": -131.4,
                         "finetune/evaluations": 97.0})
    assert "iteration 3/15  best_fitness=-108.25  population_mean=-131.4  97 scored" in line


def test_cem_teacher_rows_show_the_population_and_the_best():
    (line,) = lines_for({"stage": "teacher", "teacher/iteration": 4, "teacher/max_iterations": 30,
                         "teacher/return_mean": -150.25, "teacher/best_return": -104.5, "teacher/episodes": 2660})
    assert "iteration 4/30  population mean=-150.2  best=-104.5  2660 episodes" in line


def test_a_row_missing_what_its_line_formats_falls_back_to_the_numbers():
    # A PPO-style finetune row without return_mean used to raise inside Tune and end the whole experiment.
    (line,) = lines_for({"stage": "finetune", "finetune/iteration": 2, "finetune/iterations": 8})
    assert "iteration=2" in line and "iterations=8" in line
