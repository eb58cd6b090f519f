"""Experiment files: validation, defaults round trip, clear refusals, --set and --smoke overrides."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from nsrl_ray.config import (
    SMOKE_OVERRIDES,
    STAGE_ORDER,
    CollectSettings,
    ConfigError,
    ConfigTypeError,
    EvaluateSettings,
    ExperimentConfig,
    ExplainSettings,
    ReportSettings,
    StagesConfig,
    SymbolicSettings,
    TeacherSettings,
    apply_overrides,
    dump_experiment,
    load_experiment,
    parse_experiment,
    to_mapping,
)
from nsrl_ray.config.experiment_file import parse_override
from nsrl_ray.config.schema import FinetuneSettings

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "tune_configs" / "quickstart.yaml"

#: The smallest valid experiment: one teacher stage with its defaults.
MINIMAL = {"name": "unit", "env": "CartPole-v1", "stages": {"teacher": {}}}

#: Every stage, for tests that need a setting deep in the pipeline.
#: (`perceive` needs pixel Atari, so it is left out here: tests/unit/test_insight_configs.py covers it.)
ALL_STAGES = {"name": "unit", "env": "CartPole-v1", "stages": {name: {} for name in STAGE_ORDER if name != "perceive"}}


def write_yaml(tmp_path: Path, text: str, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_stage(stage: str, **settings: Any) -> dict[str, Any]:
    """ALL_STAGES with some settings of one stage replaced."""
    data = copy.deepcopy(ALL_STAGES)
    data["stages"][stage] = settings
    return data


# ----------------------------------------------------------------------------- valid files


def test_quickstart_file_validates_with_its_values() -> None:
    config = load_experiment(QUICKSTART)
    raw = yaml.safe_load(QUICKSTART.read_text())
    assert config.name == raw["name"] == "quickstart"
    assert config.env == raw["env"] == "CartPole-v1"
    assert config.seeds == tuple(raw["seeds"])
    assert config.stages.enabled() == tuple(stage for stage in STAGE_ORDER if stage in raw["stages"])
    # Every value written in the file reaches the config; every other setting keeps its default.
    for stage in config.stages.enabled():
        settings = getattr(config.stages, stage)
        written = raw["stages"][stage] or {}
        defaults = type(settings)()
        for key, value in to_mapping(settings).items():
            expected = written.get(key, to_mapping(getattr(defaults, key)))
            assert value == expected, f"stages.{stage}.{key}: {value!r} != {expected!r}"
    # `explain:` and `report:` with nothing after them run with their defaults.
    assert raw["stages"]["explain"] is None and config.stages.explain == ExplainSettings()
    assert raw["stages"]["report"] is None and config.stages.report == ReportSettings()


def test_quickstart_smoke_runs_every_stage_on_tiny_budgets() -> None:
    config = load_experiment(QUICKSTART, smoke=True)
    assert config.stages.enabled() == load_experiment(QUICKSTART).stages.enabled()
    assert config.stages.teacher.max_iterations == 2
    assert config.stages.collect.episodes == 2
    assert config.stages.symbolic.population_size == 60
    assert config.stages.symbolic.generations == 2
    assert config.stages.evaluate.episodes == 2
    assert config.stages.explain.max_states == 200
    # Settings that smoke does not touch keep the file's values.
    full = load_experiment(QUICKSTART)
    assert config.stages.collect.epsilon == full.stages.collect.epsilon
    assert config.stages.symbolic.function_set == full.stages.symbolic.function_set
    assert config.stages.symbolic.parsimony_coefficient == full.stages.symbolic.parsimony_coefficient


def all_default_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="defaults",
        env="CartPole-v1",
        stages=StagesConfig(
            teacher=TeacherSettings(),
            collect=CollectSettings(),
            symbolic=SymbolicSettings(),
            finetune=FinetuneSettings(),
            evaluate=EvaluateSettings(),
            explain=ExplainSettings(),
            report=ReportSettings(),
        ),
    )


def test_every_default_round_trips_through_to_mapping() -> None:
    config = all_default_config()
    mapping = to_mapping(config)
    # Every set field of every stage is written out, as plain YAML-friendly data.
    for stage in config.stages.enabled():
        settings = getattr(config.stages, stage)
        fields = set(type(settings).__dataclass_fields__)
        written = set(mapping["stages"][stage])
        assert written <= fields
        assert {name for name in fields if getattr(settings, name) is not None} <= written, stage
    assert mapping["stages"]["symbolic"]["init_depth"] == [2, 6]
    assert mapping["stages"]["teacher"]["hidden_sizes"] == [64, 64]
    assert set(mapping["stages"]["report"]) == set(ReportSettings.__dataclass_fields__)
    assert parse_experiment(mapping) == config


def test_every_default_round_trips_through_yaml_text(tmp_path: Path) -> None:
    config = all_default_config()
    text = dump_experiment(config)
    assert parse_experiment(yaml.safe_load(text)) == config
    path = tmp_path / "dumped.yaml"
    path.write_text(text)
    assert load_experiment(path) == config


def test_non_default_values_round_trip() -> None:
    config = parse_experiment(
        {
            "name": "custom-run.v2",
            "env": "Acrobot-v1",
            "seeds": [3, 1, 4],
            "resources": {"cpus_per_trial": 2, "max_concurrent_trials": 2},
            "stages": {
                "teacher": {"hidden_sizes": [32], "stop_return": -90, "lr": 0.001},
                "collect": {"epsilon": 0.25, "num_actors": 3},
                "symbolic": {"function_set": ["add", "div", "sin"], "init_depth": [1, 3], "const_range": [-1, 1]},
                "evaluate": {"episodes": 5},
                "explain": {"max_states": 10},
                "report": {},
            },
        }
    )
    assert config.seeds == (3, 1, 4)
    assert config.resources.cpus_per_trial == 2.0 and isinstance(config.resources.cpus_per_trial, float)
    assert config.stages.teacher.hidden_sizes == (32,)
    assert config.stages.teacher.stop_return == -90.0
    assert config.stages.symbolic.const_range == (-1.0, 1.0)
    assert config.stages.enabled() == tuple(stage for stage in STAGE_ORDER if stage not in ("finetune", "perceive"))
    assert config.actors_needed() == 3
    assert parse_experiment(to_mapping(config)) == config


def test_skipped_stages_stay_skipped_through_to_mapping() -> None:
    """Regression: to_mapping wrote a skipped stage as `null`, which reads back as "run with defaults";
    Tune trials (runner.py sends to_mapping(config), trial.py parses it) then ran every stage."""
    config = parse_experiment(MINIMAL)
    assert config.stages.enabled() == ("teacher",)
    assert parse_experiment(to_mapping(config)).stages.enabled() == ("teacher",)
    assert parse_experiment(yaml.safe_load(dump_experiment(config))).stages.enabled() == ("teacher",)


def test_bare_stage_key_means_defaults(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: bare
        env: CartPole-v1
        stages:
          teacher:
        """,
    )
    assert yaml.safe_load(path.read_text())["stages"] == {"teacher": None}
    config = load_experiment(path)
    assert config.stages.teacher == TeacherSettings()
    assert config.stages.enabled() == ("teacher",)
    assert parse_experiment({"name": "bare", "env": "CartPole-v1", "stages": {"teacher": None}}) == config


