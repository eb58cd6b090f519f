"""A chat client for any OpenAI-compatible endpoint: retries with backoff, clear errors, an answer cache.

Built on the `openai` package with its own retries turned off, so that the backoff is ours
(doubling from `backoff_s`, a server's Retry-After wins) and every failure ends in an
`LLMError` that says what to fix. The API key is read from the environment, kept out of
`repr`, redacted from every message, and never part of the cache key or a cached file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsrl_ray.config.schema import LLMSettings

LOG = logging.getLogger("nsrl_ray.explain.llm")

#: Environment variables read when the experiment file leaves a field empty.
BASE_URL_ENV = "OPENAI_BASE_URL"
MODEL_ENV = "NSRL_LLM_MODEL"
#: Longest wait honoured from a Retry-After header.
MAX_RETRY_AFTER_S = 60.0
#: Sent to servers that need no key (local ones): the openai client refuses an empty key.
NO_KEY = "no-key-needed"


class LLMError(RuntimeError):
    """The LLM could not answer; the message says why and what to change (never the key)."""

    def __init__(self, message: str, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input
        """True when the fix is in the user's settings (key, model, URL), not in waiting."""


@dataclass(frozen=True)
class Endpoint:
    """Where to send prompts; `identity` names the endpoint in the cache (a local server's port varies)."""

    base_url: str | None
    model: str
    api_key: str = field(repr=False)
    api_key_env: str = "OPENAI_API_KEY"
    identity: str = ""

    @property
    def label(self) -> str:
        return f"{self.model} at {self.base_url or 'the OpenAI API'}"


def _is_local(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\])[:/]", url + "/") is not None


def resolve_endpoint(
    settings: LLMSettings,
    environ: Mapping[str, str] | None = None,
    base_url: str | None = None,
    model: str | None = None,
) -> Endpoint:
    """The endpoint from the settings, falling back to OPENAI_BASE_URL, NSRL_LLM_MODEL and the key variable."""
    environ = os.environ if environ is None else environ
    url = base_url or settings.base_url or environ.get(BASE_URL_ENV) or None
    name = model or settings.model or environ.get(MODEL_ENV) or None
    if not name:
        raise LLMError(
            f"no LLM model named: set llm.model in the experiment file, pass --model, or export {MODEL_ENV}.",
            bad_input=True,
        )
    key = environ.get(settings.api_key_env, "")
    if not key:
        if not _is_local(url):
            raise LLMError(
                f"no API key for {url or 'the OpenAI API'}: export {settings.api_key_env}=... "
                "(or point llm.base_url / OPENAI_BASE_URL at a local server, which needs none).",
                bad_input=True,
            )
        key = NO_KEY
    return Endpoint(url, name, key, settings.api_key_env, identity=url or "openai")


