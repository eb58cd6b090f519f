"""The explorer's logic without Gradio: loading runs (good, half-written, corrupt), formulas as maths, what-if,
Karel traces, the extract job's bookkeeping, and `nsrl ui`'s refusal of bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.symbolic.text import parse_expression
from nsrl_ray.ui import extract
from nsrl_ray.ui.karel_view import program_trace, step_html, trace_text
from nsrl_ray.ui.policy_view import (
    DEFAULT_RANGE,
    WhatIfError,
    explanation_markdown,
    formula_markdown,
    returns_markdown,
    variable_ranges,
    what_if,
    what_if_markdown,
)
from nsrl_ray.ui.runs import RunLoadError, expand_run_dirs, leaderboard_rows, load_run
from tests.conftest import run_nsrl
from tests.ui.conftest import CARTPOLE, cartpole_card, karel_card, write_trial


# ------------------------------------------------------------------------------------------------ loading
def test_an_experiment_folder_loads_with_its_trials_ranked(formula_run: Path) -> None:
    run = load_run(formula_run)
    assert run.name == "cartpole_gp" and [t.name for t in run.trials] == sorted(p.name for p in formula_run.glob("seed_*"))
    good, other, half = run.trials
    assert good.status == "ok" and good.seed == 0 and isinstance(good.card, PolicyCard)
    assert [p.name for p in good.videos()] == ["video_teacher.gif", "video_symbolic.gif"]
    assert [p.name for p in good.diagrams()] == ["kan_diagram.png"]
    assert half.status == "incomplete" and half.card is None
    assert "no policy card yet" in half.problem and "teacher, collect" in half.problem
    rows = leaderboard_rows(run)
    assert [r[1] for r in rows] == [good.name, other.name, half.name]  # by return, the card-less trial last
    assert rows[0][3:7] == ["ok", "120", "200", "90.0%"] and "push_right = " in rows[0][8]
    assert rows[2][3] == "incomplete" and "no policy card yet" in rows[2][8]
    assert "env: CartPole-v1" in run.experiment_yaml


def test_a_trial_folder_an_artifacts_folder_and_a_results_folder_also_load(formula_run: Path) -> None:
    trial = formula_run / "seed_0_aaaaa_00000"
    assert [t.name for t in load_run(trial).trials] == [trial.name]
    only = load_run(trial / "artifacts").trials[0]
    assert only.card is not None and only.name == trial.name
    assert expand_run_dirs([formula_run.parent]) == [formula_run.resolve()]
    assert expand_run_dirs([formula_run, formula_run]) == [formula_run.resolve()]


def test_bad_folders_are_refused_with_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(RunLoadError, match="no such folder.*nsrl_results/quickstart"):
        load_run(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RunLoadError, match="is a file"):
        load_run(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunLoadError, match="no trials found.*seed_\\* trial folders"):
        load_run(tmp_path / "empty")


def test_corrupt_files_become_problems_of_their_trial_not_exceptions(tmp_path: Path) -> None:
    experiment = tmp_path / "exp"
    bad_json = write_trial(experiment, "seed_0_x_00000", cartpole_card())
    (bad_json / "artifacts" / "policy.json").write_text('{"format": "nsrl_ray.policy_card", "vers')
    bad_formula = write_trial(experiment, "seed_1_x_00001", cartpole_card(), seed=1)
    data = json.loads((bad_formula / "artifacts" / "policy.json").read_text())
    data["actions"][1]["formula"] = "__import__('os').system('echo hacked')"
    (bad_formula / "artifacts" / "policy.json").write_text(json.dumps(data))
    bad_eval = write_trial(experiment, "seed_2_x_00002", cartpole_card(), seed=2)
    (bad_eval / "artifacts" / "evaluation.json").write_text("{not json")
    run = load_run(experiment)
    first, second, third = run.trials
    assert first.status == "error" and "not valid JSON" in first.problem
    assert second.status == "error" and "invalid formula" in second.problem
    assert third.status == "ok" and any("evaluation.json is not valid JSON" in n for n in third.notes)
    assert "| symbolic | 120 |" in returns_markdown(third)  # the card's own evaluate/* metrics stand in
    assert len(run.problems) == 2 and len(leaderboard_rows(run)) == 3


# ------------------------------------------------------------------------------------------------ formulas
def test_formulas_render_as_display_maths_per_action(formula_run: Path) -> None:
    trial = load_run(formula_run).trials[0]
    text = formula_markdown(trial.card)
    assert text.count("$$") == 4  # one display equation per action
    assert r"\mathit{push\_right} = " in text and r"\mathit{pole\_angular\_velocity}" in text
    assert "largest logit" in text
    table = returns_markdown(trial)
    assert "| symbolic | 120 |" in table and "| teacher | 200 |" in table and "agreement with the teacher 90.0%" in table


def test_explanations_and_their_faithfulness_table(tmp_path: Path) -> None:
    trial_dir = write_trial(tmp_path / "exp", "seed_0_x_00000", cartpole_card())
    artifacts = trial_dir / "artifacts"
    (artifacts / "explanation.md").write_text("# Why\n\nRaising `pole_angle` favours `push_right`.\n")
    words = {"policy": [{"label": "push_right", "faithfulness": {
        "ok": False, "names_checked": 2, "numbers_checked": 1, "claims_checked": 1,
        "violations": [{"kind": "direction", "text": "x", "detail": "says raises, gradient is negative"}]}}]}
    (artifacts / "explanation.json").write_text(json.dumps({"summary": "s", "words": words}))
    (artifacts / "explanation_llm.json").write_text("{broken")
    text = explanation_markdown(load_run(trial_dir).trials[0])
    assert "### Why" in text and "favours `push_right`" in text  # headings demoted under the page's
    assert "| policy | push_right | violations | 2 | 1 | 1 | says raises, gradient is negative |" in text
    assert "**Error:** explanation_llm.json is corrupt" in text


# ------------------------------------------------------------------------------------------------ what-if
def test_slider_ranges_come_from_the_dataset_and_the_env(formula_run: Path, tmp_path: Path) -> None:
    trial = load_run(formula_run).trials[0]
    obs = np.load(trial.artifacts / "dataset" / "shard_0000.npz")["obs"]
    ranges = variable_ranges(trial.card, trial.artifacts)
    assert [r.name for r in ranges] == list(CARTPOLE.feature_names)
    for j, r in enumerate(ranges):
        env_low, env_high = CARTPOLE.feature_ranges[j]
        assert r.low == min(env_low, obs[:, j].min()) and r.high == max(env_high, obs[:, j].max())
        assert r.value == pytest.approx(np.median(obs[:, j])) and r.source == "dataset + env"
        assert r.step == pytest.approx((r.high - r.low) / 200)
    # No dataset: the explanation's statistics; nothing at all (an unknown env): the default range.
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "explanation.json").write_text(json.dumps({"variables": [{"name": "pole_angle", "mean": 0.1, "std": 0.5}]}))
    by_name = {r.name: r for r in variable_ranges(trial.card, folder)}
    assert (by_name["pole_angle"].low, by_name["pole_angle"].high) == (pytest.approx(-1.4), pytest.approx(1.6))
    assert by_name["pole_angle"].value == pytest.approx(0.1)
    unknown = PolicyCard(env="NoSuchEnv-v0", learner="gp_distill", variables=("a", "b"), action_names=("left", "right"),
                         formulas=(parse_expression("a", variables=("a", "b")), parse_expression("b", variables=("a", "b"))))
    assert [(r.low, r.high, r.value, r.source) for r in variable_ranges(unknown, folder)] == [(*DEFAULT_RANGE, 0.0, "default")] * 2


def test_what_if_gives_the_policys_action_probabilities_and_exact_attributions() -> None:
    card = cartpole_card()
    policy = card.policy()
    state = [0.1, -0.2, 0.05, -0.3]
    result = what_if(card, state)
    assert result.action == "push_left" and result.chosen == 0 == policy(np.array(state))
    np.testing.assert_allclose(result.probabilities, policy.probabilities(np.array(state))[0])
    assert sum(result.probabilities) == pytest.approx(1.0)
    # d log softmax / d x by central differences.
    def log_probs(x):
        return np.log(policy.probabilities(np.array(x))[0])

    for j in range(4):
        up, down = list(state), list(state)
        up[j] += 1e-5
        down[j] -= 1e-5
        np.testing.assert_allclose(result.attributions[j], (log_probs(up) - log_probs(down)) / 2e-5, atol=1e-6)
    # Raising the pole's angular velocity past the boundary 2 w + 3 a + 0.1 v = 0 flips the action.
    assert what_if(card, [0.1, -0.2, 0.05, 0.2]).action == "push_right"
    text = what_if_markdown(result)
    assert "| **push_left** |" in text and "| `pole_angular_velocity` | -0.3 |" in text


def test_what_if_refuses_values_that_do_not_fit() -> None:
    card = cartpole_card()
    with pytest.raises(WhatIfError, match="got 3 values for 4 variables"):
        what_if(card, [0.0, 0.0, 0.0])
    with pytest.raises(WhatIfError, match="pole_angle = 'abc' is not a number"):
        what_if(card, [0.0, 0.0, "abc", 0.0])
    with pytest.raises(WhatIfError, match="not a finite number"):
        what_if(card, [0.0, float("nan"), 0.0, 0.0])


def test_what_if_on_a_continuous_policy_clips_to_the_bounds() -> None:
    variables = ("cos_pendulum_angle", "sin_pendulum_angle", "pendulum_angular_velocity")
    card = PolicyCard(env="Pendulum-v1", learner="kan", variables=variables, action_names=("torque",),
                      formulas=(parse_expression("-3.0 * sin_pendulum_angle - pendulum_angular_velocity", variables=variables),),
                      action_kind="continuous", action_low=(-2.0,), action_high=(2.0,))
    result = what_if(card, [1.0, 1.0, 0.5])
    assert result.outputs == (pytest.approx(-3.5),) and result.clipped == (-2.0,) and result.probabilities is None
    assert result.action == "torque = -2"
    np.testing.assert_allclose(np.array(result.attributions)[:, 0], [0.0, -3.0, -1.0])
    assert "| torque | -3.5 | -2 |" in what_if_markdown(result)


# ------------------------------------------------------------------------------------------------ karel
def test_a_program_trace_steps_through_every_state() -> None:
    card = karel_card()
    trace = program_trace(card, 3)
    score, recorded = card.policy().trace(3)
    assert trace.score == score == 1.0 and trace.stop == "end"
    assert list(trace.actions) == [a for a, *_ in recorded] and len(trace.states) == len(trace.actions) + 1
    assert [s.agent for s in trace.states[1:]] == [tuple(r[1:]) for r in recorded]
    html = step_html(trace, 2)
    assert "step 2 / " in html and "<table class='karel-grid'" in html and "↑→↓←"[trace.states[2].agent[2]] in html
    assert "step 0 / " in step_html(trace, -5) and f"step {len(trace.actions)} / " in step_html(trace, 10**6)
    assert "▶    2 move" in trace_text(trace, 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        program_trace(card, -1)


# ------------------------------------------------------------------------------------------------ extract
def test_extract_knows_its_files_and_refuses_unknown_choices() -> None:
    assert extract.config_for("CartPole-v1", "kan").name == "kan_cartpole.yaml"
    with pytest.raises(extract.ExtractError, match="environment 'Pong' is not offered"):
        extract.config_for("Pong", "gp")
    with pytest.raises(extract.ExtractError, match="learner 'eql' is not offered"):
        extract.config_for("CartPole-v1", "eql")


def test_extract_progress_follows_the_stage_lines(tmp_path: Path) -> None:
    job = extract.ExtractJob("CartPole-v1", "gp", tmp_path, smoke=True)
    assert job.command[3:5] == ["run", str(extract.TUNE_CONFIGS / "gp_cartpole.yaml")] and "--smoke" in job.command
    assert "stages.report.video=true" in job.command and job.experiment_dir.parent.parent == tmp_path.resolve()
    stages = len(job.stages)
    job._process = object()  # as if started; no process runs in this test
    job.lines = ["running gp_cartpole", "[seed 0] teacher  iteration 1/2  return_mean=20.0  steps=400"]
    assert job.progress().fraction == pytest.approx(0.5 / stages) and "iteration 1/2" in job.progress().message
    job.lines.append("[seed 0] teacher  finished in 3.0 s")
    assert job.progress().fraction == pytest.approx(1 / stages)
    job.returncode = 3
    job._process = None
    assert "failed (exit code 3)" in job.progress().message


# ------------------------------------------------------------------------------------------------ cli
def test_nsrl_ui_refuses_bad_arguments_with_exit_code_2(tmp_path: Path) -> None:
    missing = run_nsrl("ui", str(tmp_path / "nope"), timeout=120)
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    port = run_nsrl("ui", str(tmp_path), "--port", "70000", timeout=120)
    assert port.returncode == 2 and "--port 70000: expected a port number in 1..65535" in port.stderr


def test_the_logic_imports_neither_gradio_nor_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, nsrl_ray.ui.runs, nsrl_ray.ui.policy_view, nsrl_ray.ui.karel_view, nsrl_ray.ui.extract, "
            "nsrl_ray.ui.command, nsrl_ray.cli.main\nprint('gradio' in sys.modules, 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
