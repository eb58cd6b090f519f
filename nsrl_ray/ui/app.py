"""The Gradio page of the policy explorer: layout and event wiring over nsrl_ray.ui's plain functions.

Every handler catches what a bad folder can throw and shows it in the page (`#explorer-error`),
so a corrupt or half-written run never takes the app down.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# No usage reports, no version check: the explorer needs no network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from nsrl_ray.explain.policy_card import PolicyCard  # noqa: E402
from nsrl_ray.explain.program_card import ProgramCard, program_card_markdown  # noqa: E402
from nsrl_ray.symbolic.karel.program import to_display  # noqa: E402
from nsrl_ray.ui import extract as extract_mod  # noqa: E402
from nsrl_ray.ui.karel_view import program_trace, step_html, trace_text  # noqa: E402
from nsrl_ray.ui.policy_view import (  # noqa: E402
    explanation_markdown,
    formula_markdown,
    metrics_markdown,
    returns_markdown,
    variable_ranges,
    what_if,
    what_if_markdown,
)
from nsrl_ray.ui.runs import (  # noqa: E402
    LEADERBOARD_COLUMNS,
    RunLoadError,
    RunView,
    TrialView,
    expand_run_dirs,
    is_run_dir,
    leaderboard_rows,
    load_run,
)

LOG = logging.getLogger(__name__)
#: Sliders on the what-if panel; a policy with more variables shows the first ones.
MAX_SLIDERS = 24
LATEX = [{"left": "$$", "right": "$$", "display": True}]
#: Explanations (explanation.md) also write inline maths between single dollars.
LATEX_INLINE = [*LATEX, {"left": "$", "right": "$", "display": False}]
CSS = "#whatif-action {font-size: 1.4em;} .karel-grid td {line-height: 1;}"


def _error_md(message: str) -> str:
    return f"**Error:** {message}"


class Explorer:
    """The app's state shared by every browser tab: the run folders, caches of cards and gradients."""

    def __init__(self, run_dirs: list[str | Path], storage: str | Path = "nsrl_results") -> None:
        self.runs: list[Path] = expand_run_dirs(list(run_dirs))
        self.storage = Path(storage)
        self.media = Path(tempfile.mkdtemp(prefix="nsrl_ui_media_"))
        self._gradients: dict[tuple[str, float], Any] = {}
        self._trials: dict[tuple[str, str], tuple[float, TrialView]] = {}
        self._starts: dict[tuple[str, float], list[float]] = {}
        self.jobs: list[extract_mod.ExtractJob] = []

    # -- runs
    def run_choices(self) -> list[tuple[str, str]]:
        return [(f"{p.name}  ({p})", str(p)) for p in self.runs]

    def add_run(self, path: str | Path) -> Path:
        path = Path(path).expanduser()
        path = path.resolve() if path.exists() else path
        load_run(path)  # refuse what cannot be shown before listing it
        if path not in self.runs:
            self.runs.append(path)
        return path

    def run(self, value: str | None) -> RunView:
        if not value:
            raise RunLoadError("no run chosen: start `nsrl ui RUN_DIR` with an experiment folder, or open one below.")
        return load_run(value)  # read again each time: a run that is still going changes

    def trial(self, run_value: str | None, trial_name: str | None, fresh: bool = True) -> TrialView:
        """The trial, read again (``fresh``) or from the last read while its card is unchanged (what-if moves)."""
        key = (str(run_value), str(trial_name))
        cached = self._trials.get(key)
        if not fresh and cached is not None and cached[0] == _mtime(cached[1].card_path):
            return cached[1]
        run = self.run(run_value)
        if not trial_name:
            raise RunLoadError(f"{run.path}: choose a trial.")
        trial = run.trial(trial_name)
        self._trials[key] = (_mtime(trial.card_path), trial)
        return trial

    def start_values(self, trial: TrialView) -> list[float]:
        """The what-if start state (cached per card): for the variables beyond the sliders."""
        key = (str(trial.card_path), _mtime(trial.card_path))
        if key not in self._starts:
            self._starts[key] = [r.value for r in variable_ranges(trial.card, trial.artifacts)]
        return self._starts[key]

    def gradients(self, trial: TrialView) -> Any:
        from nsrl_ray.explain.gradients import FormulaGradients

        key = (str(trial.card_path), _mtime(trial.card_path))
        if key not in self._gradients:
            self._gradients[key] = FormulaGradients(trial.card.policy())
        return self._gradients[key]

    def media_copy(self, path: Path) -> str:
        """A copy in this app's temp folder, which Gradio always may serve (run folders may lie anywhere)."""
        stat = path.stat()
        digest = hashlib.sha1(f"{path.resolve()}:{stat.st_mtime}:{stat.st_size}".encode()).hexdigest()[:12]
        target = self.media / f"{digest}_{path.name}"
        if not target.exists():
            shutil.copy2(path, target)
        return str(target)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _safe(fn: Callable[..., Any], n_outputs: int, error_index: int) -> Callable[..., Any]:
    """Run ``fn``; on any exception put the message in output ``error_index`` and leave the others unchanged."""

    def wrapped(*args: Any) -> Any:
        try:
            result = fn(*args)
        except (RunLoadError, ValueError, TypeError, OSError, KeyError) as error:
            message = str(error) or type(error).__name__
        except Exception as error:  # the page must stay up whatever a folder holds
            LOG.error("explorer: %s", traceback.format_exc())
            message = f"{type(error).__name__}: {error}"
        else:
            return result
        outputs = [gr.update() for _ in range(n_outputs)]
        outputs[error_index] = _error_md(message)
        return tuple(outputs) if n_outputs > 1 else outputs[0]

    return wrapped


