"""A small OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, scripted replies.

Speaks the subset the `openai` client uses without streaming: POST /v1/chat/completions and
GET /v1/models, JSON bodies, OpenAI-shaped errors (an unknown key is answered 401 with the
key echoed half-masked, as OpenAI does, so tests can check that nsrl redacts it). Sets
TCP_NODELAY on every connection: without it Nagle's algorithm and delayed ACKs cost each
keep-alive request about 40 ms.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A scripted reply: ("answer", text) | ("status", code, message, headers) | ("raw", body bytes).
Reply = tuple


@dataclass
class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(...) as server:`; `server.base_url` ends in /v1."""

    models: tuple[str, ...] = ("fake-model",)
    nodelay_on: bool = True
    """Set TCP_NODELAY on accepted connections (off only to measure what it saves)."""
    api_key: str | None = None
    """When set, requests must carry `Authorization: Bearer <api_key>`."""
    answer: Callable[[list[dict[str, Any]]], str] | None = None
    """Answers chat requests when the script is empty (default: echo the last user turn's first line)."""
    script: deque = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    nodelay: list[bool] = field(default_factory=list)

    def __enter__(self) -> "FakeOpenAIServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(server.nodelay_on))
                server.nodelay.append(bool(self.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, code: int, message: str, headers: dict[str, str] | None = None, kind: str = "error") -> None:
                body = {"error": {"message": message, "type": kind, "code": None}}
                self._send(code, json.dumps(body).encode(), headers)

            def _authorised(self) -> bool:
                if server.api_key is None:
                    return True
                given = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if given == server.api_key:
                    return True
                masked = given[:8] + "*" * max(0, len(given) - 12) + given[-4:]
                self._error(401, f"Incorrect API key provided: {masked}.", kind="invalid_request_error")
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if not self._authorised():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in server.models]
                    self._send(200, json.dumps({"object": "list", "data": data}).encode())
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                server.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}")
                    return
                if not self._authorised():
                    return
                if body.get("model") not in server.models:
                    self._error(404, f"The model `{body.get('model')}` does not exist.", kind="invalid_request_error")
                    return
                reply = server.script.popleft() if server.script else None
                if reply is None:
                    text = (server.answer or _echo)(body["messages"])
                    self._send(200, json.dumps(_completion(body["model"], text)).encode())
                elif reply[0] == "answer":
                    self._send(200, json.dumps(_completion(body["model"], reply[1])).encode())
                elif reply[0] == "status":
                    _, code, message, headers = reply
                    self._error(code, message, headers)
                elif reply[0] == "raw":
                    self._send(200, reply[1])
                else:
                    raise ValueError(f"unknown scripted reply {reply!r}")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"


def _echo(messages: list[dict[str, Any]]) -> str:
    return "echo: " + messages[-1]["content"].splitlines()[0]


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
