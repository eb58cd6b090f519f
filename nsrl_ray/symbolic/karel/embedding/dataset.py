"""Random Karel programs with demonstrations: the training data of the program embedding (LEAPS stage 1).

A program is drawn from LEAPS's probabilistic grammar within the size limits, then run on a few
random initial worlds (border walls, interior walls and marker piles drawn at random, the agent on a
random free cell with a random heading). A demonstration keeps the initial world, the action codes
the program executed (at most `max_demo_length`) and the five perceptions before every action and
after the last one: a program sees nothing else, so they are the state its behaviour depends on.

Generation is cut into chunks: chunk i draws everything from `SeedSequence([seed, i])`, so the data
set is the same however many workers produce the chunks. Duplicate programs are dropped on the
driver in chunk order, and the result is saved as `.npz` shards plus a `meta.json`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsrl_ray.envs.karel.world import ACTIONS, KarelWorld
from nsrl_ray.symbolic.karel.interpreter import LEAPS_MAX_CALLS, execute
from nsrl_ray.symbolic.karel.program import END_ID, Program, to_ids
from nsrl_ray.symbolic.karel.sampler import ProgramLimits, ProgramSampler
from nsrl_ray.symbolic.karel.syntax import parse_ids

#: Action code used for "the demonstration has ended" in targets (after the five action codes).
END_ACTION = len(ACTIONS)
#: Padding in the action arrays.
PAD_ACTION = -1
META_FILE = "meta.json"
DATASET_FORMAT = "nsrl_ray.karel_program_dataset"
_ACTION_CODE = {name: code for code, name in enumerate(ACTIONS)}


@dataclass(frozen=True)
class DatasetSpec:
    """What a program dataset holds; saved in its meta.json, so a changed spec is never mixed with old shards."""

    programs: int
    """Programs drawn (duplicates are then dropped, so the data set may hold a few less)."""
    demos_per_program: int
    """Random initial worlds each program is run on."""
    height: int
    """Grid height of the demonstration worlds (LEAPS: 8)."""
    width: int
    """Grid width of the demonstration worlds (LEAPS: 8)."""
    max_demo_length: int
    """Actions kept per demonstration; a longer run is cut there (and marked as cut)."""
    max_tokens: int
    """Longest program in tokens, DEF run m( ... m) included (LEAPS: 45)."""
    max_nesting: int
    """Most control structures nested in one another."""
    max_block: int
    """Most statements in one block."""
    wall_prob: float
    """Chance that an interior cell is a wall."""
    marker_prob: float
    """Chance that a free interior cell holds a marker pile (of 1..max_initial_markers)."""
    max_initial_markers: int
    """Largest pile in an initial world."""
    max_calls: int = LEAPS_MAX_CALLS
    """Node-call budget of a demonstration run (LEAPS: 220)."""
    chunk_size: int = 500
    """Programs per chunk (one remote call each)."""

    def __post_init__(self) -> None:
        for name in ("programs", "demos_per_program", "max_demo_length", "max_tokens", "max_block", "max_calls", "chunk_size",
                     "max_initial_markers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a positive integer.")
        if self.height < 3 or self.width < 3:
            raise ValueError(f"height, width: got {self.height}x{self.width}, expected at least 3x3 (a border and one free cell).")
        for name in ("wall_prob", "marker_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: got {value!r}, expected a probability in [0, 1).")
        if self.max_tokens < 5:
            raise ValueError(f"max_tokens: got {self.max_tokens}, expected >= 5 (DEF run m( action m)).")

    @property
    def limits(self) -> ProgramLimits:
        return ProgramLimits(self.max_tokens, self.max_nesting, self.max_block)

    @property
    def chunks(self) -> int:
        return -(-self.programs // self.chunk_size)

    def chunk_programs(self, index: int) -> int:
        return min(self.chunk_size, self.programs - index * self.chunk_size)


def random_world(rng: np.random.Generator, spec: DatasetSpec) -> KarelWorld:
    """A random initial world: border walls, random interior walls and marker piles, the agent on a free cell."""
    h, w = spec.height, spec.width
    walls = np.zeros((h, w), dtype=bool)
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
    interior = rng.random((h - 2, w - 2)) < spec.wall_prob
    walls[1:-1, 1:-1] = interior
    free = np.argwhere(~walls)
    if len(free) == 0:  # every interior cell drew a wall: free one
        walls[1, 1] = False
        free = np.array([[1, 1]])
    row, col = free[rng.integers(len(free))]
    walls_free = ~walls
    piles = (rng.random((h, w)) < spec.marker_prob) & walls_free
    markers = np.where(piles, rng.integers(1, spec.max_initial_markers + 1, size=(h, w)), 0).astype(np.uint8)
    return KarelWorld(walls, markers, (int(row), int(col), int(rng.integers(4))))


def demonstrate(program: Program, world: KarelWorld, max_calls: int, max_length: int) -> tuple[list[int], np.ndarray, bool]:
    """Run ``program`` on a copy of ``world``: its action codes (at most ``max_length``), the perceptions
    before every kept action and after the last one ((len+1)×5 booleans), and whether the run was cut."""
    _, trace = execute(program, world.copy(), max_calls, trace=True)
    actions = [_ACTION_CODE[name] for name, *_ in trace]
    cut = len(actions) > max_length
    actions = actions[:max_length]
    replay = world.copy()
    perceptions = np.zeros((len(actions) + 1, 5), dtype=bool)
    for t, code in enumerate(actions):
        perceptions[t] = replay.perceive()
        replay.act(code)
    perceptions[len(actions)] = replay.perceive()
    return actions, perceptions, cut


def generate_chunk(spec: DatasetSpec, seed: int, index: int) -> dict[str, np.ndarray]:
    """Chunk ``index`` of the data set of ``seed``: programs and their demonstrations as arrays."""
    seq = np.random.SeedSequence([int(seed), int(index)])
    program_seed, world_seed = seq.generate_state(2)
    rng = random.Random(int(program_seed))
    world_rng = np.random.default_rng(int(world_seed))
    sampler = ProgramSampler()
    limits = spec.limits
    n, d, t_max, length = spec.chunk_programs(index), spec.demos_per_program, spec.max_demo_length, spec.max_tokens + 1
    out = {
        "program_ids": np.full((n, length), END_ID, dtype=np.int16),
        "program_len": np.zeros(n, dtype=np.int16),
        "demo_actions": np.full((n, d, t_max), PAD_ACTION, dtype=np.int8),
        "demo_perceptions": np.zeros((n, d, t_max + 1, 5), dtype=bool),
        "demo_len": np.zeros((n, d), dtype=np.int16),
        "demo_cut": np.zeros((n, d), dtype=bool),
        "init_walls": np.zeros((n, d, spec.height, spec.width), dtype=bool),
        "init_markers": np.zeros((n, d, spec.height, spec.width), dtype=np.uint8),
        "init_agent": np.zeros((n, d, 3), dtype=np.int16),
    }
    for i in range(n):
        program = sampler.program(rng, limits)
        ids = to_ids(program)
        out["program_ids"][i, : len(ids)] = ids
        out["program_len"][i] = len(ids)
        for j in range(d):
            world = random_world(world_rng, spec)
            actions, perceptions, cut = demonstrate(program, world, spec.max_calls, t_max)
            out["demo_actions"][i, j, : len(actions)] = actions
            out["demo_perceptions"][i, j, : len(perceptions)] = perceptions
            out["demo_len"][i, j] = len(actions)
            out["demo_cut"][i, j] = cut
            out["init_walls"][i, j] = world.wall_grid()
            out["init_markers"][i, j] = world.marker_grid()
            out["init_agent"][i, j] = world.agent
    return out


def merge_chunks(chunks: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate chunks in order and drop programs seen before (the first copy stays)."""
    chunks = list(chunks)
    data = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
    seen: set[bytes] = set()
    keep = []
    for i, row in enumerate(data["program_ids"]):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return {key: value[keep] for key, value in data.items()}


