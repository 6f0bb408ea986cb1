"""Errors in one place: a typed ``LadderError`` is shown to the user where they acted; anything
else is logged with its traceback and a short reference the user can quote."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import LadderError
from handlers.blocks import build_error_reply
from handlers.context import AppContext

logger = logging.getLogger(__name__)


def where(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(channel, user, thread_ts) of whatever the user did: a command, a click or a message."""
    event = body.get("event") or {}
    if event:
        return event.get("channel"), event.get("user"), event.get("thread_ts") or event.get("ts")
    channel = (
        (body.get("channel") or {}).get("id")
        if isinstance(body.get("channel"), dict)
        else body.get("channel_id")
    )
    user = (
        (body.get("user") or {}).get("id")
        if isinstance(body.get("user"), dict)
        else body.get("user_id")
    )
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts")
    return channel, user, thread


def tell_user(client: WebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral note to the person who acted, in the thread when there is one."""
    channel, user, thread = where(body)
    if not channel or not user:
        logger.info("cannot tell the user (no channel/user in the payload): %s", text)
        return
    kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
    if thread:
        kwargs["thread_ts"] = thread
    try:
        client.chat_postEphemeral(**kwargs)
    except SlackApiError as exc:
        logger.warning("could not post an ephemeral message: %s", exc.response.get("error"))


def handle_error(error: Exception, body: dict[str, Any], client: WebClient) -> None:
    if isinstance(error, LadderError):
        tell_user(client, body, build_error_reply(error.user_message))
        return
    ref = secrets.token_hex(4)
    logger.error("unexpected error (ref %s)", ref, exc_info=error)
    tell_user(
        client,
        body,
        build_error_reply(
            f"Something went wrong on my side (ref {ref}). Nothing you entered was lost; "
            "please try again, and quote the ref if it keeps happening."
        ),
    )


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Route an error raised after ``ack()`` to ``handle_error``.

    Bolt's thread runner loses the acknowledgement when a listener raises within a few
    milliseconds of acking (it resets the ack to ``None`` and answers Slack with a 404), so
    errors after the ack are handled here, by the same function ``@app.error`` uses. Errors
    before the ack still go to Bolt.
    """

    @functools.wraps(func)
    def listener(**kwargs: Any) -> Any:
        try:
            return func(**kwargs)
        except Exception as exc:
            ack = kwargs.get("ack")
            client = kwargs.get("client")
            if (ack is not None and getattr(ack, "response", None) is None) or client is None:
                raise
            handle_error(exc, kwargs.get("body") or {}, client)
            return None

    return listener


def defer(
    ctx: AppContext,
    body: dict[str, Any],
    client: WebClient,
    fn: Callable[..., object],
    *args: Any,
    pool: Executor | None = None,
    **kwargs: Any,
) -> None:
    """Run ``fn`` after the ack on the work pool (or ``pool``); its errors reach
    ``handle_error`` like any listener's."""

    def run() -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            handle_error(exc, body, client)

    (pool or ctx.work).submit(run)


def register(app: App, ctx: AppContext) -> None:
    app.error(handle_error)
