"""Sending the digest exactly once (SQLite and PostgreSQL, a fake Slack over loopback), and its
buttons and ``/ladder digest`` through a real Bolt app with signed requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import slack_signing as s
from fake_slack import FakeSlack
from slack_bolt import App, BoltRequest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.digest import compose_digests
from bot.settings import Settings
from handlers import digest as digest_handlers
from handlers import errors as error_handlers
from handlers.context import AppContext
from handlers.digest import (
    SUMMARY_MARKER,
    DigestBlockId,
    SendReport,
    SendStatus,
    build_digest_messages,
    handle_digest_command,
    send_digests,
)
from handlers.ids import ActionId
from handlers.slack_client import make_web_client
from store import repository as repo
from store.db import session_scope
from store.digest_queries import digest_rows, record_digest_progress
from store.models import (
    AuditEntry,
    Decision,
    DecisionKind,
    DigestStatus,
    Recommendation,
    Review,
    ReviewSource,
    ReviewStatus,
)

SECRET = "digest-test-signing-secret"
NOW = datetime(2025, 10, 27, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin (CET)
WEEK = NOW.date()
T = TypeVar("T")
APPROVER = "UAPPROVER"
DIGEST_CHANNEL = "CDIGEST"


def make_settings(fake: FakeSlack, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SECRET,
        "slack_api_url": fake.api_url,
        "ladder_timezone": "Europe/Berlin",
        "ladder_digest_channel": DIGEST_CHANNEL,
        "ladder_approvers": APPROVER,
    }
    values.update(extra)
    return Settings(**values)


_ts = iter(range(1, 1_000_000))


def add_review(
    session: Session,
    *,
    channel: str = "C1",
    owner: str = "UOWNER",
    status: ReviewStatus = ReviewStatus.IN_PROGRESS,
    last_activity_at: datetime = NOW - timedelta(days=10),
    outcome: str | None = None,
    title: str | None = None,
) -> Review:
    ts = f"1761000000.{next(_ts):06d}"
    review = Review(
        team_id="T1",
        channel_id=channel,
        thread_ts=ts,
        root_ts=ts,
        owner_id=owner,
        title=title or f"use case in {channel}",
        status=status,
        source=ReviewSource.SLACK,
        outcome=outcome,
        created_at=last_activity_at - timedelta(days=1),
        updated_at=last_activity_at,
        last_activity_at=last_activity_at,
        question_ts={},
    )
    session.add(review)
    session.flush()
    if status is not ReviewStatus.IN_PROGRESS:
        rec = Recommendation(
            review_id=review.id,
            outcome=outcome or "R2_FEW_SHOT",
            rules=["P2", "F1"],
            reasons=[],
            tracks=[],
            next_steps=[],
            answers_snapshot={},
            created_at=last_activity_at,
        )
        session.add(rec)
        session.flush()
        if status is ReviewStatus.ACCEPTED:
            session.add(
                Decision(
                    review_id=review.id,
                    recommendation_id=rec.id,
                    kind=DecisionKind.ACCEPTED,
                    chosen_outcome=rec.outcome,
                    decided_by=owner,
                    decided_at=last_activity_at,
                )
            )
            session.flush()
    return review


def seed(session_factory: sessionmaker[Session], per_channel: dict[str, int]) -> list[int]:
    with session_scope(session_factory) as session:
        reviews = [
            add_review(session, channel=channel, title=f"{channel} case {i}")
            for channel, n in per_channel.items()
            for i in range(n)
        ]
        return [r.id for r in reviews]


@pytest.fixture
def sender(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> Callable[..., SendReport]:
    settings = make_settings(fake_slack)
    client = make_web_client(settings)

    def send(now: datetime = NOW, claimer: str = "worker-1", **kw: Any) -> SendReport:
        return send_digests(
            session_factory=session_factory,
            client=client,
            settings=settings,
            now=now,
            claimer=claimer,
            same_channel_interval=0,
            **kw,
        )

    return send


def posts(fake: FakeSlack, channel: str | None = None) -> list[dict[str, Any]]:
    return [
        c
        for c in fake.calls("chat.postMessage")
        if c["status"] == 200
        and c["response"].get("ok")
        and (channel is None or c["args"]["channel"] == channel)
    ]


def statuses(report: SendReport) -> dict[str, SendStatus]:
    return {r.channel_id: r.status for r in report.results}


# -- exactly once -----------------------------------------------------------------------------


def test_one_post_per_channel_per_week_even_when_run_twice(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 2, "C2": 1})
    first = sender()
    assert statuses(first) == {
        "C1": SendStatus.SENT,
        "C2": SendStatus.SENT,
        DIGEST_CHANNEL: SendStatus.SENT,
    }
    assert len(fake_slack.calls("auth.test")) == 1  # the workspace URL, once per run
    second = sender(now=NOW + timedelta(hours=3), claimer="worker-2")
    assert statuses(second) == {
        "C1": SendStatus.ALREADY_SENT,
        "C2": SendStatus.ALREADY_SENT,
        DIGEST_CHANNEL: SendStatus.ALREADY_SENT,
    }
    assert Counter(c["args"]["channel"] for c in posts(fake_slack)) == {
        "C1": 1,
        "C2": 1,
        DIGEST_CHANNEL: 1,
    }
    # What was posted: the items with their buttons and thread links, the summary's counts.
    (c1,) = fake_slack.messages("C1")
    assert "2 waiting in this channel" in c1["blocks"][1]["text"]["text"]
    links = [
        el["url"]
        for b in c1["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"] == ActionId.OPEN_THREAD
    ]
    assert len(links) == 2 and links[0].startswith("https://example.slack.com/archives/C1/p1761")
    (summary,) = fake_slack.messages(DIGEST_CHANNEL)
    assert "<#C1>: 2 stalled" in summary["blocks"][2]["text"]["text"]
    with session_scope(session_factory) as session:
        run = repo.get_digest_run(session=session, team_id="T1", channel_id="C1", week=WEEK)
        assert run is not None and run.status is DigestStatus.SENT
        assert run.message_ts == [c1["ts"]]
        summary_run = repo.get_digest_run(
            session=session, team_id="T1", channel_id=DIGEST_CHANNEL + SUMMARY_MARKER, week=WEEK
        )
        assert summary_run is not None and summary_run.status is DigestStatus.SENT

    # Next Monday is a new week: posted again.
    third = sender(now=NOW + timedelta(days=7), claimer="worker-3")
    assert set(statuses(third).values()) == {SendStatus.SENT}
    assert len(posts(fake_slack, "C1")) == 2


def test_an_empty_week_posts_nothing(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    with session_scope(session_factory) as session:
        add_review(session, last_activity_at=NOW - timedelta(hours=2))  # not stalled yet
        add_review(session, status=ReviewStatus.CLOSED)
    report = sender()
    assert report.results == []
    assert fake_slack.calls("chat.postMessage") == []


def test_a_channel_turned_off_is_skipped_and_left_out_of_the_summary(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 1, "C2": 1})
    with session_scope(session_factory) as session:
        repo.set_digest_enabled(
            session=session, team_id="T1", channel_id="C2", enabled=False, by=APPROVER
        )
    report = sender()
    assert statuses(report) == {
        "C1": SendStatus.SENT,
        "C2": SendStatus.TURNED_OFF,
        DIGEST_CHANNEL: SendStatus.SENT,
    }
    assert posts(fake_slack, "C2") == []
    (summary,) = fake_slack.messages(DIGEST_CHANNEL)
    assert "<#C2>" not in str(summary["blocks"])


def test_crash_after_claim_is_taken_over_after_the_stale_period(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 1, "C2": 1})
    # A sender claims C1 and dies before posting anything.
    with session_scope(session_factory) as session:
        assert repo.claim_digest(
            session=session,
            team_id="T1",
            channel_id="C1",
            week=WEEK,
            claimer="dead-worker",
            stale_after=timedelta(minutes=10),
            now=NOW,
        )
    soon = sender(now=NOW + timedelta(minutes=5), claimer="worker-2")
    assert statuses(soon)["C1"] is SendStatus.CLAIMED_ELSEWHERE
    assert "dead-worker" in soon.results[0].detail
    assert statuses(soon)["C2"] is SendStatus.SENT
    assert posts(fake_slack, "C1") == []

    later = sender(now=NOW + timedelta(minutes=11), claimer="worker-3")
    assert statuses(later)["C1"] is SendStatus.SENT
    assert statuses(later)["C2"] is SendStatus.ALREADY_SENT
    assert len(posts(fake_slack, "C1")) == 1
    with session_scope(session_factory) as session:
        run = repo.get_digest_run(session=session, team_id="T1", channel_id="C1", week=WEEK)
        assert run is not None and run.claimed_by == "worker-3"
        assert run.status is DigestStatus.SENT

    again = sender(now=NOW + timedelta(minutes=30), claimer="worker-4")
    assert statuses(again)["C1"] is SendStatus.ALREADY_SENT
    assert len(posts(fake_slack, "C1")) == 1


def test_a_takeover_resumes_after_the_messages_a_dead_sender_posted(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 30})  # 30 items: two messages
    with session_scope(session_factory) as session:
        rows = digest_rows(session=session, team_id="T1")
    (digest,) = compose_digests(
        rows, now=NOW, tz=ZoneInfo("Europe/Berlin"), workspace_url="https://example.slack.com/"
    )
    messages = build_digest_messages(digest)
    assert len(messages) == 2
    # The dead sender claimed, posted the first message, recorded it, and died.
    client = make_web_client(make_settings(fake_slack))
    with session_scope(session_factory) as session:
        assert repo.claim_digest(
            session=session,
            team_id="T1",
            channel_id="C1",
            week=WEEK,
            claimer="dead-worker",
            stale_after=timedelta(minutes=10),
            now=NOW,
        )
    first_ts = client.chat_postMessage(channel="C1", text="part 1", blocks=messages[0])["ts"]
    with session_scope(session_factory) as session:
        assert record_digest_progress(
            session=session,
            team_id="T1",
            channel_id="C1",
            week=WEEK,
            claimer="dead-worker",
            message_ts=[first_ts],
        )

    report = sender(now=NOW + timedelta(minutes=15), claimer="worker-2")
    assert statuses(report)["C1"] is SendStatus.SENT
    c1_posts = posts(fake_slack, "C1")
    assert len(c1_posts) == 2  # the dead sender's first, the takeover's second: no repeat
    assert "(continued)" in c1_posts[1]["args"]["blocks"][0]["elements"][0]["text"]
    with session_scope(session_factory) as session:
        run = repo.get_digest_run(session=session, team_id="T1", channel_id="C1", week=WEEK)
        assert run is not None and run.message_ts == [first_ts, c1_posts[1]["response"]["ts"]]


def test_a_failed_post_releases_the_claim(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 1})
    fake_slack.error_next("chat.postMessage", "not_in_channel")
    report = sender()
    (failed, summary) = report.results
    assert failed.status is SendStatus.FAILED and "not_in_channel" in failed.detail
    assert summary.status is SendStatus.SENT
    with session_scope(session_factory) as session:
        assert (
            repo.get_digest_run(session=session, team_id="T1", channel_id="C1", week=WEEK) is None
        )
    retry = sender(now=NOW + timedelta(minutes=1), claimer="worker-2")
    assert statuses(retry) == {"C1": SendStatus.SENT, DIGEST_CHANNEL: SendStatus.ALREADY_SENT}


def test_a_429_is_retried_after_retry_after(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    seed(session_factory, {"C1": 1})
    fake_slack.fail_next("chat.postMessage", status=429, headers={"Retry-After": "1"})
    report = sender()
    assert statuses(report)["C1"] is SendStatus.SENT
    calls = [c for c in fake_slack.calls("chat.postMessage") if c["args"]["channel"] == "C1"]
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[1]["at"] - calls[0]["at"] >= 0.9  # waited for Retry-After
    assert len(fake_slack.messages("C1")) == 1


# -- concurrent senders -----------------------------------------------------------------------


def _pg_begin(session: Session, backend: str) -> None:
    """On PostgreSQL, open the transaction before the barrier so the claims really overlap
    inside the database. (SQLite's BEGIN IMMEDIATE would make the others wait at BEGIN, and
    the barrier would never fill.)"""
    if backend == "postgresql":
        session.execute(text("SELECT 1"))


def run_together(targets: list[Callable[[], T]]) -> list[T]:
    """Run each target in its own thread; their results, or the first error raised."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run(target: Callable[[], T]) -> None:
        try:
            results.append(target())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    assert len(results) == len(targets), "a thread did not finish"
    return results


