"""The same review through Socket Mode: Bolt's Socket Mode handler fed the envelopes Slack
sends over the websocket (slash_commands, interactive, events_api), against the fake Slack Web
API and a real database. The websocket itself is the one part replaced: a recorder takes the
acknowledgements the handler sends back."""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Iterator

import pytest
from fake_slack import FakeSlack
from harness import Bot, make_bot
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_signing import JSON, SignedRequest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from test_slack_review import db, walk_to_recommendation

from handlers.ids import ActionId
from store.models import Answer, Decision, Review


class Websocket:
    """Stands in for the Socket Mode connection: records what the handler sends back."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("socket-mode-test")
        self.responses: list[SocketModeResponse] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.responses.append(response)


def envelope(req: SignedRequest) -> SocketModeRequest:
    """The Socket Mode envelope Slack would send for the same request (no signature: the
    websocket is authenticated by the app token instead)."""
    retry = req.headers.get("X-Slack-Retry-Num")
    if req.headers["Content-Type"] == JSON:
        kind, payload = "events_api", json.loads(req.body)
    else:
        form = dict(urllib.parse.parse_qsl(req.text, keep_blank_values=True))
        if "payload" in form:
            kind, payload = "interactive", json.loads(form["payload"])
        else:
            kind, payload = "slash_commands", form
    return SocketModeRequest(
        type=kind,
        envelope_id=str(uuid.uuid4()),
        payload=payload,
        retry_attempt=int(retry) if retry else None,
        retry_reason=req.headers.get("X-Slack-Retry-Reason"),
    )


def socket_sender(
    handler: SocketModeHandler, ws: Websocket
) -> Callable[[SignedRequest], tuple[int, str]]:
    def send(req: SignedRequest) -> tuple[int, str]:
        before = len(ws.responses)
        handler.handle(ws, envelope(req))  # type: ignore[arg-type]
        if len(ws.responses) == before:
            return 404, ""  # not acknowledged: Slack would retry or show an error
        return 200, json.dumps(ws.responses[-1].payload or {})

    return send


@pytest.fixture
def socket_bot(
    fake_slack: FakeSlack, engine: Engine, session_factory: sessionmaker[Session]
) -> Iterator[Bot]:
    bot = make_bot(fake_slack, session_factory, str(engine.url), slack_app_token="xapp-1-test")
    handler = SocketModeHandler(bot.app, app_token="xapp-1-test")
    bot.send = socket_sender(handler, Websocket())
    yield bot
    bot.close()


def test_full_review_through_socket_mode(socket_bot: Bot) -> None:
    thread = walk_to_recommendation(socket_bot)
    rec = next(
        m for m in socket_bot.thread(thread) if m.get("text", "").startswith("Recommendation")
    )
    assert "LoRA" in rec["text"]
    status, _ = socket_bot.click(rec, ActionId.DECIDE_ACCEPT)
    assert status == 200
    socket_bot.wait_until(lambda: db(socket_bot, select(Review.status)) == "accepted")
    assert db(socket_bot, select(Decision.kind)) == "accepted"
    assert db(socket_bot, select(func.count()).select_from(Answer)) == 18


def test_socket_mode_retry_is_recorded_once(socket_bot: Bot) -> None:
    thread = walk_to_recommendation(socket_bot)
    before = db(socket_bot, select(func.count()).select_from(Answer))
    # An answer change by reply is not a question now; resend the last reply as a retry.
    socket_bot.reply("800", thread_ts=thread, event_id="Ev-SOCKET-1", retry_num=1)
    socket_bot.reply("800", thread_ts=thread, event_id="Ev-SOCKET-1", retry_num=2)
    assert db(socket_bot, select(func.count()).select_from(Answer)) == before
