"""`nsrl explain`: Markdown explanations beside the card, offline and through an OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nsrl_ray.cli.main import main
from nsrl_ray.envs import get_env_spec
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.symbolic.text import parse_expression
from tests.fake_openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-cli-test-KEY-0123456789abcdef"
FORMULA = "(8.642 * (2.843 * (pole_angular_velocity + pole_angle + pole_angle) + pole_angle) + cart_velocity) * 1.934 + cart_velocity + cart_velocity"


def make_run(root: Path, trials: int = 1) -> Path:
    """An experiment folder as `nsrl run` leaves it: <exp>/<trial>/artifacts/{policy.json, dataset/}."""
    spec = get_env_spec("CartPole-v1")
    card = PolicyCard(env="CartPole-v1", learner="gp_distill", variables=spec.feature_names,
                      action_names=spec.action_names,
                      formulas=(parse_expression("0"), parse_expression(FORMULA, variables=spec.feature_names)))
    rng = np.random.default_rng(0)
    for t in range(trials):
        artifacts = root / "exp" / f"seed_{t}_abc" / "artifacts"
        (artifacts / "dataset").mkdir(parents=True)
        (artifacts / "policy.json").write_text(json.dumps(card.to_dict()))
        obs = rng.normal(scale=0.05, size=(120, 4))
        np.savez_compressed(artifacts / "dataset" / "shard_0000.npz", obs=obs, teacher_action=np.zeros(120, int),
                            teacher_logits=np.zeros((120, 2)), episode=np.repeat(np.arange(3), 40))
    return root / "exp"


def nsrl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "NSRL_LLM_MODEL"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "nsrl_ray.cli.main", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_offline_explanation_is_printed_and_written_as_markdown(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    result = nsrl("explain", str(run), "--decision", "2:5")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("### Action `push_left`", "### Action `push_right`", "### Summary",
                    "## Decision explanation (episode 2, step 5)"):
        assert heading in out
    assert "Faithfulness: no violations" in out and "No statement disagrees with the formula." in out
    artifacts = run / "seed_0_abc" / "artifacts"
    markdown = (artifacts / "explanation.md").read_text()
    assert "$$" in markdown and r"\mathit{pole\_angle}" in markdown and "<summary>Prompt: summary</summary>" in markdown
    data = json.loads((artifacts / "explanation.json").read_text())
    assert data["summary"].startswith("The policy chooses push_right")  # the statistics the card shows
    assert [e["label"] for e in data["words"]["policy"]] == ["push_left", "push_right", "summary"]
    assert data["words"]["decision"]["episode"] == 2 and data["words"]["decision"]["step"] == 5
    assert data["words"]["violations"] == 0


def answer_with_mistakes(messages: list[dict]) -> str:
    turn = messages[-1]["content"]
    if "Analyse action `push_right`" in turn:
        return "Raising `pole_angle` makes `push_right` less likely, and `cart_acceleration` matters (coefficient 42)."
    if "summarise" in turn:
        return "Raising `pole_angular_velocity` makes `push_right` more likely."
    return "The logit of `push_left` is 0."


def test_llm_explanation_through_an_openai_compatible_server(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    env = {"OPENAI_API_KEY": KEY, "NSRL_LLM_MODEL": "fake-model", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with FakeOpenAIServer(api_key=KEY, answer=answer_with_mistakes) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        first = nsrl("explain", str(run), "--llm", env=env)
        assert first.returncode == 0, first.stderr
        assert len(server.requests) == 4  # push_left, push_right, summary, decision
        # INSIGHT's structure: the first turn carries the context, later turns see the earlier answers.
        turns = [r["messages"] for r in server.requests]
        assert "## Input variables" in turns[0][1]["content"] and "Analyse action `push_left`" in turns[0][1]["content"]
        assert [m["role"] for m in turns[2]] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert "gradient of log p" in turns[3][1]["content"]
        again = nsrl("explain", str(run), "--llm", env=env)
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == 4  # every answer came from the cache
    assert "_(cached)_" in again.stdout
    artifacts = run / "seed_0_abc" / "artifacts"
    markdown = (artifacts / "explanation_llm.md").read_text()
    assert "LLM: fake-model at" in markdown
    # The violations stand beside the answer that made them.
    right = markdown.split("### Action `push_right`")[1].split("###")[0]
    assert "cart_acceleration" in right and "**unknown_variable**" in right and "**direction**" in right and "**number**" in right
    data = json.loads((artifacts / "explanation_llm.json").read_text())
    assert data["words"]["violations"] == 3
    # The key is in no file, no output.
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".md", ".log", ".txt", ""):
            assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in first.stdout + first.stderr + again.stdout + again.stderr


def test_llm_with_a_bad_key_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with FakeOpenAIServer(api_key=KEY) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-wrong-key-9876543210", "NSRL_LLM_MODEL": "fake-model",
               "XDG_CACHE_HOME": str(tmp_path / "cache")}
        result = nsrl("explain", str(run), "--llm", env=env)
    assert result.returncode == 2
    assert "refused the API key from $OPENAI_API_KEY" in result.stderr and "sk-wrong-key-9876543210" not in result.stderr
    assert not (run / "seed_0_abc" / "artifacts" / "explanation_llm.md").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["{missing}"], "does not exist"),
        (["{run}", "--decision", "x"], "expected EPISODE:STEP"),
        (["{run}", "--decision", "9:0"], "episode 9 is not in the dataset"),
        (["{run}", "--decision", "0:40"], "step 40 does not exist"),
        (["{run}", "--gguf", "m.gguf"], "--gguf needs --llm local"),
        (["{run}", "--llm", "ftp://x"], "expected 'local', an http(s):// endpoint URL"),
        (["{run}", "--max-states", "0"], "--max-states 0"),
        (["{two}"], "holds 2 trials; name one"),
        (["{corrupt}"], "not valid JSON"),
        (["{run}", "--llm"], "no LLM model named"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, capsys, monkeypatch, args, fragment) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "NSRL_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    run = make_run(tmp_path / "one")
    two = make_run(tmp_path / "two", trials=2)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    paths = {"missing": str(tmp_path / "nope"), "run": str(run), "two": str(two), "corrupt": str(corrupt)}
    code = main(["explain", *(a.format(**paths) for a in args)])
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_local_llm_without_its_extra_says_how_to_install(tmp_path: Path, capsys, monkeypatch) -> None:
    import nsrl_ray.explain.local_llm as local_llm

    monkeypatch.setattr(local_llm, "SERVER_MODULES", ("llama_cpp", "a_module_that_is_not_installed"))
    code = main(["explain", str(make_run(tmp_path)), "--llm", "local"])
    assert code == 2
    assert "pip install 'nsrl_ray[llm-local]'" in capsys.readouterr().err


def test_benchmark_smoke_mode_prints_its_table() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_explain.py"), "--smoke"], cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| measure | ours | reference |" in result.stdout
    assert "offline explanation, policy + decision" in result.stdout and "0 violations" in result.stdout
    assert "TCP_NODELAY" in result.stdout
