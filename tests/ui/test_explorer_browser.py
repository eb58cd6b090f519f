"""The explorer in a real browser: Debian's Chromium driven by Playwright, headless, against the app on 127.0.0.1.

Set NSRL_UI_SCREENSHOTS=docs to refresh the README's screenshots (docs/explorer.png, docs/explorer_whatif.png)
from the quickstart test; otherwise every screenshot goes to the test's tmp_path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nsrl_ray.ui.policy_view import variable_ranges, what_if
from nsrl_ray.ui.runs import load_run
from tests.conftest import REPO
from tests.ui.conftest import free_port

# Gradio's Dataframe calls pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

expect = pytest.importorskip("playwright.sync_api", reason="Playwright is a dev dependency: pip install -e .[dev]").expect


def choose(page, dropdown: str, option: str) -> None:
    """Pick the option of a Gradio dropdown whose label contains ``option``."""
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option).first.click()


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _flip(run: Path) -> tuple[int, float, str, str]:
    """A slider and a value that change the quickstart policy's action from its start state (found in Python)."""
    trial = next(t for t in load_run(run).trials if t.card is not None)
    ranges = variable_ranges(trial.card, trial.artifacts)
    start = [r.value for r in ranges]
    result = what_if(trial.card, start)
    before = result.action
    # The most influential variable first (largest |d log pi(a|s) / d x| of the chosen action).
    order = sorted(range(len(ranges)), key=lambda j: -abs(result.attributions[j][result.chosen or 0]))
    for j in order:
        r = ranges[j]
        for value in (r.low, r.high):
            after = what_if(trial.card, start[:j] + [value] + start[j + 1:]).action
            if after != before:
                return j, value, before, after
    raise AssertionError(f"no single slider changes the action of {trial.card_path}: {trial.card.formulas}")


