"""The store on SQLite and PostgreSQL: round trips, team scoping, history, races, guards."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, delete, event, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import Conflict, InvalidInput, NotAllowed
from store import repository as repo
from store.db import (
    ensure_sqlite_schema,
    head_revision,
    is_sqlite,
    json_dumps,
    make_engine,
    normalize_url,
    schema_revision,
    session_scope,
    utcnow,
)
from store.models import (
    Answer,
    AuditEntry,
    AuditLogIsAppendOnly,
    ClosedReason,
    Decision,
    DecisionKind,
    DigestRun,
    DigestStatus,
    DraftSource,
    DraftStatus,
    Review,
    ReviewSource,
    ReviewStatus,
)

TEAM = "T1"
OTHER_TEAM = "T2"
OWNER = "U_OWNER"
MONDAY = date(2025, 11, 17)

T = TypeVar("T")
_thread_numbers = itertools.count(1)


def new_review(
    session: Session,
    *,
    team_id: str = TEAM,
    channel_id: str | None = "C1",
    thread_ts: str | None = None,
    title: str = "Summarize support tickets",
    owner_id: str = OWNER,
) -> Review:
    if channel_id is not None and thread_ts is None:
        thread_ts = f"1712345678.{next(_thread_numbers):06d}"
    return repo.create_review(
        session=session,
        team_id=team_id,
        owner_id=owner_id,
        title=title,
        source=ReviewSource.SLACK if channel_id else ReviewSource.CLI,
        channel_id=channel_id,
        thread_ts=thread_ts,
    )


def recommend(session: Session, review: Review, outcome: str = "R2_FEW_SHOT") -> Any:
    return repo.add_recommendation(
        session=session,
        review=review,
        outcome=outcome,
        rules=["P2", "F1"],
        reasons=["few-shot not tried"],
        answers_snapshot={"few_shot": "not_tried"},
        tracks=["R3_RAG"],
        next_steps=["write 5 examples"],
    )


def run_together(workers: list[Callable[[], T]]) -> list[T | BaseException]:
    """Start the callables at the same moment on their own threads; results or exceptions.

    The barrier is passed before any database work: on SQLite a thread inside a transaction
    holds the write lock, so waiting there would stall the others.
    """
    barrier = threading.Barrier(len(workers))

    def run(work: Callable[[], T]) -> T | BaseException:
        barrier.wait(timeout=10)
        try:
            return work()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        return list(pool.map(run, workers))


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- engine, sessions, time -------------------------------------------------------------------


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC


def test_sqlite_engine_has_foreign_keys_and_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_url_helpers() -> None:
    assert is_sqlite("sqlite:///ladder.db")
    assert not is_sqlite("postgresql://u:p@h/db")
    assert normalize_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u:p@h/db").drivername == "postgresql+psycopg"


def test_json_money_is_a_decimal_string() -> None:
    assert json_dumps({"usd": Decimal("0.10")}) == '{"usd": "0.10"}'


def test_ensure_sqlite_schema_creates_the_file_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'ladder.db'}"
    ensure_sqlite_schema(url)
    ensure_sqlite_schema(url)
    assert schema_revision(url) == head_revision()
    ensure_sqlite_schema("postgresql+psycopg://nobody@127.0.0.1:1/none")  # not SQLite: no-op


def test_session_scope_commits_or_rolls_back(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as s:
        review_id = new_review(s).id
    with pytest.raises(RuntimeError), session_scope(session_factory) as s:
        new_review(s, title="rolled back")
        raise RuntimeError("boom")
    with session_scope(session_factory) as s:
        titles = [r.title for r in repo.list_open_reviews(session=s, team_id=TEAM)]
        assert titles == ["Summarize support tickets"]
        assert repo.get_review(session=s, team_id=TEAM, review_id=review_id) is not None


def test_datetimes_round_trip_as_aware_utc(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    review = new_review(session)
    plus_five = timezone(timedelta(hours=5))
    review.snoozed_until = datetime(2025, 11, 20, 14, 30, tzinfo=plus_five)
    session.commit()
    with session_factory() as other:
        loaded = repo.get_review(session=other, team_id=TEAM, review_id=review.id)
        assert loaded is not None
        assert loaded.snoozed_until == datetime(2025, 11, 20, 9, 30, tzinfo=UTC)
        assert loaded.snoozed_until.tzinfo == UTC
        assert loaded.created_at.tzinfo == UTC
        # Comparisons in SQL agree with Python's.
        found = other.scalars(
            select(Review.id).where(Review.snoozed_until > datetime(2025, 11, 20, 9, tzinfo=UTC))
        ).all()
        assert found == [review.id]


def test_naive_datetimes_are_refused(session: Session) -> None:
    review = new_review(session)
    review.snoozed_until = datetime(2025, 11, 20, 14, 30)  # naive, on purpose
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


# -- reviews ----------------------------------------------------------------------------------


def test_review_round_trip(session: Session, session_factory: sessionmaker[Session]) -> None:
    review = repo.create_review(
        session=session,
        team_id=TEAM,
        owner_id=OWNER,
        title="  Classify invoices  ",
        source=ReviewSource.SLACK,
        channel_id="C1",
        thread_ts="1712345678.000100",
    )
    repo.set_question_ts(session=session, review=review, key="few_shot", ts="1712345678.000200")
    session.commit()

    with session_factory() as other:
        loaded = repo.get_review_by_thread(
            session=other, team_id=TEAM, channel_id="C1", thread_ts="1712345678.000100"
        )
        assert loaded is not None
        assert loaded.id == review.id
        assert loaded.title == "Classify invoices"
        assert loaded.status is ReviewStatus.IN_PROGRESS
        assert loaded.source is ReviewSource.SLACK
        assert loaded.root_ts == "1712345678.000100"
        assert loaded.question_ts == {"few_shot": "1712345678.000200"}
        assert loaded.outcome is None and loaded.closed_reason is None
        assert loaded.created_at <= utcnow()


def test_set_review_thread_after_posting(session: Session) -> None:
    review = new_review(session, channel_id=None)
    assert review.thread_ts is None and review.source is ReviewSource.CLI
    repo.set_review_thread(session=session, review=review, channel_id="C9", thread_ts="1.1")
    assert (
        repo.get_review_by_thread(session=session, team_id=TEAM, channel_id="C9", thread_ts="1.1")
        is review
    )
    other = new_review(session, channel_id=None)
    with pytest.raises(Conflict):
        repo.set_review_thread(session=session, review=other, channel_id="C9", thread_ts="1.1")


def test_one_review_per_thread_but_any_number_in_terminals(session: Session) -> None:
    new_review(session, thread_ts="100.1")
    with pytest.raises(Conflict, match="already lives in this thread"):
        new_review(session, thread_ts="100.1")
    # The savepoint kept the session usable; terminal reviews have no thread and never collide.
    new_review(session, channel_id=None)
    new_review(session, channel_id=None)
    new_review(session, team_id=OTHER_TEAM, thread_ts="100.1")
    session.commit()
    assert len(repo.list_open_reviews(session=session, team_id=TEAM)) == 3


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_review_title_is_validated(session: Session, title: str) -> None:
    with pytest.raises(InvalidInput) as err:
        new_review(session, title=title)
    assert err.value.field == "title"


def test_team_scoping(session: Session) -> None:
    review = new_review(session, thread_ts="5.5")
    repo.record_answer(session=session, review=review, key="few_shot", value="not_tried", by="U1")
    recommend(session, review)
    repo.add_decision(
        session=session, review=review, kind=DecisionKind.ACCEPTED, decided_by=OWNER, approvers=()
    )
    session.commit()

    kw: dict[str, Any] = {"session": session, "team_id": OTHER_TEAM, "review_id": review.id}
    assert repo.get_review(**kw) is None
    assert repo.current_answers(**kw) == {}
    assert repo.current_revisions(**kw) == {}
    assert repo.answer_history(**kw) == []
    assert repo.latest_recommendation(**kw) is None
    assert repo.latest_decision(**kw) is None
    assert (
        repo.get_review_by_thread(
            session=session, team_id=OTHER_TEAM, channel_id="C1", thread_ts="5.5"
        )
        is None
    )
    assert repo.list_open_reviews(session=session, team_id=OTHER_TEAM) == []
    assert repo.reviews_for_user(session=session, team_id=OTHER_TEAM, user_id=OWNER) == []
    assert repo.reviews_for_digest(session=session, team_id=OTHER_TEAM) == []
    # ...and the right team sees it all.
    kw["team_id"] = TEAM
    assert repo.get_review(**kw) is review
    assert repo.current_answers(**kw) == {"few_shot": "not_tried"}


def test_listing_reviews(session: Session) -> None:
    a = new_review(session, channel_id="C1", title="a")
    b = new_review(session, channel_id="C2", title="b")
    c = new_review(session, channel_id="C1", title="c", owner_id="U_OTHER")
    closed = new_review(session, channel_id="C1", title="closed")
    repo.set_status(session=session, review=closed, status=ReviewStatus.CLOSED)
    repo.record_answer(session=session, review=a, key="few_shot", value="not_tried", by="U1")
    session.commit()

    listed = repo.list_open_reviews(session=session, team_id=TEAM)
    assert [r.title for r in listed] == ["a", "c", "b"]  # most recently active first
    assert [
        r.title for r in repo.list_open_reviews(session=session, team_id=TEAM, channel_id="C1")
    ] == [
        "a",
        "c",
    ]
    mine = repo.reviews_for_user(session=session, team_id=TEAM, user_id=OWNER)
    assert {r.id for r in mine} == {a.id, b.id}
    everything = repo.reviews_for_user(
        session=session, team_id=TEAM, user_id=OWNER, include_closed=True
    )
    assert {r.id for r in everything} == {a.id, b.id, closed.id}
    assert c not in mine


# -- answers ----------------------------------------------------------------------------------


def test_answer_history_is_kept_and_current_takes_the_latest(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    review = new_review(session)
    first = repo.record_answer(
        session=session, review=review, key="few_shot", value="not_tried", by="U1"
    )
    repo.record_answer(
        session=session, review=review, key="failure_modes", value=["format"], by="U1"
    )
    second = repo.record_answer(
        session=session,
        review=review,
        key="few_shot",
        value="tried_working",
        by="U2",
        source_event_id="Ev1",
        expected_revision=1,
    )
    repo.record_answer(
        session=session, review=review, key="cost.requests_per_month", value=60000, by="U1"
    )
    repo.record_answer(session=session, review=review, key="latency_critical", value=True, by="U1")
    repo.record_answer(session=session, review=review, key="latency_critical", value=None, by="U1")
    session.commit()
    assert (first.revision, second.revision) == (1, 2)

    with session_factory() as other:
        kw: dict[str, Any] = {"session": other, "team_id": TEAM, "review_id": review.id}
        assert repo.current_answers(**kw) == {
            "cost.requests_per_month": 60000,
            "failure_modes": ["format"],
            "few_shot": "tried_working",
        }
        assert repo.current_revisions(**kw) == {
            "cost.requests_per_month": 1,
            "failure_modes": 1,
            "few_shot": 2,
            "latency_critical": 2,
        }
        history = repo.answer_history(**kw, key="few_shot")
        assert [(a.revision, a.value, a.answered_by) for a in history] == [
            (1, "not_tried", "U1"),
            (2, "tried_working", "U2"),
        ]
        assert history[1].source_event_id == "Ev1"
        assert history[0].answered_at.tzinfo == UTC
        assert len(repo.answer_history(**kw)) == 6
        cleared = repo.answer_history(**kw, key="latency_critical")
        assert [a.value for a in cleared] == [True, None]


def test_answering_bumps_activity_and_use_case_renames(session: Session) -> None:
    review = new_review(session)
    before = review.last_activity_at
    repo.record_answer(session=session, review=review, key="use_case", value=" Triage ", by="U1")
    assert review.title == "Triage"
    assert review.last_activity_at >= before


def test_unknown_answer_key_is_refused(session: Session) -> None:
    review = new_review(session)
    for key in ("nope", "cost.nope"):
        with pytest.raises(InvalidInput) as err:
            repo.record_answer(session=session, review=review, key=key, value=1, by="U1")
        assert err.value.field == key


def test_stale_expected_revision_is_a_conflict(session: Session) -> None:
    review = new_review(session)
    repo.record_answer(
        session=session,
        review=review,
        key="few_shot",
        value="not_tried",
        by="U1",
        expected_revision=0,
    )
    with pytest.raises(Conflict, match="answered this question first") as err:
        repo.record_answer(
            session=session,
            review=review,
            key="few_shot",
            value="tried_failing",
            by="U2",
            expected_revision=0,
        )
    assert err.value.field == "few_shot"
    assert repo.current_answers(session=session, team_id=TEAM, review_id=review.id) == {
        "few_shot": "not_tried"
    }


def test_two_people_answering_at_once_one_wins(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    """Real concurrent sessions, each on its own connection and thread, all having seen the
    question unanswered (revision 0), all computing revision 1: exactly one answer lands."""
    review_id = new_review(session).id
    session.commit()

    def click(user: str, value: str) -> str:
        with session_scope(session_factory) as s:
            review = repo.get_review(session=s, team_id=TEAM, review_id=review_id)
            assert review is not None
            repo.record_answer(
                session=s,
                review=review,
                key="few_shot",
                value=value,
                by=user,
                expected_revision=0,
            )
        return user

    results = run_together(
        [
            lambda: click("U_A", "not_tried"),
            lambda: click("U_B", "tried_failing"),
            lambda: click("U_C", "tried_working"),
        ]
    )
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1, results
    assert len(losers) == 2 and all(isinstance(e, Conflict) for e in losers), results

    with session_factory() as s:
        history = repo.answer_history(session=s, team_id=TEAM, review_id=review_id)
        assert [(a.revision, a.answered_by) for a in history] == [(1, winners[0])]


def test_losing_insert_hits_the_unique_constraint(
    session: Session, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the constraint exists for, made deterministic: B computed revision 1
    before A committed revision 1, then inserts. B gets Conflict; its transaction lives on."""
    review_id = new_review(session).id
    session.commit()
    with session_scope(session_factory) as a:
        review = repo.get_review(session=a, team_id=TEAM, review_id=review_id)
        assert review is not None
        repo.record_answer(session=a, review=review, key="few_shot", value="not_tried", by="U_A")

    monkeypatch.setattr(repo, "_current_revision", lambda **_kw: 0)  # B's stale read
    with session_scope(session_factory) as b:
        review = repo.get_review(session=b, team_id=TEAM, review_id=review_id)
        assert review is not None
        with pytest.raises(Conflict, match="answered this question first"):
            repo.record_answer(
                session=b, review=review, key="few_shot", value="tried_working", by="U_B"
            )
        # Only the savepoint was rolled back: the rest of B's unit of work still commits.
        repo.add_audit(session=b, team_id=TEAM, actor="U_B", action="answer.conflict")

    with session_factory() as s:
        history = repo.answer_history(session=s, team_id=TEAM, review_id=review_id)
        assert [(a.revision, a.answered_by) for a in history] == [(1, "U_A")]
        assert [e.action for e in repo.audit_entries(session=s, team_id=TEAM)] == [
            "answer.conflict"
        ]


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_concurrent_inserts_of_the_same_revision(
    engine: Engine, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """PostgreSQL only: both sessions read revision 0 and are held until both are about to
    insert revision 1, with no ``expected_revision``; the unique constraint alone picks one.
    (SQLite cannot interleave like this: its transactions take the write lock up front.)"""
    review_id = new_review(session).id
    session.commit()
    at_insert = threading.Barrier(2)

    def hold_inserts(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO answers"):
            at_insert.wait(timeout=10)

    def answer(user: str) -> str:
        with session_scope(session_factory) as s:
            review = repo.get_review(session=s, team_id=TEAM, review_id=review_id)
            assert review is not None
            repo.record_answer(session=s, review=review, key="few_shot", value=user, by=user)
        return user

    event.listen(engine, "before_cursor_execute", hold_inserts)
    try:
        results = run_together([lambda: answer("U_A"), lambda: answer("U_B")])
    finally:
        event.remove(engine, "before_cursor_execute", hold_inserts)
    assert sum(isinstance(r, str) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results


# -- recommendations and decisions ------------------------------------------------------------


def test_recommendation_round_trip(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    review = new_review(session)
    repo.add_recommendation(
        session=session,
        review=review,
        outcome="R4_LORA",
        rules=["V1", "L1"],
        reasons=["ratio 12"],
        answers_snapshot={"labeled_examples": 800},
        cost_inputs={"requests_per_month": 1_000_000, "one_time_costs": Decimal("10000")},
        cost_report={"ratio": "12.5", "payback_months": Decimal("6.25"), "flip": None},
    )
    assert review.status is ReviewStatus.RECOMMENDED and review.outcome == "R4_LORA"
    second = recommend(session, review, "STAY_PROMPTING")
    session.commit()
    with session_factory() as other:
        latest = repo.latest_recommendation(session=other, team_id=TEAM, review_id=review.id)
        assert latest is not None and latest.id == second.id
        assert latest.outcome == "STAY_PROMPTING" and latest.tracks == ["R3_RAG"]
        first = other.scalars(select(type(latest)).order_by(type(latest).id)).first()
        assert first is not None
        assert first.cost_inputs == {"requests_per_month": 1_000_000, "one_time_costs": "10000"}
        assert first.cost_report == {"ratio": "12.5", "payback_months": "6.25", "flip": None}
        assert latest.cost_inputs is None and latest.cost_report is None


def test_unknown_outcome_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput):
        recommend(session, new_review(session), "R9_MAGIC")


def test_accept_takes_the_recommended_outcome(session: Session) -> None:
    review = new_review(session)
    with pytest.raises(InvalidInput, match="no recommendation"):
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.ACCEPTED,
            decided_by=OWNER,
            approvers=(),
        )
    rec = recommend(session, review)
    decision = repo.add_decision(
        session=session, review=review, kind=DecisionKind.ACCEPTED, decided_by=OWNER, approvers=()
    )
    assert decision.chosen_outcome == "R2_FEW_SHOT"
    assert decision.recommendation_id == rec.id
    assert review.status is ReviewStatus.ACCEPTED
    assert repo.latest_decision(session=session, team_id=TEAM, review_id=review.id) is decision


def test_only_owner_or_approver_decides(session: Session) -> None:
    review = new_review(session)
    recommend(session, review)
    with pytest.raises(NotAllowed):
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.ACCEPTED,
            decided_by="U_X",
            approvers={"U_BOSS"},
        )
    repo.add_decision(
        session=session,
        review=review,
        kind=DecisionKind.ACCEPTED,
        decided_by="U_BOSS",
        approvers={"U_BOSS"},
    )


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_override_without_reason_is_refused(session: Session, reason: str | None) -> None:
    review = new_review(session)
    recommend(session, review)
    with pytest.raises(InvalidInput) as err:
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.OVERRIDDEN,
            decided_by=OWNER,
            approvers=(),
            chosen_outcome="R3_RAG",
            reason=reason,
        )
    assert err.value.field == "reason"
    assert review.status is ReviewStatus.RECOMMENDED


