"""`nsrl … | head`: a reader that leaves early is not an error (no traceback, exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_validate_into_a_closed_pipe_exits_quietly():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        f"{sys.executable} -m nsrl_ray.cli.main validate tune_configs/gp_mountaincar.yaml | head -c 10",
        shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        executable="/bin/bash",
    )
    assert done.stdout == "tune_confi"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
