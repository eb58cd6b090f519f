"""`ray up cluster-local.yaml` → `nsrl submit` → `ray down`, over SSH on loopback (the local provider).

The test installs and starts what it needs: Debian's openssh-server on 127.0.0.1 with its own
config, host key and login key. `ray down` on the local provider runs a plain `ray stop` on the
head, which would stop every Ray process on the machine; the SSH session's PATH therefore starts
with a `ray` whose `stop` ends only the processes of this cluster (their command lines name its
temp dir, /tmp/ray_nsrl_local) and passes every other command to the real `ray`. Runs only with
NSRL_CLUSTER_TEST=1 (CI sets it).
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


CLUSTER_DIR = "/tmp/ray_nsrl_local"  # cluster-local.yaml's --temp-dir
DASHBOARD = "http://127.0.0.1:8275"  # cluster-local.yaml's --dashboard-port


def _cluster_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", CLUSTER_DIR], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip() and "pgrep" not in line]


def _scoped_ray(folder: Path) -> Path:
    """A `ray` that stops only this cluster's processes (by the temp dir in their command lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ray"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "# Written by tests/integration/test_cluster_launcher.py: `ray stop` ends only this cluster.\n"
        'if [ "${1:-}" = stop ]; then\n'
        f"  pkill -TERM -f {CLUSTER_DIR}/ || true\n"
        f"  for _ in $(seq 50); do pgrep -f {CLUSTER_DIR}/ >/dev/null || exit 0; sleep 0.2; done\n"
        f"  pkill -KILL -f {CLUSTER_DIR}/ || true\n"
        "  exit 0\n"
        "fi\n"
        f'exec {Path(sys.executable).with_name("ray")} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def _node_home(tmp: Path, scoped_bin: Path) -> Path:
    """The home the SSH sessions get: its login files put the scoped `ray` and the project's Python first.

    Ray's command runner runs `bash --login -c -i 'source ~/.bashrc; …'`, and Debian's /etc/profile
    resets PATH, so the PATH of a provisioned node has to come from the home's own login files; a
    home of the test's own leaves the user's dotfiles alone. Ray's token file is shared with the
    real home, where `nsrl submit` reads it.
    """
    home = tmp / "node_home"
    home.mkdir()
    login = f'export PATH="{scoped_bin}:{Path(sys.executable).parent}:$PATH"\n'
    for name in (".bashrc", ".bash_profile"):
        (home / name).write_text(login)
    (Path.home() / ".ray").mkdir(exist_ok=True)
    (home / ".ray").symlink_to(Path.home() / ".ray")
    return home


def _sshd(tmp: Path, home: Path) -> subprocess.Popen:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists() or not shutil.which("rsync"):  # Ray's updater copies file mounts with rsync
        subprocess.run(["apt-get", "install", "-y", "-q", "openssh-server", "rsync"], check=True, capture_output=True)
    KEY.parent.mkdir(mode=0o700, exist_ok=True)
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(KEY)], check=True)
    authorized = tmp / "authorized_keys"  # the test's own: ~/.ssh/authorized_keys stays untouched
    authorized.write_text(KEY.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    enter = tmp / "enter_node.sh"  # every session (commands, rsync) runs in the node's home
    enter.write_text(
        f'#!/usr/bin/env bash\nexport HOME="{home}"\ncd "$HOME"\n'
        'if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then exec bash -c "$SSH_ORIGINAL_COMMAND"; else exec bash -l; fi\n'
    )
    enter.chmod(0o755)
    host_key = tmp / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = tmp / "sshd_config"
    config.write_text(
        f"Port 22\nListenAddress 127.0.0.1\nHostKey {host_key}\nPermitRootLogin yes\nAuthorizedKeysFile {authorized}\n"
        f"PasswordAuthentication no\nUsePAM no\nPidFile none\nStrictModes no\nForceCommand {enter}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    return subprocess.Popen([sshd, "-D", "-f", str(config), "-e"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.skipif(os.environ.get("NSRL_CLUSTER_TEST") != "1", reason="set NSRL_CLUSTER_TEST=1 (installs and starts an SSH server)")
def test_ray_up_submit_ray_down(nsrl, tmp_path):
    if _cluster_processes():
        pytest.skip(f"a cluster under {CLUSTER_DIR} is already running")
    sshd = _sshd(tmp_path, _node_home(tmp_path, _scoped_ray(tmp_path / "bin")))
    ray = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    try:
        time.sleep(1)
        up = subprocess.run([ray, "up", "-y", "--no-config-cache", "cluster-local.yaml"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        assert _cluster_processes(), "ray up started no process under the cluster's temp dir"
        result = nsrl("submit", "tune_configs/quickstart.yaml", "--smoke", "--wait", "--address", DASHBOARD,
                      "--set", f"storage_path={tmp_path / 'results'}")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        (card,) = list((tmp_path / "results").glob("quickstart/seed_0_*/artifacts/policy.json"))
        assert json.loads(card.read_text())["env"] == "CartPole-v1"
    finally:
        down = subprocess.run([ray, "down", "-y", "cluster-local.yaml"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        sshd.terminate()
        sshd.wait(timeout=30)
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert not _cluster_processes(), "ray down left the cluster's processes behind"