# ----------------------------------------------------------------------------- misspelled keys


def test_misspelled_top_level_key_is_refused_with_suggestion() -> None:
    data = {**MINIMAL, "seed": [1]}
    with pytest.raises(ConfigError, match=r"^seed: unknown key 'seed'\. Did you mean 'seeds'\?") as info:
        parse_experiment(data)
    assert "Allowed keys at the experiment file: env, name, resources, search, seeds, stages, storage_path" in str(info.value)


def test_misspelled_stage_is_refused_with_suggestion() -> None:
    data = {**MINIMAL, "stages": {"techer": {}}}
    with pytest.raises(ConfigError, match=r"stages\.techer: unknown key 'techer'\. Did you mean 'teacher'\?"):
        parse_experiment(data)


def test_misspelled_nested_key_is_refused_with_suggestion(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: typo
        env: CartPole-v1
        stages:
          teacher:
          collect:
          symbolic:
            populaton_size: 100
        """,
    )
    with pytest.raises(
        ConfigError,
        match=r"stages\.symbolic\.populaton_size: unknown key 'populaton_size'\. Did you mean 'population_size'\?",
    ) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    data = with_stage("evaluate", zzz=1)
    with pytest.raises(ConfigError, match=r"stages\.evaluate\.zzz: unknown key 'zzz'\. Allowed keys at stages\.evaluate: episodes, num_actors\.") as info:
        parse_experiment(data)
    assert "Did you mean" not in str(info.value)


# ----------------------------------------------------------------------------- wrong types


def test_string_for_integer_is_a_type_error() -> None:
    data = {**MINIMAL, "stages": {"teacher": {"max_iterations": "ten"}}}
    with pytest.raises(ConfigTypeError, match=r"stages\.teacher\.max_iterations: got 'ten', expected an integer") as info:
        parse_experiment(data)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ConfigError)


def test_string_for_integer_in_a_file_is_refused_with_the_path(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: types
        env: CartPole-v1
        stages:
          teacher:
            max_iterations: "ten"
        """,
    )
    with pytest.raises(ConfigError, match=r"stages\.teacher\.max_iterations: got 'ten', expected an integer") as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_wrong_type_in_a_file_stays_a_config_type_error(tmp_path: Path) -> None:
    """Regression: load_experiment re-raised every ConfigError as a plain ConfigError."""
    path = write_yaml(
        tmp_path,
        """
        name: types
        env: CartPole-v1
        stages:
          teacher:
            max_iterations: "ten"
        """,
    )
    with pytest.raises(ConfigTypeError, match=r"experiment\.yaml: stages\.teacher\.max_iterations: got 'ten', expected an integer") as info:
        load_experiment(path)
    assert isinstance(info.value, TypeError)
    with pytest.raises(ConfigTypeError, match=r"stages\.teacher\.max_iterations: got True, expected an integer"):
        load_experiment(path, overrides=["stages.teacher.max_iterations=true"])


