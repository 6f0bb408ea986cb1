"""The production server end to end: ``ladder serve --http`` in a subprocess (gunicorn, the real
app) on 127.0.0.1, signed requests, a fake Slack Web API, a SQLite file; plus the pure parts
(``build_wsgi_app``, the gunicorn settings) in process."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import slack_signing as s
from fake_slack import FakeSlack
from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.server import build_wsgi_app, database_health_check, gunicorn_options
from bot.settings import Settings
from handlers.slack_client import make_web_client
from store.db import make_engine

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
SECRET = "test-signing-secret-never-shown"
BOT_TOKEN = "xoxb-test-token-never-shown"
APP_TOKEN = "xapp-test-token-never-shown"
START_TIMEOUT = 30.0


# -- running ``ladder serve`` -----------------------------------------------------------------

# Runs serve_command as ``ladder serve`` does, with the arguments after ``-c``.
RUNNER = "from bot.cli_serve import main; main()"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(fake: FakeSlack, database_url: str, **overrides: str | None) -> dict[str, str]:
    """A clean environment: nothing inherited that the settings read, then ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LADDER_", "OPENAI_", "GUNICORN_"))
        and k not in ("DATABASE_URL", "WEB_CONCURRENCY")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS_DIR)]),
        PYTHONUNBUFFERED="1",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=database_url,
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base_url: str
    db_path: Path
    log_path: Path
    fake: FakeSlack

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, req: s.SignedRequest) -> tuple[int, bytes]:
        return s.post(f"{self.base_url}/slack/events", req.body, req.headers)


def start_server(tmp_path: Path, fake: FakeSlack, *args: str, **env: str | None) -> Served:
    port = free_port()
    db_path = tmp_path / "ladder.db"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,  # no stray .env
            env=serve_env(fake, f"sqlite:///{db_path}", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker dies with it
        )
    return Served(proc, f"http://127.0.0.1:{port}", db_path, log_path, fake)


def wait_healthy(served: Served, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            pytest.fail(f"server exited with {served.proc.returncode}:\n{served.log()}")
        try:
            status, _ = s.get(f"{served.base_url}/healthz", timeout=1)
            if status == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"server not healthy after {timeout}s:\n{served.log()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL whatever is left of its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
    proc.wait(timeout=5)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, module_fake: FakeSlack) -> Iterator[Served]:
    """One server for the loopback tests below (starting one takes a couple of seconds)."""
    server = start_server(tmp_path_factory.mktemp("served"), module_fake, "--http")
    try:
        wait_healthy(server)
        yield server
    finally:
        stop(server.proc)


def row_counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
            )
        ]
        return {t: int(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}


def quiet(fake: FakeSlack, *, still: float = 0.5, timeout: float = 10.0) -> int:
    """Wait until no Web API call arrived for ``still`` seconds (work after an earlier ack
    has finished); the number of calls so far."""
    deadline = time.monotonic() + timeout
    count = len(fake.calls())
    while time.monotonic() < deadline:
        time.sleep(still)
        now = len(fake.calls())
        if now == count:
            return count
        count = now
    raise AssertionError("the bot kept calling the Web API")


# -- the server over loopback -----------------------------------------------------------------


def test_healthz_and_404(served: Served) -> None:
    status, body = s.get(f"{served.base_url}/healthz")
    assert (status, json.loads(body)) == (200, {"ok": True})
    assert s.get(f"{served.base_url}/nope")[0] == 404
    assert s.get(f"{served.base_url}/slack/events")[0] == 404  # Slack only POSTs


def test_logs_the_mode_and_no_secret(served: Served) -> None:
    log = served.log()
    assert "HTTP mode on http://127.0.0.1:" in log
    assert "gthread" in log
    # The weekly digest is scheduled inside the server, in LADDER_TIMEZONE (UTC by default).
    assert "weekly digest: '0 9 * * MON' in UTC, next at " in log
    for secret in (SECRET, BOT_TOKEN):
        assert secret not in log


def test_ladder_help_acked_within_3_seconds(served: Served) -> None:
    url = served.fake.response_url()
    req = s.signed_command(SECRET, text="help", response_url=url)
    started = time.monotonic()
    status, _ = served.events(req)
    elapsed = time.monotonic() - started
    assert status == 200
    assert elapsed < 3.0
    reply = served.fake.wait_for(
        "response_url", where=lambda c: url.endswith(c["path"]), timeout=10
    )[0]
    assert "ladder" in json.dumps(reply["args"]).lower()


def test_signed_command_starts_a_review(served: Served) -> None:
    # The positive control for the refusals below: the same request, signed, writes.
    before = row_counts(served.db_path)
    req = s.signed_command(
        SECRET,
        text="Summarise support tickets",
        channel_id="CREVIEW",
        response_url=served.fake.response_url(),
    )
    status, _ = served.events(req)
    assert status == 200
    in_channel = served.fake.wait_for(
        "chat.postMessage", where=lambda c: c["args"]["channel"] == "CREVIEW", timeout=10
    )
    root = in_channel[0]
    assert "Summarise support tickets" in root["args"]["text"]
    assert root["token"] == BOT_TOKEN
    deadline = time.monotonic() + 10
    while row_counts(served.db_path).get("reviews", 0) <= before.get("reviews", 0):
        assert time.monotonic() < deadline, "no review row written"
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["command", "click", "event"])
def test_forged_signature_refused_without_effect(served: Served, kind: str) -> None:
    calls_before = quiet(served.fake)
    rows_before = row_counts(served.db_path)
    req = _request(kind, served.fake)
    status, _ = served.events(s.forged(req))
    assert status == 401
    time.sleep(1.0)  # room for any work after an ack to show
    assert len(served.fake.calls()) == calls_before
    assert row_counts(served.db_path) == rows_before


