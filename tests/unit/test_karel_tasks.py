"""The ten Karel tasks: generators match the reference layouts, and one hand-checked trace per task.

Each trace was worked out by hand from the rules in shared/reference/karel.md (headings N E S W)
before running; the score at the end is the task's return for that run.
"""

from __future__ import annotations

import numpy as np
import pytest

from nsrl_ray.envs.karel import KarelWorld, TaskInstance, make_task
from nsrl_ray.envs.karel.tasks import TASKS, CleanHouse, canonical_task_name
from nsrl_ray.symbolic.karel.interpreter import execute
from nsrl_ray.symbolic.karel.syntax import parse_program

N, E, S, W = 0, 1, 2, 3


def run(task_name: str, instance: TaskInstance, text: str, **task_kwargs):
    task = make_task(task_name, **task_kwargs)
    world, episode = task.start(instance)
    result, trace = execute(parse_program(text), world, trace=True)
    return task.score(world, episode), trace, result, world


def steps(*rows: tuple) -> list[tuple]:
    names = {"m": "move", "l": "turnLeft", "r": "turnRight", "pick": "pickMarker", "put": "putMarker"}
    return [(names[a], row, col, heading) for a, row, col, heading in rows]


def instance_from_text(text: str, marker_cap: int = 9, **info) -> TaskInstance:
    return TaskInstance(KarelWorld.from_text(text, marker_cap=marker_cap), info)


def test_every_task_builds_instances_deterministically_from_seeds() -> None:
    for name in TASKS:
        task = make_task(name)
        a, b = task.instance(7), task.instance(7)
        assert (a.world.to_tensor() == b.world.to_tensor()).all()
        assert a.world.height, a.world.width == task.default_size
        assert a.world.marker_cap == task.marker_cap


def test_task_names_and_sizes_are_checked() -> None:
    assert canonical_task_name("STAIRCLIMBER") == "stair_climber" and canonical_task_name("FourCorners") == "four_corner"
    with pytest.raises(ValueError, match="Did you mean 'harvester'"):
        make_task("harvest")
    with pytest.raises(ValueError, match="fixed 14x22 map"):
        make_task("clean_house", 20, 20)
    with pytest.raises(ValueError, match="too small"):
        make_task("maze", 3, 3)


# ----------------------------------------------------------------------------- STAIRCLIMBER
def test_stair_layout_matches_leaps() -> None:
    task = make_task("stair_climber", 6, 6)
    walls, cells, valid = task.layout()
    assert cells == [(4, 1), (3, 2), (2, 3), (1, 4)]  # row + col = H - 1, sorted by column
    expected = np.array([[c == "#" for c in row] for row in (
        "######", "#....#", "#...##", "#..###", "#.##.#", "######",
    )])
    assert (walls == expected).all()
    for seed in range(30):
        instance = task.instance(seed)
        agent = instance.world.agent
        marker = instance.info["marker"]
        assert agent[2] == E and (agent[0], agent[1]) in cells and marker in cells
        assert agent[1] < marker[1]  # the agent starts below-left of the marker


def test_stair_climber_trace() -> None:
    task = make_task("stair_climber", 6, 6)
    walls, _, valid = task.layout()
    markers = np.zeros_like(walls, dtype=np.uint8)
    markers[2, 3] = 1
    instance = TaskInstance(KarelWorld(walls, markers, (4, 1, E)), {"marker": (2, 3), "valid_positions": sorted(valid)})
    gt = "DEF run m( WHILE c( noMarkersPresent c) w( turnLeft move turnRight move w) m)"
    score, trace, result, _ = run("stair_climber", instance, gt, height=6, width=6)
    assert trace == steps(
        ("l", 4, 1, N), ("m", 3, 1, N), ("r", 3, 1, E), ("m", 3, 2, E),
        ("l", 3, 2, N), ("m", 2, 2, N), ("r", 2, 2, E), ("m", 2, 3, E),
    )
    assert score == 1.0 and result.stop == "end"
    # Sparse score: a turn after reaching the marker makes the last action score 0.
    late = gt.replace("w) m)", "w) turnLeft m)")
    assert run("stair_climber", instance, late, height=6, width=6)[0] == 0.0


# ------------------------------------------------------------------------------- FOURCORNER
FOUR_CORNER_ROOM = """
    #####
    #...#
    #...#
    #.>.#
    #####
"""


