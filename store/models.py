"""The tables of ladder-bot as SQLAlchemy 2 typed models. Alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    mapped_column,
    relationship,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.answers import USE_CASE_MAX
from store.db import utcnow

# Constraint names are part of the schema: migrations refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SLACK_ID = 64  # team, channel and user ids ("T0123ABC", "U0123ABC")
SLACK_TS = 32  # message timestamps ("1712345678.123456")
TITLE_MAX = USE_CASE_MAX  # the review title is the use case answer


# -- column types -----------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: the value is stored as UTC
    and read back with ``tzinfo=UTC``. Naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json(*, none_as_null: bool) -> TypeEngine[Any]:
    """JSON; ``jsonb`` on PostgreSQL (it has equality, so DISTINCT and GROUP BY work)."""
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )


JSONValue = _json(none_as_null=False)  # Python None is stored as JSON null
JSONOrNull = _json(none_as_null=True)  # Python None is stored as SQL NULL

Money = Numeric(14, 6)  # dollars; never Float


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # A VARCHAR with a CHECK constraint holding the enum *values* (not the member names).
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


# -- enums ------------------------------------------------------------------------------------


class ReviewStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    RECOMMENDED = "recommended"
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"
    PARKED = "parked"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(ReviewStatus) - {ReviewStatus.CLOSED}


class ReviewSource(StrEnum):
    SLACK = "slack"
    CLI = "cli"


class ClosedReason(StrEnum):
    WORKED = "worked"
    ABANDONED = "abandoned"


class DecisionKind(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"
    PARKED = "parked"
    CLOSED = "closed"
    SNOOZED = "snoozed"


class DraftSource(StrEnum):
    LLM = "llm"
    TEMPLATE = "template"


class DraftStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class DigestStatus(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"


# -- models -----------------------------------------------------------------------------------


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Review(Base):
    """One use case walked up the ladder, living in one Slack thread (or a terminal)."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "thread_ts"),
        Index("ix_reviews_team_channel_status", "team_id", "channel_id", "status"),
        Index("ix_reviews_team_status_activity", "team_id", "status", "last_activity_at"),
        Index("ix_reviews_team_owner", "team_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    # NULL for reviews run in a terminal; NULLs never collide in the unique constraint.
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    # The thread the review lives in (the ts of its root message); what events are looked up by.
    thread_ts: Mapped[str | None] = mapped_column(String(SLACK_TS))
    # The bot's root message that shows title, owner and status (the one chat.update edits).
    root_ts: Mapped[str | None] = mapped_column(String(SLACK_TS))
    owner_id: Mapped[str] = mapped_column(String(SLACK_ID))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, "review_status"), default=ReviewStatus.IN_PROGRESS
    )
    source: Mapped[ReviewSource] = mapped_column(_enum(ReviewSource, "review_source"))
    outcome: Mapped[str | None] = mapped_column(String(32))  # an ``Outcome`` value
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    closed_reason: Mapped[ClosedReason | None] = mapped_column(_enum(ClosedReason, "closed_reason"))
    # answer key -> ts of the question message in the thread (to update it when answered).
    question_ts: Mapped[dict[str, str]] = mapped_column(
        # A type instance of its own: as_mutable() applies to every column sharing the instance.
        MutableDict.as_mutable(_json(none_as_null=False)),
        default=dict,
    )

    # Read-only views, oldest first: rows are added through store.repository.
    answers: Mapped[list[Answer]] = relationship(order_by="Answer.id", viewonly=True)
    recommendations: Mapped[list[Recommendation]] = relationship(
        order_by="Recommendation.id", viewonly=True
    )
    decisions: Mapped[list[Decision]] = relationship(order_by="Decision.id", viewonly=True)

    @property
    def is_open(self) -> bool:
        return self.status != ReviewStatus.CLOSED

    def __repr__(self) -> str:
        return f"<Review {self.id} team={self.team_id} status={self.status} {self.title!r}>"


