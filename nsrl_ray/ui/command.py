"""`nsrl ui [RUN_DIR ...]`: the argument parser and handler of the policy explorer command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nsrl_ray.config import ConfigError

DEFAULT_RESULTS = "nsrl_results"


def add_ui_parser(commands: argparse._SubParsersAction) -> None:
    ui = commands.add_parser("ui", help="open the policy explorer (a local web app) on experiment folders")
    ui.add_argument("runs", nargs="*", metavar="RUN_DIR",
                    help=f"experiment folders (e.g. {DEFAULT_RESULTS}/quickstart) or a results folder holding them "
                         f"(default: ./{DEFAULT_RESULTS} when it exists)")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    ui.add_argument("--storage-path", default=DEFAULT_RESULTS, help="where 'extract now' writes its runs")


def check_ui_args(args: argparse.Namespace) -> list[str]:
    """The run folders to open; ConfigError (exit 2) for a port out of range or a path that does not exist.

    A folder that exists but is not a run is opened anyway: the page says what is wrong with it.
    """
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected a port number in 1..65535 (or leave it out for the first free one).")
    runs = list(args.runs)
    if not runs and Path(DEFAULT_RESULTS).is_dir():
        runs = [DEFAULT_RESULTS]
    for run in runs:
        path = Path(run).expanduser()
        if not path.exists():
            raise ConfigError(f"{run}: no such folder; give an experiment folder written by `nsrl run`, "
                              f"e.g. {DEFAULT_RESULTS}/quickstart.")
        if not path.is_dir():
            raise ConfigError(f"{run}: is a file; give the experiment folder that holds it, e.g. {DEFAULT_RESULTS}/quickstart.")
    return runs


def run_ui_command(args: argparse.Namespace) -> int:
    runs = check_ui_args(args)
    from nsrl_ray.ui.app import launch

    sys.stdout.write(f"policy explorer over {', '.join(runs) or 'no runs yet (open one in the page)'}; Ctrl-C stops it\n")
    sys.stdout.flush()
    try:
        launch(runs, host=args.host, port=args.port, storage=args.storage_path, block=True)
    except OSError as error:  # the port is taken, or the host cannot be bound
        raise ConfigError(f"cannot serve on {args.host}:{args.port or 'a free port from 7860'}: {error}; "
                          "choose another --port.") from None
    return 0