def test_four_corner_trace() -> None:
    gt = ("DEF run m( WHILE c( noMarkersPresent c) w( WHILE c( frontIsClear c) w( move w) "
          "IF c( noMarkersPresent c) i( putMarker turnLeft move i) w) m)")
    score, trace, _, world = run("four_corner", instance_from_text(FOUR_CORNER_ROOM), gt, height=5, width=5)
    assert trace == steps(
        ("m", 3, 3, E), ("put", 3, 3, E), ("l", 3, 3, N), ("m", 2, 3, N), ("m", 1, 3, N), ("put", 1, 3, N),
        ("l", 1, 3, W), ("m", 1, 2, W), ("m", 1, 1, W), ("put", 1, 1, W), ("l", 1, 1, S), ("m", 2, 1, S),
        ("m", 3, 1, S), ("put", 3, 1, S), ("l", 3, 1, E), ("m", 3, 2, E), ("m", 3, 3, E),
    )
    assert score == 1.0 and world.total_markers() == 4


def test_four_corner_counts_the_last_put_one_action_late() -> None:
    # A wrong marker at (3,2), then a corner marker as the very last action: LEAPS's marker total
    # has not counted that last put yet, so 1 wrong - 1 correct = 0 wrong and the score is 0.25.
    room = instance_from_text(FOUR_CORNER_ROOM)
    score, trace, _, _ = run("four_corner", room, "DEF run m( putMarker move move putMarker m)", height=5, width=5)
    assert trace[-2:] == steps(("m", 3, 3, W), ("put", 3, 3, W))
    assert score == 0.25
    assert run("four_corner", room, "DEF run m( putMarker move move putMarker turnLeft m)", height=5, width=5)[0] == 0.0


# ----------------------------------------------------------------------------------- TOPOFF
def test_top_off_trace() -> None:
    instance = instance_from_text("""
        ######
        #....#
        #....#
        #>1.1#
        ######
    """, marked=[False, False, True, False, True])
    gt = "DEF run m( WHILE c( frontIsClear c) w( IF c( markersPresent c) i( putMarker i) move w) m)"
    score, trace, _, world = run("top_off", instance, gt, height=5, width=6)
    assert trace == steps(("m", 3, 2, E), ("put", 3, 2, E), ("m", 3, 3, E), ("m", 3, 4, E))
    # Columns 1-3 are right, column 4 still has one marker: 3 / (W - 1).
    assert score == pytest.approx(3 / 5)
    full = gt.replace("w) m)", "w) IF c( markersPresent c) i( putMarker i) m)")
    assert run("top_off", instance, full, height=5, width=6)[0] == 1.0


def test_top_off_generator_marks_the_last_cell_as_leaps_ran_it() -> None:
    task = make_task("top_off")
    rates = []
    for seed in range(200):
        grid = task.instance(seed).world.marker_grid()
        assert grid[10, 10] == 1 and grid[:10].sum() == 0
        rates.append(grid[10, 1:10].mean())
    assert np.mean(rates) == pytest.approx(0.25, abs=0.03)
    assert make_task("top_off", last_cell_marked=False).instance(0).world.marker_grid()[10, 10] == 0


# ------------------------------------------------------------------------------------- MAZE
def test_maze_trace() -> None:
    instance = instance_from_text("""
        #####
        #..1#
        #.###
        #>..#
        #####
    """, marker=(1, 3))
    gt = ("DEF run m( WHILE c( noMarkersPresent c) w( IFELSE c( rightIsClear c) i( turnRight i) ELSE e( "
          "WHILE c( not c( frontIsClear c) c) w( turnLeft w) e) move w) m)")
    score, trace, _, _ = run("maze", instance, gt, height=5, width=5)
    assert trace == steps(
        ("m", 3, 2, E), ("m", 3, 3, E), ("l", 3, 3, N), ("l", 3, 3, W), ("m", 3, 2, W), ("m", 3, 1, W),
        ("r", 3, 1, N), ("m", 2, 1, N), ("m", 1, 1, N), ("r", 1, 1, E), ("m", 1, 2, E), ("m", 1, 3, E),
    )
    assert score == 1.0


