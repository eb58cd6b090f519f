"""Fixtures of the explorer tests: hand-written run folders (no Ray), the smoke quickstart run (built once per
session), the system Chromium for Playwright, and the explorer served on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.explain.program_card import ProgramCard
from nsrl_ray.symbolic.karel.syntax import parse_program
from nsrl_ray.symbolic.text import parse_expression
from tests.conftest import run_nsrl

CHROMIUM = Path("/usr/bin/chromium")
CARTPOLE = get_env_spec("CartPole-v1")
#: push_right wins exactly when the pole falls right: 2 w + 3 a > 0 (a: pole_angle, w: pole_angular_velocity).
CARTPOLE_FORMULAS = ("0.0", "2.0 * pole_angular_velocity + 3.0 * pole_angle + 0.1 * cart_velocity")
#: Climbs STAIRCLIMBER's staircase to the marker (solves every instance).
STAIRS = "DEF run m( WHILE c( noMarkersPresent c) w( turnLeft move turnRight move w) m)"


def cartpole_card(formulas: tuple[str, ...] = CARTPOLE_FORMULAS) -> PolicyCard:
    variables = CARTPOLE.feature_names
    return PolicyCard(
        env="CartPole-v1", learner="gp_distill", variables=variables, action_names=CARTPOLE.action_names,
        formulas=tuple(parse_expression(f, variables=variables) for f in formulas),
        metrics={"evaluate/return_mean": 120.0, "evaluate/teacher_return_mean": 200.0},
    )


def karel_card() -> ProgramCard:
    return ProgramCard(env="KarelStairClimber-v0", learner="karel_hill_climb", program=parse_program(STAIRS),
                       task="stair_climber", height=12, width=12, max_calls=220, metrics={"symbolic/best_return": 1.0})


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


def write_trial(experiment: Path, name: str, card=None, returns: tuple[float, float] | None = (120.0, 200.0),
                media: bool = False, dataset: bool = True, seed: int = 0) -> Path:
    """A trial folder as `nsrl run` leaves it: params.json, artifacts/ with the card and its neighbours."""
    trial = experiment / name
    artifacts = trial / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    _write(trial / "params.json", {"seed": seed})
    stages = {"teacher": {"wall_s": 1.0}, "collect": {"wall_s": 1.0}}
    if card is not None:
        _write(artifacts / "policy.json", card.to_dict())
        stages.update(symbolic={"wall_s": 1.0}, evaluate={"wall_s": 1.0}, report={"wall_s": 0.0})
    _write(artifacts / "stage_results.json", stages)
    if returns is not None:
        symbolic, teacher = returns
        _write(artifacts / "evaluation.json", {"metrics": {
            "return_mean": symbolic, "return_std": 5.0, "teacher_return_mean": teacher, "teacher_return_std": 3.0,
            "episodes": 4, "agreement": 0.9}})
    if dataset and isinstance(card, PolicyCard):
        rng = np.random.default_rng(seed)
        obs = rng.normal(0.0, [0.3, 0.5, 0.05, 0.4], size=(200, 4))
        (artifacts / "dataset").mkdir(exist_ok=True)
        np.savez(artifacts / "dataset" / "shard_0000.npz", obs=obs, teacher_action=(obs[:, 3] > 0).astype(int))
    if media:
        import imageio.v3 as iio

        frames = np.zeros((3, 24, 32, 3), dtype=np.uint8)
        for i in range(3):
            frames[i, :, i * 10:(i + 1) * 10] = (255, 80, 0)
        iio.imwrite(artifacts / "video_teacher.gif", frames, duration=100, loop=0)
        iio.imwrite(artifacts / "video_symbolic.gif", frames[::-1], duration=100, loop=0)
        iio.imwrite(artifacts / "kan_diagram.png", np.full((40, 60, 3), 200, dtype=np.uint8))
    return trial


@pytest.fixture
def formula_run(tmp_path: Path) -> Path:
    """An experiment folder with two good trials (one with videos and a diagram) and a half-written one."""
    experiment = tmp_path / "results" / "cartpole_gp"
    write_trial(experiment, "seed_0_aaaaa_00000", cartpole_card(), returns=(120.0, 200.0), media=True, seed=0)
    write_trial(experiment, "seed_1_aaaaa_00001", cartpole_card(("1.0", "pole_angle")), returns=(30.0, 190.0), seed=1)
    write_trial(experiment, "seed_2_aaaaa_00002", None, returns=None, seed=2)
    _write(experiment / "experiment.yaml", "name: cartpole_gp\nenv: CartPole-v1\n")
    return experiment


@pytest.fixture(scope="module")
def browser_runs(tmp_path_factory) -> dict[str, Path]:
    """Run folders for the browser: good, Karel, half-written, corrupt card, empty."""
    root = tmp_path_factory.mktemp("runs")
    good = root / "cartpole_gp"
    write_trial(good, "seed_0_aaaaa_00000", cartpole_card(), media=True)
    karel = root / "karel_stairs"
    write_trial(karel, "seed_0_bbbbb_00000", karel_card(), returns=None)
    half = root / "half_written"
    write_trial(half, "seed_0_ccccc_00000", None, returns=None)
    corrupt = root / "corrupt_card"
    trial = write_trial(corrupt, "seed_0_ddddd_00000", cartpole_card())
    (trial / "artifacts" / "policy.json").write_text('{"format": "nsrl_ray.policy_card", "version": 1, "kind": "formu')
    empty = root / "not_a_run"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here")
    return {"good": good, "karel": karel, "half": half, "corrupt": corrupt, "empty": empty}


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory) -> Path:
    """The quickstart at its smoke budget, with rollout videos: the real thing the explorer shows (~1 min).

    NSRL_UI_QUICKSTART_RUN names a finished full run instead (for the README's screenshots).
    """
    given = os.environ.get("NSRL_UI_QUICKSTART_RUN")
    if given:
        return Path(given).resolve()
    storage = tmp_path_factory.mktemp("quickstart")
    done = run_nsrl("run", "tune_configs/quickstart.yaml", "--smoke", "--storage-path", str(storage),
                    "--set", "stages.report.video=true", "--set", "stages.report.video_max_steps=60")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return storage / "quickstart"


# ------------------------------------------------------------------------------------------------ browser
def _install_chromium() -> str | None:
    """Install Debian's chromium when missing (CI runs as root); the reason it cannot be had, or None."""
    if CHROMIUM.is_file():
        return None
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get: apt-get install -y chromium)"
    done = subprocess.run([apt, "install", "-y", "chromium"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if done.returncode != 0 or not CHROMIUM.is_file():
        return f"apt-get install -y chromium failed ({done.returncode}): {done.stderr[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (headless; the browser is never downloaded)."""
    pytest.importorskip("playwright.sync_api", reason="Playwright is a dev dependency: pip install -e .[dev]")
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """The explorer served in this process (Gradio's server thread) on 127.0.0.1."""

    def __init__(self, runs: list[Path], storage: Path) -> None:
        from nsrl_ray.ui.app import launch

        self.demo, self.explorer, self.url = launch(runs, port=free_port(), storage=storage, block=False, quiet=True)

    def close(self) -> None:
        for job in self.explorer.jobs:
            job.stop()
        self.demo.close()


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    served: list[Served] = []

    def start(runs: list[Path]) -> Served:
        served.append(Served(runs, tmp_path_factory.mktemp("extract_results")))
        return served[-1]

    yield start
    for app in served:
        app.close()
