"""``create_app``: the one place that wires settings, the store and the listeners into Bolt."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

import handlers
from bot.settings import Settings
from handlers.context import AppContext
from handlers.slack_client import make_web_client


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session],
    client: WebClient | None = None,
    token_verification: bool = True,
    listener_executor: Executor | None = None,
    work_executor: Executor | None = None,
) -> App:
    """A Bolt app with every listener registered. ``client`` defaults to one pointed at
    SLACK_API_URL with retries on 429 and dropped connections."""
    secret = settings.slack_signing_secret
    app = App(
        client=client or make_web_client(settings),
        signing_secret=secret.get_secret_value() if secret else None,
        token_verification_enabled=token_verification,
        # Socket Mode has no signatures; without a secret Bolt skips request verification,
        # so HTTP mode must always be given one (``ladder serve --http`` requires it).
        request_verification_enabled=secret is not None,
        logger=logging.getLogger("ladder.bolt"),
        listener_executor=listener_executor,
    )
    ctx = AppContext(settings=settings, session_factory=session_factory)
    if work_executor is not None:  # tests: one pool to wait on
        ctx.work = ctx.drafting = work_executor
    handlers.register(app, ctx)
    return app
