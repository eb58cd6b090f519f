"""Read an experiment file (YAML) into an ExperimentConfig, with command-line overrides applied first."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nsrl_ray.config.loading import ConfigError, from_mapping, to_mapping
from nsrl_ray.config.schema import ExperimentConfig

#: Tiny budgets for `--smoke`: every stage runs, nothing learns much; for tests and a quick look.
SMOKE_OVERRIDES: dict[str, Any] = {
    "stages.teacher.max_iterations": 2,
    "stages.teacher.train_batch_size": 400,
    "stages.teacher.minibatch_size": 64,
    "stages.teacher.num_epochs": 2,
    "stages.collect.episodes": 2,
    "stages.symbolic.population_size": 60,
    "stages.symbolic.generations": 2,
    "stages.symbolic.tournament_size": 5,
    "stages.evaluate.episodes": 2,
    "stages.explain.max_states": 200,
}


class ExperimentLoader(yaml.SafeLoader):
    """SafeLoader that also reads `3e-4` as a number (YAML 1.1 needs a dot: `3.0e-4`)."""


ExperimentLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b.c=value` into its dotted key and a YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. stages.teacher.max_iterations=10.")
    try:
        value = yaml.load(raw, Loader=ExperimentLoader) if raw.strip() else None  # noqa: S506
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({error}).") from None
    return key.strip(), value


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], only_existing_stages: bool = False) -> dict[str, Any]:
    """Return a copy of raw experiment data with dotted-key overrides set.

    With ``only_existing_stages`` an override under a stage the file does not list is
    skipped (smoke budgets must not switch stages on).
    """
    result = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if only_existing_stages and parts[0] == "stages" and len(parts) > 1:
            if parts[1] not in (result.get("stages") or {}):
                continue
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"override {dotted}: {where} is {child!r}, not a mapping.")
            node = child
        node[parts[-1]] = value
    return result


def parse_experiment(data: Any) -> ExperimentConfig:
    """Build and check an ExperimentConfig from raw data (a mapping as read from YAML)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"the experiment file holds {type(data).__name__} {data!r}, expected a mapping with keys name, env, stages.")
    data = dict(data)
    stages = data.get("stages")
    if isinstance(stages, Mapping):
        # `teacher:` with nothing after it means "run it with the defaults", not "skip it".
        data["stages"] = {name: ({} if settings is None else settings) for name, settings in stages.items()}
    config = from_mapping(ExperimentConfig, data)
    _check_environment(config.env)
    return config


def _check_environment(name: str) -> None:
    from nsrl_ray.envs import UnknownEnvironmentError, get_env_spec

    try:
        get_env_spec(name)
    except UnknownEnvironmentError as error:
        raise ConfigError(f"env: {error}") from None


def load_experiment(path: str | Path, overrides: Sequence[str] = (), smoke: bool = False) -> ExperimentConfig:
    """Read, override and validate an experiment file; raise ConfigError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {str(path)!r} does not exist (give a path such as tune_configs/quickstart.yaml).")
    try:
        data = yaml.load(path.read_text(), Loader=ExperimentLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if smoke:
        data = apply_overrides(data or {}, SMOKE_OVERRIDES, only_existing_stages=True)
    parsed = dict(parse_override(text) for text in overrides)
    if parsed:
        data = apply_overrides(data or {}, parsed)
    try:
        return parse_experiment(data)
    except ConfigError as error:
        raise type(error)(f"{path}: {error}") from None


def dump_experiment(config: ExperimentConfig) -> str:
    """The config as YAML, every default written out (saved beside the results)."""
    return yaml.safe_dump(to_mapping(config), sort_keys=False)
