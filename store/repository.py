"""Repository functions: every read and write of ladder-bot's tables.

Keyword-only, session first. They add and flush, never commit: the edge owns the transaction
(``store.db.session_scope``). Every query is scoped by ``team_id``; a function handed a
``Review`` trusts that it was fetched with the right team.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Select, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from bot.answers import Answers, CostInputs, Outcome
from bot.errors import Conflict, InvalidInput, NotAllowed
from store.db import json_dumps, utcnow
from store.models import (
    TITLE_MAX,
    Answer,
    AuditEntry,
    ChannelSettings,
    ClosedReason,
    Decision,
    DecisionKind,
    DigestRun,
    DigestStatus,
    Draft,
    DraftSource,
    DraftStatus,
    ProcessedEvent,
    Recommendation,
    Review,
    ReviewSource,
    ReviewStatus,
)

# -- reviews ----------------------------------------------------------------------------------


def create_review(
    *,
    session: Session,
    team_id: str,
    owner_id: str,
    title: str,
    source: ReviewSource,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    root_ts: str | None = None,
) -> Review:
    """A new review in progress. Raises ``Conflict`` if a review already lives in the thread.

    ``root_ts`` (the message showing title, owner and status) defaults to ``thread_ts``."""
    now = utcnow()
    review = Review(
        team_id=team_id,
        owner_id=owner_id,
        title=_title(title),
        source=ReviewSource(source),
        status=ReviewStatus.IN_PROGRESS,
        channel_id=channel_id,
        thread_ts=thread_ts,
        root_ts=root_ts if root_ts is not None else thread_ts,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        question_ts={},
    )
    try:
        with session.begin_nested():
            session.add(review)
    except IntegrityError as exc:
        raise Conflict("A review already lives in this thread.") from exc
    return review


def set_review_thread(
    *,
    session: Session,
    review: Review,
    channel_id: str,
    thread_ts: str,
    root_ts: str | None = None,
) -> None:
    """Record where the review was posted (the edge learns the ts after chat.postMessage)."""
    review.channel_id = channel_id
    review.thread_ts = thread_ts
    review.root_ts = root_ts if root_ts is not None else thread_ts
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict("A review already lives in this thread.") from exc


def set_question_ts(*, session: Session, review: Review, key: str, ts: str) -> None:
    """Remember the message that asked question ``key``, to update it once answered."""
    review.question_ts[key] = ts
    session.flush()


def get_review(*, session: Session, team_id: str, review_id: int) -> Review | None:
    return session.scalars(
        select(Review).where(Review.id == review_id, Review.team_id == team_id)
    ).one_or_none()


def get_review_by_thread(
    *, session: Session, team_id: str, channel_id: str, thread_ts: str
) -> Review | None:
    return session.scalars(
        select(Review).where(
            Review.team_id == team_id,
            Review.channel_id == channel_id,
            Review.thread_ts == thread_ts,
        )
    ).one_or_none()


def list_open_reviews(
    *, session: Session, team_id: str, channel_id: str | None = None
) -> list[Review]:
    """Reviews not closed, most recently active first (``/ladder list``)."""
    stmt = select(Review).where(Review.team_id == team_id, Review.status != ReviewStatus.CLOSED)
    if channel_id is not None:
        stmt = stmt.where(Review.channel_id == channel_id)
    return list(session.scalars(stmt.order_by(Review.last_activity_at.desc(), Review.id.desc())))


def reviews_for_user(
    *, session: Session, team_id: str, user_id: str, include_closed: bool = False
) -> list[Review]:
    """The reviews ``user_id`` owns, most recently active first."""
    stmt = select(Review).where(Review.team_id == team_id, Review.owner_id == user_id)
    if not include_closed:
        stmt = stmt.where(Review.status != ReviewStatus.CLOSED)
    return list(session.scalars(stmt.order_by(Review.last_activity_at.desc(), Review.id.desc())))


def set_status(*, session: Session, review: Review, status: ReviewStatus) -> None:
    review.status = ReviewStatus(status)
    review.last_activity_at = utcnow()
    session.flush()


# -- answers ----------------------------------------------------------------------------------


def record_answer(
    *,
    session: Session,
    review: Review,
    key: str,
    value: Any,
    by: str,
    source_event_id: str | None = None,
    expected_revision: int | None = None,
) -> Answer:
    """Add the next revision of the answer to ``key`` (``None`` records "cleared").

    Two people answering the same question at once both compute the same revision; the
    second insert breaks ``uq_answers_review_id_key_revision`` and gets ``Conflict``.
    ``expected_revision`` is the revision the user saw when they clicked (0: unanswered):
    if the answer moved on since, that is a ``Conflict`` too, even when the two clicks did
    not overlap. Answering ``use_case`` also renames the review.

    On SQLite, writers take turns (``BEGIN IMMEDIATE``), so without ``expected_revision`` the
    later of two simultaneous answers waits and becomes revision 2; pass it from the UI to get
    the same one-winner behaviour on both backends.
    """
    _check_answer_key(key)
    if review.status == ReviewStatus.CLOSED:
        raise Conflict("This review is closed; its answers can no longer change.", field=key)
    current = _current_revision(session=session, review_id=review.id, key=key)
    if expected_revision is not None and current != expected_revision:
        raise Conflict("Someone else answered this question first.", field=key)
    now = utcnow()
    answer = Answer(
        review_id=review.id,
        key=key,
        value=value,
        revision=current + 1,
        answered_by=by,
        answered_at=now,
        source_event_id=source_event_id,
    )
    try:
        with session.begin_nested():
            session.add(answer)
    except IntegrityError as exc:
        raise Conflict("Someone else answered this question first.", field=key) from exc
    if key == "use_case" and isinstance(value, str) and value.strip():
        review.title = _title(value)
    review.last_activity_at = now
    session.flush()
    return answer


def _current_revision(*, session: Session, review_id: int, key: str) -> int:
    revision = session.scalar(
        select(func.max(Answer.revision)).where(Answer.review_id == review_id, Answer.key == key)
    )
    return int(revision or 0)


def _latest_answers(team_id: str, review_id: int) -> Select[Answer]:
    latest = (
        select(Answer.key, func.max(Answer.revision).label("revision"))
        .join(Review, Review.id == Answer.review_id)
        .where(Answer.review_id == review_id, Review.team_id == team_id)
        .group_by(Answer.key)
        .subquery()
    )
    return (
        select(Answer)
        .join(latest, and_(Answer.key == latest.c.key, Answer.revision == latest.c.revision))
        .where(Answer.review_id == review_id)
        .order_by(Answer.key)
    )


def current_answers(*, session: Session, team_id: str, review_id: int) -> dict[str, Any]:
    """The latest answer per key, flat (``{"few_shot": ..., "cost.prompt_tokens": ...}``).

    Cleared answers (latest value ``None``) are left out. A review of another team gives ``{}``.
    """
    return {
        a.key: a.value
        for a in session.scalars(_latest_answers(team_id, review_id))
        if a.value is not None
    }


def current_revisions(*, session: Session, team_id: str, review_id: int) -> dict[str, int]:
    """The latest revision per answered key: what a question's buttons carry as
    ``expected_revision``."""
    return {a.key: a.revision for a in session.scalars(_latest_answers(team_id, review_id))}


def answer_history(
    *, session: Session, team_id: str, review_id: int, key: str | None = None
) -> list[Answer]:
    """Every answer ever given, by key then revision."""
    stmt = (
        select(Answer)
        .join(Review, Review.id == Answer.review_id)
        .where(Answer.review_id == review_id, Review.team_id == team_id)
    )
    if key is not None:
        stmt = stmt.where(Answer.key == key)
    return list(session.scalars(stmt.order_by(Answer.key, Answer.revision)))


# -- recommendations and decisions ------------------------------------------------------------


def add_recommendation(
    *,
    session: Session,
    review: Review,
    outcome: Outcome | str,
    rules: Sequence[str],
    reasons: Sequence[str],
    answers_snapshot: Mapping[str, Any],
    tracks: Sequence[Any] = (),
    next_steps: Sequence[Any] = (),
    cost_inputs: Mapping[str, Any] | None = None,
    cost_report: Mapping[str, Any] | None = None,
) -> Recommendation:
    """Record what the ladder said. The review's ``outcome`` follows; a review in progress
    becomes ``recommended`` (later statuses are the edge's to change with ``set_status``)."""
    if review.status == ReviewStatus.CLOSED:
        raise Conflict("This review is closed.")
    now = utcnow()
    recommendation = Recommendation(
        review_id=review.id,
        outcome=_outcome(outcome),
        rules=list(rules),
        reasons=list(reasons),
        tracks=list(tracks),
        next_steps=list(next_steps),
        answers_snapshot=dict(answers_snapshot),
        cost_inputs=dict(cost_inputs) if cost_inputs is not None else None,
        cost_report=dict(cost_report) if cost_report is not None else None,
        created_at=now,
    )
    session.add(recommendation)
    review.outcome = recommendation.outcome
    if review.status == ReviewStatus.IN_PROGRESS:
        review.status = ReviewStatus.RECOMMENDED
    review.last_activity_at = now
    session.flush()
    return recommendation


def latest_recommendation(
    *, session: Session, team_id: str, review_id: int
) -> Recommendation | None:
    return session.scalars(
        select(Recommendation)
        .join(Review, Review.id == Recommendation.review_id)
        .where(Recommendation.review_id == review_id, Review.team_id == team_id)
        .order_by(Recommendation.id.desc())
        .limit(1)
    ).first()


def latest_decision(*, session: Session, team_id: str, review_id: int) -> Decision | None:
    return session.scalars(
        select(Decision)
        .join(Review, Review.id == Decision.review_id)
        .where(Decision.review_id == review_id, Review.team_id == team_id)
        .order_by(Decision.id.desc())
        .limit(1)
    ).first()


_STATUS_AFTER = {
    DecisionKind.ACCEPTED: ReviewStatus.ACCEPTED,
    DecisionKind.OVERRIDDEN: ReviewStatus.OVERRIDDEN,
    DecisionKind.PARKED: ReviewStatus.PARKED,
    DecisionKind.CLOSED: ReviewStatus.CLOSED,
}


def add_decision(
    *,
    session: Session,
    review: Review,
    kind: DecisionKind,
    decided_by: str,
    approvers: Collection[str] | None = None,
    recommendation: Recommendation | None = None,
    chosen_outcome: Outcome | str | None = None,
    reason: str | None = None,
    follow_up_on: date | None = None,
    snoozed_until: datetime | None = None,
    closed_reason: ClosedReason | None = None,
    expected_status: ReviewStatus | None = None,
    today: date | None = None,
) -> Decision:
    """Record a decision on the review and move its status.

    - only the owner or one of ``approvers`` may decide (``NotAllowed``); pass ``None`` only
      when the caller has already checked;
    - the decision refers to ``recommendation`` (default: the review's latest);
    - ``accepted`` takes that recommendation's outcome;
    - ``overridden`` needs ``chosen_outcome`` and a non-blank ``reason``;
    - ``parked`` needs ``follow_up_on``, not before ``today`` (default: today in UTC; the
      edge passes today in LADDER_TIMEZONE);
    - ``closed`` needs ``closed_reason`` and ends the review;
    - ``snoozed`` needs ``snoozed_until`` in the future and leaves the status alone.

    The review row is locked first (``FOR UPDATE`` on PostgreSQL), so two people deciding at
    once are serialized; pass ``expected_status`` (the status the deciding user saw) to turn
    the second into a ``Conflict`` instead of a silent overwrite.
    """
    kind = DecisionKind(kind)
    if approvers is not None and decided_by != review.owner_id and decided_by not in approvers:
        raise NotAllowed("Only the review's owner or an approver can decide on it.")
    _lock_review(session, review)
    if review.status == ReviewStatus.CLOSED:
        raise Conflict("This review is already closed.")
    if expected_status is not None and review.status != expected_status:
        raise Conflict(f"Someone else changed this review first: it is now {review.status}.")

    now = utcnow()
    if recommendation is None:
        recommendation = latest_recommendation(
            session=session, team_id=review.team_id, review_id=review.id
        )
    elif recommendation.review_id != review.id:
        raise ValueError("the recommendation belongs to another review")
    decision = Decision(
        review_id=review.id,
        recommendation_id=recommendation.id if recommendation is not None else None,
        kind=kind,
        decided_by=decided_by,
        decided_at=now,
        reason=reason.strip() if reason and reason.strip() else None,
    )
    if kind in (DecisionKind.ACCEPTED, DecisionKind.OVERRIDDEN) and recommendation is None:
        raise InvalidInput("There is no recommendation to decide on yet.", field="kind")

    if kind == DecisionKind.ACCEPTED:
        assert recommendation is not None
        if chosen_outcome is not None and _outcome(chosen_outcome) != recommendation.outcome:
            raise InvalidInput(
                "Accepting takes the recommended outcome; override to choose another.",
                field="chosen_outcome",
            )
        decision.chosen_outcome = recommendation.outcome
    elif kind == DecisionKind.OVERRIDDEN:
        if chosen_outcome is None:
            raise InvalidInput(
                "Pick the outcome you are going with instead.", field="chosen_outcome"
            )
        decision.chosen_outcome = _outcome(chosen_outcome)
        if decision.reason is None:
            raise InvalidInput("Say why you are overriding the recommendation.", field="reason")
    elif kind == DecisionKind.PARKED:
        if follow_up_on is None:
            raise InvalidInput("Pick a date to follow up on.", field="follow_up_on")
        if follow_up_on < (today or now.date()):
            raise InvalidInput("The follow-up date is in the past.", field="follow_up_on")
        decision.follow_up_on = follow_up_on
    elif kind == DecisionKind.CLOSED:
        if closed_reason is None:
            raise InvalidInput("Say whether it worked or was abandoned.", field="closed_reason")
        review.closed_reason = ClosedReason(closed_reason)
    elif kind == DecisionKind.SNOOZED:
        if snoozed_until is None:
            raise InvalidInput("Pick when the snooze ends.", field="snoozed_until")
        if snoozed_until <= now:
            raise InvalidInput("The snooze must end in the future.", field="snoozed_until")
        decision.snoozed_until = snoozed_until

    session.add(decision)
    if kind == DecisionKind.SNOOZED:
        review.snoozed_until = snoozed_until
    else:
        review.status = _STATUS_AFTER[kind]
        review.follow_up_on = follow_up_on if kind == DecisionKind.PARKED else None
    review.last_activity_at = now
    session.flush()
    return decision


def _lock_review(session: Session, review: Review) -> None:
    # Re-read the row under a lock: a decision made meanwhile is seen, not overwritten.
    # (SQLite has no FOR UPDATE; its transactions already hold the write lock.)
    session.scalars(
        select(Review)
        .where(Review.id == review.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()  # fetched, not just executed: rows refresh the object as they are loaded


# -- audit log --------------------------------------------------------------------------------


def add_audit(
    *,
    session: Session,
    team_id: str,
    actor: str,
    action: str,
    detail: Mapping[str, Any] | None = None,
    review_id: int | None = None,
) -> AuditEntry:
    """Append to the audit log (the only write it accepts)."""
    entry = AuditEntry(
        team_id=team_id,
        review_id=review_id,
        actor=actor,
        action=action,
        detail=dict(detail or {}),
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def audit_entries(
    *, session: Session, team_id: str, review_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries first."""
    stmt = select(AuditEntry).where(AuditEntry.team_id == team_id)
    if review_id is not None:
        stmt = stmt.where(AuditEntry.review_id == review_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))


# -- Slack retries ----------------------------------------------------------------------------


def mark_event_processed(*, session: Session, team_id: str, event_id: str, kind: str) -> bool:
    """Record that an event is being handled: ``True`` the first time, ``False`` for a retry
    (or for a concurrent delivery of the same event, which waits for the first to commit)."""
    try:
        with session.begin_nested():
            session.execute(
                insert(ProcessedEvent).values(
                    team_id=team_id, event_id=event_id, kind=kind, received_at=utcnow()
                )
            )
    except IntegrityError:
        return False
    return True


# -- prompt drafts ----------------------------------------------------------------------------


def hash_inputs(inputs: Mapping[str, Any]) -> str:
    """sha256 hex of the inputs as canonical JSON (sorted keys, decimals as strings)."""
    canonical = json_dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def next_draft_version(*, session: Session, team_id: str, review_id: int | None) -> int:
    """1 + the highest version so far: per review, or per team for drafts without a review."""
    review_filter = Draft.review_id.is_(None) if review_id is None else Draft.review_id == review_id
    version = session.scalar(
        select(func.max(Draft.version)).where(Draft.team_id == team_id, review_filter)
    )
    return int(version or 0) + 1


def add_draft(
    *,
    session: Session,
    team_id: str,
    review: Review | None,
    source: DraftSource,
    inputs: Mapping[str, Any],
    created_by: str,
    status: DraftStatus = DraftStatus.OK,
    model: str | None = None,
    result: Mapping[str, Any] | None = None,
    prompt_text: str | None = None,
    tokens_before: int | None = None,
    tokens_after: int | None = None,
    token_method: str | None = None,
    latency_ms: int | None = None,
    cost_usd: Decimal | None = None,
    error: str | None = None,
) -> Draft:
    """Record one drafting attempt as the next version for its review."""
    if review is not None and review.team_id != team_id:
        raise ValueError("the review belongs to another team")
    if cost_usd is not None and not isinstance(cost_usd, Decimal):
        raise TypeError("cost_usd must be a Decimal: money is never a float")
    review_id = review.id if review is not None else None
    for _attempt in range(3):
        draft = Draft(
            team_id=team_id,
            review_id=review_id,
            version=next_draft_version(session=session, team_id=team_id, review_id=review_id),
            source=DraftSource(source),
            model=model,
            inputs_hash=hash_inputs(inputs),
            inputs=dict(inputs),
            result=dict(result) if result is not None else None,
            prompt_text=prompt_text,
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            token_method=token_method,
            latency_ms=latency_ms,
            cost_usd=cost_usd,
            status=DraftStatus(status),
            error=error,
            created_by=created_by,
            created_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(draft)
        except IntegrityError:
            continue  # someone saved a draft of the same review meanwhile: take the next one
        return draft
    raise Conflict("Others are drafting for this review right now; try again.")


def list_drafts(*, session: Session, team_id: str, review_id: int | None) -> list[Draft]:
    """Drafts of one review (or the team's drafts without a review), oldest version first."""
    review_filter = Draft.review_id.is_(None) if review_id is None else Draft.review_id == review_id
    return list(
        session.scalars(
            select(Draft).where(Draft.team_id == team_id, review_filter).order_by(Draft.version)
        )
    )


def find_draft_by_inputs(*, session: Session, team_id: str, inputs_hash: str) -> Draft | None:
    """The newest successful draft made from the same inputs, to reuse instead of paying again."""
    return session.scalars(
        select(Draft)
        .where(
            Draft.team_id == team_id,
            Draft.inputs_hash == inputs_hash,
            Draft.status == DraftStatus.OK,
        )
        .order_by(Draft.id.desc())
        .limit(1)
    ).first()


# -- the weekly digest ------------------------------------------------------------------------


def claim_digest(
    *,
    session: Session,
    team_id: str,
    channel_id: str,
    week: date,
    claimer: str,
    stale_after: timedelta,
    now: datetime | None = None,
) -> bool:
    """Claim this week's digest for ``channel_id``: ``True`` if ``claimer`` may send it.

    The first claimer inserts the row. A claim older than ``stale_after`` that was never
    sent (its worker died) is taken over by a conditional UPDATE; of two workers trying at
    once, exactly one sees its row count at 1. A sent digest is never claimed again.
    Commit right after claiming, so that other workers see the claim.
    """
    if week.weekday() != 0:
        raise ValueError(f"week must be a Monday, not {week:%A} {week}")
    if stale_after <= timedelta(0):
        raise ValueError("stale_after must be positive")
    now = now or utcnow()
    try:
        with session.begin_nested():
            session.execute(
                insert(DigestRun).values(
                    team_id=team_id,
                    channel_id=channel_id,
                    week=week,
                    status=DigestStatus.CLAIMED,
                    claimed_by=claimer,
                    claimed_at=now,
                )
            )
        return True
    except IntegrityError:
        pass
    taken = _update_digest_run(
        session,
        (team_id, channel_id, week),
        (DigestRun.status == DigestStatus.CLAIMED, DigestRun.claimed_at < now - stale_after),
        {"claimed_by": claimer, "claimed_at": now},
    )
    return taken


def mark_digest_sent(
    *,
    session: Session,
    team_id: str,
    channel_id: str,
    week: date,
    claimer: str,
    message_ts: Sequence[str],
    now: datetime | None = None,
) -> None:
    """Mark the digest sent. ``Conflict`` if ``claimer`` no longer holds the claim (it went
    stale and another worker took it over)."""
    done = _update_digest_run(
        session,
        (team_id, channel_id, week),
        (DigestRun.status == DigestStatus.CLAIMED, DigestRun.claimed_by == claimer),
        {"status": DigestStatus.SENT, "sent_at": now or utcnow(), "message_ts": list(message_ts)},
    )
    if not done:
        raise Conflict("Another worker took over this week's digest.")


def release_digest(
    *, session: Session, team_id: str, channel_id: str, week: date, claimer: str
) -> bool:
    """Give up a claim that failed to send, so the next run can try at once."""
    run = session.get(DigestRun, (team_id, channel_id, week))
    if run is None or run.status != DigestStatus.CLAIMED or run.claimed_by != claimer:
        return False
    session.delete(run)
    session.flush()
    return True


def get_digest_run(
    *, session: Session, team_id: str, channel_id: str, week: date
) -> DigestRun | None:
    return session.get(DigestRun, (team_id, channel_id, week))


def _update_digest_run(
    session: Session,
    pk: tuple[str, str, date],
    conditions: tuple[Any, ...],
    values: dict[str, Any],
) -> bool:
    team_id, channel_id, week = pk
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(DigestRun)
            .where(
                DigestRun.team_id == team_id,
                DigestRun.channel_id == channel_id,
                DigestRun.week == week,
                *conditions,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    loaded = session.identity_map.get(identity_key(DigestRun, pk))
    if loaded is not None:
        session.expire(loaded)
    return result.rowcount == 1


def set_digest_enabled(
    *, session: Session, team_id: str, channel_id: str, enabled: bool, by: str
) -> ChannelSettings:
    """``/ladder digest on|off`` in a channel."""
    row = session.get(ChannelSettings, (team_id, channel_id))
    if row is None:
        row = ChannelSettings(
            team_id=team_id,
            channel_id=channel_id,
            digest_enabled=enabled,
            updated_by=by,
            updated_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            row = session.get(ChannelSettings, (team_id, channel_id), populate_existing=True)
            assert row is not None  # the concurrent insert we collided with
    row.digest_enabled = enabled
    row.updated_by = by
    row.updated_at = utcnow()
    session.flush()
    return row


def digest_enabled(*, session: Session, team_id: str, channel_id: str) -> bool:
    """On unless turned off in the channel."""
    enabled = session.scalar(
        select(ChannelSettings.digest_enabled).where(
            ChannelSettings.team_id == team_id, ChannelSettings.channel_id == channel_id
        )
    )
    return True if enabled is None else bool(enabled)


def digest_disabled_channels(*, session: Session, team_id: str) -> set[str]:
    return set(
        session.scalars(
            select(ChannelSettings.channel_id).where(
                ChannelSettings.team_id == team_id, ChannelSettings.digest_enabled.is_(False)
            )
        )
    )


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One open review as the digest composer sees it."""

    review: Review
    recommendation: Recommendation | None
    decision: Decision | None


def reviews_for_digest(
    *, session: Session, team_id: str | None = None, channel_id: str | None = None
) -> list[DigestItem]:
    """Every review that is not closed (snoozed ones included: the composer decides), with its
    latest recommendation and decision. Three queries however many reviews there are."""
    open_reviews = select(Review.id).where(Review.status != ReviewStatus.CLOSED)
    if team_id is not None:
        open_reviews = open_reviews.where(Review.team_id == team_id)
    if channel_id is not None:
        open_reviews = open_reviews.where(Review.channel_id == channel_id)

    reviews = session.scalars(
        select(Review)
        .where(Review.id.in_(open_reviews))
        .order_by(Review.team_id, Review.last_activity_at, Review.id)
    ).all()
    if not reviews:
        return []
    recommendations = {
        r.review_id: r
        for r in session.scalars(
            select(Recommendation).where(
                Recommendation.id.in_(
                    select(func.max(Recommendation.id))
                    .where(Recommendation.review_id.in_(open_reviews))
                    .group_by(Recommendation.review_id)
                )
            )
        )
    }
    decisions = {
        d.review_id: d
        for d in session.scalars(
            select(Decision).where(
                Decision.id.in_(
                    select(func.max(Decision.id))
                    .where(Decision.review_id.in_(open_reviews))
                    .group_by(Decision.review_id)
                )
            )
        )
    }
    return [
        DigestItem(review=r, recommendation=recommendations.get(r.id), decision=decisions.get(r.id))
        for r in reviews
    ]


# -- validation helpers -----------------------------------------------------------------------


def _title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InvalidInput("The use case must not be blank.", field="title")
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            f"The use case must be at most {TITLE_MAX} characters (got {len(title)}).",
            field="title",
        )
    return title


def _outcome(value: Outcome | str) -> str:
    try:
        return Outcome(value).value
    except ValueError:
        raise InvalidInput(f"{value!r} is not a ladder outcome.", field="outcome") from None


def _check_answer_key(key: str) -> None:
    if key.startswith("cost."):
        known = key.removeprefix("cost.") in CostInputs.model_fields
    else:
        known = key in Answers.model_fields
    if not known:
        raise InvalidInput(f"{key}: unknown answer key", field=key)


__all__ = [
    "DigestItem",
    "add_audit",
    "add_decision",
    "add_draft",
    "add_recommendation",
    "answer_history",
    "audit_entries",
    "claim_digest",
    "create_review",
    "current_answers",
    "current_revisions",
    "digest_disabled_channels",
    "digest_enabled",
    "find_draft_by_inputs",
    "get_digest_run",
    "get_review",
    "get_review_by_thread",
    "hash_inputs",
    "latest_decision",
    "latest_recommendation",
    "list_drafts",
    "list_open_reviews",
    "mark_digest_sent",
    "mark_event_processed",
    "next_draft_version",
    "record_answer",
    "release_digest",
    "reviews_for_digest",
    "reviews_for_user",
    "set_digest_enabled",
    "set_question_ts",
    "set_review_thread",
    "set_status",
]
