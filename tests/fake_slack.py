"""A fake Slack Web API on 127.0.0.1 for tests and benches: realistic replies, every call recorded.

slack_sdk talks to it through its real transport (``base_url=fake.api_url``, the form
``SLACK_API_URL`` takes), so retries, ``Retry-After`` and uploads run as in production::

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        slack.fail_next("chat.postMessage", status=429, headers={"Retry-After": "1"})
        client.chat_postMessage(channel="C1", text="hi")
        assert len(slack.calls("chat.postMessage")) == 2

The bot works after the ack in other threads: use ``wait_for`` rather than ``calls``
when a test has just sent a request. Posted messages are also kept as the channel would
show them (``messages``), so ``chat.update`` is visible there.

As a pytest fixture: ``from fake_slack import fake_slack`` in a test module or
``conftest.py``.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import re
import sys
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pytest

Call = dict[str, Any]
"""One recorded request: ``method`` (``chat.postMessage``; ``upload`` for the file upload URL,
``response_url`` for a post to a ``response_url``), ``http_method``, ``path``, ``headers``
(lower-case names), ``args`` (query string and body merged; JSON-in-a-string fields such as
``blocks`` decoded), ``token``, ``body`` (raw bytes), ``size`` (body length), ``status`` and
``response`` (what the fake answered), ``at`` (``time.monotonic()`` when it arrived)."""

Responder = Callable[["FakeSlack", Call], Mapping[str, Any]]

# Arguments Slack accepts as JSON text inside a form body.
_JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata", "unfurls"})
_NO_TOKEN = frozenset({"upload", "response_url"})  # URLs Slack hands out carry their own auth
_BASE_TS = 1_700_000_000_000_000  # microseconds; ts "1700000000.000100" is the first one


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping a kept-alive connection is normal, not worth a traceback.
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    remaining: int


@dataclass
class _Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None
    user: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "user": self.user,
        }
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        out.update(self.extra)
        return out


class FakeSlack:
    """The server. ``with FakeSlack() as slack`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        *,
        team_id: str = "T1",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        require_token: bool = True,
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.require_token = require_token
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._scripts: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._responders: dict[str, Responder] = {}
        self._messages: dict[tuple[str, str], _Message] = {}
        self._not_member: set[str] = set()
        self._home_views: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits at most this long
            name="fake-slack",
            daemon=True,
        )

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, as ``SLACK_API_URL`` and ``WebClient(base_url=...)`` take it."""
        return f"{self.base_url}/api/"

    def response_url(self) -> str:
        """A fresh ``response_url`` for a slash command or a click, answered by this fake: what
        the bot posts there is recorded as method ``response_url``."""
        return f"{self.base_url}/response/{self._next_id('R')}"

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what was called ---------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every recorded call (of ``method`` if given), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c["method"] == method]

    def last(self, method: str) -> Call | None:
        found = self.calls(method)
        return found[-1] if found else None

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` calls of ``method`` (matching ``where``) were recorded; return
        them. Raises ``AssertionError`` naming what did arrive when ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        found: list[Call] = []
        scanned = 0  # calls are only appended (reset aside): look at each one once
        with self._changed:
            while True:
                if scanned > len(self._calls):  # reset() meanwhile
                    found, scanned = [], 0
                found += [
                    c
                    for c in self._calls[scanned:]
                    if c["method"] == method and (where is None or where(c))
                ]
                scanned = len(self._calls)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c["method"] for c in self._calls]
                    raise AssertionError(
                        f"fake Slack: expected {count} {method} call(s) within {timeout}s, "
                        f"got {len(found)}; all calls so far: {seen}"
                    )
                self._changed.wait(left)

    def messages(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """Messages as the channel shows them now (after updates and deletes), oldest first.
        ``thread_ts`` selects one thread: its root and its replies."""
        with self._lock:
            found = [
                m.as_dict()
                for m in self._messages.values()
                if (channel is None or m.channel == channel)
                and (thread_ts is None or m.ts == thread_ts or m.thread_ts == thread_ts)
            ]
        return sorted(found, key=lambda m: m["ts"])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The App Home view last published for ``user_id``."""
        with self._lock:
            return self._home_views.get(user_id)

    # -- scripting ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` get HTTP ``status`` (429 with Retry-After: 1
        unless ``headers`` says otherwise)."""
        if headers is None:
            headers = {"Retry-After": "1"} if status == 429 else {}
        error = "ratelimited" if status == 429 else "fatal_error"
        with self._lock:
            self._scripts[method].append(
                _Scripted(status, {"ok": False, "error": error}, dict(headers), times)
            )

    def error_next(self, method: str, error: str = "not_in_channel", times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get ``{"ok": false, "error": error}`` (HTTP 200,
        as Slack sends API errors)."""
        with self._lock:
            self._scripts[method].append(_Scripted(200, {"ok": False, "error": error}, {}, times))

    def respond(self, method: str, responder: Responder) -> None:
        """Answer ``method`` with ``responder(fake, call)`` from now on (for methods the fake
        does not know, or to change a default)."""
        with self._lock:
            self._responders[method] = responder

    def set_member(self, channel: str, is_member: bool) -> None:
        """Whether the bot is in ``channel``; when not, posting there fails with
        ``not_in_channel`` and ``conversations.info`` says ``is_member: false``."""
        with self._lock:
            if is_member:
                self._not_member.discard(channel)
            else:
                self._not_member.add(channel)

    def reset(self) -> None:
        """Forget calls, scripts, responders, messages and memberships."""
        with self._lock:
            self._calls.clear()
            self._scripts.clear()
            self._responders.clear()
            self._messages.clear()
            self._not_member.clear()
            self._home_views.clear()

    # -- answering ---------------------------------------------------------------------

    def _next_ts(self) -> str:
        n = next(self._ids)
        value = _BASE_TS + 100 * n
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _answer(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, JSON body and headers for ``call``; records it."""
        method = call["method"]
        with self._lock:
            queue = self._scripts.get(method)
            scripted = queue[0] if queue else None
            if scripted is not None and queue is not None:
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    queue.popleft()
            responder = self._responders.get(method)
        if scripted is not None:
            status, body, headers = scripted.status, scripted.body, scripted.headers
        elif self.require_token and not call["token"] and method not in _NO_TOKEN:
            status, body, headers = 200, {"ok": False, "error": "not_authed"}, {}
        elif responder is not None:
            status, body, headers = 200, dict(responder(self, call)), {}
        else:
            default = _DEFAULTS.get(method)
            if default is None:
                status, body, headers = 200, {"ok": False, "error": "unknown_method"}, {}
            else:
                with self._lock:
                    body = default(self, call["args"])
                status, headers = 200, {}
        call["status"] = status
        call["response"] = body
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        return status, body, headers

    def _post_message(self, args: dict[str, Any], *, ephemeral: bool = False) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self._not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        if ephemeral:
            return {"ok": True, "message_ts": ts}
        thread_ts = args.get("thread_ts") or None
        message = _Message(
            channel=channel,
            ts=ts,
            text=str(args.get("text", "")),
            blocks=list(args.get("blocks") or []),
            thread_ts=str(thread_ts) if thread_ts else None,
            user=self.bot_user_id,
            extra={"bot_id": self.bot_id, "team": self.team_id},
        )
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message.as_dict()}

    def _update_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        # Lenient on purpose: a test may update a message it never posted through the fake.
        message = self._messages.get((channel, ts)) or _Message(
            channel, ts, "", [], None, self.bot_user_id, {"bot_id": self.bot_id}
        )
        if "text" in args:
            message.text = str(args["text"])
        if "blocks" in args:
            message.blocks = list(args["blocks"] or [])
        self._messages[(channel, ts)] = message
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": message.as_dict(),
        }

    def _delete_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if self._messages.pop((channel, ts), None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        found = sorted(
            (
                m.as_dict()
                for m in self._messages.values()
                if m.channel == channel and (m.ts == ts or m.thread_ts == ts)
            ),
            key=lambda m: m["ts"],
        )
        if not found:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": found, "has_more": False}

    def _view(self, args: dict[str, Any], *, method: str) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        if method == "views.open" and not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = str(args.get("view_id") or self._next_id("V"))
        full = {
            "id": view_id,
            "team_id": self.team_id,
            "app_id": "A0LADDER",
            "bot_id": self.bot_id,
            "hash": f"{int(time.time())}.{view_id}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
        }
        if method == "views.publish":
            self._home_views[str(args.get("user_id", ""))] = full
        return {"ok": True, "view": full}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self._next_id("F")
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel = args.get("channel_id")
        if channel and channel in self._not_member:
            return {"ok": False, "error": "not_in_channel"}
        return {
            "ok": True,
            "files": [
                {
                    "id": f.get("id"),
                    "title": f.get("title", ""),
                    "name": f.get("title", ""),
                    "permalink": f"https://example.slack.com/files/{self.bot_user_id}/{f.get('id')}",
                }
                for f in files
            ],
        }

    def _introspect(self, path: str, query: str) -> tuple[int, dict[str, Any]]:
        """The same views for a fake running in another process (not recorded as calls):
        ``GET /_fake/calls?method=M[&count=1]``; ``GET /_fake/wait?method=M&timeout=S
        &channel=C`` blocks until a call of M with those arguments arrives ("*": any value;
        408 if none); ``GET /_fake/messages?channel=C&thread_ts=T``; ``POST /_fake/reset``."""
        params = dict(urllib.parse.parse_qsl(query))
        if path == "/_fake/calls":
            found = self.calls(params.get("method"))
            if params.get("count"):
                return 200, {"count": len(found)}
            return 200, {"calls": [_without_body(c) for c in found]}
        if path == "/_fake/wait":
            method = params.pop("method", "")
            timeout = float(params.pop("timeout", "5"))
            count = int(params.pop("count", "1"))

            def matches(call: Call) -> bool:
                args = call["args"]
                return all(k in args and v in ("*", str(args[k])) for k, v in params.items())

            try:
                found = self.wait_for(method, count, timeout, where=matches)
            except AssertionError as err:
                return 408, {"ok": False, "error": str(err)}
            return 200, {"calls": [_without_body(c) for c in found]}
        if path == "/_fake/messages":
            return 200, {"messages": self.messages(params.get("channel"), params.get("thread_ts"))}
        if path == "/_fake/reset":
            self.reset()
            return 200, {"ok": True}
        return 404, {"ok": False, "error": "unknown fake endpoint"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if parsed.path.startswith("/upload/"):
                    call = _call("upload", self.command, parsed.path, headers, {}, body)
                    call["file_id"] = parsed.path.rsplit("/", 1)[-1]
                    fake._answer(call)
                    self._send(200, f"OK - {len(body)}".encode(), "text/plain", {})
                    return
                if parsed.path.startswith("/_fake/"):
                    status, reply = fake._introspect(parsed.path, parsed.query)
                    payload = json.dumps(reply, default=_jsonable).encode()
                    self._send(status, payload, "application/json", {})
                    return
                if parsed.path.startswith("/response/"):
                    args = _parse_args("", headers.get("content-type", ""), body)
                    call = _call("response_url", self.command, parsed.path, headers, args, body)
                    fake._answer(call)
                    self._send(200, b'{"ok": true}', "application/json", {})
                    return
                match = re.fullmatch(r"/api/([A-Za-z0-9_.]+)", parsed.path)
                if match is None:
                    self._send(404, b"not found", "text/plain", {})
                    return
                args = _parse_args(parsed.query, headers.get("content-type", ""), body)
                call = _call(match.group(1), self.command, parsed.path, headers, args, body)
                status, reply, extra = fake._answer(call)
                self._send(status, json.dumps(reply).encode(), "application/json", extra)

            def _send(
                self, status: int, payload: bytes, content_type: str, extra: Mapping[str, str]
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", f"{content_type}; charset=utf-8")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up; nothing to answer

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are in fake.calls()

        return Handler


def _call(
    method: str,
    http_method: str,
    path: str,
    headers: dict[str, str],
    args: dict[str, Any],
    body: bytes,
) -> Call:
    auth = headers.get("authorization", "")
    token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")
    return {
        "method": method,
        "http_method": http_method,
        "path": path,
        "headers": headers,
        "args": args,
        "token": token or None,
        "body": body,
        "size": len(body),
        "at": time.monotonic(),
    }


def _without_body(call: Call) -> Call:
    return {k: v for k, v in call.items() if k != "body"}


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _parse_args(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    args: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if body and kind == "application/json":
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            args.update(loaded)
    elif body and kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            content = part.get_payload(decode=True)
            if isinstance(content, bytes):
                args[name] = content if part.get_filename() else content.decode()
    elif body:
        args.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    for key in _JSON_ARGS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in "[{":
            # Not JSON after all: leave it as sent; the test can look at it.
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(value)
    return args


def _auth_test(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://example.slack.com/",
        "team": "Example",
        "user": "ladder-bot",
        "team_id": fake.team_id,
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


def _permalink(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
    if not channel or not ts:
        return {"ok": False, "error": "message_not_found"}
    return {
        "ok": True,
        "channel": channel,
        "permalink": f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}",
    }


def _conversation_info(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = str(args.get("channel", ""))
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    return {
        "ok": True,
        "channel": {
            "id": channel,
            "name": f"channel-{channel.lower()}",
            "is_channel": not channel.startswith(("G", "D")),
            "is_group": channel.startswith("G"),
            "is_im": channel.startswith("D"),
            "is_private": channel.startswith("G"),
            "is_archived": False,
            "is_member": channel not in fake._not_member,
        },
    }


def _user_info(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    user = str(args.get("user", ""))
    if not user:
        return {"ok": False, "error": "user_not_found"}
    return {
        "ok": True,
        "user": {
            "id": user,
            "team_id": fake.team_id,
            "name": user.lower(),
            "real_name": f"User {user}",
            "tz": "UTC",
            "is_bot": user == fake.bot_user_id,
            "profile": {"display_name": user.lower(), "real_name": f"User {user}"},
        },
    }


_DEFAULTS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": _auth_test,
    "api.test": lambda fake, args: {"ok": True, "args": args},
    "chat.postMessage": lambda fake, args: fake._post_message(args),
    "chat.postEphemeral": lambda fake, args: fake._post_message(args, ephemeral=True),
    "chat.update": lambda fake, args: fake._update_message(args),
    "chat.delete": lambda fake, args: fake._delete_message(args),
    "chat.getPermalink": _permalink,
    "conversations.replies": lambda fake, args: fake._replies(args),
    "conversations.info": _conversation_info,
    "users.info": _user_info,
    "views.open": lambda fake, args: fake._view(args, method="views.open"),
    "views.update": lambda fake, args: fake._view(args, method="views.update"),
    "views.push": lambda fake, args: fake._view(args, method="views.push"),
    "views.publish": lambda fake, args: fake._view(args, method="views.publish"),
    "files.getUploadURLExternal": lambda fake, args: fake._upload_url(args),
    "files.completeUploadExternal": lambda fake, args: fake._complete_upload(args),
    # Points back at this HTTP-only server: a Socket Mode client's handshake fails here,
    # on loopback, instead of reaching for the network.
    "apps.connections.open": lambda fake, args: {
        "ok": True,
        "url": f"ws://127.0.0.1:{fake.port}/link/?ticket=fake-ticket&app_id=A0LADDER",
    },
}


def main() -> None:
    """Run the fake alone until interrupted: ``python tests/fake_slack.py [--port-file F]``
    prints its ``SLACK_API_URL`` (and writes it to F)."""
    import argparse
    import signal
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port-file", type=Path, help="write the API URL here once listening")
    options = parser.parse_args()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with FakeSlack() as fake:
        print(fake.api_url, flush=True)
        if options.port_file is not None:
            tmp = options.port_file.with_suffix(".tmp")
            tmp.write_text(fake.api_url)
            tmp.replace(options.port_file)  # appears whole, never half-written
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack Web API, stopped after the test."""
    with FakeSlack() as slack:
        yield slack


if __name__ == "__main__":
    main()