@pytest.mark.parametrize("kind", ["command", "click", "event"])
def test_stale_timestamp_refused_without_effect(served: Served, kind: str) -> None:
    calls_before = quiet(served.fake)
    rows_before = row_counts(served.db_path)
    req = s.stale(SECRET, _request(kind, served.fake))
    status, _ = served.events(req)
    assert status == 401
    time.sleep(1.0)  # room for any work after an ack to show
    assert len(served.fake.calls()) == calls_before
    assert row_counts(served.db_path) == rows_before


def test_unsigned_request_refused(served: Served) -> None:
    req = s.signed_command(SECRET, text="Summarise support tickets")
    headers = {"Content-Type": s.FORM}
    assert s.post(f"{served.base_url}/slack/events", req.body, headers)[0] == 401


def _request(kind: str, fake: FakeSlack) -> s.SignedRequest:
    if kind == "command":
        return s.signed_command(
            SECRET, text="Summarise support tickets", response_url=fake.response_url()
        )
    if kind == "click":
        payload = s.block_actions_payload([s.button("decide_accept", "1")])
        return s.signed_interaction(SECRET, payload)
    event = s.message_event("1.2M", thread_ts="1700000000.000100")
    return s.signed_event(SECRET, s.event_callback_payload(event))


# -- start-up -------------------------------------------------------------------------------


