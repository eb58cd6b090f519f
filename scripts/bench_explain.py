"""Benchmark explanations in words: the offline explainer, the HTTP round trip, and a real local LLM.

    python scripts/bench_explain.py           # everything, the local LLM too when the llm-local extra is installed
    python scripts/bench_explain.py --smoke   # seconds: small sizes, no local LLM (checks the script works)

Prints a markdown table. The HTTP rows compare the same OpenAI-compatible test server with and
without TCP_NODELAY (the reference: Nagle's algorithm plus delayed ACKs, ~40 ms per request).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test server lives in tests/

import numpy as np  # noqa: E402

QUICKSTART = ("(8.642171593000324 * (2.8434593865203484 * (pole_angular_velocity + pole_angle + pole_angle) + pole_angle)"
              " + cart_velocity) * 1.933621966058272 + cart_velocity + cart_velocity")


def quickstart_card():
    from nsrl_ray.envs import get_env_spec
    from nsrl_ray.explain.policy_card import PolicyCard
    from nsrl_ray.symbolic.text import parse_expression

    spec = get_env_spec("CartPole-v1")
    return PolicyCard(env="CartPole-v1", learner="gp_distill", variables=spec.feature_names,
                      action_names=spec.action_names,
                      formulas=(parse_expression("0"), parse_expression(QUICKSTART, variables=spec.feature_names)))


def bench_offline(states: int, repeats: int) -> tuple[float, float, int]:
    """(first call, median of the later calls, violations); the first call pays sympy's import and caches."""
    from nsrl_ray.explain.explainer import explain_offline, prepare, select_decision

    card = quickstart_card()
    rng = np.random.default_rng(0)
    data = {"obs": rng.normal(scale=0.05, size=(states, 4)), "episode": np.repeat(np.arange(10), states // 10)}
    times, violations = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        explanation = explain_offline(prepare(card, data["obs"], select_decision(card, data)))
        times.append(time.perf_counter() - started)
        violations = explanation.violations
    return times[0], statistics.median(times[1:] or times), violations


def bench_http(requests: int, nodelay: bool) -> float:
    from nsrl_ray.config.schema import LLMSettings
    from nsrl_ray.explain.llm_client import LLMClient, resolve_endpoint
    from tests.fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(nodelay_on=nodelay) as server:
        settings = LLMSettings(base_url=server.base_url, model="fake-model")
        client = LLMClient(resolve_endpoint(settings, {}), settings)
        client.complete([{"role": "user", "content": "warm up"}])
        started = time.perf_counter()
        for i in range(requests):
            client.complete([{"role": "user", "content": f"turn {i}\n" + "x" * 3000}])
        return (time.perf_counter() - started) / requests


def bench_local_llm() -> dict[str, float] | str:
    from nsrl_ray.config.schema import LLMSettings
    from nsrl_ray.explain.explainer import explain_with_llm, prepare, select_decision
    from nsrl_ray.explain.llm_client import NO_KEY, Endpoint, LLMClient
    from nsrl_ray.explain.local_llm import LocalLlamaServer, missing_modules

    if missing_modules():
        return f"skipped: {missing_modules()} not installed (pip install '.[llm-local]')"
    card = quickstart_card()
    rng = np.random.default_rng(0)
    data = {"obs": rng.normal(scale=0.05, size=(1000, 4)), "episode": np.repeat(np.arange(10), 100)}
    prepared = prepare(card, data["obs"], select_decision(card, data))
    settings = LLMSettings(local=True, max_tokens=200, timeout_s=600, cache_dir="")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with LocalLlamaServer(log_path=Path(folder) / "server.log") as server:
            startup = time.perf_counter() - started
            client = LLMClient(Endpoint(server.base_url, server.model, NO_KEY, identity=server.identity), settings)
            started = time.perf_counter()
            explanation = explain_with_llm(prepared, client)
            total = time.perf_counter() - started
    turns = len(explanation.policy) + 1
    words = sum(len(e.answer.split()) for e in explanation.policy) + len(explanation.decision_exchange.answer.split())
    return {"startup_s": startup, "per_turn_s": total / turns, "words_per_s": words / total,
            "violations": explanation.violations, "turns": turns}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, no local LLM")
    args = parser.parse_args()
    states, repeats, requests = (200, 2, 5) if args.smoke else (2000, 5, 50)
    cold_s, warm_s, offline_violations = bench_offline(states, repeats)
    with_nodelay = bench_http(requests, nodelay=True)
    without = bench_http(requests, nodelay=False)
    rows = [
        ("offline explanation, policy + decision", f"{cold_s:.2f} s first call, {warm_s:.3f} s later "
         f"({states} states, {offline_violations} violations)", "—"),
        ("HTTP round trip to an OpenAI-compatible server", f"{1000 * with_nodelay:.1f} ms (TCP_NODELAY)",
         f"{1000 * without:.1f} ms (Nagle on)"),
    ]
    if not args.smoke:
        local = bench_local_llm()
        if isinstance(local, str):
            rows.append(("local LLM (SmolLM2-135M, llama.cpp)", local, "—"))
        else:
            rows += [
                ("local LLM server start", f"{local['startup_s']:.1f} s", "—"),
                ("local LLM per turn (≤200 tokens)", f"{local['per_turn_s']:.1f} s, {local['words_per_s']:.0f} words/s", "—"),
                ("local LLM faithfulness violations", f"{local['violations']} over {local['turns']} answers", "offline: 0"),
            ]
    print("| measure | ours | reference |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