@pytest.mark.parametrize("value", [True, False])
def test_boolean_for_integer_is_refused(value: bool) -> None:
    data = {**MINIMAL, "stages": {"teacher": {"max_iterations": value}}}
    with pytest.raises(ConfigTypeError, match=rf"stages\.teacher\.max_iterations: got {value}, expected an integer"):
        parse_experiment(data)


def test_float_for_integer_and_boolean_for_number_are_refused() -> None:
    with pytest.raises(ConfigTypeError, match=r"stages\.collect\.episodes: got 2\.5, expected an integer"):
        parse_experiment(with_stage("collect", episodes=2.5))
    with pytest.raises(ConfigTypeError, match=r"stages\.collect\.epsilon: got True, expected a number"):
        parse_experiment(with_stage("collect", epsilon=True))


def test_scalar_where_a_list_is_expected_is_refused() -> None:
    with pytest.raises(ConfigTypeError, match=r"stages\.symbolic\.function_set: got str 'add', expected a list of str"):
        parse_experiment(with_stage("symbolic", function_set="add"))
    with pytest.raises(ConfigError, match=r"stages\.symbolic\.init_depth: got 3 values \[1, 2, 3\], expected a list of 2 values"):
        parse_experiment(with_stage("symbolic", init_depth=[1, 2, 3]))


def test_scalar_where_a_stage_mapping_is_expected_is_refused() -> None:
    with pytest.raises(ConfigTypeError, match=r"stages\.teacher: got int 5, expected a mapping"):
        parse_experiment({**MINIMAL, "stages": {"teacher": 5}})


def test_non_mapping_file_content_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"holds list \[1, 2\], expected a mapping with keys name, env, stages"):
        parse_experiment([1, 2])