def test_generated_mazes_are_perfect() -> None:
    task = make_task("maze", 10, 10)
    for seed in range(20):
        instance = task.instance(seed)
        walls = instance.world.wall_grid()
        free = {tuple(c) for c in np.argwhere(~walls)}
        edges = sum((r + 1, c) in free for r, c in free) + sum((r, c + 1) in free for r, c in free)
        assert edges == len(free) - 1  # a spanning tree of corridors: connected and without loops
        assert instance.info["marker"] in free and instance.world.agent == (8, 1, E)


# ------------------------------------------------------------------------------- CLEANHOUSE
def test_clean_house_candidates_and_trace() -> None:
    task = make_task("clean_house")
    base = task.instance(0)
    walls = base.world.wall_grid()
    candidates = CleanHouse.candidates(walls)
    assert len(candidates) == 73 and len(set(candidates) - {(1, 13), (2, 12), (3, 10), (4, 11), (5, 11), (6, 10)}) == 68
    assert (~walls).sum() == 160 and base.world.agent == (1, 13, S) and base.world.markers_at(2, 12) == 2
    assert len(base.info["marker_cells"]) == 10 and base.world.total_markers() == 12

    markers = np.zeros(walls.shape, dtype=np.uint8)
    cells = [(2, 11), (1, 1), (1, 2), (2, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1), (11, 1)]
    for cell in cells:
        markers[cell] = 1
    markers[2, 12] = 2
    instance = TaskInstance(KarelWorld(walls, markers, (1, 13, S)), {"marker_cells": cells})
    score, trace, _, _ = run("clean_house", instance, "DEF run m( move turnRight move move pickMarker m)")
    assert trace == steps(("m", 2, 13, S), ("r", 2, 13, W), ("m", 2, 12, W), ("m", 2, 11, W), ("pick", 2, 11, W))
    assert score == pytest.approx(0.1)


# -------------------------------------------------------------------------------- HARVESTER
def test_harvester_trace() -> None:
    task = make_task("harvester", 4, 5)
    instance = task.instance(0)
    gt = ("DEF run m( WHILE c( markersPresent c) w( WHILE c( markersPresent c) w( pickMarker move w) turnRight "
          "move turnLeft WHILE c( markersPresent c) w( pickMarker move w) turnLeft move turnRight w) m)")
    score, trace, _, world = run("harvester", instance, gt, height=4, width=5)
    assert trace == steps(
        ("pick", 2, 1, E), ("m", 2, 2, E), ("pick", 2, 2, E), ("m", 2, 3, E), ("pick", 2, 3, E), ("m", 2, 3, W),
        ("r", 2, 3, N), ("m", 1, 3, N), ("l", 1, 3, W), ("pick", 1, 3, W), ("m", 1, 2, W), ("pick", 1, 2, W),
        ("m", 1, 1, W), ("pick", 1, 1, W), ("m", 1, 1, E), ("l", 1, 1, N), ("m", 1, 1, S), ("r", 1, 1, W),
    )
    assert score == 1.0 and world.total_markers() == 0


def test_harvester_counts_the_last_pick_one_action_late_and_needs_two_actions() -> None:
    task = make_task("harvester")
    instance = task.instance(0)
    assert run("harvester", instance, "DEF run m( pickMarker move pickMarker m)")[0] == pytest.approx(1 / 36)
    assert run("harvester", instance, "DEF run m( pickMarker move pickMarker move m)")[0] == pytest.approx(2 / 36)
    assert run("harvester", instance, "DEF run m( pickMarker m)")[0] == 0.0  # fewer than 2 actions


