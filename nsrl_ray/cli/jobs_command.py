"""`nsrl submit/status/logs/stop`: run experiments on a remote Ray cluster through the Ray Jobs API."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from nsrl_ray.config import ConfigError, load_experiment

# Never uploaded with the working directory: environments, results, caches.
UPLOAD_EXCLUDES = [".venv/", ".git/", "nsrl_results/", "**/__pycache__/", ".pytest_cache/", "*.egg-info/", ".wheels/"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def add_job_parsers(commands: Any) -> None:
    """Register submit, status, logs and stop on the `nsrl` subcommand parser."""
    address_help = "Ray dashboard address of the cluster, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)"
    submit = commands.add_parser("submit", help="send an experiment to a running Ray cluster as a Ray job")
    submit.add_argument("file", help="experiment file, e.g. tune_configs/quickstart.yaml")
    submit.add_argument("--address", default=None, help=address_help)
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--smoke", action="store_true", help="tiny budgets (passed on to `nsrl run`)")
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends and exit with its status")
    submit.add_argument("--working-dir", default=".", help="folder uploaded as the job's working directory (the project)")
    for name, text in (("status", "show a job's status"), ("logs", "print a job's logs"), ("stop", "stop a job")):
        command = commands.add_parser(name, help=text)
        command.add_argument("job_id")
        command.add_argument("--address", default=None, help=address_help)
        if name == "logs":
            command.add_argument("--follow", action="store_true", help="stream the logs until the job ends")


def _auth_token() -> str | None:
    """The cluster's token (Ray 2.60 turns token authentication on): $RAY_AUTH_TOKEN, the file named by
    $RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token — Ray's own places. The client library sends it only when
    this machine is itself in token mode, so it is sent explicitly."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token.strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return path.read_text().strip() if path.is_file() else None


def _client(address: str | None) -> Any:
    from ray.job_submission import JobSubmissionClient

    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError("no cluster address: pass --address http://HEAD:8265 or set RAY_ADDRESS.")
    token = _auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return JobSubmissionClient(address, headers=headers)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"cannot reach the Ray Jobs API at {address}: {error}. Is the cluster up and the dashboard port "
            "(8265) reachable? With token authentication (Ray's default), set RAY_AUTH_TOKEN to the head "
            "node's ~/.ray/auth_token."
        ) from None


def _entrypoint(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "nsrl_ray.cli.main", "run", args.file, "--address", "auto"]
    for override in args.overrides:
        parts += ["--set", override]
    if args.smoke:
        parts.append("--smoke")
    return shlex.join(parts)


def _submit(client: Any, entrypoint: str, working_dir: Path, wait_s: float = 90.0) -> str:
    """Submit, retrying while a freshly started cluster's job agent is not up yet."""
    runtime_env = {"working_dir": str(working_dir), "excludes": UPLOAD_EXCLUDES, "env_vars": {"OMP_NUM_THREADS": "1"}}
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def _follow(client: Any, job_id: str, out: Any) -> str:
    """Stream the job's logs to ``out`` until it ends; return its final status."""
    import asyncio

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            out.write(lines)
            out.flush()

    asyncio.run(tail())
    status = str(client.get_job_status(job_id))
    while status not in TERMINAL:  # the log stream can close a moment before the status changes
        time.sleep(0.5)
        status = str(client.get_job_status(job_id))
    return status


def run_job_command(args: argparse.Namespace) -> int:
    """Handle submit/status/logs/stop; bad input raises ConfigError (exit 2 in the caller)."""
    if args.command == "submit":
        load_experiment(args.file, args.overrides, smoke=args.smoke)  # refuse a bad file before uploading
        working_dir = Path(args.working_dir).resolve()
        if not (working_dir / args.file).is_file():
            raise ConfigError(f"{args.file} is not inside the working directory {working_dir}; run from the project root.")
        client = _client(args.address)
        job_id = _submit(client, _entrypoint(args), working_dir)
        sys.stdout.write(f"submitted job {job_id}\n  follow it: nsrl logs {job_id} --follow\n")
        sys.stdout.flush()
        if not args.wait:
            return 0
        status = _follow(client, job_id, sys.stdout)
        sys.stdout.write(f"job {job_id}: {status}\n")
        return 0 if status == "SUCCEEDED" else 1
    client = _client(args.address)
    try:
        if args.command == "status":
            info = client.get_job_info(args.job_id)
            sys.stdout.write(f"{args.job_id}: {info.status}{' - ' + info.message if info.message else ''}\n")
        elif args.command == "logs":
            if args.follow:
                _follow(client, args.job_id, sys.stdout)
            else:
                sys.stdout.write(client.get_job_logs(args.job_id))
        elif args.command == "stop":
            stopped = client.stop_job(args.job_id)
            sys.stdout.write(f"{args.job_id}: {'stopping' if stopped else 'already ended'}\n")
    except RuntimeError as error:  # AuthenticationError is a RuntimeError too
        if "uthentication" in str(error):
            raise ConfigError(f"the cluster refused the token: set RAY_AUTH_TOKEN to the head node's ~/.ray/auth_token ({error.__class__.__name__}).") from None
        if "does not exist" in str(error) or "404" in str(error):
            raise ConfigError(f"no job {args.job_id!r} on this cluster (`ray job list` shows the ids).") from None
        raise
    return 0