def test_exponent_notation_number_is_accepted(tmp_path: Path) -> None:
    """Regression: PyYAML's YAML 1.1 resolver reads `3e-4` (no dot) as the string '3e-4'."""
    path = write_yaml(
        tmp_path,
        """
        name: lr
        env: CartPole-v1
        stages:
          teacher:
            lr: 3e-4
        """,
    )
    assert load_experiment(path).stages.teacher.lr == 3e-4
    assert load_experiment(path, overrides=["stages.teacher.lr=1e-3"]).stages.teacher.lr == 1e-3
    assert parse_override("stages.teacher.lr=-2E+2") == ("stages.teacher.lr", -200.0)
    # Integers stay integers, and strings that merely look numeric-ish stay strings.
    assert parse_override("stages.collect.episodes=10") == ("stages.collect.episodes", 10)
    assert parse_override("name=e3") == ("name", "e3")


# ----------------------------------------------------------------------------- wrong values


def test_negative_episodes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.collect\.episodes: got -1, expected a number > 0"):
        parse_experiment(with_stage("collect", episodes=-1))
    with pytest.raises(ConfigError, match=r"stages\.evaluate\.episodes: got 0, expected a number > 0"):
        parse_experiment(with_stage("evaluate", episodes=0))


def test_probability_above_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.collect\.epsilon: got 1\.5, expected a probability in \[0, 1\]"):
        parse_experiment(with_stage("collect", epsilon=1.5))
    with pytest.raises(ConfigError, match=r"stages\.teacher\.gamma: got 1\.01, expected a probability in \[0, 1\]"):
        parse_experiment(with_stage("teacher", gamma=1.01))


def test_probabilities_summing_above_one_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.symbolic: p_crossover \+ p_\*_mutation: got 1\.220, expected a total <= 1"):
        parse_experiment(with_stage("symbolic", p_crossover=0.9, p_point_mutation=0.3))


def test_unknown_gplearn_function_is_refused_with_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"stages\.symbolic\.function_set: got \['add', 'sinn'\], expected names from .*Did you mean 'sin'\?"):
        parse_experiment(with_stage("symbolic", function_set=["add", "sinn"]))


def test_empty_function_set_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.symbolic\.function_set: got \[\], expected names from"):
        parse_experiment(with_stage("symbolic", function_set=[]))


def test_tournament_larger_than_population_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.symbolic: tournament_size \(50\) must not exceed population_size \(10\)"):
        parse_experiment(with_stage("symbolic", population_size=10, tournament_size=50))
    # Equal sizes are allowed.
    config = parse_experiment(with_stage("symbolic", population_size=10, tournament_size=10))
    assert config.stages.symbolic.tournament_size == 10


def test_minibatch_larger_than_batch_and_empty_hidden_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.teacher: minibatch_size \(512\) must not exceed train_batch_size \(256\)"):
        parse_experiment(with_stage("teacher", minibatch_size=512, train_batch_size=256))
    with pytest.raises(ConfigError, match=r"stages\.teacher\.hidden_sizes: got \[\], expected positive layer widths"):
        parse_experiment(with_stage("teacher", hidden_sizes=[]))


def test_unknown_algorithm_is_refused_with_allowed_values() -> None:
    with pytest.raises(ConfigError, match=r"stages\.teacher\.algorithm: got 'PPPO', expected one of 'PPO', 'DQN', 'CEM'\. Did you mean 'PPO'\?"):
        parse_experiment(with_stage("teacher", algorithm="PPPO"))


def test_bad_experiment_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"name: got 'my run/1', expected letters, digits"):
        parse_experiment({**MINIMAL, "name": "my run/1"})


# ----------------------------------------------------------------------------- structure


def test_missing_env_is_refused() -> None:
    data = {"name": "unit", "stages": {"teacher": {}}}
    with pytest.raises(ConfigError, match=r"^env: required key is missing \(str\)"):
        parse_experiment(data)


def test_missing_stages_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^stages: required key is missing"):
        parse_experiment({"name": "unit", "env": "CartPole-v1"})


