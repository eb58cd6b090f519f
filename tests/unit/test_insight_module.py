"""INSIGHT's RLModule without Ray running: heads, which actor acts, state carrying the EQL masks, formula export."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from nsrl_ray.perception.model import PerceptionCNN
from nsrl_ray.rl_modules.insight import EQL_OUT, NEURAL_OUT, PERCEPTION_CENTRE, InsightTorchRLModule
from nsrl_ray.rl_modules.insight_algo import build_module, load_perception, save_perception
from nsrl_ray.rl_modules.insight_rollout import PerceivedFormulaPolicy, draw_objects, export_formulas, prune_for_export
from nsrl_ray.symbolic.expression import evaluate, variables_of

torch.set_num_threads(1)
FRAMES = gymnasium.spaces.Box(0, 255, (4, 84, 84), np.uint8)
SLOTS = ("player", "ball", "enemy")
TINY = {"slot_names": list(SLOTS), "channels": [4, 8, 8], "hidden": 32, "head_hidden": 16, "eql_copies": 2}


def module(action_space=gymnasium.spaces.Discrete(6), **extra) -> InsightTorchRLModule:
    torch.manual_seed(0)
    return build_module(FRAMES, action_space, {**TINY, **extra})


def frames(n: int = 5) -> torch.Tensor:
    return torch.randint(0, 256, (n, 4, 84, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_train_pass_returns_both_actors_perception_and_values() -> None:
    m = module()
    out = m.forward_train({Columns.OBS: frames()})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (5, 6)
    assert out[NEURAL_OUT].shape == out[EQL_OUT].shape == (5, 6)
    assert out[PERCEPTION_CENTRE].shape == (5, 4, 3, 2)
    assert torch.equal(out[Columns.ACTION_DIST_INPUTS], out[NEURAL_OUT])  # the neural actor acts by default
    assert m.compute_values({Columns.OBS: frames()}).shape == (5,)
    assert m.feature_names[:3] == ("player_x_t0", "player_y_t0", "player_present_t0")


def test_the_neural_actor_starts_near_uniform_and_the_critic_does_not() -> None:
    # CleanRL's head gains: policy output 0.01, value output 1. With PyTorch's default init the policy
    # starts with logits that already prefer actions, set by an embedding that knows nothing of reward.
    out = module().forward_train({Columns.OBS: frames(32)})
    probabilities = torch.softmax(out[NEURAL_OUT], dim=-1)
    assert float((probabilities - 1 / 6).abs().max()) < 0.01
    values = module().compute_values({Columns.OBS: frames(32)})
    assert float(values.std()) > 10 * float(out[NEURAL_OUT].std())


def test_use_eql_actor_acts_with_scaled_eql_logits() -> None:
    m = module(use_eql_actor=True, eql_inverse_temperature=10.0)
    out = m.forward_inference({Columns.OBS: frames()})
    heads = m.actor_outputs(frames())
    assert torch.allclose(out[Columns.ACTION_DIST_INPUTS], heads["eql"])
    assert torch.allclose(heads["eql"], m.eql_on_features(heads["features"]) * 10.0, atol=1e-5)


def test_continuous_variant_outputs_gaussian_inputs() -> None:
    m = module(gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32))
    out = m.forward_train({Columns.OBS: frames()})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (5, 4)  # means and log stds
    assert out[EQL_OUT].shape == (5, 2)


def test_state_carries_the_pruning_masks_and_the_acting_actor() -> None:
    m = module(use_eql_actor=True)
    m.eql.prune(0.2)
    state = m.get_state()
    assert "eql.output.weight_mask" in state and "use_eql_actor" in state
    other = module(use_eql_actor=False)
    other.set_state(state)
    assert bool(other.use_eql_actor)
    assert torch.equal(other.eql.output.weight_mask, m.eql.output.weight_mask)
    obs = {Columns.OBS: frames()}
    assert torch.allclose(other.forward_inference(obs)[Columns.ACTION_DIST_INPUTS], m.forward_inference(obs)[Columns.ACTION_DIST_INPUTS])


def test_module_refuses_flat_observations() -> None:
    with pytest.raises(ValueError, match="frame stacks"):
        build_module(gymnasium.spaces.Box(0, 1, (12,), np.float32), gymnasium.spaces.Discrete(3), TINY)


def test_exported_formulas_compute_what_the_pruned_eql_computes() -> None:
    m = module()
    pruned = prune_for_export(m.eql, 1e-2, max_weights=12)
    for linear in pruned.linears():
        assert int((linear.weight * linear.weight_mask != 0).sum()) <= 12
    formulas = export_formulas(pruned, digits=8, scale=10.0)
    assert len(formulas) == 6
    names = pruned.variable_names  # coordinates only, as INSIGHT's EQL reads them
    assert len(names) == 3 * 4 * 2 and not any("present" in n for n in names)
    assert set().union(*(variables_of(f) for f in formulas)) <= set(names) < set(m.feature_names)
    x = np.random.default_rng(0).uniform(0, 1, (64, len(names)))
    expected = pruned(torch.as_tensor(x, dtype=torch.float32)).detach().numpy() * 10.0
    got = np.stack([np.broadcast_to(evaluate(f, {n: x[:, i] for i, n in enumerate(names)}), (64,)) for f in formulas], 1)
    assert np.allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_perceived_formula_policy_plays_formulas_on_frames(tmp_path) -> None:
    from nsrl_ray.symbolic.formula_policy import FormulaPolicy

    torch.manual_seed(0)
    cnn = PerceptionCNN(SLOTS, channels=(4, 8, 8), hidden=32)
    path = save_perception(cnn, {"channels": [4, 8, 8], "hidden": 32}, tmp_path / "p.pt")
    loaded, options = load_perception(path)
    assert options["hidden"] == 32
    pruned = prune_for_export(module().eql, 1e-2, max_weights=8)
    formulas = export_formulas(pruned, digits=8)
    formula_policy = FormulaPolicy(cnn.feature_names, formulas, tuple(f"a{i}" for i in range(6)))
    policy = PerceivedFormulaPolicy(formula_policy, path)
    obs = frames(3).numpy()
    features = cnn.features(torch.as_tensor(obs)).numpy()
    assert np.array_equal(policy.act(obs.astype(np.float64)), formula_policy.act(features.astype(np.float64)))


def test_draw_objects_marks_present_objects_only() -> None:
    screen = np.zeros((210, 160, 3), np.uint8)
    drawn = draw_objects(screen, np.array([[0.5, 0.5], [np.nan, np.nan], [0.1, 0.9]]), SLOTS)
    assert drawn.shape == (420, 320, 3) and drawn.any()
    assert not drawn[:, 200:].any() or drawn[150:270, 100:220].any()


def test_presence_flags_can_be_eql_inputs() -> None:
    assert len(module(eql_presence_inputs=True).eql.variable_names) == 3 * 4 * 3


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_eql_cnn_gradient_scales_what_the_eql_sends_into_the_cnn(share: float) -> None:
    obs = {Columns.OBS: frames()}
    whole, scaled = module(), module(eql_cnn_gradient=share)
    out_whole, out_scaled = whole.forward_train(obs)[EQL_OUT], scaled.forward_train(obs)[EQL_OUT]
    assert torch.allclose(out_whole, out_scaled)  # the same actor: only the gradient differs
    out_whole.sum().backward()
    out_scaled.sum().backward()
    grad_whole = whole.perception.coordinates.weight.grad
    grad_scaled = scaled.perception.coordinates.weight.grad
    assert float(grad_whole.abs().sum()) > 0.0
    assert torch.allclose(grad_scaled if grad_scaled is not None else torch.zeros_like(grad_whole), share * grad_whole,
                          atol=1e-6)


def test_standardised_eql_inputs_fold_back_into_formulas_in_raw_coordinates() -> None:
    m = module()
    rng = np.random.default_rng(2)
    features = torch.as_tensor(rng.uniform(0.3, 0.5, (200, len(m.feature_names))), dtype=torch.float32)
    features[:, 0] = 0.9  # a constant coordinate keeps the smallest scale instead of dividing by 0
    raw = m.eql_on_features(features).detach()
    m.standardise_eql_inputs(features)
    inputs = features.index_select(-1, m.eql_inputs)
    assert torch.allclose(m.eql_input_shift, inputs.mean(0)) and float(m.eql_input_scale.min()) >= 0.02 - 1e-7
    assert float(m.eql_input_scale[0]) == pytest.approx(0.02)
    standardised = m.eql_on_features(features).detach()
    assert not torch.allclose(raw, standardised, atol=1e-3)  # the EQL now reads other inputs
    # The state carries the standardisation, so an EnvRunner's copy acts the same.
    other = module()
    other.set_state(m.get_state())
    assert torch.allclose(other.eql_on_features(features), standardised)
    # Folded into the first layer: the same outputs from the raw coordinates, and formulas in raw names.
    folded = m.eql_in_input_units()
    assert torch.allclose(folded(inputs), standardised, atol=1e-4)
    pruned = prune_for_export(folded, 1e-2, max_weights=12)
    formulas = export_formulas(pruned, digits=8, scale=1.0)
    x = inputs[:16].numpy().astype(np.float64)
    got = np.stack([np.broadcast_to(evaluate(f, {n: x[:, i] for i, n in enumerate(pruned.variable_names)}), (16,))
                    for f in formulas], 1)
    assert np.allclose(got, pruned(inputs[:16]).detach().numpy(), rtol=1e-3, atol=1e-3)


def test_a_pruned_first_layer_stays_pruned_when_folded() -> None:
    m = module()
    m.eql.blocks[0].linear.prune(0.3)
    mask = m.eql.blocks[0].linear.weight_mask.clone()
    m.standardise_eql_inputs(torch.rand(50, len(m.feature_names)))
    assert torch.equal(m.eql_in_input_units().blocks[0].linear.weight_mask, mask)
    pruned = prune_for_export(m.eql, 0.3)  # the stage's order: prune the standardised EQL, then fold
    x = torch.rand(20, len(m.feature_names))
    inputs = x.index_select(-1, m.eql_inputs)
    standardised = pruned((inputs - m.eql_input_shift) / m.eql_input_scale)
    assert torch.allclose(m.eql_in_input_units(pruned)(inputs), standardised, atol=1e-4)


def _recorded_states(m: InsightTorchRLModule, n: int = 1200) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of `n` states and neural logits that say: up (action 2) when the ball is above the paddle, else down."""
    rng = np.random.default_rng(4)
    features = torch.as_tensor(rng.uniform(0.2, 0.8, (n, len(m.feature_names))), dtype=torch.float32)
    names = list(m.feature_names)
    up = features[:, names.index("ball_y_t0")] < features[:, names.index("player_y_t0")]
    neural = torch.zeros(n, 6)
    neural[torch.arange(n), torch.where(up, 2, 3)] = 5.0
    return features, neural