def test_override_with_reason(session: Session) -> None:
    review = new_review(session)
    recommend(session, review)
    with pytest.raises(InvalidInput) as err:
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.OVERRIDDEN,
            decided_by=OWNER,
            approvers=(),
            reason="we already have a vector store",
        )
    assert err.value.field == "chosen_outcome"
    decision = repo.add_decision(
        session=session,
        review=review,
        kind=DecisionKind.OVERRIDDEN,
        decided_by=OWNER,
        approvers=(),
        chosen_outcome="R3_RAG",
        reason="  we already have a vector store ",
    )
    assert (decision.chosen_outcome, decision.reason) == (
        "R3_RAG",
        "we already have a vector store",
    )
    assert review.status is ReviewStatus.OVERRIDDEN


def test_database_refuses_an_override_without_reason(session: Session) -> None:
    review = new_review(session)
    session.add(
        Decision(
            review_id=review.id,
            kind=DecisionKind.OVERRIDDEN,
            reason="  ",
            decided_by=OWNER,
            chosen_outcome="R3_RAG",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_park_needs_a_follow_up_date(session: Session) -> None:
    review = new_review(session)
    recommend(session, review)
    today = date(2025, 11, 20)
    common: dict[str, Any] = {
        "session": session,
        "review": review,
        "kind": DecisionKind.PARKED,
        "decided_by": OWNER,
        "approvers": (),
        "today": today,
    }
    with pytest.raises(InvalidInput) as err:
        repo.add_decision(**common)
    assert err.value.field == "follow_up_on"
    with pytest.raises(InvalidInput, match="past"):
        repo.add_decision(**common, follow_up_on=today - timedelta(days=1))
    decision = repo.add_decision(**common, follow_up_on=date(2025, 12, 1), reason="Q1 budget")
    assert decision.follow_up_on == date(2025, 12, 1)
    assert review.status is ReviewStatus.PARKED and review.follow_up_on == date(2025, 12, 1)


def test_snooze_keeps_the_status(session: Session) -> None:
    review = new_review(session)
    recommend(session, review)
    until = utcnow() + timedelta(days=7)
    with pytest.raises(InvalidInput):
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.SNOOZED,
            decided_by=OWNER,
            approvers=(),
            snoozed_until=utcnow() - timedelta(minutes=1),
        )
    repo.add_decision(
        session=session,
        review=review,
        kind=DecisionKind.SNOOZED,
        decided_by=OWNER,
        approvers=(),
        snoozed_until=until,
    )
    assert review.status is ReviewStatus.RECOMMENDED and review.snoozed_until == until


def test_closed_review_takes_no_more_answers_or_decisions(session: Session) -> None:
    review = new_review(session)
    with pytest.raises(InvalidInput) as err:
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.CLOSED,
            decided_by=OWNER,
            approvers=(),
        )
    assert err.value.field == "closed_reason"
    repo.add_decision(
        session=session,
        review=review,
        kind=DecisionKind.CLOSED,
        decided_by=OWNER,
        approvers=(),
        closed_reason=ClosedReason.WORKED,
    )
    assert review.status is ReviewStatus.CLOSED and review.closed_reason is ClosedReason.WORKED
    with pytest.raises(Conflict):
        repo.record_answer(session=session, review=review, key="few_shot", value="x", by=OWNER)
    with pytest.raises(Conflict):
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.PARKED,
            decided_by=OWNER,
            approvers=(),
            follow_up_on=date(2099, 1, 1),
        )