def test_empty_stages_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages: no stage given, expected some of \['teacher', 'collect'"):
        parse_experiment({**MINIMAL, "stages": {}})


def test_stage_without_its_prerequisite_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stages\.collect: needs the stage\(s\) \['teacher'\] in the same file"):
        parse_experiment({**MINIMAL, "stages": {"collect": {}}})
    with pytest.raises(ConfigError, match=r"stages\.report: needs the stage\(s\) \['symbolic'\]"):
        parse_experiment({**MINIMAL, "stages": {"teacher": {}, "collect": {}, "report": {}}})


def test_unknown_environment_is_refused_listing_known_names() -> None:
    with pytest.raises(ConfigError, match=r"^env: Unknown environment 'CartPol-v1'\. Did you mean 'CartPole-v1'\?") as info:
        parse_experiment({**MINIMAL, "env": "CartPol-v1"})
    message = str(info.value)
    for known in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1"):
        assert known in message


def test_empty_seeds_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"seeds: got an empty list, expected at least one seed"):
        parse_experiment({**MINIMAL, "seeds": []})


def test_duplicate_seeds_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"seeds: got \[1, 2, 1\], expected distinct seeds"):
        parse_experiment({**MINIMAL, "seeds": [1, 2, 1]})


def test_negative_seed_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"seeds: got \[-1\], expected seeds >= 0"):
        parse_experiment({**MINIMAL, "seeds": [-1]})


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "name: broken\nenv: [CartPole-v1\nstages:\n  teacher:\n", name="broken.yaml")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML") as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=r"experiment file '.*nowhere\.yaml' does not exist") as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_a_folder_is_not_an_experiment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_experiment(tmp_path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "", name="empty.yaml")
    with pytest.raises(ConfigError, match=r"empty\.yaml: the experiment file holds NoneType None, expected a mapping"):
        load_experiment(path)


# ----------------------------------------------------------------------------- --set overrides


def test_parse_override_splits_key_and_parses_yaml_value() -> None:
    assert parse_override("stages.teacher.max_iterations=10") == ("stages.teacher.max_iterations", 10)
    assert parse_override(" stages.collect.epsilon = 0.5") == ("stages.collect.epsilon", 0.5)
    assert parse_override("seeds=[1, 2]") == ("seeds", [1, 2])
    assert parse_override("stages.teacher.stop_return=null") == ("stages.teacher.stop_return", None)
    assert parse_override("stages.teacher.stop_return=") == ("stages.teacher.stop_return", None)
    assert parse_override("name=a=b") == ("name", "a=b")


@pytest.mark.parametrize("text", ["stages.teacher.max_iterations", "=3", "  =3"])
def test_parse_override_without_key_value_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--set .*: expected KEY=VALUE"):
        parse_override(text)


def test_parse_override_with_bad_yaml_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--set 'seeds=\[1,': the value is not valid YAML"):
        parse_override("seeds=[1,")


def test_apply_overrides_sets_nested_keys_on_a_copy() -> None:
    data = {"name": "unit", "env": "CartPole-v1", "stages": {"teacher": {"max_iterations": 5}}}
    result = apply_overrides(data, {"stages.teacher.max_iterations": 7, "stages.collect.episodes": 3, "seeds": [4]})
    assert result["stages"]["teacher"] == {"max_iterations": 7}
    assert result["stages"]["collect"] == {"episodes": 3}
    assert result["seeds"] == [4]
    # The input is untouched.
    assert data == {"name": "unit", "env": "CartPole-v1", "stages": {"teacher": {"max_iterations": 5}}}


def test_apply_overrides_fills_a_bare_stage() -> None:
    result = apply_overrides({"stages": {"teacher": None}}, {"stages.teacher.lr": 0.01})
    assert result == {"stages": {"teacher": {"lr": 0.01}}}


def test_apply_overrides_through_a_scalar_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"override name\.x: name is 'unit', not a mapping"):
        apply_overrides(MINIMAL, {"name.x": 1})


def test_apply_overrides_only_existing_stages_skips_absent_stages() -> None:
    result = apply_overrides(MINIMAL, {"stages.collect.episodes": 2, "stages.teacher.max_iterations": 2}, only_existing_stages=True)
    assert result["stages"] == {"teacher": {"max_iterations": 2}}


