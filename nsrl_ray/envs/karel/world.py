"""The Karel world: a grid with walls, marker piles and one agent; five actions and five perceptions.

Semantics follow LEAPS (clvrai/leaps, `karel_env/karel.py` with `make_error=False`), see
shared/reference/karel.md §1: a move into a wall or off the grid turns the agent 180° in place,
picking from an empty cell and putting on a full cell are no-ops, and every one of these still
counts as an executed action. The state tensor is H×W×16 booleans: channels 0–3 the agent's
heading (N, E, S, W) on its cell, 4 a wall, 5–15 the one-hot marker count 0–10.

For speed the live state is flat: a padded grid of (H+2)×(W+2) cells stored in bytearrays, so that
"off the grid" is just a blocked padding cell and an action is a handful of integer operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Heading codes, as in LEAPS: 0 north (row - 1), 1 east (col + 1), 2 south (row + 1), 3 west (col - 1).
DIRECTIONS: tuple[str, ...] = ("north", "east", "south", "west")
#: Action codes in LEAPS's order (its action index 0..4).
ACTIONS: tuple[str, ...] = ("move", "turnLeft", "turnRight", "pickMarker", "putMarker")
MOVE, TURN_LEFT, TURN_RIGHT, PICK_MARKER, PUT_MARKER = range(5)
#: The five boolean perceptions, in LEAPS's order.
PERCEPTIONS: tuple[str, ...] = ("frontIsClear", "leftIsClear", "rightIsClear", "markersPresent", "noMarkersPresent")
#: The most markers one cell can show in the state tensor (channels 5..15 = 0..10 markers).
MAX_MARKERS = 10
#: LEAPS refuses a put that would go above 9 markers (its MAX_NUM_MARKER - 1).
LEAPS_MARKER_CAP = 9
N_CHANNELS = 16
WALL_CHANNEL = 4
MARKER_CHANNEL0 = 5

#: Called after every action: observer(world, action_code, position_before_the_action).
Observer = Callable[["KarelWorld", int, int], None]


class KarelWorldError(ValueError):
    """A Karel state is malformed (no agent, two agents, agent on a wall, marker count out of range)."""


class HaltExecution(Exception):
    """Raised by an observer (a task that is done) or the interpreter (budget spent) to stop a program."""


class WorldCrashed(HaltExecution):
    """A crashable world refused an action (prog_policies's crashable mode); the world's `crashed` is set."""


class KarelWorld:
    """A mutable Karel world of any size.

    The flat fields (`blocked`, `markers`, `pos`, `dir`, `offsets`) are the fast representation the
    interpreter and the tasks work on; use `cell`, `agent`, `to_tensor` for readable access.
    """

    __slots__ = (
        "height", "width", "stride", "blocked", "markers", "pos", "dir", "offsets",
        "marker_cap", "crashable", "crashed", "steps", "last_delta", "trace", "observer",
    )

    def __init__(
        self,
        walls: np.ndarray,
        markers: np.ndarray,
        agent: tuple[int, int, int],
        marker_cap: int = LEAPS_MARKER_CAP,
        crashable: bool = False,
    ) -> None:
        walls = np.asarray(walls, dtype=bool)
        markers = np.asarray(markers)
        if walls.ndim != 2 or walls.shape[0] < 1 or walls.shape[1] < 1:
            raise KarelWorldError(f"walls: got shape {walls.shape}, expected a 2-D (height, width) grid.")
        if markers.shape != walls.shape:
            raise KarelWorldError(f"markers: got shape {markers.shape}, expected the walls' shape {walls.shape}.")
        if markers.size and (markers.min() < 0 or markers.max() > MAX_MARKERS):
            raise KarelWorldError(f"markers: counts must lie in 0..{MAX_MARKERS}, got {markers.min()}..{markers.max()}.")
        if not 0 <= marker_cap <= MAX_MARKERS:
            raise KarelWorldError(f"marker_cap: got {marker_cap}, expected 0..{MAX_MARKERS}.")
        height, width = walls.shape
        row, col, heading = (int(v) for v in agent)
        if not (0 <= row < height and 0 <= col < width):
            raise KarelWorldError(f"agent at ({row}, {col}) is outside the {height}x{width} grid.")
        if heading not in range(4):
            raise KarelWorldError(f"agent heading {heading}: expected 0 (north), 1 (east), 2 (south) or 3 (west).")
        if walls[row, col]:
            raise KarelWorldError(f"agent at ({row}, {col}) stands on a wall.")
        self.height, self.width = height, width
        self.stride = width + 2
        padded_walls = np.ones((height + 2, width + 2), dtype=np.uint8)
        padded_walls[1:-1, 1:-1] = walls
        padded_markers = np.zeros((height + 2, width + 2), dtype=np.uint8)
        padded_markers[1:-1, 1:-1] = markers
        self.blocked = bytearray(padded_walls.tobytes())
        self.markers = bytearray(padded_markers.tobytes())
        self.pos = (row + 1) * self.stride + col + 1
        self.dir = heading
        self.offsets = (-self.stride, 1, self.stride, -1)
        self.marker_cap = int(marker_cap)
        self.crashable = bool(crashable)
        self.crashed = False
        self.steps = 0
        #: Marker change made by the last action (+1 put, -1 pick, 0 otherwise); LEAPS's lagged totals need it.
        self.last_delta = 0
        #: None, or a list that receives (action, row, col, heading) after every action.
        self.trace: list[tuple[int, int, int, int]] | None = None
        self.observer: Observer | None = None

    # ------------------------------------------------------------------ construction / conversion
    @classmethod
    def empty(cls, height: int, width: int, agent: tuple[int, int, int], border: bool = True, **kwargs: Any) -> "KarelWorld":
        """An empty grid, with a wall ring on the outer rows/columns when ``border`` (all tasks use one)."""
        walls = np.zeros((height, width), dtype=bool)
        if border:
            walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
        return cls(walls, np.zeros((height, width), dtype=np.uint8), agent, **kwargs)

    @classmethod
    def from_tensor(cls, state: np.ndarray, **kwargs: Any) -> "KarelWorld":
        """Build from an H×W×16 boolean state (LEAPS's layout); refuses states without exactly one agent."""
        state = np.asarray(state)
        if state.ndim != 3 or state.shape[2] != N_CHANNELS:
            raise KarelWorldError(f"state: got shape {state.shape}, expected (height, width, {N_CHANNELS}).")
        state = state.astype(bool)
        agents = np.argwhere(state[:, :, :4])
        if len(agents) != 1:
            raise KarelWorldError(f"state: found {len(agents)} agent channels set, expected exactly one.")
        row, col, heading = (int(v) for v in agents[0])
        counts = state[:, :, MARKER_CHANNEL0:]
        # A cell with no marker channel set reads as 0 markers (HPRL's generators leave channel 5 unset).
        markers = np.where(counts.any(axis=2), counts.argmax(axis=2), 0).astype(np.uint8)
        return cls(state[:, :, WALL_CHANNEL], markers, (row, col, heading), **kwargs)

    def to_tensor(self) -> np.ndarray:
        """The H×W×16 boolean state."""
        state = np.zeros((self.height, self.width, N_CHANNELS), dtype=bool)
        state[:, :, WALL_CHANNEL] = self.wall_grid()
        grid = self.marker_grid()
        rows, cols = np.indices(grid.shape)
        state[rows, cols, MARKER_CHANNEL0 + grid] = True
        row, col, heading = self.agent
        state[row, col, heading] = True
        return state

    def wall_grid(self) -> np.ndarray:
        """H×W booleans: True where a wall stands."""
        grid = np.frombuffer(bytes(self.blocked), dtype=np.uint8).reshape(self.height + 2, self.stride)
        return grid[1:-1, 1:-1].astype(bool)

    def marker_grid(self) -> np.ndarray:
        """H×W marker counts."""
        grid = np.frombuffer(bytes(self.markers), dtype=np.uint8).reshape(self.height + 2, self.stride)
        return grid[1:-1, 1:-1].copy()

    def copy(self) -> "KarelWorld":
        """An independent copy of the grid and agent (history, trace and observer are not copied)."""
        other = object.__new__(KarelWorld)
        other.height, other.width, other.stride = self.height, self.width, self.stride
        other.blocked = bytearray(self.blocked)
        other.markers = bytearray(self.markers)
        other.pos, other.dir, other.offsets = self.pos, self.dir, self.offsets
        other.marker_cap, other.crashable = self.marker_cap, self.crashable
        other.crashed, other.steps, other.last_delta = False, 0, 0
        other.trace, other.observer = None, None
        return other

    # ------------------------------------------------------------------ readable access
    def index(self, row: int, col: int) -> int:
        """Flat index of grid cell (row, col)."""
        return (row + 1) * self.stride + col + 1

    def coords(self, index: int) -> tuple[int, int]:
        """(row, col) of a flat index."""
        return index // self.stride - 1, index % self.stride - 1

    @property
    def agent(self) -> tuple[int, int, int]:
        """(row, col, heading)."""
        return self.pos // self.stride - 1, self.pos % self.stride - 1, self.dir

    def markers_at(self, row: int, col: int) -> int:
        return self.markers[self.index(row, col)]

    def set_markers(self, row: int, col: int, count: int) -> None:
        if not 0 <= count <= MAX_MARKERS:
            raise KarelWorldError(f"marker count {count} at ({row}, {col}): expected 0..{MAX_MARKERS}.")
        self.markers[self.index(row, col)] = count

    def wall_at(self, row: int, col: int) -> bool:
        """True for a wall or any cell outside the grid."""
        if not (0 <= row < self.height and 0 <= col < self.width):
            return True
        return bool(self.blocked[self.index(row, col)])

    def set_wall(self, row: int, col: int, wall: bool) -> None:
        if not (0 <= row < self.height and 0 <= col < self.width):
            raise KarelWorldError(f"cell ({row}, {col}) is outside the {self.height}x{self.width} grid.")
        self.blocked[self.index(row, col)] = 1 if wall else 0

    def total_markers(self) -> int:
        return sum(self.markers)

    # ------------------------------------------------------------------ perceptions
    def front_is_clear(self) -> bool:
        return not self.blocked[self.pos + self.offsets[self.dir]]

    def left_is_clear(self) -> bool:
        return not self.blocked[self.pos + self.offsets[(self.dir - 1) & 3]]

    def right_is_clear(self) -> bool:
        return not self.blocked[self.pos + self.offsets[(self.dir + 1) & 3]]

    def markers_present(self) -> bool:
        return self.markers[self.pos] > 0

    def no_markers_present(self) -> bool:
        return self.markers[self.pos] == 0

    def perceive(self) -> tuple[bool, bool, bool, bool, bool]:
        """The five perceptions in PERCEPTIONS order."""
        return (self.front_is_clear(), self.left_is_clear(), self.right_is_clear(),
                self.markers_present(), self.no_markers_present())

    # ------------------------------------------------------------------ actions
    # Each action inlines its bookkeeping (step count, then trace/observer only when set): this is
    # the innermost loop of every program search.
    def _notify(self, code: int, before: int) -> None:
        if self.trace is not None:
            row, col, heading = self.agent
            self.trace.append((code, row, col, heading))
        if self.observer is not None:
            self.observer(self, code, before)

    def _crash(self, code: int, before: int) -> None:
        self.crashed = True
        self.steps += 1
        self._notify(code, before)
        raise WorldCrashed(f"{ACTIONS[code]} is not possible here and the world is crashable")

    def move(self) -> None:
        pos = self.pos
        ahead = pos + self.offsets[self.dir]
        self.last_delta = 0
        if self.blocked[ahead]:
            if self.crashable:
                self._crash(MOVE, pos)
            self.dir = (self.dir + 2) & 3  # LEAPS: a blocked move turns the agent around in place
        else:
            self.pos = ahead
        self.steps += 1
        if self.observer is not None or self.trace is not None:
            self._notify(MOVE, pos)

    def turn_left(self) -> None:
        self.dir = (self.dir - 1) & 3
        self.last_delta = 0
        self.steps += 1
        if self.observer is not None or self.trace is not None:
            self._notify(TURN_LEFT, self.pos)

    def turn_right(self) -> None:
        self.dir = (self.dir + 1) & 3
        self.last_delta = 0
        self.steps += 1
        if self.observer is not None or self.trace is not None:
            self._notify(TURN_RIGHT, self.pos)

    def pick_marker(self) -> None:
        pos = self.pos
        if self.markers[pos]:
            self.markers[pos] -= 1
            self.last_delta = -1
        else:
            if self.crashable:
                self._crash(PICK_MARKER, pos)
            self.last_delta = 0
        self.steps += 1
        if self.observer is not None or self.trace is not None:
            self._notify(PICK_MARKER, pos)

    def put_marker(self) -> None:
        pos = self.pos
        if self.markers[pos] < self.marker_cap:
            self.markers[pos] += 1
            self.last_delta = 1
        else:
            if self.crashable:
                self._crash(PUT_MARKER, pos)
            self.last_delta = 0
        self.steps += 1
        if self.observer is not None or self.trace is not None:
            self._notify(PUT_MARKER, pos)

    def act(self, action: int) -> None:
        """Run one action by its code (0 move, 1 turnLeft, 2 turnRight, 3 pickMarker, 4 putMarker)."""
        if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 0 <= action < 5:
            raise ValueError(f"action: got {action!r}, expected an integer 0..4 ({', '.join(ACTIONS)}).")
        _ACTION_METHODS[int(action)](self)

    # ------------------------------------------------------------------ display
    def render_text(self) -> str:
        """One line per row: '#' wall, '.' empty, a digit for markers, ^>v< for the agent."""
        arrows = "^>v<"
        lines = []
        for row in range(self.height):
            chars = []
            for col in range(self.width):
                index = self.index(row, col)
                if index == self.pos:
                    chars.append(arrows[self.dir])
                elif self.blocked[index]:
                    chars.append("#")
                elif self.markers[index]:
                    chars.append(str(self.markers[index]) if self.markers[index] < 10 else "X")
                else:
                    chars.append(".")
            lines.append("".join(chars))
        return "\n".join(lines)

    @classmethod
    def from_text(cls, text: str, **kwargs: Any) -> "KarelWorld":
        """Inverse of render_text (digits 1-9 for marker piles, X for 10); for tests and examples."""
        rows = [line.strip() for line in text.strip().splitlines()]
        if not rows or len({len(r) for r in rows}) != 1:
            raise KarelWorldError("from_text: expected a non-empty rectangle of characters.")
        walls = np.zeros((len(rows), len(rows[0])), dtype=bool)
        markers = np.zeros(walls.shape, dtype=np.uint8)
        agent = None
        for r, line in enumerate(rows):
            for c, ch in enumerate(line):
                if ch == "#":
                    walls[r, c] = True
                elif ch in "^>v<":
                    if agent is not None:
                        raise KarelWorldError("from_text: more than one agent.")
                    agent = (r, c, "^>v<".index(ch))
                elif ch.isdigit() or ch == "X":
                    markers[r, c] = 10 if ch == "X" else int(ch)
                elif ch != ".":
                    raise KarelWorldError(f"from_text: unknown character {ch!r} at ({r}, {c}); expected # . 0-9 X ^ > v <.")
        if agent is None:
            raise KarelWorldError("from_text: no agent (one of ^ > v <).")
        return cls(walls, markers, agent, **kwargs)


_ACTION_METHODS = (KarelWorld.move, KarelWorld.turn_left, KarelWorld.turn_right, KarelWorld.pick_marker, KarelWorld.put_marker)
#: Unbound action methods by action code, for callers that dispatch on codes in a hot loop.
ACTION_METHODS = _ACTION_METHODS
#: Unbound perception methods by perception index.
PERCEPTION_METHODS = (
    KarelWorld.front_is_clear, KarelWorld.left_is_clear, KarelWorld.right_is_clear,
    KarelWorld.markers_present, KarelWorld.no_markers_present,
)