def test_decision_on_a_review_changed_meanwhile_is_a_conflict(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    review = new_review(session)
    recommend(session, review)
    session.commit()
    with session_scope(session_factory) as other:
        theirs = repo.get_review(session=other, team_id=TEAM, review_id=review.id)
        assert theirs is not None
        repo.add_decision(
            session=other,
            review=theirs,
            kind=DecisionKind.ACCEPTED,
            decided_by=OWNER,
            approvers=(),
        )
    # ``review`` still says "recommended" in this session; the lock re-reads the row.
    with pytest.raises(Conflict, match="now accepted"):
        repo.add_decision(
            session=session,
            review=review,
            kind=DecisionKind.OVERRIDDEN,
            decided_by=OWNER,
            approvers=(),
            chosen_outcome="R3_RAG",
            reason="we have docs",
            expected_status=ReviewStatus.RECOMMENDED,
        )


# -- audit log --------------------------------------------------------------------------------


def test_audit_log_is_append_only_in_the_orm(session: Session) -> None:
    review = new_review(session)
    entry = repo.add_audit(
        session=session,
        team_id=TEAM,
        actor=OWNER,
        action="review.started",
        detail={"title": review.title},
        review_id=review.id,
    )
    session.commit()
    assert repo.audit_entries(session=session, team_id=TEAM, review_id=review.id) == [entry]

    entry.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()

    session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()

    with pytest.raises(AuditLogIsAppendOnly):
        session.execute(update(AuditEntry).values(action="tampered"))
    with pytest.raises(AuditLogIsAppendOnly):
        session.execute(delete(AuditEntry))
    session.rollback()
    assert session.scalars(select(AuditEntry.action)).all() == ["review.started"]


def test_database_refuses_audit_updates_and_deletes(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (team_id, actor, action, detail, at) "
                "VALUES ('T1', 'U1', 'x', '{}', :at)"
            ),
            {"at": "2025-11-20 10:00:00+00:00"},
        )
    for sql in ("UPDATE audit_log SET action = 'y'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_log")).scalars().all() == ["x"]


