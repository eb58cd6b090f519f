"""The `nsrl` command: validate and run experiment files, list environments, show policy cards."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from nsrl_ray.config import ConfigError, load_experiment

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _add_experiment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="experiment file, e.g. tune_configs/quickstart.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set stages.teacher.max_iterations=10 (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets for every stage: checks the wiring in seconds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nsrl", description="Learn interpretable policies on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check an experiment file without running it")
    _add_experiment_args(validate)
    run = commands.add_parser("run", help="run an experiment file as a Ray Tune experiment")
    _add_experiment_args(run)
    run.add_argument("--address", default=None, help="Ray cluster address (default: start a local instance)")
    run.add_argument("--storage-path", default=None, help="where results go (overrides the file's storage_path)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run of this experiment from its last checkpoints")
    tune_cmd = commands.add_parser("tune", help="run a hyperparameter search (a file with a search section or inline spaces)")
    for action in run._actions[1:]:  # the same options as `run`
        tune_cmd._add_action(action)
    commands.add_parser("envs", help="list the known environments")
    show = commands.add_parser("show", help="print a policy card (policy.json or its folder)")
    show.add_argument("card")
    from nsrl_ray.cli.explain_command import add_explain_parser
    from nsrl_ray.cli.jobs_command import add_job_parsers

    add_explain_parser(commands)
    add_job_parsers(commands)
    board = commands.add_parser("tensorboard", help="open TensorBoard on an experiment folder (127.0.0.1)")
    board.add_argument("run", help="an experiment folder, e.g. nsrl_results/quickstart")
    board.add_argument("--port", type=int, default=6006)
    from nsrl_ray.ui.command import add_ui_parser

    add_ui_parser(commands)
    return parser


def _validate(args: argparse.Namespace) -> int:
    from nsrl_ray.config import dump_experiment

    config = load_experiment(args.file, args.overrides, smoke=args.smoke)
    _out(f"{args.file}: valid. Stages: {', '.join(config.stages.enabled())}; seeds {list(config.seeds)}; env {config.env}.")
    _out(dump_experiment(config).rstrip())
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    config = load_experiment(args.file, args.overrides, smoke=args.smoke)
    if args.command == "tune" and config.search is None:
        raise ConfigError(
            f"{args.file}: `nsrl tune` needs a search: add a `search:` section or write a setting as a space, "
            "e.g. stages.teacher.lr: {loguniform: [1e-4, 1e-3]}."
        )
    if args.storage_path:
        config = config.replace(storage_path=args.storage_path)
    from nsrl_ray.pipeline.runner import format_summary, run_experiment

    _out(f"running {config.name}: {config.env}, stages {', '.join(config.stages.enabled())}, seeds {list(config.seeds)}")
    summary = run_experiment(config, address=args.address, write=_out, resume=args.resume)
    _out(format_summary(summary))
    return EXIT_FAILED if summary.failed or summary.incomplete else EXIT_OK


def _envs(_: argparse.Namespace) -> int:
    from nsrl_ray.envs import get_env_spec, list_envs

    for name in list_envs():
        spec = get_env_spec(name)
        _out(f"{name:<26} {spec.action_kind:<10} features: {', '.join(spec.feature_names)}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from nsrl_ray.explain.program_card import any_card_markdown, read_any_card

    _out(any_card_markdown(read_any_card(args.card)).rstrip())
    return EXIT_OK


def _tensorboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    run = Path(args.run)
    if not run.is_dir() or not any(run.rglob("events.out.tfevents.*")):
        raise ConfigError(f"{args.run}: no TensorBoard events there; give an experiment folder such as nsrl_results/quickstart.")
    _out(f"TensorBoard on http://127.0.0.1:{args.port} (Ctrl-C stops it)")
    os.execv(sys.executable, [sys.executable, "-m", "tensorboard.main", "--logdir", str(run),
                              "--host", "127.0.0.1", "--port", str(args.port)])
    return EXIT_OK  # not reached: exec replaces this process


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from nsrl_ray.envs import UnknownEnvironmentError
    from nsrl_ray.explain.policy_card import PolicyCardError

    from nsrl_ray.cli.explain_command import run_explain_command
    from nsrl_ray.cli.jobs_command import run_job_command
    from nsrl_ray.ui.command import run_ui_command

    handlers = {"validate": _validate, "run": _run, "tune": _run, "envs": _envs, "show": _show,
                "explain": run_explain_command, "tensorboard": _tensorboard, "ui": run_ui_command,
                **dict.fromkeys(("submit", "status", "logs", "stop"), run_job_command)}
    try:
        return handlers[args.command](args)
    except (ConfigError, UnknownEnvironmentError, PolicyCardError) as error:
        sys.stderr.write(f"nsrl {args.command}: error: {error}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write(f"nsrl {args.command}: interrupted; `nsrl run FILE --resume` continues from the last checkpoints.\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left (`nsrl validate FILE | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
