"""A Karel program card's execution trace, stepped on the grid and drawn as an HTML table (no Gradio)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from nsrl_ray.envs.karel.world import ACTIONS, DIRECTIONS, HaltExecution
from nsrl_ray.explain.program_card import ProgramCard
from nsrl_ray.symbolic.karel.interpreter import execute

_ARROWS = "↑→↓←"  # north, east, south, west
_ACTION_CODE = {name: code for code, name in enumerate(ACTIONS)}
#: The most steps a trace keeps (a long program on a big grid would make the page slow).
MAX_TRACE_STEPS = 5000


@dataclass(frozen=True)
class GridState:
    """The world after some number of actions."""

    walls: np.ndarray
    markers: np.ndarray
    agent: tuple[int, int, int]


@dataclass(frozen=True)
class KarelTrace:
    """One run of a program on one task instance: the states before and after each action."""

    instance_seed: int
    score: float
    stop: str
    """How the run ended: 'end', 'budget', 'task' or 'crash' (nsrl_ray.symbolic.karel.interpreter)."""
    actions: tuple[str, ...]
    states: tuple[GridState, ...]
    """len(actions) + 1 states: the initial world, then one after each action."""
    truncated: bool = False


def _state(world) -> GridState:
    return GridState(world.wall_grid(), world.marker_grid(), world.agent)


def program_trace(card: ProgramCard, instance_seed: int = 0) -> KarelTrace:
    """Run the card's program on the task instance of ``instance_seed`` and record every state."""
    if isinstance(instance_seed, bool) or not isinstance(instance_seed, (int, np.integer)) or instance_seed < 0:
        raise ValueError(f"instance seed: got {instance_seed!r}, expected a non-negative integer.")
    policy = card.policy()
    task = policy.task
    instance = task.instance(int(instance_seed))
    world, episode = task.start(instance)
    result, trace = execute(card.program, world, card.max_calls, trace=True)
    score = task.score(world, episode)
    # Replay the recorded actions on a fresh copy (no task observer) to get the state after each one.
    replay = instance.world.copy()
    truncated = len(trace) > MAX_TRACE_STEPS
    actions = [name for name, *_ in trace[:MAX_TRACE_STEPS]]
    states = [_state(replay)]
    for name in actions:
        try:
            replay.act(_ACTION_CODE[name])
        except HaltExecution:  # a crashable world refused the action: the state stays as it was
            pass
        states.append(_state(replay))
    return KarelTrace(int(instance_seed), float(score), result.stop, tuple(actions), tuple(states), truncated)


def grid_html(state: GridState, visited: set[tuple[int, int]] | None = None, cell_px: int = 26) -> str:
    """The grid as an HTML table: walls dark, markers as counts in circles, the agent as an arrow."""
    visited = visited or set()
    row_agent, col_agent, heading = state.agent
    rows = []
    for r in range(state.walls.shape[0]):
        cells = []
        for c in range(state.walls.shape[1]):
            style = f"width:{cell_px}px;height:{cell_px}px;text-align:center;padding:0;border:1px solid #ccc;font-size:{cell_px * 0.55:.0f}px;"
            content = ""
            if state.walls[r, c]:
                style += "background:#444;"
            elif (r, c) in visited:
                style += "background:#dbeafe;"
            else:
                style += "background:#fff;"
            count = int(state.markers[r, c])
            if count:
                content = (f"<span style='display:inline-block;border-radius:50%;background:#f59e0b;color:#000;"
                           f"width:{cell_px * 0.7:.0f}px;line-height:{cell_px * 0.7:.0f}px'>{count}</span>")
            if (r, c) == (row_agent, col_agent):
                content = f"<b style='color:#dc2626'>{_ARROWS[heading]}</b>" + (f"<sub>{count}</sub>" if count else "")
            cells.append(f"<td style='{style}'>{content}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class='karel-grid' style='border-collapse:collapse;margin:0'>" + "".join(rows) + "</table>")


def step_html(trace: KarelTrace, step: int) -> str:
    """The grid after ``step`` actions (clamped to the trace), with the cells visited so far shaded, and a caption."""
    step = max(0, min(int(step), len(trace.actions)))
    state = trace.states[step]
    visited = {(s.agent[0], s.agent[1]) for s in trace.states[: step + 1]}
    last = trace.actions[step - 1] if step else "start"
    row, col, heading = state.agent
    caption = (f"<p id='karel-caption'>step {step} / {len(trace.actions)}: <b>{html.escape(last)}</b> · "
               f"Karel at row {row}, column {col}, facing {DIRECTIONS[heading]} · "
               f"score of the run {trace.score:.3g} (ended: {html.escape(trace.stop)})"
               + (f" · trace cut at {MAX_TRACE_STEPS} steps" if trace.truncated else "") + "</p>")
    return caption + grid_html(state, visited)


def trace_text(trace: KarelTrace, around: int, width: int = 12) -> str:
    """The actions around step ``around``, the current one marked."""
    if not trace.actions:
        return "(the program took no action)"
    low = max(0, around - width)
    lines = []
    for i in range(low, min(len(trace.actions), around + width)):
        lines.append(f"{'▶' if i + 1 == around else '·'} {i + 1:4d} {trace.actions[i]}")
    return "\n".join(lines)
