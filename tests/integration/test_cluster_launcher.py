"""`ray up cluster-local.yaml` → `nsrl submit` → `ray down`, over SSH on loopback (the local provider).

The test installs and starts what it needs: Debian's openssh-server on 127.0.0.1 with its own
config, host key and login key. Beware: `ray down` on the local provider runs a plain `ray stop`,
which stops every Ray process on the machine, so this test refuses to run while other Ray
instances are up (it never takes them down) and runs only with NSRL_CLUSTER_TEST=1 (CI sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
KEY = Path.home() / ".ssh" / "nsrl_local_cluster"


def _other_ray_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "raylet|gcs_server"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def _sshd(tmp: Path) -> subprocess.Popen:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "openssh-server"], check=True, capture_output=True)
    KEY.parent.mkdir(mode=0o700, exist_ok=True)
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(KEY)], check=True)
    authorized = KEY.parent / "authorized_keys"
    public = KEY.with_suffix(".pub").read_text()
    if public not in (authorized.read_text() if authorized.exists() else ""):
        with authorized.open("a") as handle:
            handle.write(public)
    authorized.chmod(0o600)
    # The login shell finds the project's Python and `ray` first, as on a provisioned node.
    (KEY.parent / "environment").write_text(f"PATH={Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin\n")
    host_key = tmp / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = tmp / "sshd_config"
    config.write_text(
        f"Port 22\nListenAddress 127.0.0.1\nHostKey {host_key}\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nPermitUserEnvironment yes\nUsePAM no\nPidFile none\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    return subprocess.Popen([sshd, "-D", "-f", str(config), "-e"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.skipif(os.environ.get("NSRL_CLUSTER_TEST") != "1", reason="set NSRL_CLUSTER_TEST=1: `ray down` stops every Ray process on the machine")
def test_ray_up_submit_ray_down(nsrl, tmp_path):
    if _other_ray_processes():
        pytest.skip("other Ray instances are running; `ray down` would stop them")
    sshd = _sshd(tmp_path)
    ray = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    try:
        time.sleep(1)
        up = subprocess.run([ray, "up", "-y", "--no-config-cache", "cluster-local.yaml"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        result = nsrl("submit", "tune_configs/quickstart.yaml", "--smoke", "--wait", "--address", "http://127.0.0.1:8265",
                      "--set", f"storage_path={tmp_path / 'results'}")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        (card,) = list((tmp_path / "results").glob("quickstart/seed_0_*/artifacts/policy.json"))
        assert json.loads(card.read_text())["env"] == "CartPole-v1"
    finally:
        subprocess.run([ray, "down", "-y", "cluster-local.yaml"], cwd=REPO, env=env, capture_output=True, timeout=300)
        sshd.terminate()
        sshd.wait(timeout=30)
    assert not _other_ray_processes(), "ray down left Ray processes behind"
