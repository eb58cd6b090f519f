"""The `nsrl` command: validate and run experiment files, list environments, show policy cards."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nsrl_ray.config import ConfigError, load_experiment

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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
    commands.add_parser("envs", help="list the known environments")
    show = commands.add_parser("show", help="print a policy card (policy.json or its folder)")
    show.add_argument("card")
    return parser


def _validate(args: argparse.Namespace) -> int:
    from nsrl_ray.config import dump_experiment

    config = load_experiment(args.file, args.overrides, smoke=args.smoke)
    _out(f"{args.file}: valid. Stages: {', '.join(config.stages.enabled())}; seeds {list(config.seeds)}; env {config.env}.")
    _out(dump_experiment(config).rstrip())
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    config = load_experiment(args.file, args.overrides, smoke=args.smoke)
    if args.storage_path:
        config = config.replace(storage_path=args.storage_path)
    from nsrl_ray.pipeline.runner import format_summary, run_experiment

    _out(f"running {config.name}: {config.env}, stages {', '.join(config.stages.enabled())}, seeds {list(config.seeds)}")
    summary = run_experiment(config, address=args.address, write=_out)
    _out(format_summary(summary))
    return EXIT_FAILED if summary.failed else EXIT_OK


def _envs(_: argparse.Namespace) -> int:
    from nsrl_ray.envs import get_env_spec, list_envs

    for name in list_envs():
        spec = get_env_spec(name)
        _out(f"{name:<26} {spec.action_kind:<10} features: {', '.join(spec.feature_names)}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from nsrl_ray.explain.policy_card import card_markdown, read_policy_card

    _out(card_markdown(read_policy_card(args.card)).rstrip())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from nsrl_ray.envs import UnknownEnvironmentError
    from nsrl_ray.explain.policy_card import PolicyCardError

    handlers = {"validate": _validate, "run": _run, "envs": _envs, "show": _show}
    try:
        return handlers[args.command](args)
    except (ConfigError, UnknownEnvironmentError, PolicyCardError) as error:
        sys.stderr.write(f"nsrl {args.command}: error: {error}\n")
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