def run_serve(
    tmp_path: Path, fake: FakeSlack, *args: str, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """Run ``ladder serve`` expecting it to stop by itself (a start-up error)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args, "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=tmp_path,
        env=serve_env(fake, f"sqlite:///{tmp_path / 'ladder.db'}", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


@pytest.mark.parametrize("args", [("--http",), ()])
def test_missing_bot_token_one_line(tmp_path: Path, fake: FakeSlack, args: tuple[str]) -> None:
    done = run_serve(tmp_path, fake, *args, SLACK_BOT_TOKEN=None, SLACK_APP_TOKEN=APP_TOKEN)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: SLACK_BOT_TOKEN is required but not set"]
    assert fake.calls() == []
    assert not (tmp_path / "ladder.db").exists()


def test_missing_signing_secret_in_http_mode_one_line(tmp_path: Path, fake: FakeSlack) -> None:
    done = run_serve(tmp_path, fake, "--http", SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=APP_TOKEN)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: SLACK_SIGNING_SECRET is required but not set"]
    assert BOT_TOKEN not in done.stderr + done.stdout


def test_wrong_kind_of_token_one_line(tmp_path: Path, fake: FakeSlack) -> None:
    done = run_serve(tmp_path, fake, SLACK_APP_TOKEN=BOT_TOKEN)  # an xoxb where xapp belongs
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: SLACK_APP_TOKEN: expected an app-level token starting with xapp-"
    ]
    assert BOT_TOKEN not in done.stderr


def test_bad_database_url_does_not_leak_it(tmp_path: Path, fake: FakeSlack) -> None:
    done = run_serve(tmp_path, fake, "--http", DATABASE_URL="ladder:hunter2@db.example/ladder")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "DATABASE_URL" in done.stderr
    assert "hunter2" not in done.stderr


def test_rejected_bot_token_stops_the_server(tmp_path: Path, fake: FakeSlack) -> None:
    fake.error_next("auth.test", error="invalid_auth")
    done = run_serve(tmp_path, fake, "--http")
    assert done.returncode == 3  # gunicorn: the worker failed to boot
    assert "invalid_auth" in done.stderr
    assert "Traceback" not in done.stderr
    assert BOT_TOKEN not in done.stderr


def test_socket_mode_when_app_token_set(tmp_path: Path, fake: FakeSlack) -> None:
    # No signing secret needed; the connection is opened through SLACK_API_URL with the
    # app-level token (the fake's WebSocket URL then refuses the handshake, on loopback).
    server = start_server(tmp_path, fake, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=APP_TOKEN)
    try:
        opened = fake.wait_for("apps.connections.open", timeout=START_TIMEOUT)[0]
        assert opened["token"] == APP_TOKEN
        assert "Socket Mode" in server.log()
        assert "HTTP mode" not in server.log()
    finally:
        stop(server.proc)


# -- the WSGI app and settings, in process ----------------------------------------------------


def standin_app(settings: Settings, session_factory: sessionmaker[Session]) -> App:
    """A tiny Bolt app: ``/ladder`` acks, writes a row and posts a message."""
    app = App(
        client=make_web_client(settings),
        signing_secret=SECRET,
        logger=logging.getLogger("standin"),
    )

    @app.command("/ladder")
    def handle(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        with session_factory.begin() as session:
            session.execute(text("INSERT INTO hits (body) VALUES (:t)"), {"t": command["text"]})
        client.chat_postMessage(channel=command["channel_id"], text=command["text"])

    return app


def call_wsgi(
    app: Callable[..., Any], method: str, path: str, req: s.SignedRequest | None = None
) -> tuple[str, dict[str, str], bytes]:
    body = req.body if req else b""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    for name, value in (req.headers if req else {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda data: None

    out = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], out


@pytest.fixture
def wsgi_parts(
    tmp_path: Path, fake: FakeSlack
) -> Iterator[tuple[App, sessionmaker[Session], Callable[[], bool]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'standin.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE hits (id INTEGER PRIMARY KEY, body TEXT)"))
    factory = sessionmaker(bind=engine)
    settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=fake.api_url)
    yield standin_app(settings, factory), factory, database_health_check(engine)
    engine.dispose()


def test_wsgi_routes(
    fake: FakeSlack, wsgi_parts: tuple[App, sessionmaker[Session], Callable[[], bool]]
) -> None:
    bolt_app, factory, health = wsgi_parts
    app = build_wsgi_app(bolt_app, health)
    status, headers, body = call_wsgi(app, "GET", "/healthz")
    assert (status, json.loads(body)) == ("200 OK", {"ok": True})
    assert headers["Content-Type"] == "application/json"
    assert call_wsgi(app, "GET", "/")[0] == "404 Not Found"
    assert call_wsgi(app, "PUT", "/slack/events")[0] == "404 Not Found"

    forged = s.forged(s.signed_command(SECRET, text="forged"))
    assert call_wsgi(app, "POST", "/slack/events", forged)[0].startswith("401")
    signed = s.signed_command(SECRET, text="signed")
    assert call_wsgi(app, "POST", "/slack/events", signed)[0] == "200 OK"
    fake.wait_for("chat.postMessage")
    with factory() as session:
        assert session.execute(text("SELECT body FROM hits")).scalars().all() == ["signed"]


def test_healthz_503_without_leaking_the_database(
    fake: FakeSlack,
    wsgi_parts: tuple[App, sessionmaker[Session], Callable[[], bool]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 1 on loopback refuses at once: a database that is down.
    engine = make_engine("postgresql+psycopg://ladder:hunter2@127.0.0.1:1/ladder")
    app = build_wsgi_app(wsgi_parts[0], database_health_check(engine))
    with caplog.at_level(logging.WARNING, logger="bot.server"):
        status, _, body = call_wsgi(app, "GET", "/healthz")
    assert status == "503 Service Unavailable"
    assert json.loads(body) == {"ok": False, "error": "database unavailable"}
    assert "health check failed" in caplog.text
    assert "hunter2" not in caplog.text + body.decode()


def test_health_check_returning_false_is_503(
    wsgi_parts: tuple[App, sessionmaker[Session], Callable[[], bool]],
) -> None:
    app = build_wsgi_app(wsgi_parts[0], lambda: False)
    assert call_wsgi(app, "GET", "/healthz")[0] == "503 Service Unavailable"


def test_gunicorn_options() -> None:
    opts = gunicorn_options(host="0.0.0.0", port=3000, threads=8)
    assert opts["bind"] == ["0.0.0.0:3000"]
    assert (opts["worker_class"], opts["workers"], opts["threads"]) == ("gthread", 1, 8)
    assert opts["control_socket_disable"] is True
    assert gunicorn_options(host="::1", port=80)["bind"] == ["[::1]:80"]
