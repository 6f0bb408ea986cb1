"""``ladder digest preview`` (print this week's digests) and ``ladder digest send`` (post them
exactly once, for an external cron or a Kubernetes CronJob)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.digest import ChannelDigest, compose_digests, format_counts, week_label, week_of
from bot.errors import InvalidInput, LadderError
from bot.settings import Settings, load_settings, require

if TYPE_CHECKING:
    from sqlalchemy import Engine

digest_app = typer.Typer(
    help="The weekly digest of pending decisions: preview it, or send it (once per channel "
    "and week, however many senders run).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr; exit 2 for bad input or configuration, 1 for trouble elsewhere."""
    Console(stderr=True).print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except LadderError as exc:
        _fail(exc.user_message)


def _parse_at(at: str | None, tz: ZoneInfo) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        _fail(f"--at: {at!r} is not an ISO date and time (e.g. 2025-03-03T09:00)")
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def _engine(settings: Settings) -> Engine:
    """An engine on DATABASE_URL whose schema is migrated (nothing is created here)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from store.db import head_revision, is_sqlite, make_engine, normalize_url, schema_revision

    try:
        url = normalize_url(settings.database_url)
        path = url.database or ""
        on_disk = is_sqlite(url) and path not in ("", ":memory:") and not path.startswith("file:")
        if on_disk and not Path(path).expanduser().exists():
            # Connecting would create an empty file; say what to run instead.
            _fail(f"DATABASE_URL: no SQLite database at {path}; run `ladder db upgrade`")
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError):
        _fail("DATABASE_URL: not a database URL SQLAlchemy can use")
    try:
        revision = schema_revision(engine)
    except (SQLAlchemyError, OSError) as exc:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        _fail(f"DATABASE_URL: cannot read the database ({first_line})", code=1)
    if revision is None:
        _fail("DATABASE_URL: the database has no schema yet; run `ladder db upgrade`")
    if revision != head_revision():
        _fail(
            f"DATABASE_URL: schema at {revision}, expected {head_revision()}; run "
            "`ladder db upgrade`"
        )
    return engine


def _digest_table(digest: ChannelDigest) -> Table:
    table = Table(
        title=f"{digest.channel_id} ({digest.team_id}): {format_counts(digest.counts)}",
        title_justify="left",
        show_lines=False,
    )
    table.add_column("group", no_wrap=True)
    table.add_column("review", justify="right")
    table.add_column("title")
    table.add_column("owner", no_wrap=True)
    table.add_column("age", justify="right")
    table.add_column("why")
    for group, items in digest.grouped():
        for n, item in enumerate(items):
            table.add_row(
                group.short if n == 0 else "",
                str(item.review_id),
                item.title + (f"\n[dim]{item.permalink}[/dim]" if item.permalink else ""),
                item.owner_id,
                f"{item.age_days} d",
                item.detail,
            )
    return table


@digest_app.command(
    "preview",
    help="Print this week's digest of every channel from DATABASE_URL (nothing is posted).",
)
def preview_command(
    team: Annotated[
        str | None, typer.Option("--team", help="Only this Slack team id (default: all).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Compose as of this time (ISO; LADDER_TIMEZONE if no offset)."),
    ] = None,
) -> None:
    """``ladder digest preview``: the digests as they would be posted, in tables."""
    from sqlalchemy.exc import SQLAlchemyError

    from store.db import make_session_factory, session_scope
    from store.digest_queries import digest_rows

    settings = _settings()
    tz = ZoneInfo(settings.ladder_timezone)
    now = _parse_at(at, tz)
    engine = _engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = digest_rows(session=session, team_id=team)
    except SQLAlchemyError as exc:
        _fail(f"DATABASE_URL: {(str(exc).splitlines() or [''])[0][:200]}", code=1)
    finally:
        engine.dispose()
    digests = compose_digests(
        rows, now=now, tz=tz, stalled_days=settings.ladder_stalled_days, workspace_url=None
    )
    out = Console()
    week = week_label(week_of(now, tz))
    if not digests:
        out.print(f"Nothing pending, {week}: no digest would be posted.")
        return
    out.print(
        f"[bold]Ladder digest, {week}[/bold] ({settings.ladder_timezone}): "
        f"{len(digests)} channel(s), {sum(d.total for d in digests)} item(s)"
    )
    for digest in digests:
        out.print(_digest_table(digest))


@digest_app.command(
    "send",
    help="Post this week's digests to Slack (SLACK_BOT_TOKEN): each channel once a week, "
    "however many senders run (for an external cron or a Kubernetes CronJob). Prints what "
    "was sent and what was skipped; exit status 1 if a post failed.",
)
def send_command() -> None:
    """``ladder digest send``: claim, post and mark each digest, exactly once."""
    from slack_sdk.errors import SlackApiError
    from sqlalchemy.exc import SQLAlchemyError

    from handlers.digest import SendStatus, new_claimer, send_digests
    from handlers.slack_client import make_web_client
    from store.db import make_session_factory, utcnow

    settings = _settings()
    try:
        require(settings, "SLACK_BOT_TOKEN")
    except InvalidInput as exc:
        _fail(exc.user_message)
    engine = _engine(settings)
    client = make_web_client(settings)
    try:
        report = send_digests(
            session_factory=make_session_factory(engine),
            client=client,
            settings=settings,
            now=utcnow(),
            claimer=new_claimer(),
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
            _fail(f"SLACK_BOT_TOKEN: Slack refused it ({error})")
        _fail(f"Slack: {error}", code=1)
    except OSError as exc:
        _fail(f"cannot reach Slack at {settings.slack_api_url} ({exc})", code=1)
    except SQLAlchemyError as exc:
        _fail(f"DATABASE_URL: {(str(exc).splitlines() or [''])[0][:200]}", code=1)
    finally:
        engine.dispose()
    out = Console()
    out.print(report.summary())
    if report.results:
        table = Table(show_lines=False)
        for column in ("channel", "kind", "status", "items", "messages", "detail"):
            table.add_column(column)
        for r in report.results:
            table.add_row(
                r.channel_id, r.kind, r.status.value, str(r.items), str(len(r.message_ts)), r.detail
            )
        out.print(table)
    if any(r.status is SendStatus.FAILED for r in report.results):
        raise typer.Exit(1)
