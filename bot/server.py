"""How the bot is served: a WSGI app (``POST /slack/events``, ``GET /healthz``) under an embedded
gunicorn, or a Socket Mode connection.

One gunicorn worker process with a pool of threads (``gthread``) by default: the scheduler
and Bolt's listener executor live in the process, and a second process would run the
scheduled jobs twice. The app is built by ``app_factory`` inside the worker, after the
fork, so no thread or database connection is created in the parent and lost in the child.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from sqlalchemy import Engine

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_THREADS = 8

HealthCheck = Callable[[], bool]


def build_wsgi_app(bolt_app: App, health_check: HealthCheck) -> WSGIApplication:
    """The bot's WSGI application: ``POST /slack/events`` goes to Bolt (slash commands,
    interactivity and events share the one URL), ``GET /healthz`` answers 200 when
    ``health_check()`` is true and 503 otherwise, anything else 404."""
    slack = SlackRequestHandler(bolt_app, path=EVENTS_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == EVENTS_PATH and method == "POST":
            return slack(environ, start_response)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            if _healthy(health_check):
                return _json(start_response, "200 OK", {"ok": True})
            return _json(
                start_response,
                "503 Service Unavailable",
                {"ok": False, "error": "database unavailable"},
            )
        return _json(start_response, "404 Not Found", {"ok": False, "error": "not found"})

    return application


def _healthy(health_check: HealthCheck) -> bool:
    try:
        return bool(health_check())
    except Exception as exc:  # any failure means "unhealthy"; the reason is logged
        # The first line of a driver error names the host and the failure, never the password;
        # the body sent back stays fixed so nothing about the database leaks to the caller.
        first_line = (str(exc).splitlines() or [""])[0][:200]
        logger.warning("health check failed: %s: %s", type(exc).__name__, first_line)
        return False


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [payload]


def database_health_check(engine: Engine) -> HealthCheck:
    """A health check that runs ``SELECT 1`` on ``engine``.

    It goes through the driver connection, outside SQLAlchemy's transaction events, so on
    SQLite it does not take the write lock the store's ``BEGIN IMMEDIATE`` would take.
    """

    def check() -> bool:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool, rolled back
        return row is not None and row[0] == 1

    return check


# -- HTTP mode: gunicorn ----------------------------------------------------------------------


def gunicorn_options(
    *, host: str, port: int, threads: int = DEFAULT_THREADS, workers: int = 1
) -> dict[str, Any]:
    """The gunicorn settings ``serve_http`` runs with."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "bind": [address],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # Slack gives up on an ack after 3 s; a worker whose main loop is stuck this long is
        # killed and replaced. Listener work runs in Bolt's executor, not in the main loop.
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "ladder-bot",
        # Gunicorn >= 25 opens a control socket at a fixed path under $HOME by default; two
        # instances (tests, the bench, a second bot) would fight over it.
        "control_socket_disable": True,
    }


def serve_http(
    app_factory: Callable[[], WSGIApplication],
    *,
    host: str = "0.0.0.0",
    port: int = 3000,
    threads: int = DEFAULT_THREADS,
    workers: int = 1,
) -> None:
    """Serve the WSGI app that ``app_factory`` builds (in the worker) with gunicorn; returns
    when gunicorn stops (SIGTERM or SIGINT). Exits with status 3 if the app fails to build."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(host=host, port=port, threads=threads, workers=workers)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApplication:
            return app_factory()

    _Gunicorn().run()


# -- Socket Mode ------------------------------------------------------------------------------


def serve_socket_mode(app: App, app_token: str) -> None:
    """Connect to Slack over Socket Mode with the app-level token and block until stopped."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]
