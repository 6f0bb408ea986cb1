"""``ladder serve``: run the bot in Socket Mode (``SLACK_APP_TOKEN`` set) or over HTTP (``--http``).

Also runnable alone: ``python -m bot.cli_serve --http --port 3000``.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import fail
from bot.errors import InvalidInput, LadderError
from bot.server import DEFAULT_THREADS, EVENTS_PATH, HEALTH_PATH
from bot.settings import Settings, load_settings, require

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from slack_bolt import App
    from slack_sdk import WebClient
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

# gunicorn's exit status for "the worker failed to boot"; the worker uses it after logging
# the one line that says why, so gunicorn stops instead of respawning it forever.
_WORKER_BOOT_ERROR = 3


def serve_command(
    http: Annotated[
        bool,
        typer.Option(
            "--http",
            help="Serve HTTP (POST /slack/events, GET /healthz) even when SLACK_APP_TOKEN is set.",
        ),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="HTTP mode: address to listen on.")] = (
        "0.0.0.0"
    ),
    port: Annotated[int, typer.Option("--port", help="HTTP mode: port to listen on.")] = 3000,
    threads: Annotated[
        int, typer.Option("--threads", help="HTTP mode: request threads in the worker.")
    ] = DEFAULT_THREADS,
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), otherwise
    (or with --http) an HTTP server for Slack's request URLs."""
    try:
        settings = load_settings()
        if not 0 < port < 65536:
            raise InvalidInput(f"--port: {port} is not a TCP port (1-65535)", field="port")
        if not 0 < threads <= 256:
            raise InvalidInput(f"--threads: {threads} is not between 1 and 256", field="threads")
        socket_mode = _app_token(settings) is not None and not http
        require(settings, "SLACK_BOT_TOKEN")
        _check_prefix(settings, "SLACK_BOT_TOKEN", "xoxb-", "a bot token")
        if socket_mode:
            _check_prefix(settings, "SLACK_APP_TOKEN", "xapp-", "an app-level token")
        else:
            require(settings, "SLACK_SIGNING_SECRET")
        _prepare_database(settings)
    except LadderError as exc:
        fail(exc.user_message)

    _configure_logging()
    if socket_mode:
        logger.info("ladder-bot: Socket Mode (SLACK_APP_TOKEN is set; --http serves HTTP instead)")
        app_token = _app_token(settings)
        assert app_token is not None
        try:
            bolt_app, _engine = _build_bolt_app(settings)
        except Exception as exc:
            reason = _startup_failure(exc, settings)
            if reason is None:
                raise
            fail(reason, code=1)
        from bot.server import serve_socket_mode

        serve_socket_mode(bolt_app, app_token)
        return

    logger.info(
        "ladder-bot: HTTP mode on http://%s:%d (POST %s, GET %s; gunicorn gthread, "
        "1 worker, %d threads)",
        host,
        port,
        EVENTS_PATH,
        HEALTH_PATH,
        threads,
    )
    from bot.server import serve_http

    serve_http(lambda: _wsgi_app(settings), host=host, port=port, threads=threads)


def _app_token(settings: Settings) -> str | None:
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    return token or None


def _check_prefix(settings: Settings, name: str, prefix: str, what: str) -> None:
    secret = getattr(settings, name.lower())
    value = secret.get_secret_value() if secret is not None else ""
    if not value.startswith(prefix):
        raise InvalidInput(f"{name}: expected {what} starting with {prefix}", field=name)


def _prepare_database(settings: Settings) -> None:
    """Check DATABASE_URL and, on SQLite, bring the schema up to date (PostgreSQL is
    migrated by ``ladder db upgrade`` as a deployment step)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from store.db import ensure_sqlite_schema, normalize_url

    try:
        normalize_url(settings.database_url)
    except NoSuchModuleError as exc:
        raise InvalidInput(
            f"DATABASE_URL: unknown database driver ({exc})", field="DATABASE_URL"
        ) from None
    except ArgumentError:
        # SQLAlchemy's message repeats the URL, password included: never shown.
        raise InvalidInput("DATABASE_URL: not a database URL", field="DATABASE_URL") from None
    try:
        ensure_sqlite_schema(settings.database_url)
    except (SQLAlchemyError, OSError) as exc:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        raise InvalidInput(
            f"DATABASE_URL: cannot prepare the SQLite database ({first_line})",
            field="DATABASE_URL",
        ) from None


def _build_bolt_app(settings: Settings) -> tuple[App, Engine]:
    from handlers.app import create_app
    from store.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    app = create_app(settings, session_factory=session_factory)
    _schedule_digest(settings, session_factory, app.client)
    return app, engine


def _schedule_digest(
    settings: Settings, session_factory: sessionmaker[Session], client: WebClient
) -> None:
    """The weekly digest inside the server. Several replicas may all run it: each channel's
    digest is claimed in the database before it is posted, so it goes out once."""
    import atexit

    from bot.scheduler import start_digest_scheduler
    from handlers.digest import digest_job

    scheduler = start_digest_scheduler(settings, digest_job(settings, session_factory, client))
    atexit.register(scheduler.shutdown, wait=False)
    job = scheduler.get_jobs()[0]
    logger.info(
        "weekly digest: %r in %s, next at %s",
        settings.ladder_digest_cron,
        settings.ladder_timezone,
        job.next_run_time.isoformat() if job.next_run_time else "never",
    )


def _wsgi_app(settings: Settings) -> WSGIApplication:
    """Runs in the gunicorn worker (after the fork): the app, its engine and scheduler."""
    from bot.server import build_wsgi_app, database_health_check

    try:
        bolt_app, engine = _build_bolt_app(settings)
    except Exception as exc:
        reason = _startup_failure(exc, settings)
        if reason is None:
            raise  # unexpected: gunicorn logs the traceback and stops
        logger.error("error: %s", reason)
        raise SystemExit(_WORKER_BOOT_ERROR) from None
    return build_wsgi_app(bolt_app, database_health_check(engine))


def _startup_failure(exc: Exception, settings: Settings) -> str | None:
    """One line for a start-up failure the user can fix; ``None`` for a bug."""
    from slack_bolt.error import BoltError

    if isinstance(exc, LadderError):
        return exc.user_message
    if isinstance(exc, BoltError):
        return f"Slack refused to start the app: {exc}"
    if isinstance(exc, OSError):
        return f"cannot reach Slack at {settings.slack_api_url} ({exc})"
    return None


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


serve_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
serve_app.command(help=serve_command.__doc__)(serve_command)


def main() -> None:
    try:
        serve_app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
