"""LEAPS's embedding end to end on Ray: dataset chunks on Ray tasks, latent CEM on the evaluator pool,
and `nsrl run` of a VAE file then a latent-CEM file that writes a program card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from nsrl_ray.pipeline.stages.symbolic_karel_vae import generate_dataset  # noqa: E402
from nsrl_ray.search.latent_cem import LatentCEMSetting, latent_cross_entropy  # noqa: E402
from nsrl_ray.search.pool import EvaluatorPool, LocalPool  # noqa: E402
from nsrl_ray.symbolic.karel.embedding.dataset import DatasetSpec, generate  # noqa: E402
from nsrl_ray.symbolic.karel.embedding.vae import ProgramVAE, VAEArchitecture  # noqa: E402
from nsrl_ray.symbolic.karel.evaluation import KarelEvaluatorFactory  # noqa: E402
from tests.conftest import run_nsrl  # noqa: E402

pytestmark = pytest.mark.ray


def test_dataset_chunks_on_ray_equal_the_local_dataset(ray_session) -> None:
    spec = DatasetSpec(programs=90, demos_per_program=2, height=6, width=6, max_demo_length=10, max_tokens=30,
                       max_nesting=2, max_block=4, wall_prob=0.1, marker_prob=0.2, max_initial_markers=3, chunk_size=20)
    local = generate(spec, 5)
    on_ray = generate_dataset(spec, 5, num_workers=2)
    assert all(np.array_equal(local[key], on_ray[key]) for key in local)


def test_latent_cem_gives_the_same_search_on_actors_and_in_process(ray_session) -> None:
    import torch

    torch.manual_seed(0)
    model = ProgramVAE(VAEArchitecture(8, 32, 16, 16, 45)).eval()  # untrained: decoding still parses
    setting = LatentCEMSetting(12, 0.25, 0.5, True, "normal", 0.5)
    factory = KarelEvaluatorFactory("top_off")
    local = latent_cross_entropy(LocalPool(factory), [1, 2, 3], model, seed=3, setting=setting, max_evaluations=60)
    with EvaluatorPool(factory, 2, cpus_per_actor=0.5) as pool:
        remote = latent_cross_entropy(pool, [1, 2, 3], model, seed=3, setting=setting, max_evaluations=60)
    assert (remote.best_text, remote.best_return, remote.evaluations) == (local.best_text, local.best_return, local.evaluations)


@pytest.mark.slow  # two `nsrl run` subprocesses, each starting Ray: about a minute
def test_vae_then_latent_cem_smoke_runs_write_a_program_card(tmp_path: Path, repo: Path) -> None:
    # Relative paths in the files are taken from where `nsrl run` starts, not the trial's own folder.
    model = tmp_path / "models" / "vae.pt"
    trained = run_nsrl("run", str(repo / "tune_configs/karel_vae_small.yaml"), "--smoke", "--storage-path", str(tmp_path),
                       "--set", "stages.symbolic.export_path=models/vae.pt",
                       "--set", "stages.symbolic.program_behaviour_weight=0.5", cwd=tmp_path)  # REINFORCE on too
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert model.is_file() and "VAE step" in trained.stdout
    (vae_trial,) = (tmp_path / "karel_vae_small").glob("seed_0_*")
    assert (vae_trial / "artifacts" / "karel_programs" / "meta.json").is_file()
    vae_events = next(vae_trial.glob("events.out.tfevents.*")).read_bytes()
    assert b"vae/val_token_accuracy" in vae_events and b"vae/train_program_behaviour" in vae_events

    searched = run_nsrl("run", str(repo / "tune_configs/karel_stair_climber_latent.yaml"), "--smoke", "--set", "seeds=[1]",
                        "--storage-path", str(tmp_path), "--set", "stages.symbolic.model=models/vae.pt", cwd=tmp_path)
    assert searched.returncode == 0, searched.stdout[-3000:] + searched.stderr[-3000:]
    assert "program = DEF run m(" in searched.stdout
    (trial,) = (tmp_path / "karel_stair_climber_latent").glob("seed_1_*")
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    assert card["kind"] == "program" and card["learner"] == "karel_latent_cem"
    assert card["provenance"]["model"] == "models/vae.pt"
    assert 0 < card["metrics"]["symbolic/evaluations"] <= 400  # the smoke budget
    events = next(trial.glob("events.out.tfevents.*")).read_bytes()
    assert b"text/best_program" in events and b"search/best_return" in events