def claim_at_barrier(
    session_factory: sessionmaker[Session],
    backend: str,
    barrier: threading.Barrier,
    week: date,
    name: str,
    now: datetime = NOW,
) -> str | None:
    with session_scope(session_factory) as session:
        _pg_begin(session, backend)
        barrier.wait(timeout=20)
        won = repo.claim_digest(
            session=session,
            team_id="T1",
            channel_id="C1",
            week=week,
            claimer=name,
            stale_after=timedelta(minutes=10),
            now=now,
        )
    return name if won else None


def test_many_claimers_at_once_one_wins(
    session_factory: sessionmaker[Session], backend: str
) -> None:
    rounds, workers = 20, 8
    for n in range(rounds):
        week = WEEK + timedelta(days=7 * n)
        barrier = threading.Barrier(workers)
        results = run_together(
            [
                partial(claim_at_barrier, session_factory, backend, barrier, week, f"w{n}-{i}")
                for i in range(workers)
            ]
        )
        won = [r for r in results if r is not None]
        assert len(won) == 1, f"round {n}: {won}"


def test_many_takeovers_of_a_stale_claim_at_once_one_wins(
    session_factory: sessionmaker[Session], backend: str
) -> None:
    rounds, workers = 20, 8
    for n in range(rounds):
        week = WEEK + timedelta(days=7 * n)
        with session_scope(session_factory) as session:
            assert repo.claim_digest(
                session=session,
                team_id="T1",
                channel_id="C1",
                week=week,
                claimer="dead",
                stale_after=timedelta(minutes=10),
                now=NOW - timedelta(hours=1),
            )
        barrier = threading.Barrier(workers)
        results = run_together(
            [
                partial(claim_at_barrier, session_factory, backend, barrier, week, f"w{n}-{i}")
                for i in range(workers)
            ]
        )
        won = [r for r in results if r is not None]
        assert len(won) == 1, f"round {n}: {won}"


