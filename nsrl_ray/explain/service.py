"""Explain a policy card into a folder: offline always, through an LLM (remote or a local llama.cpp) on request."""

from __future__ import annotations

from pathlib import Path

from nsrl_ray.config.schema import LLMSettings
from nsrl_ray.explain.explainer import Explanation, Prepared, explain_with_llm
from nsrl_ray.explain.llm_client import NO_KEY, Answer, AnswerCache, Endpoint, LLMClient, cache_request, resolve_endpoint
from nsrl_ray.explain.local_llm import LocalLlamaServer
from nsrl_ray.explain.words_markdown import words_markdown
from nsrl_ray.pipeline.context import write_json_atomic, write_text_atomic

#: File stems written beside the policy card.
OFFLINE_STEM = "explanation"
LLM_STEM = "explanation_llm"


def answer_cache(settings: LLMSettings) -> AnswerCache | None:
    if settings.cache_dir == "":
        return None
    return AnswerCache(settings.cache_dir or AnswerCache.default_folder())


def explain_through_llm(
    prepared: Prepared, settings: LLMSettings, base_url: str | None = None, model: str | None = None,
    server_log: str | Path | None = None,
) -> Explanation:
    """Ask the configured endpoint, or start llama.cpp's server for the run when ``settings.local``."""
    cache = answer_cache(settings)
    if not settings.local:
        client = LLMClient(resolve_endpoint(settings, base_url=base_url, model=model), settings, cache)
        return explain_with_llm(prepared, client)
    server = LocalLlamaServer(settings.gguf, log_path=server_log)
    try:
        return explain_with_llm(prepared, _LocalClient(server, settings, cache))
    finally:
        server.stop()


class _LocalClient:
    """Answers from the cache when it can and starts the local server only at the first miss, so a rerun is free."""

    def __init__(self, server: LocalLlamaServer, settings: LLMSettings, cache: AnswerCache | None) -> None:
        self.server, self.settings, self.cache = server, settings, cache
        self.endpoint = Endpoint("a local llama.cpp server", server.model, NO_KEY, identity=server.identity)
        self._client: LLMClient | None = None

    def complete(self, messages: list[dict[str, str]]) -> Answer:
        if self._client is None and self.cache is not None:
            cached = self.cache.get(cache_request(self.endpoint, self.settings, messages))
            if cached is not None:
                return Answer(cached, cached=True, attempts=0)
        if self._client is None:
            self.server.start()
            endpoint = Endpoint(self.server.base_url, self.endpoint.model, NO_KEY, identity=self.endpoint.identity)
            self._client = LLMClient(endpoint, self.settings, self.cache)
        return self._client.complete(messages)


def write_explanation(
    folder: str | Path, explanation: Explanation, stem: str, extra: dict | None = None, title: str | None = None
) -> tuple[Path, Path]:
    """`<stem>.md` (Markdown with LaTeX) and `<stem>.json`, each written atomically."""
    folder = Path(folder)
    data = {**(extra or {}), "words": explanation.to_dict()}
    json_path = write_json_atomic(folder / f"{stem}.json", data)
    md_path = write_text_atomic(folder / f"{stem}.md", words_markdown(explanation, title))
    return md_path, json_path
