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
from nsrl_ray.config.search_space import extract_search_space

#: Tiny budgets for `--smoke`: every stage runs, nothing learns much; for tests and a quick look.
SMOKE_OVERRIDES: dict[str, Any] = {
    "stages.teacher.max_iterations": 2,
    "stages.teacher.train_batch_size": 400,
    "stages.teacher.minibatch_size": 64,
    "stages.teacher.num_epochs": 2,
    "stages.teacher.attention_video_steps": 20,
    "stages.teacher.dqn.replay_capacity": 2000,
    "stages.teacher.dqn.learning_starts": 64,
    "stages.teacher.dqn.target_update": 64,
    "stages.teacher.dqn.steps_per_iteration": 100,
    "stages.teacher.cem.population": 4,
    "stages.teacher.cem.episodes": 2,
    "stages.collect.episodes": 2,
    "stages.perceive.frames": 400,
    "stages.perceive.shard_steps": 200,
    "stages.perceive.train_steps": 40,
    "stages.perceive.batch_size": 16,
    "stages.perceive.channels": [8, 16, 16],
    "stages.perceive.hidden": 128,
    "stages.symbolic.population_size": 60,
    "stages.symbolic.generations": 2,
    "stages.symbolic.tournament_size": 5,
    "stages.symbolic.steps": 3,
    "stages.symbolic.retrain_steps": 2,
    "stages.symbolic.refit_steps": 5,
    "stages.symbolic.spline_episodes": 2,
    "stages.symbolic.edge_samples": 128,
    "stages.symbolic.max_evaluations": 400,
    "stages.symbolic.programs": 200,
    "stages.symbolic.eval_every": 2,
    "stages.symbolic.episodes": 2,
    "stages.symbolic.select_episodes": 2,
    "stages.symbolic.distill.population_size": 60,
    "stages.symbolic.distill.generations": 2,
    "stages.symbolic.distill.tournament_size": 5,
    "stages.symbolic.max_iterations": 2,
    "stages.symbolic.train_batch_size": 128,
    "stages.symbolic.minibatch_size": 64,
    "stages.symbolic.num_epochs": 1,
    "stages.symbolic.num_env_runners": 0,
    "stages.symbolic.head_hidden": 64,
    "stages.symbolic.eql_copies": 2,
    "stages.symbolic.cnn_batch_size": 8,
    "stages.symbolic.eql_eval_every": 1,
    "stages.symbolic.eval_episodes": 1,
    "stages.symbolic.eval_max_steps": 300,
    "stages.symbolic.video_steps": 30,
    "stages.symbolic.eql_refit_steps": 200,
    "stages.symbolic.export_refit_steps": 200,
    "stages.finetune.iterations": 1,
    "stages.finetune.train_batch_size": 200,
    "stages.finetune.minibatch_size": 64,
    "stages.finetune.num_epochs": 1,
    "stages.finetune.validation_episodes": 2,
    "stages.finetune.supervision_anneal_iterations": 1,
    "stages.finetune.population": 4,
    "stages.finetune.episodes": 2,
    "stages.report.video_max_steps": 40,
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
    data, dimensions = extract_search_space(data)
    if dimensions:
        search = data.get("search") or {}
        if not isinstance(search, Mapping):
            raise ConfigError(f"search: got {search!r}, expected a mapping (num_samples, metric, mode, scheduler, ...).")
        if "space" in search:
            raise ConfigError("search.space: write spaces inline on the settings, e.g. stages.teacher.lr: {loguniform: [1e-4, 1e-2]}.")
        data["search"] = {**search, "space": [to_mapping(d) for d in dimensions]}
        # Every value a space can take must pass the same checks as a value written out.
        for dimension in dimensions:
            for example in dimension.examples()[1:]:
                from_mapping(ExperimentConfig, apply_overrides(data, {dimension.path: example}))
    config = from_mapping(ExperimentConfig, data)
    _check_environment(config.env)
    return config


def _check_environment(name: str) -> None:
    from nsrl_ray.envs import UnknownEnvironmentError, get_env_spec

    try:
        get_env_spec(name)
    except UnknownEnvironmentError as error:
        raise ConfigError(f"env: {error}") from None


#: The fields whose value picks one settings class of a stage (see config/loading.py, tagged unions).
_TAG_FIELDS = ("learner", "method")


def _stage_fields(data: Mapping[str, Any], stage: str) -> set[str] | None:
    """Field names of the settings class a stage's mapping selects (by its `learner` or `method`), or None if unknown."""
    import dataclasses
    import typing

    from nsrl_ray.config.schema import StagesConfig

    hint = typing.get_type_hints(StagesConfig).get(stage)
    if hint is None:
        return None
    options = [o for o in typing.get_args(hint) if dataclasses.is_dataclass(o)] or [hint]
    settings = (data.get("stages") or {}).get(stage) or {}
    settings = settings if isinstance(settings, Mapping) else {}
    tag_name = next((name for name in _TAG_FIELDS if name in settings), None)
    for option in options:
        tag = typing.get_type_hints(option).get(tag_name) if tag_name else None
        if tag_name is None or (tag is not None and settings[tag_name] in typing.get_args(tag)):
            return {f.name for f in dataclasses.fields(option)}
    return None


def smoke_overrides(data: Mapping[str, Any]) -> dict[str, Any]:
    """SMOKE_OVERRIDES less the keys the file's chosen settings do not have (each learner has its own budget keys)."""
    chosen = {}
    stages = data.get("stages") or {}
    for dotted, value in SMOKE_OVERRIDES.items():
        parts = dotted.split(".")
        if parts[0] == "stages" and len(parts) >= 3 and parts[1] not in stages:
            continue  # a smoke budget never switches a stage on
        # A nested key (stages.symbolic.distill.generations) counts as the settings' field `distill`.
        fields = _stage_fields(data, parts[1]) if parts[0] == "stages" and len(parts) >= 3 else None
        if fields is None or parts[2] in fields:
            chosen[dotted] = value
    return chosen


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
        data = apply_overrides(data or {}, smoke_overrides(data or {}), only_existing_stages=True)
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
