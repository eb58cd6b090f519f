"""The program embedding: syntax-masked decoding, the dataset generator, LEAPS's losses, saving, config checks."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from nsrl_ray.config import ConfigError
from nsrl_ray.config.loading import from_mapping
from nsrl_ray.config.schema import KarelLatentCEMSettings, KarelVAESettings
from nsrl_ray.symbolic.karel.embedding.dataset import (
    DatasetSpec,
    demonstrate,
    generate,
    generate_chunk,
    initial_world,
    load_shards,
    merge_chunks,
    programs_of,
    save_shards,
    trace_agreement,
)
from nsrl_ray.symbolic.karel.embedding.vae import (
    N_TOKENS,
    LossWeights,
    ProgramVAE,
    SyntaxMasks,
    TrainingData,
    VAEArchitecture,
    VAETrainer,
    evaluate_vae,
    load_vae,
    program_behaviour_rewards,
    save_vae,
    vae_losses,
)
from nsrl_ray.symbolic.karel.program import END_ID, TOKENS, to_ids, token_count
from nsrl_ray.symbolic.karel.sampler import ProgramLimits, ProgramSampler
from nsrl_ray.symbolic.karel.syntax import allowed_next, parse_ids, parse_program

torch.set_num_threads(1)


def _spec(**changes) -> DatasetSpec:
    base = DatasetSpec(programs=120, demos_per_program=2, height=8, width=8, max_demo_length=12, max_tokens=45,
                       max_nesting=3, max_block=6, wall_prob=0.1, marker_prob=0.1, max_initial_markers=5, chunk_size=50)
    return dataclasses.replace(base, **changes)


def _model(max_tokens: int = 45, seed: int = 0) -> ProgramVAE:
    torch.manual_seed(seed)
    return ProgramVAE(VAEArchitecture(latent_dim=8, hidden_size=32, embedding_size=16, policy_hidden_size=16, max_tokens=max_tokens))


# ------------------------------------------------------------------------------------------ masked decoding
@pytest.mark.parametrize("max_tokens", [12, 45])
def test_untrained_masked_decoding_always_parses_within_the_length(max_tokens: int) -> None:
    model = _model(max_tokens)
    generator = torch.Generator().manual_seed(1)
    for scale, greedy in ((1.0, True), (5.0, False), (1.0, False)):
        z = scale * torch.randn(64, 8, generator=generator)
        ids, _ = model.decode(z, greedy=greedy, generator=generator)
        for row in ids:
            program = parse_ids(row)  # raises KarelSyntaxError if the mask let a bad token through
            assert token_count(program) == len(row) <= max_tokens


def test_masks_follow_the_syntax_automaton() -> None:
    masks = SyntaxMasks(45)
    program = parse_program("DEF run m( WHILE c( not c( frontIsClear c) c) w( turnLeft w) REPEAT R=3 r( move r) m)")
    ids = to_ids(program)
    table = masks.sequence(ids, 46)
    for position in range(len(ids) + 1):
        allowed = {TOKENS[i] if i < END_ID else "<end>" for i in np.flatnonzero(table[position])}
        assert allowed == set(allowed_next(ids[:position], 45))
        target = ids[position] if position < len(ids) else END_ID
        assert table[position, target]
    assert table[len(ids) + 1 :].sum(axis=1).tolist() == [1] * (46 - len(ids) - 1)  # only the end id after the end


def test_teacher_forced_logits_are_masked() -> None:
    model = _model()
    data = TrainingData(generate(_spec(programs=20, chunk_size=20), 0), 45)
    logits = model.decoder_logits(torch.zeros(len(data), 8), data.ids, data.masks)
    assert (logits[~data.masks] < -1e8).all() and (logits[data.masks] > -1e8).all()


# ------------------------------------------------------------------------------------------ dataset
def test_dataset_is_deterministic_and_independent_of_chunking(tmp_path) -> None:
    spec = _spec()
    first, second = generate(spec, 7), generate(spec, 7)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = generate(spec, 8)
    assert not np.array_equal(first["program_ids"][:10], other["program_ids"][:10])
    # A chunk depends on (seed, index) alone: generating chunks out of order gives the same data set.
    chunks = {i: generate_chunk(spec, 7, i) for i in reversed(range(spec.chunks))}
    shuffled = merge_chunks(chunks[i] for i in range(spec.chunks))
    assert all(np.array_equal(first[k], shuffled[k]) for k in first)
    save_shards(tmp_path / "ds", first, spec, 7, shard_size=40)
    loaded = load_shards(tmp_path / "ds")
    assert len(list((tmp_path / "ds").glob("shard_*.npz"))) == -(-len(first["program_ids"]) // 40)
    assert all(np.array_equal(first[k], loaded[k]) for k in first)


def test_dataset_programs_fit_the_limits_and_demonstrations_replay() -> None:
    spec = _spec(programs=60, chunk_size=60)
    data = generate(spec, 3)
    programs = programs_of(data)
    assert len({str(p) for p in programs}) == len(programs)  # duplicates dropped
    assert all(spec.limits.fits(p) for p in programs)
    for row in range(0, len(programs), 7):
        for demo in range(spec.demos_per_program):
            actions, perceptions, cut = demonstrate(programs[row], initial_world(data, row, demo), 220, spec.max_demo_length)
            length = data["demo_len"][row, demo]
            assert actions == data["demo_actions"][row, demo, :length].tolist()
            assert np.array_equal(perceptions, data["demo_perceptions"][row, demo, : length + 1])
            assert cut == data["demo_cut"][row, demo]


def test_trace_agreement() -> None:
    assert trace_agreement([], []) == 1.0
    assert trace_agreement([0, 1, 2], [0, 1, 2]) == 1.0
    assert trace_agreement([0, 1], [0, 2, 2, 2]) == 0.25


# ------------------------------------------------------------------------------------------ learning
def test_reconstruction_accuracy_rises_well_above_chance() -> None:
    data = TrainingData(generate(_spec(programs=48, chunk_size=48), 0), 45)
    model = _model()
    rows = np.arange(len(data))
    before = evaluate_vae(model, data, rows)["token_accuracy"]
    trainer = VAETrainer(model, data, rows, LossWeights(1.0, 0.001, 0.1, 0.0), 3e-3, 32, seed=0)
    for _ in range(150):
        trainer.step()
    after = evaluate_vae(model, data, rows)
    # Accuracy counts only positions where the grammar leaves a choice. Untrained: about 0.05; a learner
    # whose decoder ignores z reaches about 0.67 here (measured), this one about 0.87.
    assert before < 0.3
    assert after["token_accuracy"] > 0.8, after
    assert after["reconstruction"] < 0.5, after


def test_latent_and_program_behaviour_losses_give_gradients() -> None:
    data = TrainingData(generate(_spec(programs=30, chunk_size=30), 1), 45)
    model = _model()
    losses = vae_losses(model, data, np.arange(8), LossWeights(1.0, 0.1, 1.0, 1.0), torch.Generator().manual_seed(0), 4)
    for key in ("reconstruction", "kl", "latent_behaviour", "program_behaviour", "loss"):
        assert torch.isfinite(losses[key]), key
    assert 0.0 <= float(losses["program_reward"]) <= 1.0
    # REINFORCE alone moves the decoder (its gradient reaches the token head).
    model.zero_grad()
    only = vae_losses(model, data, np.arange(8), LossWeights(1e-9, 0.0, 0.0, 1.0), torch.Generator().manual_seed(0), 4)
    only["program_behaviour"].backward()
    assert model.token_head.weight.grad is not None and model.token_head.weight.grad.abs().sum() > 0


def test_program_behaviour_reward_is_one_for_the_demonstrating_program() -> None:
    raw = generate(_spec(programs=20, chunk_size=20), 2)
    data = TrainingData(raw, 45)
    rows = list(range(10))
    ids = [raw["program_ids"][r][: raw["program_len"][r]].tolist() for r in rows]
    assert program_behaviour_rewards(ids, data, rows).tolist() == [1.0] * 10


def test_trainer_state_resumes_exactly(tmp_path) -> None:
    data = TrainingData(generate(_spec(programs=40, chunk_size=40), 4), 45)
    weights = LossWeights(1.0, 0.01, 1.0, 0.0)
    straight = VAETrainer(_model(), data, np.arange(len(data)), weights, 1e-3, 16, seed=3)
    for _ in range(4):
        straight.step()
    first = VAETrainer(_model(), data, np.arange(len(data)), weights, 1e-3, 16, seed=3)
    for _ in range(2):
        first.step()
    resumed = VAETrainer(_model(seed=9), data, np.arange(len(data)), weights, 1e-3, 16, seed=99)
    # Through a file read back as weights only, as the karel_vae stage resumes.
    torch.save(first.state_dict(), tmp_path / "trainer.pt")
    resumed.load_state_dict(torch.load(tmp_path / "trainer.pt", map_location="cpu", weights_only=True))
    for _ in range(2):
        resumed.step()
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_save_and_load_round_trip(tmp_path) -> None:
    model = _model()
    path = save_vae(tmp_path / "m.pt", model, {"val_token_accuracy": 0.5})
    loaded, info = load_vae(path)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    assert [str(p) for p in loaded.decode_programs(z)] == [str(p) for p in model.decode_programs(z)]
    assert info["metrics"] == {"val_token_accuracy": 0.5}
    with pytest.raises(FileNotFoundError, match="karel_vae"):
        load_vae(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a program VAE"):
        load_vae(tmp_path / "other.pt")
    (tmp_path / "corrupt.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable program VAE"):
        load_vae(tmp_path / "corrupt.pt")


class _Payload:
    """Unpickling this would run code; a model file must never be able to."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_a_model_file_that_carries_code_is_refused(tmp_path) -> None:
    torch.save({"format": "x", "payload": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable program VAE"):
        load_vae(tmp_path / "evil.pt")


# ------------------------------------------------------------------------------------------ config
def test_bad_vae_and_latent_cem_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="kl_weight: got -1"):
        from_mapping(KarelVAESettings, {"learner": "karel_vae", "kl_weight": -1.0}, "stages.symbolic")
    with pytest.raises(ConfigError, match="latent_dim: got 0"):
        from_mapping(KarelVAESettings, {"latent_dim": 0}, "stages.symbolic")
    with pytest.raises(ConfigError, match="reconstruction_weight: got 0"):
        KarelVAESettings(reconstruction_weight=0.0)
    with pytest.raises(ConfigError, match="unknown key 'latent_dims'.*Did you mean 'latent_dim'"):
        from_mapping(KarelVAESettings, {"latent_dims": 8}, "stages.symbolic")
    with pytest.raises(ConfigError, match="model: got an empty path, expected the karel_vae.pt"):
        KarelLatentCEMSettings()
    with pytest.raises(ConfigError, match="elite_fraction: got 1.5"):
        KarelLatentCEMSettings(model="m.pt", elite_fraction=1.5)
    with pytest.raises(ConfigError, match="decode: got 'beam'"):
        from_mapping(KarelLatentCEMSettings, {"model": "m.pt", "decode": "beam"}, "stages.symbolic")
    with pytest.raises(ValueError, match="max_tokens: got 3"):
        VAEArchitecture(8, 8, 8, 8, 3)
    with pytest.raises(ValueError, match="loss weight kl"):
        LossWeights(1.0, float("nan"), 0.0, 0.0)


def test_sampler_limits_match_the_decoder_length() -> None:
    # The dataset's programs always fit the decoder: both use LEAPS's 45 tokens.
    rng = random.Random(0)
    sampler = ProgramSampler()
    assert all(token_count(sampler.program(rng, ProgramLimits(45, 3, 6))) <= 45 for _ in range(200))
    assert N_TOKENS == 51


def test_the_stage_checkpoints_and_a_resumed_trial_ends_with_the_same_model(tmp_path) -> None:
    import shutil

    from nsrl_ray.config.experiment_file import load_experiment
    from nsrl_ray.pipeline.context import StageContext
    from nsrl_ray.pipeline.stages.symbolic_karel_vae import MODEL_FILE, learn_karel_vae

    tiny = ["programs=60", "chunk_size=30", "num_actors=0", "steps=6", "eval_every=2", "checkpoint_every=4", "latent_dim=8",
            "hidden_size=16", "embedding_size=8", "policy_hidden_size=8", "batch_size=8", "export_path=null"]
    config = load_experiment("tune_configs/karel_vae_small.yaml", [f"stages.symbolic.{item}" for item in tiny])
    snapshot = tmp_path / "checkpoint"

    def reporter(stage, metrics, checkpoint=None):
        if checkpoint is not None:  # what Tune would persist: a copy of the artifact folder
            shutil.copytree(tmp_path / "straight", snapshot)
            positions.append(checkpoint)

    positions: list[dict] = []
    straight = learn_karel_vae(StageContext(config, 0, tmp_path / "straight", reporter))
    assert positions == [{"step": 4}] and straight["step"] == 6.0 and straight["programs"] > 0
    assert (snapshot / MODEL_FILE).is_file()  # an interrupted run keeps the checkpoint's model
    resumed = learn_karel_vae(StageContext(config, 0, snapshot, lambda *a: None, resume={"stage": "symbolic", "step": 4}))
    assert resumed["step"] == 6.0
    a = torch.load(tmp_path / "straight" / MODEL_FILE, weights_only=False)["state_dict"]
    b = torch.load(snapshot / MODEL_FILE, weights_only=False)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
