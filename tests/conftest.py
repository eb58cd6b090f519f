"""Shared fixtures: the repo root, a runner for the `nsrl` command as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def run_nsrl(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m nsrl_ray.cli.main ARGS` (the same entry point as the `nsrl` script)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nsrl_ray.cli.main", *args],
        cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def nsrl():
    return run_nsrl


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance for one test module (or the one already running); workers import `tests.…` modules."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}})
    yield
    if started:
        ray.shutdown()