def test_two_concurrent_senders_make_one_post(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(session_factory, {"C1": 2, "C2": 1})
    settings = make_settings(fake_slack)
    rounds = 20
    real_claim = repo.claim_digest
    barrier = threading.Barrier(2)
    lock = threading.Lock()
    inside = 0
    overlapped = 0

    def racing_claim(**kw: Any) -> bool:
        # Both senders reach every claim together and claim at the same moment.
        nonlocal inside, overlapped
        barrier.wait(timeout=20)
        with lock:
            inside += 1
            overlapped += inside == 2
        try:
            return real_claim(**kw)
        finally:
            with lock:
                inside -= 1

    def send(now: datetime, name: str) -> SendReport:
        return send_digests(
            session_factory=session_factory,
            client=make_web_client(settings),
            settings=settings,
            now=now,
            claimer=name,
            same_channel_interval=0,
        )

    monkeypatch.setattr(repo, "claim_digest", racing_claim)
    for n in range(rounds):
        now = NOW + timedelta(days=7 * n)
        reports = run_together([partial(send, now, f"sender-{n}-{x}") for x in "ab"])
        results = [r for report in reports for r in report.results]
        sent = Counter(r.channel_id for r in results if r.status is SendStatus.SENT)
        assert sent == {"C1": 1, "C2": 1, DIGEST_CHANNEL: 1}, f"round {n}"
        assert {r.status for r in results if r.status is not SendStatus.SENT} <= {
            SendStatus.ALREADY_SENT,
            SendStatus.CLAIMED_ELSEWHERE,
        }
    assert Counter(c["args"]["channel"] for c in posts(fake_slack)) == {
        "C1": rounds,
        "C2": rounds,
        DIGEST_CHANNEL: rounds,
    }
    assert overlapped > 0


# -- the buttons, through Bolt ----------------------------------------------------------------


@pytest.fixture
def bolt(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> Iterator[tuple[App, AppContext]]:
    settings = make_settings(fake_slack)
    ctx = AppContext(settings=settings, session_factory=session_factory)
    app = App(
        client=make_web_client(settings),
        signing_secret=SECRET,
        token_verification_enabled=False,
        process_before_response=True,  # the listener has finished when dispatch returns
    )
    error_handlers.register(app, ctx)
    digest_handlers.register(app, ctx)
    yield app, ctx


def dispatch(app: App, req: s.SignedRequest) -> int:
    return app.dispatch(BoltRequest(body=req.text, headers=req.headers)).status


def click(
    app: App, message: dict[str, Any], review_id: int, action: ActionId, user: str, **kw: Any
) -> int:
    block_id = f"{DigestBlockId.ACTIONS}:{review_id}"
    (element,) = [
        el
        for b in message["blocks"]
        if b.get("block_id") == block_id
        for el in b["elements"]
        if el["action_id"] == action
    ]
    payload = s.block_actions_payload(
        [s.button(action, element["value"], block_id=block_id)],
        user_id=user,
        channel_id=message["channel"],
        message_ts=message["ts"],
        message={"blocks": message["blocks"], "text": message["text"]},
        **kw,
    )
    return dispatch(app, s.signed_interaction(SECRET, payload))


def _posted_digest(
    fake: FakeSlack, sender: Callable[..., SendReport], session_factory: sessionmaker[Session]
) -> tuple[dict[str, Any], list[int]]:
    with session_scope(session_factory) as session:
        ids = [add_review(session, owner="UOWNER", title=f"case {i}").id for i in range(2)]
    sender(now=datetime.now(UTC))
    (message,) = fake.messages("C1")
    return message, ids


def _review(session_factory: sessionmaker[Session], review_id: int) -> Review:
    with session_scope(session_factory) as session:
        review = session.get(Review, review_id)
        assert review is not None
        return review


def _decisions(session_factory: sessionmaker[Session], review_id: int) -> list[Decision]:
    with session_scope(session_factory) as session:
        return list(session.scalars(select(Decision).where(Decision.review_id == review_id)))


def _audit(session_factory: sessionmaker[Session], review_id: int) -> list[str]:
    with session_scope(session_factory) as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.review_id == review_id))
        )