def _trial_choices(run: RunView) -> list[tuple[str, str]]:
    return [(t.label, t.name) for t in run.trials]


def _default_trial(run: RunView) -> str | None:
    ok = [t for t in run.trials if t.card is not None]
    return (ok or list(run.trials) or [None])[0].name if run.trials else None


def _run_summary(run: RunView) -> str:
    ok = sum(t.card is not None for t in run.trials)
    lines = [f"### {run.name}", f"`{run.path}` · {len(run.trials)} trial(s), {ok} with a policy card"]
    for trial in run.trials:
        if trial.problem:
            lines.append(f"- **{trial.name}**: {trial.problem}")
        for note in trial.notes:
            lines.append(f"- {trial.name}: {note}")
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if len(lines) > 2 else "")


def build_app(run_dirs: list[str | Path], storage: str | Path = "nsrl_results") -> tuple[gr.Blocks, Explorer]:
    """The explorer page over ``run_dirs`` (experiment folders or results folders holding them)."""
    explorer = Explorer(run_dirs, storage)
    choices = explorer.run_choices()
    with gr.Blocks(title="nsrl policy explorer", analytics_enabled=False) as demo:
        gr.Markdown("# nsrl policy explorer\nFormulas, programs and what they do: pick a run, then a policy.")
        error_md = gr.Markdown("", elem_id="explorer-error")
        with gr.Tabs(elem_id="tabs"):
            # ----------------------------------------------------------------------------- runs
            with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
                with gr.Row():
                    run_dd = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None, label="Run",
                                         elem_id="run-select", scale=3)
                    open_box = gr.Textbox(label="Open another run folder", placeholder="nsrl_results/quickstart",
                                          elem_id="open-path", scale=2)
                    open_btn = gr.Button("Open", elem_id="open-button", scale=0)
                run_md = gr.Markdown(elem_id="run-summary")
                board = gr.Dataframe(headers=list(LEADERBOARD_COLUMNS), value=[], interactive=False, wrap=True,
                                     column_widths=["5%", "17%", "5%", "8%", "7%", "7%", "8%", "8%", "35%"],
                                     label="Leaderboard (by evaluation return)", elem_id="leaderboard")
                board_file_md = gr.Markdown(elem_id="leaderboard-file")
            # ----------------------------------------------------------------------------- policy
            with gr.Tab("Policy", id="policy", elem_id="tab-policy"):
                trial_dd = gr.Dropdown(choices=[], label="Policy (trial)", elem_id="trial-select")
                with gr.Row():
                    with gr.Column(scale=3):
                        formula_md = gr.Markdown(latex_delimiters=LATEX, elem_id="formulas")
                    with gr.Column(scale=2):
                        returns_md = gr.Markdown(elem_id="returns")
                with gr.Row():
                    videos = gr.Gallery(label="Rollout videos (teacher, symbolic policy, overlays)", columns=4,
                                        height=340, object_fit="contain", fit_columns=False, elem_id="videos", visible=False)
                    diagram = gr.Image(label="KAN / EQL diagram", type="filepath", elem_id="diagram", visible=False,
                                       interactive=False)
                with gr.Accordion("Explanations and faithfulness", open=True):
                    explanation_md = gr.Markdown(latex_delimiters=LATEX_INLINE, elem_id="explanation")
                with gr.Accordion("Metrics", open=False):
                    metrics_md = gr.Markdown(elem_id="metrics")
            # ----------------------------------------------------------------------------- what-if
            with gr.Tab("What-if", id="whatif", elem_id="tab-whatif"):
                whatif_note = gr.Markdown(elem_id="whatif-note")
                with gr.Row():
                    with gr.Column(scale=2):
                        sliders = [gr.Slider(label=f"x{i}", visible=False, elem_id=f"whatif-slider-{i}")
                                   for i in range(MAX_SLIDERS)]
                    with gr.Column(scale=3):
                        action_md = gr.Markdown(elem_id="whatif-action")
                        probs = gr.Label(label="Action probabilities", elem_id="whatif-probs")
                        whatif_md = gr.Markdown(elem_id="whatif-table")
            # ----------------------------------------------------------------------------- karel
            with gr.Tab("Karel program", id="karel", elem_id="tab-karel"):
                karel_note = gr.Markdown("_Choose a Karel run's policy to step its program on the grid._", elem_id="karel-note")
                with gr.Row():
                    with gr.Column(scale=2):
                        program_code = gr.Code(label="Program", language="python", interactive=False, elem_id="karel-program")
                        instance = gr.Number(value=0, precision=0, minimum=0, label="Task instance (seed)", elem_id="karel-instance")
                        step = gr.Slider(0, 1, value=0, step=1, label="Step", elem_id="karel-step")
                        with gr.Row():
                            back_btn = gr.Button("◀ step", elem_id="karel-back")
                            next_btn = gr.Button("step ▶", elem_id="karel-next")
                        trace_box = gr.Code(label="Trace", interactive=False, elem_id="karel-trace")
                    with gr.Column(scale=3):
                        grid = gr.HTML(elem_id="karel-grid")
                trace_state = gr.State(None)
            # ----------------------------------------------------------------------------- extract
            with gr.Tab("Extract now", id="extract", elem_id="tab-extract"):
                gr.Markdown("Train a teacher, extract a formula and evaluate it, in the background on a local Ray "
                            "instance (`nsrl run` on the matching experiment file). The smoke budget takes about a minute "
                            "and checks the wiring; the full budget takes minutes to an hour.")
                with gr.Row():
                    env_dd = gr.Dropdown(list(extract_mod.EXTRACT_CONFIGS), value="CartPole-v1", label="Environment",
                                         elem_id="extract-env")
                    learner_radio = gr.Radio([(v, k) for k, v in extract_mod.LEARNERS.items()], value="gp",
                                             label="Learner", elem_id="extract-learner")
                    smoke_box = gr.Checkbox(value=False, label="smoke budget (seconds to a minute)", elem_id="extract-smoke")
                extract_btn = gr.Button("Extract now", variant="primary", elem_id="extract-button")
                extract_status = gr.Markdown(elem_id="extract-status")
                extract_result = gr.Markdown(latex_delimiters=LATEX, elem_id="extract-result")

        # ================================================================================= handlers
        run_outputs = [run_md, board, board_file_md, trial_dd, error_md]

        def on_run(run_value: str | None):
            try:
                run = explorer.run(run_value)
            except RunLoadError as error:  # clear the page of the previous run, then say what is wrong
                return "", [], "", gr.update(choices=[], value=None), _error_md(str(error))
            rows = leaderboard_rows(run)
            board_text = f"#### leaderboard.md\n\n{run.leaderboard_md}" if run.leaderboard_md else ""
            return (_run_summary(run), rows, board_text,
                    gr.update(choices=_trial_choices(run), value=_default_trial(run)), "")

        def on_open(text: str):
            if not text or not text.strip():
                raise RunLoadError("type the path of an experiment folder, e.g. nsrl_results/quickstart.")
            paths = expand_run_dirs([text.strip()])
            added = [explorer.add_run(p) for p in paths if is_run_dir(p)] or [explorer.add_run(paths[0])]
            return gr.update(choices=explorer.run_choices(), value=str(added[0])), ""

        trial_outputs = [formula_md, returns_md, videos, diagram, explanation_md, metrics_md,
                         whatif_note, *sliders, program_code, karel_note, error_md]

        def blank_trial(error: Any) -> tuple:
            return ("", "", gr.update(value=[], visible=False), gr.update(value=None, visible=False), "", "",
                    "_No policy to explore._", *[gr.update(visible=False) for _ in sliders], "", "", error)

        def on_trial(run_value: str | None, trial_name: str | None):
            if not trial_name:  # the run has no trials (its error is on the page already)
                return blank_trial(gr.update())
            trial = explorer.trial(run_value, trial_name)
            card = trial.card
            if card is None:  # a half-written or corrupt trial: clear the page and say why
                return blank_trial(_error_md(f"trial {trial.name}: {trial.problem}"))
            media = [(explorer.media_copy(p), p.stem.replace("video_", "")) for p in trial.videos()]
            images = trial.diagrams()
            image = next((p for p in images if "kan" in p.name or "eql" in p.name), images[0] if images else None)
            common = [returns_markdown(trial), gr.update(value=media, visible=bool(media)),
                      gr.update(value=explorer.media_copy(image) if image else None, visible=image is not None),
                      explanation_markdown(trial), metrics_markdown(card.metrics)]
            if isinstance(card, ProgramCard):
                header = program_card_markdown(card)
                return (header, *common, "_What-if needs a formula policy; this is a Karel program: see the Karel tab._",
                        *[gr.update(visible=False) for _ in sliders], to_display(card.program),
                        f"Program of **{trial.name}** on task `{card.task}` ({card.height}x{card.width}), "
                        f"`{card.policy().text}`; choose an instance and step through its run.", "")
            ranges = variable_ranges(card, trial.artifacts)
            slider_updates = []
            for i in range(MAX_SLIDERS):
                if i < len(ranges):
                    r = ranges[i]
                    slider_updates.append(gr.update(visible=True, label=f"{r.name}  [{r.source} range]", minimum=r.low,
                                                    maximum=r.high, step=r.step, value=r.value))
                else:
                    # A hidden slider is still an input of the what-if: keep its value inside its range.
                    slider_updates.append(gr.update(visible=False, minimum=0, maximum=1, step=0.01, value=0))
            note = (f"Move a variable: the symbolic policy of **{trial.name}** re-decides at once. Sliders start at the "
                    "median visited state where the dataset is present.")
            if len(ranges) > MAX_SLIDERS:
                note += f" Only the first {MAX_SLIDERS} of {len(ranges)} variables have sliders; the rest stay at their start value."
            return (formula_markdown(card), *common, note, *slider_updates, "",
                    "_This policy is a formula, not a Karel program._", "")

        whatif_outputs = [action_md, probs, whatif_md, error_md]

        def on_slider(run_value: str | None, trial_name: str | None, *values: float):
            trial = explorer.trial(run_value, trial_name, fresh=False) if trial_name else None
            card = trial.card if trial is not None else None
            if not isinstance(card, PolicyCard):  # nothing to decide (on_trial said why)
                return "", gr.update(value=None, visible=False), "", gr.update()
            full = list(values[: min(len(card.variables), MAX_SLIDERS)])
            if len(card.variables) > MAX_SLIDERS:
                full += explorer.start_values(trial)[MAX_SLIDERS:]
            result = what_if(card, full, explorer.gradients(trial))
            label = dict(zip(result.action_names, result.probabilities)) if result.probabilities else None
            return f"Action: **{result.action}**", gr.update(value=label, visible=label is not None), what_if_markdown(result), ""

        karel_outputs = [trace_state, step, grid, trace_box, error_md]

        def on_karel(run_value: str | None, trial_name: str | None, seed: float | None):
            trial = explorer.trial(run_value, trial_name) if trial_name else None
            if trial is None or not isinstance(trial.card, ProgramCard):
                return None, gr.update(value=0, maximum=1), "", "", gr.update()
            trace = program_trace(trial.card, int(seed or 0))
            return (trace, gr.update(value=0, maximum=max(1, len(trace.actions))), step_html(trace, 0),
                    trace_text(trace, 0), "")

        def on_step(trace, value: float):
            if trace is None:
                return "", ""
            return step_html(trace, int(value)), trace_text(trace, int(value))

        def on_move(trace, value: float, delta: int):
            if trace is None:
                return 0
            return max(0, min(len(trace.actions), int(value) + delta))

        def on_extract(env: str, learner: str, smoke: bool, progress=gr.Progress()):
            try:
                job = extract_mod.ExtractJob(env, learner, explorer.storage, smoke=smoke).start()
            except Exception as error:  # a bad choice or a config error: say so in the page
                yield _error_md(str(error)), "", gr.update()
                return
            explorer.jobs.append(job)
            progress(0.0, desc="starting")
            while job.running:
                state = job.progress()
                progress(state.fraction, desc=state.message.splitlines()[0][:120])
                yield f"Running `{' '.join(job.command[3:])}`\n\n{state.message}", "", gr.update()
                time.sleep(1.0)
            state = job.progress()
            if not job.succeeded:
                yield _error_md(f"the extraction failed.\n\n```\n{state.message}\n```"), "", gr.update()
                return
            try:
                path = explorer.add_run(job.experiment_dir)
                run = load_run(path)
                trial = next(t for t in run.trials if isinstance(t.card, PolicyCard))
            except (RunLoadError, StopIteration) as error:
                yield _error_md(f"the run finished but its result cannot be shown: {error or 'no formula card'}"), "", gr.update()
                return
            result = f"{formula_markdown(trial.card)}\n\n{returns_markdown(trial)}\n\nOpened in the Runs and Policy tabs."
            yield f"Done: `{path}`", result, gr.update(choices=explorer.run_choices(), value=str(path))

        # The spinner goes on the main output only, never on the error line.
        run_dd.change(_safe(on_run, len(run_outputs), 4), [run_dd], run_outputs, show_progress_on=[run_md, board])
        demo.load(_safe(on_run, len(run_outputs), 4), [run_dd], run_outputs, show_progress_on=[run_md, board])
        open_btn.click(_safe(on_open, 2, 1), [open_box], [run_dd, error_md], show_progress_on=[run_dd])
        open_box.submit(_safe(on_open, 2, 1), [open_box], [run_dd, error_md], show_progress_on=[run_dd])
        trial_dd.change(_safe(on_trial, len(trial_outputs), len(trial_outputs) - 1), [run_dd, trial_dd], trial_outputs,
                        show_progress_on=[formula_md]).then(
            _safe(on_slider, len(whatif_outputs), 3), [run_dd, trial_dd, *sliders], whatif_outputs, show_progress="hidden").then(
            _safe(on_karel, len(karel_outputs), 4), [run_dd, trial_dd, instance], karel_outputs, show_progress_on=[grid])
        for slider in sliders:
            slider.input(_safe(on_slider, len(whatif_outputs), 3), [run_dd, trial_dd, *sliders], whatif_outputs,
                         trigger_mode="always_last", show_progress="hidden")
        instance.change(_safe(on_karel, len(karel_outputs), 4), [run_dd, trial_dd, instance], karel_outputs,
                        show_progress_on=[grid])
        step.change(on_step, [trace_state, step], [grid, trace_box], show_progress="hidden")
        back_btn.click(lambda t, v: on_move(t, v, -1), [trace_state, step], [step])
        next_btn.click(lambda t, v: on_move(t, v, 1), [trace_state, step], [step])
        extract_btn.click(on_extract, [env_dd, learner_radio, smoke_box], [extract_status, extract_result, run_dd])
    return demo, explorer


def launch(run_dirs: list[str | Path], host: str = "127.0.0.1", port: int | None = None,
           storage: str | Path = "nsrl_results", block: bool = True, quiet: bool = False) -> tuple[gr.Blocks, Explorer, str]:
    """Build and serve the explorer; returns (app, explorer, url). With ``block`` it serves until Ctrl-C."""
    demo, explorer = build_app(run_dirs, storage)
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=quiet,
                            share=False, ssr_mode=False, show_error=True, theme=gr.themes.Default(), css=CSS,
                            footer_links=[], inbrowser=False)
    if block:
        try:
            demo.block_thread()
        finally:
            for job in explorer.jobs:
                job.stop()
            demo.close()
    return demo, explorer, url