def test_set_overrides_are_applied_when_loading(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: overrides
        env: CartPole-v1
        stages:
          teacher:
            max_iterations: 30
        """,
    )
    config = load_experiment(path, overrides=["stages.teacher.max_iterations=10", "seeds=[1, 2]", "stages.collect.epsilon=0.2"])
    assert config.stages.teacher.max_iterations == 10
    assert config.seeds == (1, 2)
    # An override may add a stage (here its dependency, teacher, is in the file).
    assert config.stages.collect == CollectSettings(epsilon=0.2)


def test_override_with_bad_value_is_refused_like_a_file_value(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: overrides
        env: CartPole-v1
        stages:
          teacher:
        """,
    )
    with pytest.raises(ConfigError, match=r"stages\.teacher\.max_iterations: got 'ten', expected an integer") as info:
        load_experiment(path, overrides=["stages.teacher.max_iterations=ten"])
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match=r"stages\.teacher\.populaton_size: unknown key"):
        load_experiment(path, overrides=["stages.teacher.populaton_size=10"])
    with pytest.raises(ConfigError, match=r"stages\.teacher\.max_iterations: got -3, expected a number > 0"):
        load_experiment(path, overrides=["stages.teacher.max_iterations=-3"])
    with pytest.raises(ConfigError, match=r"stages\.symbolic: needs the stage\(s\) \['collect'\]"):
        load_experiment(path, overrides=["stages.symbolic.generations=3"])


def test_override_wins_over_smoke(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: overrides
        env: CartPole-v1
        stages:
          teacher:
        """,
    )
    config = load_experiment(path, overrides=["stages.teacher.max_iterations=7"], smoke=True)
    assert config.stages.teacher.max_iterations == 7
    assert config.stages.teacher.train_batch_size == SMOKE_OVERRIDES["stages.teacher.train_batch_size"]


# ----------------------------------------------------------------------------- --smoke


def test_smoke_shrinks_budgets_without_switching_on_stages(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: teacher_only
        env: CartPole-v1
        stages:
          teacher:
            max_iterations: 50
            lr: 0.001
        """,
    )
    full = load_experiment(path)
    smoke = load_experiment(path, smoke=True)
    assert smoke.stages.enabled() == ("teacher",) == full.stages.enabled()
    assert smoke.stages.collect is None and smoke.stages.symbolic is None and smoke.stages.evaluate is None
    assert smoke.stages.teacher.max_iterations == 2 < full.stages.teacher.max_iterations
    assert smoke.stages.teacher.train_batch_size < full.stages.teacher.train_batch_size
    assert smoke.stages.teacher.num_epochs < full.stages.teacher.num_epochs
    assert smoke.stages.teacher.lr == 0.001


def test_smoke_fills_bare_stages(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        name: bare_smoke
        env: CartPole-v1
        stages:
          teacher:
          collect:
          symbolic:
        """,
    )
    config = load_experiment(path, smoke=True)
    assert config.stages.enabled() == ("teacher", "collect", "symbolic")
    assert config.stages.collect.episodes == 2
    assert config.stages.symbolic.population_size == 60
    assert config.stages.symbolic.tournament_size <= config.stages.symbolic.population_size


@pytest.mark.parametrize("learner", ["gp_distill", "kan"])
def test_smoke_overrides_are_valid_settings(learner: str) -> None:
    from nsrl_ray.config.experiment_file import smoke_overrides

    data = apply_overrides(ALL_STAGES, {"stages.symbolic.learner": learner})
    chosen = smoke_overrides(data)  # each learner gets the smoke keys its settings have
    assert {key for key in SMOKE_OVERRIDES if key.startswith("stages.symbolic.")} >= {
        key for key in chosen if key.startswith("stages.symbolic.")} != set()
    config = parse_experiment(apply_overrides(data, chosen))
    for dotted, value in chosen.items():
        _, stage, *path = dotted.split(".")  # a nested key: stages.teacher.dqn.learning_starts
        settings, default_settings = getattr(config.stages, stage), type(getattr(config.stages, stage))()
        for key in path[:-1]:
            settings, default_settings = getattr(settings, key), getattr(default_settings, key)
        key = path[-1]
        assert getattr(settings, key) == value
        default = getattr(default_settings, key)
        assert value <= default, f"{dotted} = {value} is not a smaller budget than the default {default}"
