"""Latent CEM (LEAPS): it improves on its initial program with a tiny trained VAE, follows LEAPS's settings, refuses bad ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nsrl_ray.search.latent_cem import (
    LEAPS_LATENT_CEM,
    LatentCEMSetting,
    decayed_sigma,
    elite_weights,
    latent_cross_entropy,
    resolve_setting,
)
from nsrl_ray.search.pool import LocalPool
from nsrl_ray.symbolic.karel.embedding.dataset import DatasetSpec, generate
from nsrl_ray.symbolic.karel.embedding.vae import LossWeights, ProgramVAE, TrainingData, VAEArchitecture, VAETrainer
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory
from nsrl_ray.symbolic.karel.syntax import parse_program

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model() -> ProgramVAE:
    """A VAE trained for a few seconds on 300 random programs (the search only needs a decoder that varies with z)."""
    spec = DatasetSpec(programs=300, demos_per_program=2, height=8, width=8, max_demo_length=12, max_tokens=45,
                       max_nesting=3, max_block=6, wall_prob=0.1, marker_prob=0.1, max_initial_markers=5, chunk_size=300)
    data = TrainingData(generate(spec, 0), 45)
    torch.manual_seed(0)
    model = ProgramVAE(VAEArchitecture(8, 32, 16, 16, 45))
    trainer = VAETrainer(model, data, np.arange(len(data)), LossWeights(1.0, 0.01, 0.1, 0.0), 3e-3, 32, seed=0)
    for _ in range(150):
        trainer.step()
    return model.eval()


def test_latent_cem_beats_its_initial_program_on_harvester(tiny_model: ProgramVAE) -> None:
    pool = LocalPool(KarelEvaluatorFactory("harvester"))
    setting = resolve_setting("harvester", population=16, sigma=0.5, init_scale=0.1)
    result = latent_cross_entropy(pool, list(range(10)), tiny_model, seed=0, setting=setting, max_evaluations=300, max_epochs=40)
    initial = result.history[0]["search/centre_return"]
    assert result.best_return > initial
    assert result.evaluations <= 300 and result.generations == len(result.history)
    # The best program is real: scored again from its text it gets the same return.
    assert pool.evaluate([result.best_text], list(range(10)))[0] == pytest.approx(result.best_return)
    parse_program(result.best_text)


def test_latent_cem_is_deterministic_and_stops_early(tiny_model: ProgramVAE) -> None:
    pool = LocalPool(KarelEvaluatorFactory("harvester"))
    setting = LatentCEMSetting(8, 0.25, 0.5, True, "normal", 0.1)
    runs = [latent_cross_entropy(pool, [0, 1, 2], tiny_model, seed=4, setting=setting, max_evaluations=90) for _ in range(2)]
    timeless = [[{k: v for k, v in row.items() if k != "search/evaluations_per_s"} for row in run.history] for run in runs]
    assert runs[0].best_text == runs[1].best_text and timeless[0] == timeless[1]
    assert runs[0].evaluations == 90
    # A target every program reaches: stop after the LEAPS window of epochs, not at the budget.
    easy = latent_cross_entropy(pool, [0], tiny_model, seed=4, setting=setting, max_evaluations=10_000, target=-1.0,
                                early_stop_window=3)
    assert easy.generations == 3 and easy.evaluations == 3 * 9


def test_leaps_settings_and_sigma_decay() -> None:
    assert LEAPS_LATENT_CEM["stair_climber"] == LatentCEMSetting(32, 0.05, 0.25, True, "normal", 0.1)
    assert LEAPS_LATENT_CEM["top_off"].population == 64 and LEAPS_LATENT_CEM["harvester"].init_scale == 1.0
    assert LEAPS_LATENT_CEM["maze"].init == "constant" and LEAPS_LATENT_CEM["maze"].init_scale == 0.01
    assert resolve_setting("top_off", sigma=0.3).sigma == 0.3 and resolve_setting("top_off").sigma == 0.25
    assert decayed_sigma(0.25, 0, 0.1, 500) == 0.25
    assert math.isclose(decayed_sigma(0.25, 500, 0.1, 500), 0.1) and math.isclose(decayed_sigma(0.25, 900, 0.1, 500), 0.1)
    assert 0.1 < decayed_sigma(0.25, 250, 0.1, 500) < 0.25
    assert elite_weights(np.array([1.0, 3.0]), True).tolist() == [0.25, 0.75]
    assert elite_weights(np.array([1.0, 3.0]), False).tolist() == [0.5, 0.5]
    negative = elite_weights(np.array([-1.0, 0.0]), True)
    assert negative.sum() == pytest.approx(1.0) and (negative > 0).all() and negative[1] > negative[0]


def test_bad_latent_cem_arguments_are_refused(tiny_model: ProgramVAE) -> None:
    pool = LocalPool(KarelEvaluatorFactory("harvester"))
    with pytest.raises(ValueError, match="population: got 1"):
        latent_cross_entropy(pool, [0], tiny_model, seed=0, setting=LatentCEMSetting(1, 0.5, 0.5, False, "normal", 0.1), max_evaluations=10)
    with pytest.raises(ValueError, match="decode: got 'beam'"):
        latent_cross_entropy(pool, [0], tiny_model, seed=0, setting=LEAPS_LATENT_CEM["maze"], max_evaluations=10, decode="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task: got 'chess'"):
        resolve_setting("chess")


def test_the_stage_refuses_a_missing_model_before_starting_actors(tmp_path) -> None:
    from nsrl_ray.config.experiment_file import load_experiment
    from nsrl_ray.pipeline.context import StageContext
    from nsrl_ray.pipeline.stages.symbolic_karel import learn_karel_latent_cem

    config = load_experiment("tune_configs/karel_top_off_latent.yaml", [f"stages.symbolic.model={tmp_path / 'nope.pt'}"])
    assert config.stages.symbolic.learner == "karel_latent_cem"
    ctx = StageContext(config=config, seed=0, artifacts=tmp_path, reporter=lambda *args: None)
    with pytest.raises(FileNotFoundError, match="does not exist; train one with the karel_vae learner"):
        learn_karel_latent_cem(ctx)


def test_the_vae_and_latent_cem_files_validate() -> None:
    from nsrl_ray.config.experiment_file import load_experiment

    for name in ("karel_vae_small", "karel_vae_cluster"):
        config = load_experiment(f"tune_configs/{name}.yaml")
        assert config.stages.enabled() == ("symbolic",) and config.stages.symbolic.learner == "karel_vae"
        smoke = load_experiment(f"tune_configs/{name}.yaml", smoke=True)
        assert smoke.stages.symbolic.steps == 3 and smoke.stages.symbolic.programs == 200
    for task in LEAPS_LATENT_CEM:  # every task has a latent-CEM experiment beside its program-space one
        config = load_experiment(f"tune_configs/karel_{task}_latent.yaml")
        assert config.env == load_experiment(f"tune_configs/karel_{task}.yaml").env
        assert config.stages.enabled() == ("symbolic", "evaluate", "report")
        assert config.stages.symbolic.learner == "karel_latent_cem" and config.stages.symbolic.population is None
        assert load_experiment(f"tune_configs/karel_{task}_latent.yaml", smoke=True).stages.symbolic.max_evaluations == 400
