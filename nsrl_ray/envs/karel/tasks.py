"""The ten Karel benchmark tasks: initial-state generators and scores, as in shared/reference/karel.md.

The six LEAPS tasks (STAIRCLIMBER, FOURCORNER, TOPOFF, MAZE, CLEANHOUSE, HARVESTER) follow LEAPS's
code (variant "leaps"): the score of a run is the task value at its *last* action, including LEAPS's
one-action lag of the marker total in FOURCORNER and HARVESTER, and a run with fewer than two
actions scores 0. The four harder tasks (DOORKEY, ONESTROKE, SEEDER, SNAKE) exist only in HPRL and
prog_policies; they follow HPRL (variant "hprl"): the return is the sum of per-action progress
differences until the task says done, i.e. the progress at that moment.

A task makes `TaskInstance`s (an initial world plus what the score needs) from a seed, and
`start(instance)` gives a fresh world and an `Episode` that scores what happens in it.
"""

from __future__ import annotations

import difflib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsrl_ray.envs.karel.world import MOVE, HaltExecution, KarelWorld

EAST, SOUTH = 1, 2


@dataclass(frozen=True)
class TaskInstance:
    """One initial state of a task and the facts its score needs."""

    world: KarelWorld
    """The initial world; never run in place (`KarelTask.start` copies it)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Task facts: marker cells, the key and target of DOORKEY, ... (grid coordinates)."""


class Episode:
    """Scores one run of a program (or of a gymnasium episode) on one task instance."""

    #: True once the task ended the run (HPRL's `done`); the world stops being scored then.
    done: bool = False

    def value(self) -> float:
        """The run's return if it ended now."""
        raise NotImplementedError


