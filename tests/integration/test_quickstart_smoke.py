"""The quickstart end to end at a smoke budget, through the real CLI, Ray Tune, RLlib and gplearn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, nsrl):
    storage = tmp_path_factory.mktemp("results")
    result = nsrl("run", "tune_configs/quickstart.yaml", "--smoke", "--storage-path", str(storage))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = list((storage / "quickstart").glob("seed_0_*"))
    assert len(trials) == 1, trials
    return result.stdout, trials[0]


def test_summary_names_returns_formula_and_tensorboard(smoke_run):
    stdout, trial = smoke_run
    assert "symbolic return" in stdout and "teacher return" in stdout
    assert "push_right = " in stdout
    assert f"tensorboard --logdir {trial.parent}" in stdout
    for stage in ("teacher", "collect", "symbolic", "evaluate", "explain", "report"):
        assert f"] {stage}" in stdout, f"no progress line for {stage}"


def test_artifacts_hand_off_between_stages(smoke_run):
    _, trial = smoke_run
    artifacts = trial / "artifacts"
    shards = sorted((artifacts / "dataset").glob("shard_*.npz"))
    assert shards
    data = np.load(shards[0])
    assert data["obs"].shape[1] == 4 and data["teacher_logits"].shape[1] == 2
    assert len(data["obs"]) == len(data["teacher_action"])
    evaluation = json.loads((artifacts / "evaluation.json").read_text())
    assert len(evaluation["returns"]) == 2 and len(evaluation["teacher_returns"]) == 2
    assert (artifacts / "explanation.md").read_text().startswith("# Why")
    assert "## Formulas" in (artifacts / "policy.md").read_text()


def test_policy_card_loads_and_plays(smoke_run):
    import gymnasium as gym

    import nsrl_ray

    _, trial = smoke_run
    card = json.loads((trial / "artifacts" / "policy.json").read_text())
    assert card["env"] == "CartPole-v1" and len(card["actions"]) == 2
    assert card["metrics"]["evaluate/episodes"] == 2
    assert "summary" in card["explanation"]
    policy = nsrl_ray.load_policy(trial / "artifacts")
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    steps = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        done = terminated or truncated
        steps += 1
    # The card's own evaluation played the same policy: a loaded policy is that policy.
    assert steps >= 8


def test_tensorboard_events_hold_grouped_tags(smoke_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, trial = smoke_run
    events = list(trial.glob("events.out.tfevents.*"))
    assert events, f"no TensorBoard events in {trial}"
    accumulator = EventAccumulator(str(trial))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    for tag in ("teacher/return_mean", "collect/samples", "symbolic/best_fitness", "symbolic/complexity",
                "evaluate/return_mean", "evaluate/agreement", "evaluate/teacher_return_mean"):
        assert tag in tags, f"{tag} missing from {sorted(tags)}"
    assert not any(t.startswith("ray/tune") for t in tags), "Tune's own prefixed logger should be replaced"
    texts = set(accumulator.Tags()["tensors"])
    assert any(tag.startswith("symbolic/formula") for tag in texts), f"no formula text in {sorted(texts)}"
    teacher = accumulator.Scalars("teacher/return_mean")
    assert len(teacher) == 2  # the smoke budget runs two PPO iterations


def test_episodes_do_not_depend_on_the_number_of_actors(smoke_run):
    import ray

    from nsrl_ray.pipeline.actors import play_on_actors, start_actors, stop_actors

    _, trial = smoke_run
    module = str(trial / "artifacts" / "teacher_module")
    seeds = [11, 12, 13, 14]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        runs = {}
        for count in (1, 2):
            actors = start_actors(count, 1, "CartPole-v1", module, "discrete")
            try:
                runs[count] = play_on_actors(actors, "teacher", seeds, record=True, epsilon=0.2)
            finally:
                stop_actors(actors)
    finally:
        ray.shutdown()
    assert [r.seed for r in runs[1]] == seeds == [r.seed for r in runs[2]]
    for one, two in zip(runs[1], runs[2]):
        assert one.episode_return == two.episode_return
        np.testing.assert_array_equal(one.obs, two.obs)
        np.testing.assert_array_equal(one.teacher_action, two.teacher_action)
