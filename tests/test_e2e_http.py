"""End to end: the real ``ladder serve --http`` (gunicorn) on 127.0.0.1, Slack-signed requests
over loopback, the fake Slack Web API recording every call, and the database checked after,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import slack_signing as s
from fake_slack import FakeSlack
from harness import BOT_TOKEN, SECRET, Bot
from sqlalchemy import func, select
from test_server import Served, start_server, stop, wait_healthy
from test_slack_review import (
    WALK,
    answer_choice,
    answer_modes,
    db,
    start,
    walk_to_recommendation,
)

from handlers.ids import ActionId
from store.db import is_sqlite, make_engine, make_session_factory, upgrade
from store.models import Answer, Decision, Review


@pytest.fixture
def served_bot(tmp_path: Path, fake_slack: FakeSlack, db_url: str) -> Iterator[Bot]:
    if not is_sqlite(db_url):
        upgrade(db_url)  # production runs `ladder db upgrade`; serve does it only on SQLite
    server: Served = start_server(
        tmp_path,
        fake_slack,
        "--http",
        DATABASE_URL=db_url,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
    )
    engine = make_engine(db_url)
    try:
        wait_healthy(server)

        def send(req: s.SignedRequest) -> tuple[int, str]:
            status, body = server.events(req)
            return status, body.decode()

        yield Bot(
            app=None,
            fake=fake_slack,
            session_factory=make_session_factory(engine),  # type: ignore[arg-type]
            send=send,
        )
    finally:
        stop(server.proc)
        engine.dispose()


def test_full_review_over_http_to_an_accepted_decision(served_bot: Bot) -> None:
    thread = walk_to_recommendation(served_bot)
    rec = next(
        m for m in served_bot.thread(thread) if m.get("text", "").startswith("Recommendation")
    )
    assert "LoRA" in rec["text"]
    served_bot.fake.wait_for("files.completeUploadExternal")
    status, _ = served_bot.click(rec, ActionId.DECIDE_ACCEPT)
    assert status == 200
    served_bot.wait_until(lambda: db(served_bot, select(Review.status)) == "accepted")
    assert db(served_bot, select(Decision.chosen_outcome)) == "R4_LORA"
    assert db(served_bot, select(func.count()).select_from(Answer)) == 18
    served_bot.wait_until(lambda: "Accepted" in str(served_bot.thread(thread)[0]["blocks"]))
    # Every Web API call carried the bot token and went to SLACK_API_URL (the fake).
    assert all(
        c["token"] == BOT_TOKEN
        for c in served_bot.fake.calls()
        if c["method"] not in ("upload", "response_url")
    )


def test_bad_reply_retry_and_unauthorised_over_http(served_bot: Bot) -> None:
    thread = start(served_bot)
    answer_modes(served_bot, thread, ["format"])
    for _key, label in WALK:  # up to the first number: labeled examples
        answer_choice(served_bot, thread, label)
    before = db(served_bot, select(func.count()).select_from(Answer))
    # A wrong number in a reply: told why, nothing recorded.
    n = len(served_bot.thread(thread))
    served_bot.reply("12 bananas", thread_ts=thread)
    served_bot.wait_until(lambda: len(served_bot.thread(thread)) > n)
    assert "bananas" in served_bot.thread(thread)[-1]["text"]
    assert db(served_bot, select(func.count()).select_from(Answer)) == before
    # A forged request changes nothing.
    forged = s.forged(s.signed_command(SECRET, text="forged review"))
    status, _ = served_bot.send(forged)
    assert status == 401
    assert db(served_bot, select(func.count()).select_from(Review)) == 1


def test_rate_limited_web_api_is_retried_over_http(served_bot: Bot) -> None:
    served_bot.fake.fail_next("chat.postMessage", status=429, headers={"Retry-After": "1"})
    thread = start(served_bot)
    posts = served_bot.fake.calls("chat.postMessage")
    assert len(posts) >= 3  # the 429, its retry (the root), the first question
    assert db(served_bot, select(Review.thread_ts)) == thread