def _distilled_module() -> tuple[InsightTorchRLModule, torch.Tensor, torch.Tensor]:
    """A module whose EQL (standardised inputs) was distilled a little on `_recorded_states`, as in PPO: then the
    12 weights per layer a pruning keeps hold the rule, roughly."""
    from nsrl_ray.symbolic.eql import refit_pruned

    m = module()
    features, neural = _recorded_states(m)
    m.standardise_eql_inputs(features)
    inputs = m.eql_input_values(features)
    refit_pruned(m.eql, inputs, neural.argmax(-1), steps=50, output_scale=10.0, batch_size=256)
    return m, features, neural


def test_export_refits_the_pruned_eql_on_recorded_states_and_formulas_follow() -> None:
    from nsrl_ray.rl_modules.insight_export import RefitSettings, export_eql

    m, features, neural = _distilled_module()
    plain = export_eql(m, 1e-2, 12, digits=8)
    assert plain.metrics == {}  # no recorded states: nothing to measure or refit on
    refitted = export_eql(m, 1e-2, 12, digits=8, data=(features, neural), refit=RefitSettings(steps=400, batch_size=256))
    metrics = refitted.metrics
    measured_only = export_eql(m, 1e-2, 12, digits=8, data=(features, neural), refit=RefitSettings(steps=0))
    assert measured_only.formulas == plain.formulas and "refit_agreement" not in measured_only.metrics
    assert measured_only.metrics["refit_agreement_before"] == metrics["refit_agreement_before"]
    assert metrics["refit_states"] == 960 and metrics["refit_heldout_states"] == 240
    assert metrics["refit_agreement_before"] < 0.9 < 0.97 < metrics["refit_agreement"]
    assert metrics["refit_loss"] < metrics["refit_loss_before"]
    for before, after in zip(plain.eql.linears()[:1] + plain.eql.linears()[1:], refitted.eql.linears()):
        assert torch.equal(before.weight_mask, after.weight_mask)  # the refit keeps the pruned terms out
    # The formulas, in raw coordinates, pick what the refitted EQL picks on the held-out states.
    inputs = features[960:].index_select(-1, m.eql_inputs)
    x = inputs.numpy().astype(np.float64)
    columns = {n: x[:, i] for i, n in enumerate(refitted.eql.variable_names)}
    logits = np.stack([np.broadcast_to(evaluate(f, columns), (len(x),)) for f in refitted.formulas], 1)
    assert np.array_equal(logits.argmax(1), refitted.eql(inputs).argmax(-1).numpy())
    assert (logits.argmax(1) == neural[960:].argmax(-1).numpy()).mean() > 0.9


