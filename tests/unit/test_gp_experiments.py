"""The gp_* experiment files (DiffSES stages II-III on classic control) load, and --smoke shrinks every budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsrl_ray.config import ConfigError, load_experiment, parse_experiment
from nsrl_ray.config.schema import STAGE_ORDER, FinetuneSettings, GPSearchSettings

REPO = Path(__file__).resolve().parents[2]
GP_FILES = sorted((REPO / "tune_configs").glob("gp_*.yaml"))
ENVS = {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "LunarLander-v3"}


def test_there_is_an_experiment_for_every_classic_control_environment():
    assert {load_experiment(path).env for path in GP_FILES} == ENVS


@pytest.mark.parametrize("path", GP_FILES, ids=lambda p: p.stem)
def test_gp_experiment_loads_with_and_without_smoke(path):
    config = load_experiment(path)
    assert isinstance(config.stages.symbolic, GPSearchSettings)
    smoke = load_experiment(path, smoke=True)
    symbolic = smoke.stages.symbolic
    assert symbolic.population_size == 60 and symbolic.generations == 2 and symbolic.episodes == 2
    assert symbolic.select_episodes == 2 and symbolic.distill.generations == 2 and symbolic.distill.population_size == 60
    if smoke.stages.finetune is not None:
        assert smoke.stages.finetune.iterations == 1 and smoke.stages.finetune.validation_episodes == 2


def test_finetune_runs_between_symbolic_and_evaluate_and_needs_its_inputs():
    assert STAGE_ORDER.index("symbolic") < STAGE_ORDER.index("finetune") < STAGE_ORDER.index("evaluate")
    assert FinetuneSettings().requires == ("symbolic", "teacher")
    assert FinetuneSettings(supervision_weight=0.0).requires == ("symbolic",)
    base = {"name": "x", "env": "CartPole-v1"}
    with pytest.raises(ConfigError, match=r"finetune: needs the stage\(s\) \['teacher'\]"):
        parse_experiment({**base, "stages": {"symbolic": {"learner": "gp_search"}, "finetune": {}}})
    parse_experiment({**base, "stages": {"symbolic": {"learner": "gp_search"}, "finetune": {"supervision_weight": 0.0}}})
    with pytest.raises(ConfigError, match="method.*constants_ppo"):
        parse_experiment({**base, "stages": {"teacher": {}, "symbolic": {"learner": "gp_search"}, "finetune": {"method": "sgd"}}})


def test_smoke_keys_of_one_learner_never_reach_another():
    kan = load_experiment(REPO / "tune_configs" / "kan_cartpole.yaml", smoke=True)
    assert not hasattr(kan.stages.symbolic, "distill")
    assert load_experiment(REPO / "tune_configs" / "quickstart.yaml", smoke=True).stages.finetune is None