def generate(spec: DatasetSpec, seed: int) -> dict[str, np.ndarray]:
    """The whole data set in this process (the stage farms the chunks out to Ray instead)."""
    return merge_chunks(generate_chunk(spec, seed, i) for i in range(spec.chunks))


def save_shards(folder: Path, data: dict[str, np.ndarray], spec: DatasetSpec, seed: int, shard_size: int) -> list[Path]:
    """Write ``data`` as shard_00000.npz, ... and meta.json (last, so a folder with meta.json is complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)
    for old in folder.glob("shard_*.npz"):
        old.unlink()
    count = len(data["program_ids"])
    paths = []
    for number, start in enumerate(range(0, count, shard_size)):
        path = folder / f"shard_{number:05d}.npz"
        np.savez_compressed(path, **{key: value[start : start + shard_size] for key, value in data.items()})
        paths.append(path)
    meta = {"format": DATASET_FORMAT, "version": 1, "seed": int(seed), "spec": asdict(spec), "programs": count,
            "shards": [p.name for p in paths]}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return paths


def read_meta(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / META_FILE
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    return meta if meta.get("format") == DATASET_FORMAT else None


def load_shards(folder: Path) -> dict[str, np.ndarray]:
    """The data set saved by `save_shards`; refuses a folder without a complete meta.json."""
    meta = read_meta(folder)
    if meta is None:
        raise FileNotFoundError(f"{folder}: no {META_FILE} of a Karel program dataset (generate one with the karel_vae learner).")
    parts = [dict(np.load(Path(folder) / name)) for name in meta["shards"]]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def programs_of(data: dict[str, np.ndarray], rows: Sequence[int] | None = None) -> list[Program]:
    """The programs of some rows, parsed back from their ids."""
    rows = range(len(data["program_ids"])) if rows is None else rows
    return [parse_ids(data["program_ids"][i][: data["program_len"][i]]) for i in rows]


def initial_world(data: dict[str, np.ndarray], row: int, demo: int) -> KarelWorld:
    """The initial world of demonstration ``demo`` of program ``row``."""
    agent = tuple(int(v) for v in data["init_agent"][row, demo])
    return KarelWorld(data["init_walls"][row, demo], data["init_markers"][row, demo], agent)  # type: ignore[arg-type]


def trace_agreement(actions: Sequence[int], demo: Sequence[int]) -> float:
    """How far two action sequences agree: matching positions over the longer length (1 for two empty ones)."""
    longest = max(len(actions), len(demo))
    if longest == 0:
        return 1.0
    same = sum(1 for a, b in zip(actions, demo) if a == b)
    return same / longest
