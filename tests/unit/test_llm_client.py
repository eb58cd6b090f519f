"""The LLM client against a real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nsrl_ray.config.schema import LLMSettings
from nsrl_ray.explain.llm_client import NO_KEY, AnswerCache, LLMClient, LLMError, resolve_endpoint
from tests.fake_openai_server import FakeOpenAIServer

KEY = "sk-test-0123456789abcdefSECRET"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Why push right?"}]


def client_for(server: FakeOpenAIServer, key: str = KEY, cache: AnswerCache | None = None, sleeps: list | None = None,
               **settings) -> LLMClient:
    config = LLMSettings(base_url=server.base_url, model="fake-model", **{"backoff_s": 0.5, "max_retries": 3, **settings})
    endpoint = resolve_endpoint(config, {"OPENAI_API_KEY": key})
    return LLMClient(endpoint, config, cache, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_normal_exchange_sends_an_openai_request_and_returns_the_text() -> None:
    with FakeOpenAIServer(api_key=KEY) as server:
        server.script.append(("answer", "  Because the pole leans right.  "))
        answer = client_for(server, temperature=0.0, max_tokens=123).complete(MESSAGES)
    assert answer.text == "Because the pole leans right." and not answer.cached and answer.attempts == 1
    (request,) = server.requests
    assert request["model"] == "fake-model" and request["messages"] == MESSAGES
    assert request["max_tokens"] == 123 and request["temperature"] == 0.0
    assert not request.get("stream", False)
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert server.nodelay and all(server.nodelay)  # the test server turns Nagle off


def test_rate_limit_then_success_backs_off_and_honours_retry_after() -> None:
    sleeps: list[float] = []
    with FakeOpenAIServer() as server:
        server.script.extend([("status", 429, "Rate limit reached", {}),
                              ("status", 429, "Rate limit reached", {"Retry-After": "3"}),
                              ("answer", "finally")])
        answer = client_for(server, sleeps=sleeps).complete(MESSAGES)
    assert answer.text == "finally" and answer.attempts == 3
    assert sleeps == [0.5, 3.0]  # backoff_s first, then the server's Retry-After
    assert len(server.requests) == 3


def test_a_storm_of_server_errors_ends_in_a_clear_error() -> None:
    sleeps: list[float] = []
    with FakeOpenAIServer() as server:
        server.script.extend([("status", 500, "upstream exploded", {})] * 10)
        with pytest.raises(LLMError) as caught:
            client_for(server, sleeps=sleeps).complete(MESSAGES)
    message = str(caught.value)
    assert "failed 4 times in a row" in message and "HTTP 500" in message and "upstream exploded" in message
    assert "max_retries" in message and not caught.value.bad_input
    assert len(server.requests) == 4 and sleeps == [0.5, 1.0, 2.0]  # doubling backoff


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"id": "x", "object": "chat.completion"}', "no 'choices'"),
        (b"<html>gateway</html>", "not JSON"),
        (b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}}]}', "content is NoneType"),
    ],
)
def test_malformed_response_is_a_clear_error(body: bytes, fragment: str) -> None:
    with FakeOpenAIServer() as server:
        server.script.append(("raw", body))
        with pytest.raises(LLMError, match="malformed response") as caught:
            client_for(server).complete(MESSAGES)
    assert fragment in str(caught.value)
    assert len(server.requests) == 1  # not retried: asking again would get the same body


def test_bad_key_is_refused_clearly_without_showing_the_key(caplog) -> None:
    wrong = "sk-wrong-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with FakeOpenAIServer(api_key=KEY) as server:
        with pytest.raises(LLMError) as caught:
            client_for(server, key=wrong).complete(MESSAGES)
    message = str(caught.value)
    assert "refused the API key from $OPENAI_API_KEY" in message and "HTTP 401" in message
    assert caught.value.bad_input
    for piece in (wrong, wrong[:8], wrong[-4:]):  # the server echoed a masked key: none of it survives
        assert piece not in message


def test_unknown_model_lists_the_served_models() -> None:
    with FakeOpenAIServer(models=("llama-3-8b", "smollm2")) as server:
        config = LLMSettings(base_url=server.base_url, model="gpt-9")
        with pytest.raises(LLMError) as caught:
            LLMClient(resolve_endpoint(config, {}), config).complete(MESSAGES)
    assert "model 'gpt-9' is not served" in str(caught.value) and "['llama-3-8b', 'smollm2']" in str(caught.value)
    assert caught.value.bad_input


def test_cache_answers_a_repeated_prompt_without_a_request(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "cache")
    with FakeOpenAIServer() as server:
        first = client_for(server, cache=cache).complete(MESSAGES)
        again = client_for(server, cache=cache).complete(MESSAGES)
        other = client_for(server, cache=cache).complete(MESSAGES[:1] + [{"role": "user", "content": "other"}])
        hotter = client_for(server, cache=cache, temperature=0.7).complete(MESSAGES)
    assert again.cached and again.text == first.text and again.attempts == 0
    assert not other.cached and not hotter.cached  # a different prompt or sampling is a different entry
    assert len(server.requests) == 3
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3


def test_the_key_is_never_logged_nor_cached(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # everything openai and httpx log, too
    cache = AnswerCache(tmp_path / "cache")
    with FakeOpenAIServer(api_key=KEY) as server:
        server.script.extend([("status", 429, "slow down", {}), ("answer", "ok")])
        client = client_for(server, cache=cache)
        client.complete(MESSAGES)
        assert KEY not in repr(client) and KEY not in repr(client.endpoint)
    assert "retry 1/3" in caplog.text  # the retry was logged ...
    assert KEY not in caplog.text  # ... without the key
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text()


def test_endpoint_comes_from_settings_then_environment() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "NSRL_LLM_MODEL": "env-model", "OPENAI_API_KEY": "k"}
    endpoint = resolve_endpoint(LLMSettings(), env)
    assert (endpoint.base_url, endpoint.model, endpoint.api_key) == ("http://127.0.0.1:9/v1", "env-model", "k")
    endpoint = resolve_endpoint(LLMSettings(base_url="http://localhost:1/v1", model="file-model"), env)
    assert (endpoint.base_url, endpoint.model) == ("http://localhost:1/v1", "file-model")
    # A local server needs no key; a remote endpoint does, and the error names the variable.
    assert resolve_endpoint(LLMSettings(base_url="http://127.0.0.1:1/v1", model="m"), {}).api_key == NO_KEY
    with pytest.raises(LLMError, match=r"no API key for https://api\.example\.com/v1: export MY_KEY"):
        resolve_endpoint(LLMSettings(base_url="https://api.example.com/v1", model="m", api_key_env="MY_KEY"), {})
    with pytest.raises(LLMError, match="NSRL_LLM_MODEL") as caught:
        resolve_endpoint(LLMSettings(base_url="http://127.0.0.1:1/v1"), {})
    assert caught.value.bad_input
