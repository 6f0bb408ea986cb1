"""The digest's reads and its progress record: one query for every row the composer needs.

``store.repository`` holds the claim (``claim_digest``, ``mark_digest_sent``,
``release_digest``); this module adds the flat, ORM-free load the digest runs on at scale and
the per-message progress that lets a takeover resume instead of posting twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, and_, func, select, update
from sqlalchemy.orm import Session, aliased

from bot.digest import DigestRow
from store.models import (
    Decision,
    DecisionKind,
    DigestRun,
    DigestStatus,
    Recommendation,
    Review,
    ReviewStatus,
)

# The decisions that set what a review is doing; a later snooze or close does not change it.
_STANDING_KINDS = (DecisionKind.ACCEPTED, DecisionKind.OVERRIDDEN, DecisionKind.PARKED)


def digest_rows_statement(
    *, team_id: str | None = None, channel_id: str | None = None
) -> Select[*tuple[Any, ...]]:
    """Every open review posted in a channel, with its latest recommendation and latest
    standing decision (accepted, overridden or parked), as flat columns.

    The latest recommendation and decision are found by ``max(id)`` per review through the
    ``(review_id, id)`` indexes; the composer, not this query, decides what is pending (so the
    rules live in one place, ``bot.digest``).
    """
    rec = aliased(Recommendation)
    dec = aliased(Decision)
    latest_rec = (
        select(func.max(Recommendation.id))
        .where(Recommendation.review_id == Review.id)
        .correlate(Review)
        .scalar_subquery()
    )
    latest_dec = (
        select(func.max(Decision.id))
        .where(Decision.review_id == Review.id, Decision.kind.in_(_STANDING_KINDS))
        .correlate(Review)
        .scalar_subquery()
    )
    stmt: Select[*tuple[Any, ...]] = (
        select(  # in the order of DigestRow's fields
            Review.id,
            Review.team_id,
            Review.channel_id,
            func.coalesce(Review.thread_ts, Review.root_ts),
            Review.owner_id,
            Review.title,
            Review.status,
            Review.outcome,
            Review.last_activity_at,
            Review.snoozed_until,
            func.coalesce(Review.follow_up_on, dec.follow_up_on),
            rec.created_at,
            rec.rules,
            dec.kind,
            dec.decided_at,
            dec.chosen_outcome,
        )
        .select_from(Review)
        .outerjoin(rec, rec.id == latest_rec)
        .outerjoin(dec, dec.id == latest_dec)
        .where(
            Review.status.in_([s for s in ReviewStatus if s is not ReviewStatus.CLOSED]),
            Review.channel_id.is_not(None),
        )
    )
    if team_id is not None:
        stmt = stmt.where(Review.team_id == team_id)
    if channel_id is not None:
        stmt = stmt.where(Review.channel_id == channel_id)
    return stmt


def digest_rows(
    *, session: Session, team_id: str | None = None, channel_id: str | None = None
) -> list[DigestRow]:
    """The composer's input: one query, no ORM objects (a Core result on the session's
    connection, which skips the ORM's per-row work)."""
    result = session.connection().execute(
        digest_rows_statement(team_id=team_id, channel_id=channel_id)
    )
    # Status and decision kind arrive as StrEnum members: they are the str values.
    return [_row(*r) for r in result]


def _row(
    review_id: int,
    team_id: str,
    channel_id: str | None,
    thread_ts: str | None,
    owner_id: str,
    title: str,
    status: str,
    outcome: str | None,
    last_activity_at: datetime,
    snoozed_until: datetime | None,
    follow_up_on: date | None,
    recommended_at: datetime | None,
    rules: list[str] | None,
    decision_kind: str | None,
    decided_at: datetime | None,
    chosen_outcome: str | None,
) -> DigestRow:
    return DigestRow(
        review_id,
        team_id,
        channel_id,
        thread_ts,
        owner_id,
        title,
        status,
        outcome,
        last_activity_at,
        snoozed_until,
        follow_up_on,
        recommended_at,
        tuple(rules or ()),
        decision_kind,
        decided_at,
        chosen_outcome,
    )


def digest_progress(*, session: Session, team_id: str, channel_id: str, week: date) -> list[str]:
    """The ts of the messages already posted for this digest (by a sender that died)."""
    posted = session.scalar(
        select(DigestRun.message_ts).where(
            DigestRun.team_id == team_id,
            DigestRun.channel_id == channel_id,
            DigestRun.week == week,
        )
    )
    return [str(ts) for ts in posted or ()]


def record_digest_progress(
    *,
    session: Session,
    team_id: str,
    channel_id: str,
    week: date,
    claimer: str,
    message_ts: Sequence[str],
) -> bool:
    """Record the messages posted so far while ``claimer`` still holds the claim; ``False``
    when it lost it (a takeover) and should stop posting."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(DigestRun)
            .where(
                and_(
                    DigestRun.team_id == team_id,
                    DigestRun.channel_id == channel_id,
                    DigestRun.week == week,
                    DigestRun.status == DigestStatus.CLAIMED,
                    DigestRun.claimed_by == claimer,
                )
            )
            .values(message_ts=list(message_ts))
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1