def test_the_owner_snoozes_from_the_digest(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    message, (first, second) = _posted_digest(fake_slack, sender, session_factory)
    before = datetime.now(UTC)
    assert click(app, message, first, ActionId.DIGEST_SNOOZE, "UOWNER") == 200

    review = _review(session_factory, first)
    assert review.snoozed_until is not None
    assert timedelta(days=7) <= review.snoozed_until - before < timedelta(days=7, minutes=1)
    assert review.status is ReviewStatus.IN_PROGRESS
    (decision,) = _decisions(session_factory, first)
    assert decision.kind is DecisionKind.SNOOZED and decision.decided_by == "UOWNER"
    assert _audit(session_factory, first) == ["digest.snooze"]

    # The digest message now says what happened, instead of that item's buttons.
    (update,) = fake_slack.calls("chat.update")
    assert update["args"]["ts"] == message["ts"]
    blocks = fake_slack.messages("C1")[0]["blocks"]
    done = [b for b in blocks if b.get("block_id") == f"{DigestBlockId.DONE}:{first}"]
    assert done and "Snoozed until" in done[0]["elements"][0]["text"]
    assert "<@UOWNER>" in done[0]["elements"][0]["text"]
    assert any(b.get("block_id") == f"{DigestBlockId.ACTIONS}:{second}" for b in blocks)

    # A snoozed review is out of next week's... this week's digest from now on.
    with session_scope(session_factory) as session:
        rows = {r.review_id: r for r in digest_rows(session=session, team_id="T1")}
    assert rows[first].snoozed_until is not None


def test_an_approver_closes_someone_elses_review_as_worked(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    message, (first, _second) = _posted_digest(fake_slack, sender, session_factory)
    assert click(app, message, first, ActionId.DIGEST_CLOSE_WORKED, APPROVER) == 200

    review = _review(session_factory, first)
    assert review.status is ReviewStatus.CLOSED
    assert review.closed_reason is not None and review.closed_reason.value == "worked"
    (decision,) = _decisions(session_factory, first)
    assert decision.kind is DecisionKind.CLOSED and decision.decided_by == APPROVER
    assert _audit(session_factory, first) == ["digest.close"]
    updates = {c["args"]["ts"] for c in fake_slack.calls("chat.update")}
    assert message["ts"] in updates  # the digest item
    assert review.root_ts in updates  # the review's root message shows "Closed"
    note = [c for c in posts(fake_slack, "C1") if c["args"].get("thread_ts") == review.thread_ts]
    assert note and "it worked" in note[0]["args"]["text"]


def test_anyone_else_is_refused_and_nothing_changes(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    message, (first, _second) = _posted_digest(fake_slack, sender, session_factory)
    posted_before = len(fake_slack.calls("chat.postMessage"))
    for action in (
        ActionId.DIGEST_CLOSE_ABANDONED,
        ActionId.DIGEST_CLOSE_WORKED,
        ActionId.DIGEST_SNOOZE,
    ):
        assert click(app, message, first, action, "USTRANGER") == 200

    refusals = fake_slack.calls("chat.postEphemeral")
    assert len(refusals) == 3
    assert all(c["args"]["user"] == "USTRANGER" for c in refusals)
    assert "Only the review's owner (<@UOWNER>) or an approver" in refusals[0]["args"]["text"]
    review = _review(session_factory, first)
    assert review.status is ReviewStatus.IN_PROGRESS and review.snoozed_until is None
    assert review.closed_reason is None
    assert _decisions(session_factory, first) == []
    assert _audit(session_factory, first) == []
    assert fake_slack.calls("chat.update") == []
    assert len(fake_slack.calls("chat.postMessage")) == posted_before


def test_a_review_of_another_team_is_not_found(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    message, (first, _second) = _posted_digest(fake_slack, sender, session_factory)
    block_id = f"{DigestBlockId.ACTIONS}:{first}"
    payload = s.block_actions_payload(
        [s.button(ActionId.DIGEST_CLOSE_WORKED, f'{{"r":{first}}}', block_id=block_id)],
        user_id="UOWNER",
        team_id="T2",
        channel_id="C1",
        message_ts=message["ts"],
        message={"blocks": message["blocks"]},
    )
    assert dispatch(app, s.signed_interaction(SECRET, payload)) == 200
    (refusal,) = fake_slack.calls("chat.postEphemeral")
    assert "can't find this review" in refusal["args"]["text"]
    assert _review(session_factory, first).status is ReviewStatus.IN_PROGRESS


def test_a_second_close_is_told_it_is_already_closed(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    message, (first, _second) = _posted_digest(fake_slack, sender, session_factory)
    assert click(app, message, first, ActionId.DIGEST_CLOSE_WORKED, "UOWNER") == 200
    # The store's Conflict goes to the app's one error handler (with process_before_response
    # Bolt answers that 500; in production the ack has already gone out).
    click(app, message, first, ActionId.DIGEST_CLOSE_ABANDONED, APPROVER)
    (told,) = fake_slack.calls("chat.postEphemeral")
    assert "already closed" in told["args"]["text"]
    assert _review(session_factory, first).closed_reason is not None
    assert len(_decisions(session_factory, first)) == 1


def test_a_click_in_the_ephemeral_preview_replaces_it_through_response_url(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
    sender: Callable[..., SendReport],
) -> None:
    app, _ = bolt
    fake_slack.respond("actions.respond", lambda fake, call: {"ok": True})
    message, (first, _second) = _posted_digest(fake_slack, sender, session_factory)
    block_id = f"{DigestBlockId.ACTIONS}:{first}"
    payload = s.block_actions_payload(
        [s.button(ActionId.DIGEST_SNOOZE, f'{{"r":{first}}}', block_id=block_id)],
        user_id="UOWNER",
        channel_id="C1",
        message_ts=message["ts"],
        message={"blocks": message["blocks"]},
    )
    payload["container"]["is_ephemeral"] = True
    payload["response_url"] = f"{fake_slack.api_url}actions.respond"
    assert dispatch(app, s.signed_interaction(SECRET, payload)) == 200
    (replaced,) = fake_slack.calls("actions.respond")
    assert replaced["args"]["replace_original"] is True
    assert any(
        b.get("block_id") == f"{DigestBlockId.DONE}:{first}" for b in replaced["args"]["blocks"]
    )
    assert fake_slack.calls("chat.update") == []


# -- /ladder digest [on|off] ------------------------------------------------------------------


class Responses:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kw: Any) -> None:
        self.calls.append(kw)


def command(user: str = "UOWNER", channel: str = "C1") -> dict[str, Any]:
    return s.command_payload(text="digest", user_id=user, channel_id=channel)


def test_ladder_digest_shows_this_channels_digest_to_the_caller(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    _, ctx = bolt
    seed(session_factory, {"C1": 2, "C2": 5})
    respond = Responses()
    handle_digest_command(ctx, make_web_client(ctx.settings), command(), [], respond)  # type: ignore[arg-type]
    (shown,) = respond.calls
    assert shown["response_type"] == "ephemeral"
    item_ids = [
        b["block_id"]
        for b in shown["blocks"]
        if b.get("block_id", "").startswith(f"{DigestBlockId.ITEM}:")
    ]
    assert len(item_ids) == 2  # this channel's, not C2's
    assert "Only you can see this" in str(shown["blocks"][2])
    assert fake_slack.calls("chat.postMessage") == []

    quiet = Responses()
    handle_digest_command(ctx, make_web_client(ctx.settings), command(channel="C9"), [], quiet)  # type: ignore[arg-type]
    assert "Nothing is waiting" in quiet.calls[0]["text"]


def test_a_long_preview_stays_within_five_responses(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    _, ctx = bolt
    seed(session_factory, {"C1": 150})
    respond = Responses()
    handle_digest_command(ctx, make_web_client(ctx.settings), command(), [], respond)  # type: ignore[arg-type]
    assert len(respond.calls) == 5
    shown = sum(
        1
        for call in respond.calls[:4]
        for b in call["blocks"]
        if b.get("block_id", "").startswith(f"{DigestBlockId.ITEM}:")
    )
    assert f"and {150 - shown} more items" in respond.calls[4]["text"]


def test_only_an_approver_turns_the_digest_off_and_on(
    bolt: tuple[App, AppContext],
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    _, ctx = bolt
    client = make_web_client(ctx.settings)
    refused = Responses()
    handle_digest_command(ctx, client, command(user="UOWNER"), ["off"], refused)  # type: ignore[arg-type]
    assert refused.calls[0]["response_type"] == "ephemeral"
    assert "Only an approver" in refused.calls[0]["text"]
    with session_scope(session_factory) as session:
        assert repo.digest_enabled(session=session, team_id="T1", channel_id="C1")

    done = Responses()
    handle_digest_command(ctx, client, command(user=APPROVER), ["OFF"], done)  # type: ignore[arg-type]
    assert done.calls[0]["response_type"] == "in_channel"
    assert f"<@{APPROVER}> turned the weekly ladder digest off" in done.calls[0]["text"]
    with session_scope(session_factory) as session:
        assert not repo.digest_enabled(session=session, team_id="T1", channel_id="C1")
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions == ["digest.off"]

    handle_digest_command(ctx, client, command(user=APPROVER), ["on"], Responses())  # type: ignore[arg-type]
    with session_scope(session_factory) as session:
        assert repo.digest_enabled(session=session, team_id="T1", channel_id="C1")

    usage = Responses()
    handle_digest_command(ctx, client, command(), ["sideways"], usage)  # type: ignore[arg-type]
    assert "digest on" in usage.calls[0]["text"]


def test_slash_command_reaches_the_digest_through_create_app(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    from handlers.app import create_app

    seed(session_factory, {"C1": 1})
    settings = make_settings(fake_slack)
    app = create_app(settings, session_factory=session_factory, token_verification=False)
    req = s.signed_command(
        SECRET,
        text="digest",
        user_id="UOWNER",
        channel_id="C1",
        response_url=f"{fake_slack.api_url}commands.respond",
    )
    assert dispatch(app, req) == 200
    (call,) = fake_slack.wait_for("commands.respond")
    assert call["args"]["response_type"] == "ephemeral"
    assert any(
        b.get("block_id", "").startswith(f"{DigestBlockId.ITEM}:") for b in call["args"]["blocks"]
    )


# -- ladder digest preview | send -------------------------------------------------------------

LADDER = shutil.which("ladder") or str(Path(sys.executable).with_name("ladder"))


def ladder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LADDER_", "DATABASE_URL"))
    }
    return subprocess.run(
        [LADDER, *args], capture_output=True, text=True, timeout=120, env={**clean, **env}
    )


def test_cli_preview_and_send(
    db_url: str,
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    now = datetime.now(UTC)
    with session_scope(session_factory) as session:
        add_review(
            session, channel="C1", title="triage tickets", last_activity_at=now - timedelta(days=5)
        )
        add_review(
            session, channel="C2", title="summarise calls", last_activity_at=now - timedelta(days=6)
        )
    env = {"DATABASE_URL": db_url, "LADDER_TIMEZONE": "Europe/Berlin"}

    preview = ladder("digest", "preview", env=env)
    assert preview.returncode == 0, preview.stderr
    assert "triage tickets" in preview.stdout and "summarise calls" in preview.stdout
    assert fake_slack.calls() == []
    only_other = ladder("digest", "preview", "--team", "T9", env=env)
    assert "Nothing pending" in only_other.stdout

    missing = ladder("digest", "send", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: SLACK_BOT_TOKEN is required but not set"

    env |= {
        "SLACK_BOT_TOKEN": "xoxb-cli",
        "SLACK_API_URL": fake_slack.api_url,
        "LADDER_DIGEST_CHANNEL": DIGEST_CHANNEL,
    }
    first = ladder("digest", "send", env=env)
    assert first.returncode == 0, first.stderr
    assert "3 sent" in first.stdout
    second = ladder("digest", "send", env=env)
    assert second.returncode == 0, second.stderr
    assert "3 already_sent" in second.stdout
    assert Counter(c["args"]["channel"] for c in posts(fake_slack)) == {
        "C1": 1,
        "C2": 1,
        DIGEST_CHANNEL: 1,
    }


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    no_db = ladder("digest", "preview", env=env)
    assert no_db.returncode == 2
    assert no_db.stderr.strip().startswith("error: DATABASE_URL: no SQLite database")
    assert not (tmp_path / "none.db").exists()  # not created by looking
    bad_at = ladder("digest", "preview", "--at", "next monday", env=env)
    assert bad_at.returncode == 2 and bad_at.stderr.count("\n") == 1
    assert "--at" in bad_at.stderr
    bad_zone = ladder("digest", "send", env={**env, "LADDER_TIMEZONE": "Mars/Olympus"})
    assert bad_zone.returncode == 2
    assert bad_zone.stderr.startswith("error: LADDER_TIMEZONE")


def test_digest_job_sends_with_the_real_clock(
    session_factory: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    from handlers.digest import digest_job

    with session_scope(session_factory) as session:
        add_review(session, channel="C1", last_activity_at=datetime.now(UTC) - timedelta(days=4))
    settings = make_settings(fake_slack)
    job = digest_job(settings, session_factory, make_web_client(settings))
    job()
    job()  # a second replica, or a second run the same week: nothing more
    assert Counter(c["args"]["channel"] for c in posts(fake_slack)) == {"C1": 1, DIGEST_CHANNEL: 1}