def test_play_actor_records_states_and_takes_any_actor_function() -> None:
    from nsrl_ray.rl_modules.insight_rollout import play_actor

    m = module()
    chosen = []

    def always_up(outputs: dict[str, torch.Tensor]) -> int:
        chosen.append(outputs["features"].shape)
        return 2

    run = play_actor(m, "Pong", always_up, [0], max_steps=25, record=True)
    assert run.steps == len(run.features) == len(run.neural) == len(chosen) == 25
    assert run.features[0].shape == (len(m.feature_names),) and run.neural[0].shape == (6,)
    assert not play_actor(m, "Pong", "eql", [0], max_steps=5).features  # recording is asked for
    with pytest.raises(ValueError, match="actor must be"):
        play_actor(m, "Pong", "teacher", [0], max_steps=5)


def test_further_refit_rounds_learn_the_states_the_formulas_reach() -> None:
    from nsrl_ray.rl_modules.insight_export import RefitSettings, export_eql
    from nsrl_ray.rl_modules.insight_rollout import ActorRollout

    m, features, neural = _distilled_module()
    # Where the formulas go, the recorded games never went: the ball far below (y > 0.9), where the neural actor fires.
    rng = np.random.default_rng(5)
    names = list(m.feature_names)
    elsewhere = torch.as_tensor(rng.uniform(0.2, 0.8, (400, len(names))), dtype=torch.float32)
    elsewhere[:, names.index("ball_y_t0")] = torch.as_tensor(rng.uniform(0.9, 1.0, 400), dtype=torch.float32)
    fire = torch.zeros(400, 6)
    fire[:, 1] = 5.0
    played = []

    def play_student(actor, round_: int) -> ActorRollout:
        actions = [actor({"features": f[None]}) for f in elsewhere[:5]]
        assert all(isinstance(a, int) and 0 <= a < 6 for a in actions)
        played.append(round_)
        score = scores[round_ - 1]
        return ActorRollout(returns=[score], features=list(elsewhere.numpy()), neural=list(fire.numpy()))

    def fires_there(exported) -> float:
        chosen = exported.eql(elsewhere.index_select(-1, m.eql_inputs)).argmax(-1)
        return float((chosen == 1).float().mean())

    once = export_eql(m, 1e-2, 12, digits=8, data=(features, neural), refit=RefitSettings(steps=300, batch_size=256))
    scores = [-21.0, -5.0, 19.0]  # each refit plays better than the last
    thrice = export_eql(m, 1e-2, 12, digits=8, data=(features, neural),
                        refit=RefitSettings(steps=300, batch_size=256, rounds=3), play_student=play_student)
    assert played == [1, 2, 3]  # every refit plays; the states of the first two join the data
    assert thrice.metrics["refit_states"] == 960 + 2 * 400 and thrice.metrics["refit_student_return_3"] == 19.0
    assert thrice.metrics["refit_selected"] == 3
    assert fires_there(once) < 0.2 < 0.8 < fires_there(thrice)
    assert thrice.metrics["refit_agreement"] > 0.9  # and the recorded games' rule still holds
    # When an earlier refit played best, that one is kept: the first, which never saw where the formulas go.
    scores = [19.0, -21.0, -21.0]
    kept = export_eql(m, 1e-2, 12, digits=8, data=(features, neural),
                      refit=RefitSettings(steps=300, batch_size=256, rounds=3), play_student=play_student)
    assert kept.metrics["refit_selected"] == 1 and fires_there(kept) < 0.2
    assert kept.formulas == once.formulas
    with pytest.raises(ValueError, match="needs play_student"):
        export_eql(m, 1e-2, 12, digits=8, data=(features, neural), refit=RefitSettings(steps=1, rounds=2))
    with pytest.raises(ValueError, match="rounds >= 1"):
        RefitSettings(rounds=0)