class AnswerCache:
    """Answers on disk, one JSON file per prompt; the key hashes endpoint identity, model, messages and sampling."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def default_folder() -> Path:
        root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(root) / "nsrl_ray" / "llm"

    @staticmethod
    def key(request: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=True).encode()).hexdigest()

    def get(self, request: Mapping[str, Any]) -> str | None:
        path = self.folder / f"{self.key(request)}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # missing or half-written: ask again
        answer = data.get("answer") if isinstance(data, dict) else None
        return answer if isinstance(answer, str) else None

    def put(self, request: Mapping[str, Any], answer: str) -> None:
        from nsrl_ray.pipeline.context import write_json_atomic

        write_json_atomic(self.folder / f"{self.key(request)}.json", {"request": dict(request), "answer": answer})


def cache_request(endpoint: Endpoint, settings: LLMSettings, messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """What identifies an answer in the cache: endpoint identity, model, messages and sampling (never the key)."""
    return {
        "endpoint": endpoint.identity or endpoint.base_url or "openai",
        "model": endpoint.model,
        "messages": [dict(m) for m in messages],
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }


@dataclass(frozen=True)
class Answer:
    """One reply."""

    text: str
    cached: bool
    attempts: int
    """Requests sent for it (0 when it came from the cache)."""


def _redact(text: str, key: str) -> str:
    if key and key != NO_KEY:
        text = text.replace(key, "***")
        for n in (12, 8, 6, 4):  # servers echo masked prefixes/suffixes such as 'sk-abc1****wxyz'
            if len(key) >= 2 * n:
                text = text.replace(key[:n], "***").replace(key[-n:], "***")
    return re.sub(r"\bsk-[A-Za-z0-9_\-*]{6,}", "sk-***", text)


def _server_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(getattr(error, "message", "") or error)


def _retry_after(error: Any) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """Sends chat messages to one endpoint, non-streaming, with retries, errors that say what to fix, and a cache."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: LLMSettings | None = None,
        cache: AnswerCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai

        self.endpoint = endpoint
        self.settings = settings or LLMSettings()
        self.cache = cache
        self._sleep = sleep
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            timeout=self.settings.timeout_s,
            max_retries=0,  # ours below: visible, tunable, and ending in a clear error
        )

    def __repr__(self) -> str:
        return f"LLMClient({self.endpoint.label})"

    def _request(self, messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        return cache_request(self.endpoint, self.settings, messages)

    def complete(self, messages: Sequence[Mapping[str, str]]) -> Answer:
        """The assistant's reply to ``messages``, from the cache when this exact request was answered before."""
        request = self._request(messages)
        if self.cache is not None:
            cached = self.cache.get(request)
            if cached is not None:
                return Answer(cached, cached=True, attempts=0)
        text, attempts = self._send(request)
        if self.cache is not None:
            self.cache.put(request, text)
        return Answer(text, cached=False, attempts=attempts)

    def _fail(self, message: str, bad_input: bool = False) -> LLMError:
        return LLMError(_redact(message, self.endpoint.api_key), bad_input=bad_input)

    def _send(self, request: dict[str, Any]) -> tuple[str, int]:
        openai = self._openai
        where = self.endpoint.base_url or "the OpenAI API"
        attempts = 0
        while True:
            attempts += 1
            try:
                completion = self._client.chat.completions.create(
                    model=request["model"],
                    messages=request["messages"],
                    temperature=request["temperature"],
                    max_tokens=request["max_tokens"],
                    stream=False,
                )
                return self._text(completion), attempts
            except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
                raise self._fail(
                    f"{where} refused the API key from ${self.endpoint.api_key_env} (HTTP {error.status_code}: "
                    f"{_server_message(error)}); export a valid key.", bad_input=True,
                ) from None
            except openai.NotFoundError as error:
                raise self._fail(self._not_found(error), bad_input=True) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as error:
                status = getattr(error, "status_code", None)
                what = f"HTTP {status}" if status else type(error).__name__
                if attempts > self.settings.max_retries:
                    raise self._fail(
                        f"{where} failed {attempts} times in a row (last: {what}: {_server_message(error)}); "
                        "the server is overloaded or down: try again later, or raise llm.max_retries.",
                    ) from None
                delay = _retry_after(error)
                if delay is None:
                    delay = self.settings.backoff_s * 2 ** (attempts - 1)
                LOG.warning("LLM %s answered %s; retry %d/%d in %.1f s", where, what, attempts,
                            self.settings.max_retries, delay)
                self._sleep(delay)
            except openai.APIStatusError as error:
                if error.status_code >= 500:  # 5xx other than those openai names (e.g. 501, 505)
                    if attempts <= self.settings.max_retries:
                        self._sleep(self.settings.backoff_s * 2 ** (attempts - 1))
                        continue
                raise self._fail(
                    f"{where} refused the request (HTTP {error.status_code}: {_server_message(error)}).",
                    bad_input=400 <= error.status_code < 500,
                ) from None
            except openai.APIResponseValidationError as error:
                raise self._fail(f"malformed response from {where}: {error}") from None
            except json.JSONDecodeError as error:
                raise self._fail(f"malformed response from {where}: the body is not JSON ({error}); "
                                 "is base_url an OpenAI-compatible /v1 endpoint?") from None

    def _text(self, completion: Any) -> str:
        where = self.endpoint.base_url or "the OpenAI API"
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise self._fail(f"malformed response from {where}: no 'choices' in {str(completion)[:200]!r}; "
                             "is base_url an OpenAI-compatible /v1 endpoint?")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            raise self._fail(f"malformed response from {where}: choices[0].message.content is {type(content).__name__}, "
                             "expected text.")
        return content.strip()

    def _not_found(self, error: Any) -> str:
        where = self.endpoint.base_url or "the OpenAI API"
        try:
            served = sorted(m.id for m in self._client.models.list())
        except Exception:  # the listing is a courtesy; any failure leaves the plain message
            served = None
        if served is not None and self.endpoint.model not in served:
            return (f"model {self.endpoint.model!r} is not served by {where}; it serves {served}. "
                    f"Set llm.model, --model or {MODEL_ENV} to one of them.")
        return (f"{where} answered HTTP 404 ({_server_message(error)}); check base_url (it usually ends in /v1) "
                "and the model name.")
