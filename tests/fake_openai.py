"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests: scripted replies, recorded requests.

The openai SDK talks to it through its real transport (``base_url=fake.base_url``), so
timeouts, retries and ``Retry-After`` are exercised as in production::

    with FakeOpenAI() as fake:
        fake.script(Reply.error(429, headers={"retry-after-ms": "10"}), Reply.completion("{}"))
        client = openai.OpenAI(api_key="sk-test", base_url=fake.base_url)
        ...
        assert len(fake.requests) == 2

Each request takes the next scripted reply; when the script is used up, ``then`` (if given)
answers every further request, otherwise a 500 with ``x-should-retry: false``.

As a pytest fixture: ``from fake_openai import fake_openai`` in a test module or
``conftest.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pytest
from pydantic import BaseModel


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() on arrival, to check the client's backoff

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``body`` is sent as JSON unless ``raw`` is given (sent as is)."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering, to provoke client timeouts

    @classmethod
    def completion(
        cls,
        content: str | None = None,
        *,
        refusal: str | None = None,
        model: str = "gpt-4.1-mini",
        finish_reason: str = "stop",
        prompt_tokens: int = 1200,
        completion_tokens: int = 800,
        delay_s: float = 0.0,
    ) -> Reply:
        """A chat.completion whose message has ``content`` (a JSON string for structured
        output) or a ``refusal``."""
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return cls(body=body, delay_s=delay_s)

    @classmethod
    def parsed(cls, obj: BaseModel, **kwargs: Any) -> Reply:
        """A completion whose content is ``obj`` as JSON, as structured output returns it."""
        return cls.completion(obj.model_dump_json(), **kwargs)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "fake error",
        *,
        type_: str = "server_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return cls(status=status, body=body, headers=dict(headers or {}))


_NOTHING_SCRIPTED = Reply(
    status=500,
    body={"error": {"message": "fake_openai: no reply scripted", "type": "fake"}},
    headers={"x-should-retry": "false"},
)


class FakeOpenAI:
    """The server; start it with ``with FakeOpenAI() as fake`` (or ``start()``/``stop()``)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._then: Reply | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply, then: Reply | None = None) -> None:
        """Replace the script: ``replies`` answer the next requests in order, then ``then``."""
        with self._lock:
            self._script = deque(replies)
            self._then = then

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            return self._then or _NOTHING_SCRIPTED

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                recorded = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    at=time.monotonic(),
                )
                reply = fake._next_reply(recorded)
                if reply.delay_s and fake._stopping.wait(reply.delay_s):
                    return
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to answer

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; requests are in fake.requests

        return Handler


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake OpenAI-compatible server, stopped after the test."""
    with FakeOpenAI() as server:
        yield server
