"""The `explain` stage inside a trial: offline words always, LLM words when the experiment file asks (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nsrl_ray.config import parse_experiment
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.pipeline.context import FORMULAS, StageContext
from nsrl_ray.pipeline.stages.explain import run_explain
from nsrl_ray.symbolic.text import parse_expression
from tests.fake_openai_server import FakeOpenAIServer


def context(tmp_path: Path, explain: dict | None) -> tuple[StageContext, list]:
    config = parse_experiment({
        "name": "t", "env": "CartPole-v1",
        "stages": {"teacher": None, "collect": None, "symbolic": None, "explain": explain, "report": None},
    })
    spec = get_env_spec("CartPole-v1")
    card = PolicyCard(env="CartPole-v1", learner="test", variables=spec.feature_names, action_names=spec.action_names,
                      formulas=(parse_expression("0"),
                                parse_expression("3 * pole_angle + pole_angular_velocity", variables=spec.feature_names)))
    artifacts = tmp_path / "artifacts"
    (artifacts / "dataset").mkdir(parents=True)
    (artifacts / FORMULAS).write_text(json.dumps(card.to_dict()))
    np.savez_compressed(artifacts / "dataset" / "shard_0000.npz", obs=np.random.default_rng(0).normal(scale=0.05, size=(60, 4)),
                        teacher_action=np.zeros(60, int), teacher_logits=np.zeros((60, 2)), episode=np.repeat([0, 1], 30))
    reports: list = []
    return StageContext(config, 0, artifacts, lambda stage, metrics, *checkpoint: reports.append(dict(metrics))), reports


def test_stage_writes_offline_words_beside_the_statistics(tmp_path: Path) -> None:
    ctx, reports = context(tmp_path, None)
    result = run_explain(ctx)
    assert result["summary"].startswith("The policy chooses push_right")
    data = json.loads((ctx.artifacts / "explanation.json").read_text())
    assert {"summary", "method", "variables", "words"} <= set(data)
    assert data["words"]["source"] == "offline" and data["words"]["violations"] == 0
    assert (ctx.artifacts / "explanation.md").read_text().startswith("# Why the CartPole-v1 policy acts as it does")
    assert reports[-1]["explain/offline_violations"] == 0
    assert not (ctx.artifacts / "explanation_llm.md").exists()


def test_stage_asks_the_configured_llm(tmp_path: Path) -> None:
    with FakeOpenAIServer(answer=lambda messages: "Raising `pole_angle` makes `push_right` more likely.") as server:
        llm = {"base_url": server.base_url, "model": "fake-model", "cache_dir": str(tmp_path / "cache")}
        ctx, reports = context(tmp_path, {"llm": llm})
        run_explain(ctx)
    assert len(server.requests) == 4
    data = json.loads((ctx.artifacts / "explanation_llm.json").read_text())
    assert data["words"]["source"].startswith("fake-model at http://127.0.0.1:")
    assert reports[-1]["explain/llm_ok"] == 1 and reports[-1]["explain/llm_violations"] == 0


def test_a_failing_llm_keeps_the_offline_explanation(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        llm = {"base_url": server.base_url, "model": "no-such-model", "cache_dir": ""}
        ctx, reports = context(tmp_path, {"llm": llm})
        result = run_explain(ctx)
    assert "model 'no-such-model' is not served" in result["llm_error"]
    assert (ctx.artifacts / "explanation.md").is_file()
    assert "not served" in json.loads((ctx.artifacts / "explanation_llm.json").read_text())["error"]
    assert reports[-1]["explain/llm_ok"] == 0


def test_llm_section_round_trips_and_refuses_a_key_in_the_file() -> None:
    import pytest
    import yaml

    from nsrl_ray.config import ConfigError, dump_experiment

    data = {"name": "t", "env": "CartPole-v1", "stages": {
        "teacher": None, "collect": None, "symbolic": None, "report": None,
        "explain": {"llm": {"base_url": "http://127.0.0.1:8080/v1", "model": "m", "max_retries": 2, "local": False}}}}
    config = parse_experiment(data)
    assert config.stages.explain.llm.model == "m" and config.stages.explain.llm.max_retries == 2
    assert parse_experiment(yaml.safe_load(dump_experiment(config))) == config
    data["stages"]["explain"]["llm"]["api_key_env"] = "sk-live-abcdef123456"
    with pytest.raises(ConfigError, match="not the key itself") as caught:
        parse_experiment(data)
    assert "sk-live-abcdef123456" not in str(caught.value)
    data["stages"]["explain"]["llm"] = {"api_key": "sk-x"}
    with pytest.raises(ConfigError, match="unknown key 'api_key'"):
        parse_experiment(data)
