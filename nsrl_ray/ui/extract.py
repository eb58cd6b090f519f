"""'Extract now': run a small experiment file (`nsrl run`, local Ray instance) in the background and follow it.

The job is a subprocess, so a crash or Ctrl-C in the experiment never takes the explorer down; its
progress comes from the stage lines `nsrl run` prints ("[seed 0] teacher  iteration 3/30 ...").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TUNE_CONFIGS = REPO / "tune_configs"

#: Classic-control environments and the experiment file of each learner on it.
EXTRACT_CONFIGS: dict[str, dict[str, str]] = {
    "CartPole-v1": {"gp": "gp_cartpole.yaml", "kan": "kan_cartpole.yaml"},
    "Acrobot-v1": {"gp": "gp_acrobot.yaml", "kan": "kan_acrobot.yaml"},
    "MountainCar-v0": {"gp": "gp_mountaincar.yaml", "kan": "kan_mountaincar.yaml"},
    "Pendulum-v1": {"gp": "gp_pendulum.yaml", "kan": "kan_pendulum.yaml"},
}
LEARNERS = {"gp": "GP (genetic programming)", "kan": "KAN (Kolmogorov-Arnold network)"}

_STAGE_LINE = re.compile(r"^\[seed [^\]]+\] (\w+)\s+(.*)$")
_FRACTION = re.compile(r"(?:iteration|chunk|generation|KAN step)\s+(\d+)(?:/(\d+))?")


class ExtractError(ValueError):
    """The chosen environment or learner has no experiment file, or the job cannot start."""


def config_for(env: str, learner: str) -> Path:
    """The experiment file that extracts ``learner``'s policy on ``env``."""
    if env not in EXTRACT_CONFIGS:
        raise ExtractError(f"extract: environment {env!r} is not offered; choose one of {', '.join(EXTRACT_CONFIGS)}.")
    if learner not in EXTRACT_CONFIGS[env]:
        raise ExtractError(f"extract: learner {learner!r} is not offered; choose one of {', '.join(LEARNERS)}.")
    path = TUNE_CONFIGS / EXTRACT_CONFIGS[env][learner]
    if not path.is_file():
        raise ExtractError(f"extract: the experiment file {path} is missing; 'extract now' needs the repository's tune_configs/.")
    return path


@dataclass
class Progress:
    fraction: float
    message: str


class ExtractJob:
    """One `nsrl run FILE` in a subprocess, its output in `log_path`, its result in `experiment_dir`."""

    def __init__(self, env: str, learner: str, storage: str | Path, smoke: bool = True, video: bool = True,
                 overrides: tuple[str, ...] = ()) -> None:
        from nsrl_ray.config import load_experiment

        self.env, self.learner, self.smoke = env, learner, smoke
        self.config_path = config_for(env, learner)
        sets = list(overrides)
        config = load_experiment(self.config_path, sets, smoke=smoke)
        if video and config.stages.report is not None:
            sets.append("stages.report.video=true")
        self.name = config.name
        self.stages = tuple(config.stages.enabled())
        self.seeds = tuple(config.seeds)
        # A fresh folder per launch: a second launch never mixes its trials into the first one's folder.
        self.storage = Path(storage).expanduser().resolve() / f"extract_{time.strftime('%Y%m%d-%H%M%S')}_{os.getpid()}_{id(self) % 10000}"
        self.experiment_dir = self.storage / self.name
        self.log_path = self.storage / "nsrl_run.log"
        self.command = [sys.executable, "-m", "nsrl_ray.cli.main", "run", str(self.config_path), "--storage-path", str(self.storage),
                        *[arg for s in sets for arg in ("--set", s)], *(["--smoke"] if smoke else [])]
        self.lines: list[str] = []
        self.returncode: int | None = None
        self.started = time.monotonic()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> "ExtractJob":
        self.storage.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONUNBUFFERED": "1"}
        try:
            self._process = subprocess.Popen(self.command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True, bufsize=1)
        except OSError as error:
            raise ExtractError(f"extract: cannot start `nsrl run`: {error}") from None
        self._reader = threading.Thread(target=self._read, name=f"extract-{self.name}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with open(self.log_path, "w") as log:
            for line in self._process.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line.rstrip("\n"))
        self.returncode = self._process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and (self.returncode is None or (self._reader is not None and self._reader.is_alive()))

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.running

    def wait(self, timeout: float | None = None) -> int | None:
        if self._reader is not None:
            self._reader.join(timeout)
        return self.returncode

    def stop(self) -> None:
        """Interrupt the run (as Ctrl-C would): `nsrl run` shuts its Ray instance down."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(2)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def progress(self) -> Progress:
        """The share of stages done (over all seeds) and the last stage line."""
        total = max(1, len(self.stages) * max(1, len(self.seeds)))
        done, partial, last = 0, 0.0, ""
        for line in self.lines:
            match = _STAGE_LINE.match(line)
            if not match:
                continue
            stage, rest = match.groups()
            last = line
            if rest.startswith("finished in"):
                done, partial = done + 1, 0.0
            elif stage == "done":
                done, partial = total, 0.0
            else:
                fraction = _FRACTION.search(rest)
                if fraction and fraction.group(2):
                    partial = min(0.99, int(fraction.group(1)) / max(1, int(fraction.group(2))))
        seconds = time.monotonic() - self.started
        if not self.running:
            if self.returncode == 0:
                return Progress(1.0, f"done in {seconds:.0f} s: {self.experiment_dir}")
            return Progress(min(1.0, done / total), f"failed (exit code {self.returncode}) after {seconds:.0f} s; "
                                                    f"log: {self.log_path}\n" + "\n".join(self.lines[-15:]))
        message = last or "starting Ray and the first stage"
        return Progress(min(0.99, (done + partial) / total), f"{message} ({seconds:.0f} s)")