class KarelTask:
    """A benchmark task: grid size, generator, scoring; subclasses set the class attributes."""

    name: str = ""
    variant: str = "leaps"
    #: Grid size used by the reference (LEAPS for the six, HPRL for the four).
    default_size: tuple[int, int] = (8, 8)
    #: Largest pile a put can make in this task (LEAPS: 9; HPRL: 1, or 2 for TOPOFF/DOORKEY/SEEDER).
    marker_cap: int = 9
    #: LEAPS scores 0 for a run with fewer than this many actions.
    min_actions: int = 0
    #: Whether the size can change (fixed maps cannot).
    resizable: bool = True
    #: Smallest grid the generator supports.
    min_size: tuple[int, int] = (4, 4)

    def __init__(self, height: int | None = None, width: int | None = None) -> None:
        default_h, default_w = self.default_size
        self.height = default_h if height is None else int(height)
        self.width = default_w if width is None else int(width)
        if (self.height, self.width) != self.default_size and not self.resizable:
            raise ValueError(
                f"{self.name}: grid {self.height}x{self.width} is not available; this task has a fixed "
                f"{default_h}x{default_w} map. Leave height/width unset."
            )
        if self.height < self.min_size[0] or self.width < self.min_size[1]:
            raise ValueError(
                f"{self.name}: grid {self.height}x{self.width} is too small; expected at least "
                f"{self.min_size[0]}x{self.min_size[1]}."
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(height={self.height}, width={self.width})"

    @property
    def spec(self) -> dict[str, Any]:
        """A picklable description that `make_task(**spec)` turns back into this task."""
        return {"name": self.name, "height": self.height, "width": self.width}

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        raise NotImplementedError

    def instance(self, seed: int) -> TaskInstance:
        """The instance for one seed (the same seed always gives the same instance)."""
        return self.generate(np.random.default_rng(int(seed)))

    def instances(self, seeds: list[int] | tuple[int, ...]) -> list[TaskInstance]:
        return [self.instance(seed) for seed in seeds]

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        raise NotImplementedError

    def start(self, instance: TaskInstance) -> tuple[KarelWorld, Episode]:
        """A fresh copy of the instance's world and the episode that scores it (observer attached)."""
        world = instance.world.copy()
        episode = self.episode(instance, world)
        return world, episode

    def score(self, world: KarelWorld, episode: Episode) -> float:
        """The run's return, with LEAPS's rule that fewer than `min_actions` actions score 0."""
        if world.steps < self.min_actions:
            return 0.0
        return float(episode.value())

    def _world(self, walls: np.ndarray, markers: np.ndarray, agent: tuple[int, int, int]) -> KarelWorld:
        return KarelWorld(walls, markers, agent, marker_cap=self.marker_cap)

    def _bordered(self) -> tuple[np.ndarray, np.ndarray]:
        walls = np.zeros((self.height, self.width), dtype=bool)
        walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
        return walls, np.zeros((self.height, self.width), dtype=np.uint8)


def _initial_counts(instance: TaskInstance) -> tuple[int, int]:
    """(marked cells, markers) of the initial world, computed once per instance."""
    counts = instance.info.get("_initial_marker_counts")
    if counts is None:
        grid = instance.world.marker_grid()
        counts = instance.info["_initial_marker_counts"] = (int((grid > 0).sum()), int(grid.sum()))
    return counts


def _leaps_total(world: KarelWorld, init_cells: int, init_sum: int) -> int:
    """LEAPS's running marker total: starts at the number of marked cells, then +-1 per successful
    put/pick, updated only *after* each action's reward (the one-action lag of karel.md §4.1)."""
    return init_cells + (world.total_markers() - init_sum) - world.last_delta


# ======================================================================================= LEAPS tasks
class _StairEpisode(Episode):
    """Sparse: 1 at the action where the agent first stands on the marker cell, 0 at any other action."""

    def __init__(self, marker: int) -> None:
        self.marker = marker
        self.reached = False
        self.last = 0.0

    def __call__(self, world: KarelWorld, code: int, before: int) -> None:
        on = world.pos == self.marker
        self.last = 1.0 if on and not self.reached else 0.0
        self.reached = self.reached or on

    def value(self) -> float:
        return self.last


class StairClimber(KarelTask):
    """Climb a diagonal staircase to the one marker; the program must stop on the action that reaches it."""

    name = "stair_climber"
    default_size = (12, 12)
    min_actions = 2

    def layout(self) -> tuple[np.ndarray, list[tuple[int, int]], set[tuple[int, int]]]:
        """Walls, the on-stair cells sorted by column, and all valid positions (on or one above the stair)."""
        h, w = self.height, self.width
        walls, _ = self._bordered()
        on_stair, valid = set(), set()
        row, col = h - 1, 2
        while row > 0 and col < w:
            walls[row, col] = walls[row - 1, col] = True
            if row - 1 > 0 and col - 1 > 0:
                on_stair.add((row - 1, col - 1))
            if row - 2 > 0 and col - 1 > 0:
                valid.add((row - 2, col - 1))
            if row - 2 > 0 and col > 0:
                on_stair.add((row - 2, col))
            col += 1
            row -= 1
        cells = sorted(on_stair, key=lambda cell: cell[1])
        return walls, [cell for cell in cells if not walls[cell]], valid | on_stair

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, cells, valid = self.layout()
        first = second = 0
        while first == second:  # two distinct stair cells; the lower-left one holds the agent
            first, second = int(rng.integers(len(cells))), int(rng.integers(len(cells)))
        agent, marker = cells[min(first, second)], cells[max(first, second)]
        markers = np.zeros_like(walls, dtype=np.uint8)
        markers[marker] = 1
        world = self._world(walls, markers, (*agent, EAST))
        return TaskInstance(world, {"marker": marker, "valid_positions": sorted(valid)})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        episode = _StairEpisode(world.index(*instance.info["marker"]))
        world.observer = episode
        return episode


class _FourCornerEpisode(Episode):
    def __init__(self, world: KarelWorld, corners: list[int], init_cells: int, init_sum: int) -> None:
        self.world, self.corners = world, corners
        self.init_cells, self.init_sum = init_cells, init_sum

    def value(self) -> float:
        markers = self.world.markers
        correct = sum(1 for c in self.corners if markers[c] == 1)
        if _leaps_total(self.world, self.init_cells, self.init_sum) - correct > 0:
            return 0.0
        return 0.25 * correct


class FourCorner(KarelTask):
    """Put exactly one marker in each of the four corners and nowhere else."""

    name = "four_corner"
    default_size = (12, 12)
    min_actions = 2

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        return TaskInstance(self._world(walls, markers, (self.height - 2, 2, EAST)))

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        h, w = self.height, self.width
        corners = [world.index(r, c) for r, c in ((1, 1), (h - 2, 1), (h - 2, w - 2), (1, w - 2))]
        return _FourCornerEpisode(world, corners, *_initial_counts(instance))


class _TopOffEpisode(Episode):
    def __init__(self, world: KarelWorld, marked: list[bool]) -> None:
        self.world, self.marked = world, marked  # marked[c] for c = 1..W-2 (index 0 unused)

    def value(self) -> float:
        world = self.world
        h, w = world.height, world.width
        row, col, _ = world.agent
        base = world.index(h - 2, 0)
        count = 0
        for c in range(1, col + 1):
            if world.markers[base + c] == (2 if self.marked[c] else 0):
                count += 1
            else:
                break
        if row == h - 2 and col == w - 2 and count == w - 2:
            count += 1
        return count / (w - 1)


class TopOff(KarelTask):
    """Along the bottom row, add a marker on every cell that has one, and end in the corner."""

    name = "top_off"
    default_size = (12, 12)
    min_actions = 2
    marker_probability = 0.25
    """LEAPS's `wall_prob` used as the marker probability of each bottom-row cell."""

    def __init__(self, height: int | None = None, width: int | None = None, last_cell_marked: bool = True) -> None:
        super().__init__(height, width)
        #: LEAPS's search always ran with a marker in the last bottom cell (karel.md §7.3, reset() quirk).
        self.last_cell_marked = bool(last_cell_marked)

    @property
    def spec(self) -> dict[str, Any]:
        return {**super().spec, "last_cell_marked": self.last_cell_marked}

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        h, w = self.height, self.width
        markers[h - 2, 1 : w - 1] = rng.random(w - 2) > 1 - self.marker_probability
        markers[h - 2, w - 2] = 1 if self.last_cell_marked else 0
        marked = [False] + [bool(markers[h - 2, c]) for c in range(1, w - 1)]
        return TaskInstance(self._world(walls, markers, (h - 2, 1, EAST)), {"marked": marked})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        return _TopOffEpisode(world, instance.info["marked"])


class _PositionEpisode(Episode):
    """1 while the agent stands on the target cell."""

    def __init__(self, world: KarelWorld, target: int) -> None:
        self.world, self.target = world, target

    def value(self) -> float:
        return 1.0 if self.world.pos == self.target else 0.0


class Maze(KarelTask):
    """Find the marker in a random perfect maze and stop on it."""

    name = "maze"
    default_size = (8, 8)
    min_actions = 2

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        h, w = self.height, self.width
        walls = np.ones((h, w), dtype=bool)
        start = (h - 2, 1)
        walls[start] = False
        visited = {start}
        stack = [start]
        # LEAPS's carving: for every unvisited neighbour (shuffled), push the current cell back and the
        # neighbour on top; the loop goes on over the other neighbours (no break).
        while stack:
            row, col = stack.pop()
            neighbours = [
                (r, c) for r, c in ((row - 2, col), (row + 2, col), (row, col - 2), (row, col + 2))
                if 0 < r < h - 1 and 0 < c < w - 1
            ]
            for index in rng.permutation(len(neighbours)):
                cell = neighbours[index]
                if cell not in visited:
                    stack.append((row, col))
                    walls[(row + cell[0]) // 2, (col + cell[1]) // 2] = False
                    walls[cell] = False
                    visited.add(cell)
                    stack.append(cell)
        free = np.argwhere(~walls)
        marker = tuple(int(v) for v in free[rng.integers(len(free))])  # LEAPS may draw the start cell
        markers = np.zeros((h, w), dtype=np.uint8)
        markers[marker] = 1
        return TaskInstance(self._world(walls, markers, (*start, EAST)), {"marker": marker})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        return _PositionEpisode(world, world.index(*instance.info["marker"]))


CLEAN_HOUSE_MAP = (
    "######################",
    "#..##########.#......#",
    "#..#..........#####.##",
    "##.#................##",
    "##........#.........##",
    "###.#.###.#..###.#.###",
    "#...#...#....#...#..##",
    "#...#...#....#...#...#",
    "#...#...#....#...##..#",
    "#...#...##..##...##.##",
    "#...#...##..##...#..##",
    "#...#...##..##...#..##",
    "#...#...##..##...#..##",
    "######################",
)
_CLEAN_HOUSE_EXCLUDED = {(1, 13), (2, 12), (3, 10), (4, 11), (5, 11), (6, 10)}


class _CleanEpisode(Episode):
    def __init__(self, world: KarelWorld, cells: list[int]) -> None:
        self.world, self.cells = world, cells

    def value(self) -> float:
        markers = self.world.markers
        return sum(1 for c in self.cells if markers[c] == 0) / len(self.cells)


class CleanHouse(KarelTask):
    """Pick the 10 markers scattered along the walls of a fixed 14x22 house."""

    name = "clean_house"
    default_size = (14, 22)
    resizable = False
    min_actions = 2
    n_markers = 10

    @staticmethod
    def candidates(walls: np.ndarray) -> list[tuple[int, int]]:
        """LEAPS's candidate cells: free neighbours of walls in columns 0..12, east neighbours only below column 12."""
        h = walls.shape[0]
        cells = set()
        for r in range(h):
            for c in range(13):
                if walls[r, c]:
                    if r - 1 > 0 and not walls[r - 1, c]:
                        cells.add((r - 1, c))
                    if r + 1 < h - 1 and not walls[r + 1, c]:
                        cells.add((r + 1, c))
                    if c - 1 > 0 and not walls[r, c - 1]:
                        cells.add((r, c - 1))
                    if c + 1 < 12 and not walls[r, c + 1]:
                        cells.add((r, c + 1))
        return sorted(cells)

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls = np.array([[ch == "#" for ch in line] for line in CLEAN_HOUSE_MAP])
        markers = np.zeros(walls.shape, dtype=np.uint8)
        markers[2, 12] = 2  # LEAPS's "dustbin" next to the start; the score ignores it
        candidates = self.candidates(walls)
        chosen: list[tuple[int, int]] = []
        for index in rng.permutation(len(candidates)):
            cell = candidates[index]
            if cell in _CLEAN_HOUSE_EXCLUDED:
                continue
            markers[cell] = 1
            chosen.append(cell)
            if len(chosen) == self.n_markers:
                break
        return TaskInstance(self._world(walls, markers, (1, 13, SOUTH)), {"marker_cells": chosen})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        return _CleanEpisode(world, [world.index(*cell) for cell in instance.info["marker_cells"]])


class _HarvestEpisode(Episode):
    def __init__(self, world: KarelWorld, init_cells: int, init_sum: int, total: int) -> None:
        self.world, self.init_cells, self.init_sum, self.total = world, init_cells, init_sum, total

    def value(self) -> float:
        return (self.total - _leaps_total(self.world, self.init_cells, self.init_sum)) / self.total


class Harvester(KarelTask):
    """Pick the marker on every interior cell."""

    name = "harvester"
    default_size = (8, 8)
    min_actions = 2

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        markers[1:-1, 1:-1] = 1
        return TaskInstance(self._world(walls, markers, (self.height - 2, 1, EAST)))

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        return _HarvestEpisode(world, *_initial_counts(instance), (self.height - 2) * (self.width - 2))


# ======================================================================================= HPRL tasks
class _ProgressEpisode(Episode):
    """HPRL's return: the sum of progress differences until done, i.e. the progress when done."""

    def __init__(self) -> None:
        self.progress = 0.0
        self.done = False

    def finish(self) -> None:
        self.done = True
        raise HaltExecution

    def value(self) -> float:
        return self.progress


class _DoorKeyEpisode(_ProgressEpisode):
    def __init__(self, world: KarelWorld, key: int, target: int, doors: list[int]) -> None:
        super().__init__()
        self.world, self.key, self.target, self.doors = world, key, target, doors
        self.marked_cells = sum(1 for m in world.markers if m)

    def __call__(self, world: KarelWorld, code: int, before: int) -> None:
        markers = world.markers
        delta = world.last_delta
        if delta:  # a pile appeared or vanished only when a put/pick changed 0 <-> 1
            now = markers[before]
            self.marked_cells += (now > 0) - (now - delta > 0)
        unlocked = markers[self.key] == 0
        if unlocked:
            for door in self.doors:
                world.blocked[door] = 0  # the door opens for good once the key cell is empty
        score = 0.5 * unlocked + 0.5 * (unlocked and markers[self.target] == 2)
        extra = self.marked_cells - 2
        if extra > 0:
            score -= 0.0001 * extra
        self.progress = score
        if score == 1.0:
            self.finish()


class DoorKey(KarelTask):
    """Pick the key marker in the left room (the door opens), then put a second marker on the target."""

    name = "door_key"
    variant = "hprl"
    resizable = False
    marker_cap = 2
    doors = ((2, 4), (3, 4))

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        walls[:, 4] = True
        key = (int(rng.integers(1, 7)), int(rng.integers(1, 4)))
        target = (int(rng.integers(1, 7)), int(rng.integers(5, 7)))
        agent = (int(rng.integers(1, 7)), int(rng.integers(1, 4)))  # HPRL lets the agent start on the key
        markers[key] = markers[target] = 1
        world = self._world(walls, markers, (*agent, EAST))
        return TaskInstance(world, {"key": key, "target": target})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        episode = _DoorKeyEpisode(
            world, world.index(*instance.info["key"]), world.index(*instance.info["target"]),
            [world.index(*door) for door in self.doors],
        )
        world.observer = episode
        return episode


class _OneStrokeEpisode(_ProgressEpisode):
    def __init__(self, world: KarelWorld, cells: int) -> None:
        super().__init__()
        self.cells = cells
        self.visited = {world.pos}
        self.previous = world.pos

    def __call__(self, world: KarelWorld, code: int, before: int) -> None:
        pos = world.pos
        if code == MOVE and pos != before:
            world.blocked[before] = 1  # the cell just left becomes a wall
            world.markers[before] = 0
        # HPRL credits the visited set *before* this action (a one-action lag, karel.md §4.2).
        self.progress = len(self.visited) / self.cells
        overlap = pos in self.visited and pos != self.previous
        hit_wall = code == MOVE and pos == self.previous
        full = len(self.visited) == self.cells
        self.visited.add(pos)
        self.previous = pos
        if overlap or hit_wall or full:
            self.finish()


class OneStroke(KarelTask):
    """Visit every interior cell in one stroke; each cell left behind turns into a wall."""

    name = "one_stroke"
    variant = "hprl"
    marker_cap = 1

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        agent = (int(rng.integers(1, self.height - 1)), int(rng.integers(1, self.width - 1)))
        return TaskInstance(self._world(walls, markers, (*agent, EAST)))

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        episode = _OneStrokeEpisode(world, (self.height - 2) * (self.width - 2))
        world.observer = episode
        return episode


class _SeederEpisode(_ProgressEpisode):
    def __init__(self, cells: int) -> None:
        super().__init__()
        self.cells = cells
        self.ones = 0
        self.twos = 0

    def __call__(self, world: KarelWorld, code: int, before: int) -> None:
        delta = world.last_delta
        if delta:
            now = world.markers[before]
            was = now - delta
            self.ones += (now == 1) - (was == 1)
            self.twos += (now == 2) - (was == 2)
            self.progress = self.ones / self.cells
        if self.twos > 0 or (self.ones == self.cells and self.twos == 0):
            self.finish()


class Seeder(KarelTask):
    """Put exactly one marker on every interior cell; a second marker on any cell ends the episode."""

    name = "seeder"
    variant = "hprl"
    marker_cap = 2

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        return TaskInstance(self._world(walls, markers, (self.height - 2, 1, EAST)))

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        episode = _SeederEpisode((self.height - 2) * (self.width - 2))
        world.observer = episode
        return episode


#: HPRL's fixed cycle of food cells (8x8); the next entry whose cell is empty gets the new food.
SNAKE_FOOD_CELLS = (
    (6, 6), (6, 1), (1, 1), (2, 2), (2, 5), (5, 5), (5, 2), (3, 3), (5, 3), (4, 4), (6, 4), (3, 2),
    (1, 4), (6, 2), (2, 6), (4, 1), (1, 3), (2, 1), (3, 6), (4, 3), (5, 1), (2, 4), (5, 4), (1, 5),
    (3, 5), (4, 6), (5, 6), (3, 1), (4, 2), (6, 5), (2, 3), (1, 2), (4, 5), (3, 4), (6, 3),
)
SNAKE_BODY = 2
SNAKE_FOOD = 1
SNAKE_MAX_LENGTH = 22


class _SnakeEpisode(_ProgressEpisode):
    def __init__(self, world: KarelWorld, body: list[int], food_cells: list[int]) -> None:
        super().__init__()
        self.body = deque(body)
        self.length = len(body)
        self.food_cells = food_cells
        self.pointer = 0

    def __call__(self, world: KarelWorld, code: int, before: int) -> None:
        pos = world.pos
        if code == MOVE and pos != before:
            markers = world.markers
            markers[before] = SNAKE_BODY  # the cell just left joins the body (HPRL shows it as 2 markers)
            if pos in self.body:
                self.finish()  # ran into its own body: done, and HPRL records no reward for this step
            self.body.append(before)
            if markers[pos] == SNAKE_FOOD and self.length < SNAKE_MAX_LENGTH:
                self.length += 1
                markers[pos] = 0
                self._spawn(world)
            if len(self.body) > self.length:
                markers[self.body.popleft()] = 0
        self.progress = (self.length - 2) / 20.0
        if self.progress >= 0.99:
            self.finish()

    def _spawn(self, world: KarelWorld) -> None:
        for _ in range(len(self.food_cells)):
            cell = self.food_cells[self.pointer]
            self.pointer = (self.pointer + 1) % len(self.food_cells)
            if cell != world.pos and world.markers[cell] == 0 and not world.blocked[cell]:
                world.markers[cell] = SNAKE_FOOD
                return


class Snake(KarelTask):
    """Eat 20 foods; the body (2-marker cells) follows the head and running into it ends the episode."""

    name = "snake"
    variant = "hprl"
    resizable = False
    marker_cap = 1

    def generate(self, rng: np.random.Generator) -> TaskInstance:
        walls, markers = self._bordered()
        markers[1, 1] = markers[1, 2] = SNAKE_BODY
        markers[1, 6] = SNAKE_FOOD
        return TaskInstance(self._world(walls, markers, (1, 3, EAST)), {"body": [(1, 1), (1, 2)]})

    def episode(self, instance: TaskInstance, world: KarelWorld) -> Episode:
        episode = _SnakeEpisode(
            world, [world.index(*cell) for cell in instance.info["body"]],
            [world.index(*cell) for cell in SNAKE_FOOD_CELLS],
        )
        world.observer = episode
        return episode


TASKS: dict[str, type[KarelTask]] = {
    cls.name: cls
    for cls in (StairClimber, FourCorner, TopOff, Maze, CleanHouse, Harvester, DoorKey, OneStroke, Seeder, Snake)
}
#: The six tasks of the LEAPS paper, in its table's order.
LEAPS_TASKS: tuple[str, ...] = ("stair_climber", "four_corner", "top_off", "maze", "clean_house", "harvester")
#: The four harder tasks of HPRL's table.
HARD_TASKS: tuple[str, ...] = ("door_key", "one_stroke", "seeder", "snake")


def canonical_task_name(name: str) -> str:
    """'STAIRCLIMBER', 'StairClimber', 'stair_climber' -> 'stair_climber'; unknown names get a suggestion."""
    if not isinstance(name, str):
        raise TypeError(f"task name: got {type(name).__name__}, expected a string such as 'harvester'.")
    squashed = {key.replace("_", ""): key for key in TASKS}
    key = name.strip().lower().replace("_", "").replace("-", "")
    key = {"fourcorners": "fourcorner", "doorkeys": "doorkey"}.get(key, key)
    if key in squashed:
        return squashed[key]
    close = difflib.get_close_matches(key, list(squashed), n=1, cutoff=0.6)
    hint = f" Did you mean '{squashed[close[0]]}'?" if close else ""
    raise ValueError(f"unknown Karel task {name!r}.{hint} Known tasks: {', '.join(TASKS)}.")


def make_task(name: str, height: int | None = None, width: int | None = None, **options: Any) -> KarelTask:
    """A task by name, at its reference size unless height/width are given."""
    cls = TASKS[canonical_task_name(name)]
    return cls(height, width, **options)
