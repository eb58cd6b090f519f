"""Program policy cards: round trip, refusal of corrupt cards, load_policy without Ray/torch, Karel configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nsrl_ray
from nsrl_ray.config import ConfigError, load_experiment
from nsrl_ray.envs.karel import make_task
from nsrl_ray.explain.policy_card import PolicyCardError
from nsrl_ray.explain.program_card import (
    ProgramCard,
    any_card_markdown,
    program_card_from_dict,
    read_any_card,
)
from nsrl_ray.symbolic.karel.policy import ProgramPolicy, scaled_budget
from nsrl_ray.symbolic.karel.syntax import parse_program

REPO = Path(__file__).resolve().parents[2]
HARVESTER = (
    "DEF run m( WHILE c( markersPresent c) w( WHILE c( markersPresent c) w( pickMarker move w) turnRight move "
    "turnLeft WHILE c( markersPresent c) w( pickMarker move w) turnLeft move turnRight w) m)"
)


def card() -> ProgramCard:
    return ProgramCard(
        env="KarelHarvester-v0", learner="karel_hill_climb", program=parse_program(HARVESTER), task="harvester",
        height=8, width=8, max_calls=220, metrics={"symbolic/best_return": 1.0}, provenance={"seed": 0},
    )


def test_card_round_trip_and_markdown(tmp_path: Path) -> None:
    data = card().to_dict()
    assert data["kind"] == "program" and data["program"] == HARVESTER and data["tokens"] == 32
    again = program_card_from_dict(json.loads(json.dumps(data)))
    assert again == card()
    (tmp_path / "policy.json").write_text(json.dumps(data))
    assert read_any_card(tmp_path) == card()
    text = any_card_markdown(again)
    assert HARVESTER in text and "while markersPresent:" in text and "| symbolic/best_return | 1 |" in text


def test_load_policy_runs_the_program_without_ray_or_torch(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(card().to_dict()))
    code = (
        "import sys, nsrl_ray\n"
        f"policy = nsrl_ray.load_policy({str(tmp_path)!r})\n"
        "print(policy.returns([0, 1]), 'ray' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[1.0, 1.0] False False"
    policy = nsrl_ray.load_policy(tmp_path)
    task = make_task("harvester")
    world, episode = task.start(task.instance(3))
    result = policy(world)  # a program acts on a whole world
    assert result.calls == 219 and task.score(world, episode) == 1.0


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda d: d.update(program="DEF run m( move"), r"expected 'm\)'"),
        (lambda d: d.update(program="import os"), "token 0"),
        (lambda d: d["task"].update(name="harvestr"), "Did you mean 'harvester'"),
        (lambda d: d["task"].update(name="clean_house", height=30), "fixed 14x22 map"),
        (lambda d: d.update(max_calls=0), "max_calls"),
        (lambda d: d.pop("task"), "'task' is missing"),
        (lambda d: d.update(version=9), "version 9"),
    ],
)
def test_corrupt_program_cards_are_refused(change, fragment: str) -> None:
    data = card().to_dict()
    change(data)
    with pytest.raises(PolicyCardError, match=fragment):
        program_card_from_dict(data)


def test_generalisation_budget_scales_with_area() -> None:
    assert scaled_budget(220, (8, 8), (8, 8)) == 220
    assert scaled_budget(220, (8, 8), (100, 100)) == 58692  # 220 * 98 * 98 / 36 = 58691.1, rounded up
    policy = ProgramPolicy(parse_program(HARVESTER), "harvester")
    # The reference program sweeps two rows per loop and bumps the walls to turn: it harvests any size.
    assert policy.returns([0, 1], 100, 100) == [1.0, 1.0]
    assert policy.returns([0], 100, 100, max_calls=220)[0] < 0.02  # the 8x8 budget is far too small


def test_every_karel_config_validates_and_needs_no_teacher() -> None:
    files = sorted(p for p in (REPO / "tune_configs").glob("karel_*.yaml")  # the ten task files (not the VAE / latent-CEM ones)
                   if not p.stem.startswith("karel_vae") and not p.stem.endswith("_latent"))
    assert len(files) == 10
    for path in files:
        config = load_experiment(path)
        assert config.stages.enabled() == ("symbolic", "evaluate", "report")
        assert config.stages.symbolic.requires == ()
        assert config.actors_needed() == 1
        cem = load_experiment(path, ["stages.symbolic.learner=karel_cem"])
        assert cem.stages.symbolic.learner == "karel_cem"


def test_karel_learner_on_another_env_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nenv: CartPole-v1\nstages:\n  symbolic:\n    learner: karel_cem\n")
    with pytest.raises(ConfigError, match="use a Karel env such as KarelHarvester-v0"):
        load_experiment(path)
    path.write_text("name: bad\nenv: KarelMaze-v0\nstages:\n  symbolic:\n    learner: karel_cem\n    elite_fraction: 0\n")
    with pytest.raises(ConfigError, match="elite_fraction"):
        load_experiment(path)