class Answer(Base):
    """One answer to one question. A changed answer is a new row with the next revision."""

    __tablename__ = "answers"
    __table_args__ = (
        # Two people answering the same question at once: both compute the same revision and
        # the second insert fails here. That is the whole concurrency story for answers.
        UniqueConstraint("review_id", "key", "revision"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    key: Mapped[str] = mapped_column(String(64))  # "few_shot", "cost.requests_per_month"
    value: Mapped[Any] = mapped_column(JSONValue)
    revision: Mapped[int] = mapped_column(Integer)
    answered_by: Mapped[str] = mapped_column(String(SLACK_ID))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source_event_id: Mapped[str | None] = mapped_column(String(255))

    review: Mapped[Review] = relationship()


class Recommendation(Base):
    """What the ladder said at one point, with the answers it was given."""

    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_recommendations_review_id", "review_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    rules: Mapped[list[str]] = mapped_column(JSONValue)
    reasons: Mapped[list[str]] = mapped_column(JSONValue)
    tracks: Mapped[list[Any]] = mapped_column(JSONValue)
    next_steps: Mapped[list[Any]] = mapped_column(JSONValue)
    answers_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    cost_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONOrNull)
    cost_report: Mapped[dict[str, Any] | None] = mapped_column(JSONOrNull)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    review: Mapped[Review] = relationship()


class Decision(Base):
    """What the team did with a recommendation: accept, override, park, close or snooze."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(
            "kind <> 'overridden' OR (reason IS NOT NULL AND length(trim(reason)) > 0)",
            name="override_has_reason",
        ),
        CheckConstraint("kind <> 'parked' OR follow_up_on IS NOT NULL", name="park_has_follow_up"),
        CheckConstraint("kind <> 'snoozed' OR snoozed_until IS NOT NULL", name="snooze_has_end"),
        Index("ix_decisions_review_id", "review_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    recommendation_id: Mapped[int | None] = mapped_column(ForeignKey("recommendations.id"))
    kind: Mapped[DecisionKind] = mapped_column(_enum(DecisionKind, "decision_kind"))
    chosen_outcome: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(SLACK_ID))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    review: Mapped[Review] = relationship()
    recommendation: Mapped[Recommendation | None] = relationship()


class AuditEntry(Base):
    """Who did what, when. Append-only: see ``_refuse_audit_changes`` and the migration's
    triggers."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_team_at", "team_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"), index=True)
    actor: Mapped[str] = mapped_column(String(SLACK_ID))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedEvent(Base):
    """Slack events (and other deliveries) already handled, so a retry is not handled twice."""

    __tablename__ = "processed_events"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Draft(Base):
    """One attempt at drafting a system prompt (LLM or template), with what it cost."""

    __tablename__ = "drafts"
    __table_args__ = (
        UniqueConstraint("review_id", "version"),
        Index("ix_drafts_team_inputs_hash", "team_id", "inputs_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[DraftSource] = mapped_column(_enum(DraftSource, "draft_source"))
    model: Mapped[str | None] = mapped_column(String(200))
    inputs_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the canonical inputs
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONOrNull)
    prompt_text: Mapped[str | None] = mapped_column(Text)
    tokens_before: Mapped[int | None] = mapped_column(Integer)
    tokens_after: Mapped[int | None] = mapped_column(Integer)
    token_method: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[DraftStatus] = mapped_column(_enum(DraftStatus, "draft_status"))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DigestRun(Base):
    """The weekly digest for one channel: claimed by one worker, then sent, exactly once."""

    __tablename__ = "digest_runs"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)  # the Monday, in LADDER_TIMEZONE
    status: Mapped[DigestStatus] = mapped_column(_enum(DigestStatus, "digest_status"))
    claimed_by: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_ts: Mapped[list[str] | None] = mapped_column(JSONOrNull)


class ChannelSettings(Base):
    """Per-channel switches (``/ladder digest on|off``)."""

    __tablename__ = "channel_settings"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_by: Mapped[str] = mapped_column(String(SLACK_ID))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# -- the audit log is append-only -------------------------------------------------------------


class AuditLogIsAppendOnly(RuntimeError):
    """Code tried to change or delete an audit entry. A bug, never a user error."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    for obj in session.deleted:
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly(f"audit entry {obj.id} cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise AuditLogIsAppendOnly(f"audit entry {obj.id} cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_bulk_changes(state: ORMExecuteState) -> None:
    # update(AuditEntry) / delete(AuditEntry) through a session skip before_flush.
    if (state.is_update or state.is_delete) and any(
        mapper.class_ is AuditEntry for mapper in state.all_mappers
    ):
        raise AuditLogIsAppendOnly("the audit log cannot be updated or deleted")
