"""`nsrl submit/status/logs` against a real Ray cluster's Jobs API (a head started by this test)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A head node with a dashboard, in its own process; stopping that process stops the cluster
    it started (never `ray stop`, which would kill every Ray process on the machine)."""
    port, gcs_port = _free_port(), _free_port()
    ray = str(Path(sys.executable).with_name("ray"))
    # Every port chosen free: another Ray instance on the machine must not collide with this one.
    command = [ray, "start", "--head", "--block", "--num-cpus=2", "--dashboard-host=127.0.0.1",
               f"--dashboard-port={port}", f"--port={gcs_port}", f"--ray-client-server-port={_free_port()}",
               f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}"]
    # --block: interrupting this command stops exactly the processes it started.
    head = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,  # its own process group: what it started, and nothing else
                            env={**os.environ, "RAY_ADDRESS": "",
                                 # like a cluster node with the project installed: its python first on PATH
                                 "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    address = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # answering, if only with 401 (Ray 2.60 turns token authentication on)
        except OSError:
            time.sleep(1)
    else:
        head.kill()
        pytest.fail("the Ray dashboard did not come up: " + (head.stdout.read() if head.stdout else ""))
    yield address
    head.send_signal(signal.SIGINT)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:  # a loaded machine can outlast the graceful stop: end our own group
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
    # `ray start` records its head for later `ray.init()` calls; a stale record makes them hang.
    current = Path("/tmp/ray/ray_current_cluster")
    if current.is_file() and current.read_text().strip().endswith(f":{gcs_port}"):
        current.unlink()


def test_submit_runs_an_experiment_on_the_cluster(nsrl, cluster, tmp_path):
    result = nsrl("submit", "tune_configs/quickstart.yaml", "--smoke", "--address", cluster, "--wait",
                  "--set", f"storage_path={tmp_path}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    job_id = result.stdout.split("submitted job ", 1)[1].split()[0]
    assert f"job {job_id}: SUCCEEDED" in result.stdout
    assert "policy card:" in result.stdout  # the run's own summary, streamed from the job's logs
    (card,) = list(tmp_path.glob("quickstart/seed_0_*/artifacts/policy.json"))
    assert json.loads(card.read_text())["env"] == "CartPole-v1"

    status = nsrl("status", job_id, "--address", cluster)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout
    logs = nsrl("logs", job_id, "--address", cluster)
    assert logs.returncode == 0 and "TensorBoard: tensorboard --logdir" in logs.stdout


def test_bad_submissions_exit_2(nsrl, cluster, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenv: CartPole-v1\nstages: {techer: {}}\n")
    result = nsrl("submit", str(bad), "--address", cluster)
    assert result.returncode == 2 and "techer" in result.stderr
    result = nsrl("status", "raysubmit_doesnotexist", "--address", cluster)
    assert result.returncode == 2 and "no job" in result.stderr
    result = nsrl("submit", "tune_configs/quickstart.yaml", "--address", "http://127.0.0.1:1")
    assert result.returncode == 2 and "cannot reach" in result.stderr