# ---------------------------------------------------------------------------------- DOORKEY
def test_door_key_trace() -> None:
    task = make_task("door_key")
    walls = task.instance(0).world.wall_grid()
    assert walls[:, 4].all() and not walls[1:7, 1:4].any() and not walls[1:7, 5:7].any()
    markers = np.zeros(walls.shape, dtype=np.uint8)
    markers[5, 2] = markers[6, 6] = 1
    instance = TaskInstance(KarelWorld(walls, markers, (5, 1, E), marker_cap=2), {"key": (5, 2), "target": (6, 6)})
    program = ("DEF run m( move pickMarker turnLeft move move turnRight move move move turnRight move move move "
               "turnLeft move putMarker move m)")
    score, trace, result, world = run("door_key", instance, program)
    assert trace == steps(
        ("m", 5, 2, E), ("pick", 5, 2, E), ("l", 5, 2, N), ("m", 4, 2, N), ("m", 3, 2, N), ("r", 3, 2, E),
        ("m", 3, 3, E), ("m", 3, 4, E), ("m", 3, 5, E), ("r", 3, 5, S), ("m", 4, 5, S), ("m", 5, 5, S),
        ("m", 6, 5, S), ("l", 6, 5, E), ("m", 6, 6, E), ("put", 6, 6, E),
    )
    assert score == 1.0 and result.stop == "task"  # done at 1.0: the last move never runs
    assert world.wall_at(2, 4) is False and world.wall_at(1, 4) is True
    # Without the key the door stays shut: the move into (3,4) bumps and turns around.
    locked = run("door_key", instance, "DEF run m( turnLeft move move turnRight move move move m)")
    assert locked[1][-1] == ("move", 3, 3, W) and locked[0] == 0.0


# -------------------------------------------------------------------------------- ONESTROKE
def test_one_stroke_trace() -> None:
    instance = instance_from_text("""
        #####
        #...#
        #...#
        #>..#
        #####
    """, marker_cap=1)
    spiral = "DEF run m( REPEAT R=5 r( WHILE c( frontIsClear c) w( move w) turnLeft r) m)"
    score, trace, result, world = run("one_stroke", instance, spiral, height=5, width=5)
    assert trace == steps(
        ("m", 3, 2, E), ("m", 3, 3, E), ("l", 3, 3, N), ("m", 2, 3, N), ("m", 1, 3, N), ("l", 1, 3, W),
        ("m", 1, 2, W), ("m", 1, 1, W), ("l", 1, 1, S), ("m", 2, 1, S), ("l", 2, 1, E), ("m", 2, 2, E),
        ("l", 2, 2, N),
    )
    assert score == 1.0 and result.stop == "task"
    assert world.wall_grid()[1:4, 1:4].sum() == 8  # every cell left behind turned into a wall
    # HPRL credits a cell one action after entering it: stopping after the last move gives 8/9.
    short = "DEF run m( REPEAT R=4 r( WHILE c( frontIsClear c) w( move w) turnLeft r) move m)"
    assert run("one_stroke", instance, short, height=5, width=5)[0] == pytest.approx(8 / 9)


# ----------------------------------------------------------------------------------- SEEDER
def test_seeder_trace() -> None:
    instance = instance_from_text("""
        ####
        #..#
        #>.#
        ####
    """, marker_cap=2)
    program = ("DEF run m( putMarker move putMarker turnLeft move putMarker turnLeft move putMarker putMarker m)")
    score, trace, result, _ = run("seeder", instance, program, height=4, width=4)
    assert trace == steps(
        ("put", 2, 1, E), ("m", 2, 2, E), ("put", 2, 2, E), ("l", 2, 2, N), ("m", 1, 2, N), ("put", 1, 2, N),
        ("l", 1, 2, W), ("m", 1, 1, W), ("put", 1, 1, W),
    )
    assert score == 1.0 and result.stop == "task"
    double = "DEF run m( putMarker move putMarker turnLeft move putMarker putMarker move m)"
    score, trace, _, _ = run("seeder", instance, double, height=4, width=4)
    assert score == pytest.approx(2 / 4) and len(trace) == 7  # the second marker on a cell ends it


# ------------------------------------------------------------------------------------ SNAKE
def test_snake_trace() -> None:
    task = make_task("snake")
    instance = task.instance(0)
    assert instance.world.render_text().splitlines()[1] == "#22>..1#"
    program = "DEF run m( move move move turnRight move turnRight move turnRight move move m)"
    score, trace, result, world = run("snake", instance, program)
    assert trace == steps(
        ("m", 1, 4, E), ("m", 1, 5, E), ("m", 1, 6, E), ("r", 1, 6, S), ("m", 2, 6, S), ("r", 2, 6, W),
        ("m", 2, 5, W), ("r", 2, 5, N), ("m", 1, 5, N),
    )
    # One food eaten (the next one spawns at (6,6), the first free cell of HPRL's list), then the head
    # runs into its body at (1,5): done with 1/20.
    assert score == pytest.approx(0.05) and result.stop == "task"
    assert world.markers_at(6, 6) == 1