# -- Slack retries ----------------------------------------------------------------------------


def test_event_is_processed_once(session: Session, session_factory: sessionmaker[Session]) -> None:
    kw: dict[str, Any] = {"team_id": TEAM, "event_id": "Ev123", "kind": "message"}
    assert repo.mark_event_processed(session=session, **kw) is True
    assert repo.mark_event_processed(session=session, **kw) is False
    session.commit()
    with session_scope(session_factory) as other:
        assert repo.mark_event_processed(session=other, **kw) is False
        assert repo.mark_event_processed(session=other, **{**kw, "team_id": OTHER_TEAM}) is True


def test_concurrent_deliveries_of_one_event(session_factory: sessionmaker[Session]) -> None:
    def deliver() -> bool:
        with session_scope(session_factory) as s:
            return repo.mark_event_processed(
                session=s, team_id=TEAM, event_id="EvRetry", kind="app_mention"
            )

    results = run_together([deliver, deliver, deliver])
    assert sorted(results, key=str) == [False, False, True], results


# -- drafts -----------------------------------------------------------------------------------


def test_drafts_are_versioned_per_review(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    review = new_review(session)
    other_review = new_review(session)
    inputs = {"use_case": "triage", "budget": Decimal("0.50")}
    first = repo.add_draft(
        session=session,
        team_id=TEAM,
        review=review,
        source=DraftSource.LLM,
        inputs=inputs,
        created_by=OWNER,
        model="gpt-4.1-mini",
        result={"prompt": "You are..."},
        prompt_text="You are...",
        tokens_before=120,
        tokens_after=480,
        token_method="tiktoken",
        latency_ms=900,
        cost_usd=Decimal("0.000123"),
    )
    failed = repo.add_draft(
        session=session,
        team_id=TEAM,
        review=review,
        source=DraftSource.LLM,
        inputs=inputs,
        created_by=OWNER,
        status=DraftStatus.FAILED,
        error="timeout",
    )
    elsewhere = repo.add_draft(
        session=session,
        team_id=TEAM,
        review=other_review,
        source=DraftSource.TEMPLATE,
        inputs={},
        created_by=OWNER,
    )
    loose = [
        repo.add_draft(
            session=session,
            team_id=TEAM,
            review=None,
            source=DraftSource.TEMPLATE,
            inputs={"n": n},
            created_by=OWNER,
        )
        for n in range(2)
    ]
    session.commit()
    assert (first.version, failed.version, elsewhere.version) == (1, 2, 1)
    assert [d.version for d in loose] == [1, 2]
    assert first.inputs_hash == repo.hash_inputs({"budget": "0.50", "use_case": "triage"})
    assert len(first.inputs_hash) == 64

    with session_factory() as other:
        drafts = repo.list_drafts(session=other, team_id=TEAM, review_id=review.id)
        assert [d.version for d in drafts] == [1, 2]
        assert drafts[0].cost_usd == Decimal("0.000123")
        assert isinstance(drafts[0].cost_usd, Decimal)
        assert drafts[0].inputs == {"use_case": "triage", "budget": "0.50"}
        assert drafts[1].status is DraftStatus.FAILED and drafts[1].error == "timeout"
        assert repo.list_drafts(session=other, team_id=OTHER_TEAM, review_id=review.id) == []
        assert len(repo.list_drafts(session=other, team_id=TEAM, review_id=None)) == 2
        cached = repo.find_draft_by_inputs(
            session=other, team_id=TEAM, inputs_hash=first.inputs_hash
        )
        assert cached is not None and cached.id == first.id
        assert repo.next_draft_version(session=other, team_id=TEAM, review_id=review.id) == 3


def test_draft_money_is_never_a_float(session: Session) -> None:
    with pytest.raises(TypeError):
        repo.add_draft(
            session=session,
            team_id=TEAM,
            review=None,
            source=DraftSource.LLM,
            inputs={},
            created_by=OWNER,
            cost_usd=0.1,  # type: ignore[arg-type]
        )


# -- the weekly digest ------------------------------------------------------------------------


def claim(session: Session, claimer: str, now: datetime, stale_after: timedelta) -> bool:
    return repo.claim_digest(
        session=session,
        team_id=TEAM,
        channel_id="C_DIGEST",
        week=MONDAY,
        claimer=claimer,
        stale_after=stale_after,
        now=now,
    )


def test_two_claimers_one_digest(session_factory: sessionmaker[Session]) -> None:
    def worker(name: str) -> bool:
        with session_scope(session_factory) as s:
            return claim(s, name, utcnow(), timedelta(hours=1))

    results = run_together([lambda: worker("w1"), lambda: worker("w2"), lambda: worker("w3")])
    assert sorted(results, key=str) == [False, False, True], results
    with session_scope(session_factory) as s:
        # A later claimer, fresh claim: still refused.
        assert claim(s, "w4", utcnow(), timedelta(hours=1)) is False


def test_stale_claim_is_taken_over_and_sent_is_final(
    session_factory: sessionmaker[Session],
) -> None:
    t0 = datetime(2025, 11, 17, 9, 0, tzinfo=UTC)
    stale_after = timedelta(hours=1)
    with session_scope(session_factory) as s:
        assert claim(s, "w1", t0, stale_after) is True
    with session_scope(session_factory) as s:
        assert claim(s, "w2", t0 + timedelta(minutes=30), stale_after) is False
    with session_scope(session_factory) as s:
        assert claim(s, "w2", t0 + timedelta(hours=2), stale_after) is True
        run = repo.get_digest_run(session=s, team_id=TEAM, channel_id="C_DIGEST", week=MONDAY)
        assert run is not None and run.claimed_by == "w2"
        assert run.claimed_at == t0 + timedelta(hours=2)
    with pytest.raises(Conflict), session_scope(session_factory) as s:
        # w1 woke up: it lost the claim and cannot mark the digest sent.
        repo.mark_digest_sent(
            session=s,
            team_id=TEAM,
            channel_id="C_DIGEST",
            week=MONDAY,
            claimer="w1",
            message_ts=["1.1"],
        )
    with session_scope(session_factory) as s:
        repo.mark_digest_sent(
            session=s,
            team_id=TEAM,
            channel_id="C_DIGEST",
            week=MONDAY,
            claimer="w2",
            message_ts=["2.1", "2.2"],
            now=t0 + timedelta(hours=2, minutes=1),
        )
    with session_scope(session_factory) as s:
        assert claim(s, "w3", t0 + timedelta(days=3), stale_after) is False
        run = repo.get_digest_run(session=s, team_id=TEAM, channel_id="C_DIGEST", week=MONDAY)
        assert run is not None
        assert run.status is DigestStatus.SENT and run.message_ts == ["2.1", "2.2"]
        assert run.sent_at == t0 + timedelta(hours=2, minutes=1)


def test_concurrent_takeover_of_a_stale_claim(session_factory: sessionmaker[Session]) -> None:
    t0 = utcnow() - timedelta(hours=3)
    with session_scope(session_factory) as s:
        assert claim(s, "dead", t0, timedelta(hours=1)) is True

    def take_over(name: str) -> bool:
        with session_scope(session_factory) as s:
            return claim(s, name, utcnow(), timedelta(hours=1))

    results = run_together([lambda: take_over("w1"), lambda: take_over("w2")])
    assert sorted(results, key=str) == [False, True], results


def test_released_claim_can_be_claimed_again(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as s:
        assert claim(s, "w1", utcnow(), timedelta(hours=1))
    with session_scope(session_factory) as s:
        pk: dict[str, Any] = {"team_id": TEAM, "channel_id": "C_DIGEST", "week": MONDAY}
        assert repo.release_digest(session=s, claimer="w2", **pk) is False
        assert repo.release_digest(session=s, claimer="w1", **pk) is True
    with session_scope(session_factory) as s:
        assert claim(s, "w2", utcnow(), timedelta(hours=1))
        assert s.scalars(select(DigestRun.claimed_by)).all() == ["w2"]


def test_digest_week_must_be_a_monday(session: Session) -> None:
    with pytest.raises(ValueError, match="Monday"):
        repo.claim_digest(
            session=session,
            team_id=TEAM,
            channel_id="C",
            week=MONDAY + timedelta(days=1),
            claimer="w",
            stale_after=timedelta(hours=1),
        )


def test_digest_can_be_turned_off_per_channel(session: Session) -> None:
    kw: dict[str, Any] = {"session": session, "team_id": TEAM, "channel_id": "C1"}
    assert repo.digest_enabled(**kw) is True
    row = repo.set_digest_enabled(**kw, enabled=False, by=OWNER)
    assert row.digest_enabled is False and row.updated_at.tzinfo == UTC
    session.commit()
    assert repo.digest_enabled(**kw) is False
    assert repo.digest_enabled(session=session, team_id=OTHER_TEAM, channel_id="C1") is True
    assert repo.digest_disabled_channels(session=session, team_id=TEAM) == {"C1"}
    repo.set_digest_enabled(**kw, enabled=True, by="U2")
    session.commit()
    assert repo.digest_enabled(**kw) is True
    assert repo.digest_disabled_channels(session=session, team_id=TEAM) == set()


def test_reviews_for_digest(session: Session, engine: Engine) -> None:
    new_review(session, title="quiet")
    decided = new_review(session, title="decided")
    recommend(session, decided, "R1_PROMPT")
    latest_rec = recommend(session, decided, "R2_FEW_SHOT")
    repo.add_decision(
        session=session,
        review=decided,
        kind=DecisionKind.PARKED,
        decided_by=OWNER,
        approvers=(),
        follow_up_on=date(2099, 1, 1),
    )
    overridden = new_review(session, title="overridden")
    recommend(session, overridden)
    repo.add_decision(
        session=session,
        review=overridden,
        kind=DecisionKind.OVERRIDDEN,
        decided_by=OWNER,
        approvers=(),
        chosen_outcome="R3_RAG",
        reason="docs change weekly",
    )
    last_decision = repo.add_decision(
        session=session,
        review=overridden,
        kind=DecisionKind.SNOOZED,
        decided_by=OWNER,
        approvers=(),
        snoozed_until=utcnow() + timedelta(days=2),
    )
    closed = new_review(session, title="closed")
    repo.add_decision(
        session=session,
        review=closed,
        kind=DecisionKind.CLOSED,
        decided_by=OWNER,
        approvers=(),
        closed_reason=ClosedReason.ABANDONED,
    )
    new_review(session, team_id=OTHER_TEAM, title="elsewhere")
    for n in range(5):  # more reviews must not mean more queries
        recommend(session, new_review(session, title=f"bulk {n}"))
    session.commit()
    session.expunge_all()

    with count_statements(engine) as statements:
        items = repo.reviews_for_digest(session=session, team_id=TEAM)
        by_title = {i.review.title: i for i in items}
        summary = [
            (
                i.review.status,
                i.recommendation and i.recommendation.outcome,
                i.decision and i.decision.kind,
            )
            for i in items
        ]
    assert len(statements) == 3, statements
    assert len(summary) == 8
    assert "closed" not in by_title and "elsewhere" not in by_title
    assert by_title["quiet"].recommendation is None and by_title["quiet"].decision is None
    assert by_title["decided"].recommendation is not None
    assert by_title["decided"].recommendation.id == latest_rec.id
    assert by_title["decided"].decision is not None
    assert by_title["decided"].decision.kind is DecisionKind.PARKED
    assert by_title["overridden"].review.status is ReviewStatus.OVERRIDDEN
    assert by_title["overridden"].decision is not None
    assert by_title["overridden"].decision.id == last_decision.id

    everywhere = repo.reviews_for_digest(session=session)
    assert {i.review.title for i in everywhere} == set(by_title) | {"elsewhere"}
    assert repo.reviews_for_digest(session=session, team_id=TEAM, channel_id="C_NONE") == []


def test_answers_relationship_is_read_only_history(session: Session) -> None:
    review = new_review(session)
    repo.record_answer(session=session, review=review, key="few_shot", value="not_tried", by="U1")
    repo.record_answer(
        session=session, review=review, key="few_shot", value="tried_working", by="U1"
    )
    session.commit()
    session.expire(review)
    assert [a.revision for a in review.answers] == [1, 2]
    assert isinstance(review.answers[0], Answer)
