"""Typed, validated experiment configs: the only home of defaults."""

from nsrl_ray.config.experiment_file import (
    SMOKE_OVERRIDES,
    apply_overrides,
    dump_experiment,
    load_experiment,
    parse_experiment,
)
from nsrl_ray.config.loading import ConfigError, ConfigTypeError, from_mapping, to_mapping
from nsrl_ray.config.schema import (
    STAGE_ORDER,
    CollectSettings,
    EvaluateSettings,
    ExperimentConfig,
    ExplainSettings,
    KANSettings,
    ReportSettings,
    ResourcesConfig,
    StagesConfig,
    SymbolicSettings,
    TeacherSettings,
)

__all__ = [
    "SMOKE_OVERRIDES", "STAGE_ORDER", "CollectSettings", "ConfigError", "ConfigTypeError",
    "EvaluateSettings", "ExperimentConfig", "ExplainSettings", "KANSettings", "ReportSettings", "ResourcesConfig",
    "StagesConfig", "SymbolicSettings", "TeacherSettings", "apply_overrides", "dump_experiment",
    "from_mapping", "load_experiment", "parse_experiment", "to_mapping",
]