def test_eql_acting_envs_let_the_eql_act_in_the_first_rows_of_exploration_only() -> None:
    from nsrl_ray.rl_modules.insight import EQL_ACTED

    m = module(eql_acting_envs=2)
    heads = m.actor_outputs(frames())
    out = m.forward_exploration({Columns.OBS: frames()})
    assert out[EQL_ACTED].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert torch.allclose(out[Columns.ACTION_DIST_INPUTS][:2], heads["eql"][:2])
    assert torch.allclose(out[Columns.ACTION_DIST_INPUTS][2:], heads["neural"][2:])
    # Greedy evaluation and training passes are the neural actor's.
    assert torch.allclose(m.forward_inference({Columns.OBS: frames()})[Columns.ACTION_DIST_INPUTS], heads["neural"])
    state = m.get_state()
    fresh = module()
    fresh.set_state(state)
    assert int(fresh.eql_acting_envs) == 2  # weight syncs carry it to the EnvRunners


def test_halving_budgets_end_at_the_cap() -> None:
    from nsrl_ray.rl_modules.insight_export import halving_budgets

    assert halving_budgets(1344, 96) == [672, 336, 168, 96]
    assert halving_budgets(100, 96) == [96]
    assert halving_budgets(50, 96) == []


def test_gradual_pruning_keeps_the_rule_where_pruning_at_once_loses_it() -> None:
    from nsrl_ray.rl_modules.insight_export import RefitSettings, export_eql

    m = module()  # an EQL that learned nothing yet: its largest weights say nothing of the rule
    features, neural = _recorded_states(m)
    m.standardise_eql_inputs(features)
    refit = RefitSettings(steps=300, batch_size=256)
    at_once = export_eql(m, 1e-2, 4, digits=8, data=(features, neural), refit=refit)
    gradual = export_eql(m, 1e-2, 4, digits=8, data=(features, neural), refit=refit, gradual=True)
    assert gradual.metrics["export_prune_stages"] >= 3 and "export_prune_stages" not in at_once.metrics
    for linear in gradual.eql.linears():
        assert int((linear.weight_mask > 0).sum()) <= 4 and int((linear.weight != 0).sum()) <= 4
    # Up when the ball is above the paddle needs 2 first-layer and 2 output weights: halvings find them.
    assert at_once.metrics["refit_agreement"] < 0.9 < gradual.metrics["refit_agreement"]