@pytest.mark.ray  # the quickstart_run fixture runs `nsrl run --smoke` once per session
def test_quickstart_run_formulas_videos_and_what_if(serve, quickstart_run: Path, page, tmp_path: Path) -> None:
    app = serve([quickstart_run])
    page.goto(app.url)
    expect(page.locator("#run-summary")).to_contain_text("quickstart")
    expect(page.locator("#leaderboard")).to_contain_text("seed_0_")
    page.screenshot(path=tmp_path / "runs.png")

    tab(page, "Policy")
    expect(page.locator("#formulas .katex").first).to_be_visible()  # the formulas are typeset maths
    expect(page.locator("#formulas")).to_contain_text("push_right")
    expect(page.locator("#returns")).to_contain_text("teacher")
    expect(page.locator("#videos img").first).to_be_visible()  # video_teacher.gif and video_symbolic.gif
    expect(page.locator("#explanation")).to_contain_text("Faithfulness report")
    expect(page.locator("#explorer-error")).to_have_text("")
    page.screenshot(path=tmp_path / "policy.png")
    docs = os.environ.get("NSRL_UI_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(docs) / "explorer.png")

    tab(page, "What-if")
    slider, value, before, after = _flip(quickstart_run)
    action = page.locator("#whatif-action")
    expect(action).to_have_text(f"Action: {before}")
    box = page.locator(f"#whatif-slider-{slider} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    expect(action).to_have_text(f"Action: {after}")  # the displayed action changed
    expect(page.locator("#whatif-table")).to_contain_text("d log π(a | s) / d variable")
    page.screenshot(path=tmp_path / "whatif.png")
    if docs:
        page.screenshot(path=Path(docs) / "explorer_whatif.png")
    # Dragging the range back moves the decision back.
    trial = next(t for t in load_run(quickstart_run).trials if t.card is not None)
    start = variable_ranges(trial.card, trial.artifacts)[slider]
    page.locator(f"#whatif-slider-{slider} input[type=range]").fill(str(start.value))
    expect(action).to_have_text(f"Action: {before}")
    assert (tmp_path / "whatif.png").stat().st_size > 10_000


def test_bad_and_half_written_runs_show_errors_in_the_page(serve, browser_runs: dict[str, Path], page, tmp_path: Path) -> None:
    app = serve([browser_runs[k] for k in ("good", "half", "corrupt", "empty", "karel")])
    page.goto(app.url)
    error = page.locator("#explorer-error")
    expect(page.locator("#run-summary")).to_contain_text("cartpole_gp")
    tab(page, "Policy")
    expect(page.locator("#formulas .katex").first).to_be_visible()
    expect(page.locator("#videos img")).to_have_count(2)
    expect(page.locator("#diagram img")).to_be_visible()

    tab(page, "Runs")
    choose(page, "#run-select", "half_written")
    expect(error).to_contain_text("no policy card yet")
    expect(page.locator("#leaderboard")).to_contain_text("incomplete")
    page.screenshot(path=tmp_path / "half_written.png")
    choose(page, "#run-select", "corrupt_card")
    expect(error).to_contain_text("not valid JSON")
    choose(page, "#run-select", "not_a_run")
    expect(error).to_contain_text("no trials found")
    page.locator("#open-path textarea, #open-path input").first.fill(str(browser_runs["empty"] / "missing"))
    page.locator("#open-button").click()
    expect(error).to_contain_text("no such folder")
    page.screenshot(path=tmp_path / "errors.png")

    # The app is still up: a good run shows again and the error goes away.
    choose(page, "#run-select", "cartpole_gp")
    expect(error).to_have_text("")
    tab(page, "What-if")
    expect(page.locator("#whatif-action")).to_contain_text("Action: push_")


def test_karel_program_steps_on_the_grid(serve, browser_runs: dict[str, Path], page, tmp_path: Path) -> None:
    app = serve([browser_runs["karel"]])
    page.goto(app.url)
    tab(page, "Policy")
    expect(page.locator("#formulas")).to_contain_text("noMarkersPresent")
    tab(page, "Karel program")
    caption = page.locator("#karel-caption")
    expect(caption).to_contain_text("step 0 / 8: start")
    expect(page.locator("#karel-grid table.karel-grid")).to_be_visible()
    page.locator("#karel-next").click()
    expect(caption).to_contain_text("step 1 / 8: turnLeft")
    page.locator("#karel-next").click()
    expect(caption).to_contain_text("step 2 / 8: move")
    page.screenshot(path=tmp_path / "karel.png")
    page.locator("#karel-back").click()
    expect(caption).to_contain_text("step 1 / 8")


def test_nsrl_ui_serves_on_127_0_0_1(browser_runs: dict[str, Path]) -> None:
    """The real command in a subprocess: bound to 127.0.0.1, serves the page, stops on Ctrl-C."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "nsrl_ray.cli.main", "ui", str(browser_runs["good"]), "--port", str(port)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 90, ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "nsrl policy explorer" in body, process.stdout.read() if process.poll() is not None else "no page"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
@pytest.mark.ray
def test_extract_now_runs_in_the_background_and_shows_the_result(serve, page, tmp_path: Path) -> None:
    app = serve([])
    page.goto(app.url)
    expect(page.locator("#explorer-error")).to_contain_text("no run chosen")
    tab(page, "Extract now")
    page.locator("#extract-smoke input").check()
    page.locator("#extract-button").click()
    expect(page.locator("#extract-status")).to_contain_text("Running", timeout=60_000)  # launched
    page.screenshot(path=tmp_path / "extract_running.png")
    expect(page.locator("#extract-status")).to_contain_text("Done", timeout=400_000)
    expect(page.locator("#extract-result .katex").first).to_be_visible()
    expect(page.locator("#extract-result")).to_contain_text("teacher")
    page.screenshot(path=tmp_path / "extract_done.png")
    tab(page, "Runs")
    expect(page.locator("#run-summary")).to_contain_text("gp_cartpole")
    assert app.explorer.jobs and app.explorer.jobs[0].succeeded
