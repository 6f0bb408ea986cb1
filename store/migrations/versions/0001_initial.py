"""The initial schema: reviews, answers, recommendations, decisions, audit log, drafts, digest.

Revision ID: 0001
Revises:
Create Date: 2025-11-22

Kept free of imports from store.models: a migration is a snapshot of the schema at one point,
and must keep working when the models move on. Constraint names follow the models' naming
convention and are spelled out (op.f) so they never depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _one_of(column: str, values: Sequence[str], table: str, name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


REVIEW_STATUS = ("in_progress", "recommended", "accepted", "overridden", "parked", "closed")
DECISION_KIND = ("accepted", "overridden", "parked", "closed", "snoozed")

# audit_log is append-only: the database refuses UPDATE and DELETE, whoever asks.
PG_AUDIT_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$
"""
PG_AUDIT_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""
# SQLite: the same guard. Note for later migrations: a batch (copy-and-move) migration of
# audit_log drops these triggers with the old table and must create them again.
SQLITE_AUDIT_TRIGGERS = [
    f"""
CREATE TRIGGER audit_log_no_{op_name.lower()} BEFORE {op_name} ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: {op_name} refused');
END
"""
    for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("root_ts", sa.String(32), nullable=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("last_activity_at", _utc(), nullable=False),
        sa.Column("snoozed_until", _utc(), nullable=True),
        sa.Column("follow_up_on", sa.Date(), nullable=True),
        sa.Column("closed_reason", sa.String(32), nullable=True),
        sa.Column("question_ts", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint(
            "team_id",
            "channel_id",
            "thread_ts",
            name=op.f("uq_reviews_team_id_channel_id_thread_ts"),
        ),
        _one_of("status", REVIEW_STATUS, "reviews", "review_status"),
        _one_of("source", ("slack", "cli"), "reviews", "review_source"),
        _one_of("closed_reason", ("worked", "abandoned"), "reviews", "closed_reason"),
    )
    op.create_index(
        "ix_reviews_team_channel_status", "reviews", ["team_id", "channel_id", "status"]
    )
    op.create_index(
        "ix_reviews_team_status_activity", "reviews", ["team_id", "status", "last_activity_at"]
    )
    op.create_index("ix_reviews_team_owner", "reviews", ["team_id", "owner_id"])

    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", _json(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("answered_by", sa.String(64), nullable=False),
        sa.Column("answered_at", _utc(), nullable=False),
        sa.Column("source_event_id", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_answers_review_id_reviews")
        ),
        sa.UniqueConstraint(
            "review_id", "key", "revision", name=op.f("uq_answers_review_id_key_revision")
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_answers_revision_positive")),
    )

    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("rules", _json(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("tracks", _json(), nullable=False),
        sa.Column("next_steps", _json(), nullable=False),
        sa.Column("answers_snapshot", _json(), nullable=False),
        sa.Column("cost_inputs", _json(), nullable=True),
        sa.Column("cost_report", _json(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_recommendations_review_id_reviews")
        ),
    )
    op.create_index("ix_recommendations_review_id", "recommendations", ["review_id", "id"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("chosen_outcome", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("follow_up_on", sa.Date(), nullable=True),
        sa.Column("snoozed_until", _utc(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_decisions_review_id_reviews")
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_decisions_recommendation_id_recommendations"),
        ),
        _one_of("kind", DECISION_KIND, "decisions", "decision_kind"),
        sa.CheckConstraint(
            "kind <> 'overridden' OR (reason IS NOT NULL AND length(trim(reason)) > 0)",
            name=op.f("ck_decisions_override_has_reason"),
        ),
        sa.CheckConstraint(
            "kind <> 'parked' OR follow_up_on IS NOT NULL",
            name=op.f("ck_decisions_park_has_follow_up"),
        ),
        sa.CheckConstraint(
            "kind <> 'snoozed' OR snoozed_until IS NOT NULL",
            name=op.f("ck_decisions_snooze_has_end"),
        ),
    )
    op.create_index("ix_decisions_review_id", "decisions", ["review_id", "id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_audit_log_review_id_reviews")
        ),
    )
    op.create_index("ix_audit_log_team_at", "audit_log", ["team_id", "at"])
    op.create_index(op.f("ix_audit_log_review_id"), "audit_log", ["review_id"])

    op.create_table(
        "processed_events",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "event_id", name=op.f("pk_processed_events")),
    )

    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("prompt_text", sa.Text(), nullable=True),
        sa.Column("tokens_before", sa.Integer(), nullable=True),
        sa.Column("tokens_after", sa.Integer(), nullable=True),
        sa.Column("token_method", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Numeric(14, 6), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_drafts_review_id_reviews")
        ),
        sa.UniqueConstraint("review_id", "version", name=op.f("uq_drafts_review_id_version")),
        _one_of("source", ("llm", "template"), "drafts", "draft_source"),
        _one_of("status", ("ok", "failed"), "drafts", "draft_status"),
    )
    op.create_index("ix_drafts_team_inputs_hash", "drafts", ["team_id", "inputs_hash"])

    op.create_table(
        "digest_runs",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=False),
        sa.Column("claimed_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("message_ts", _json(), nullable=True),
        sa.PrimaryKeyConstraint("team_id", "channel_id", "week", name=op.f("pk_digest_runs")),
        _one_of("status", ("claimed", "sent"), "digest_runs", "digest_status"),
    )

    op.create_table(
        "channel_settings",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", name=op.f("pk_channel_settings")),
    )

    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(PG_AUDIT_FUNCTION)
        op.execute(PG_AUDIT_TRIGGER)
    elif dialect == "sqlite":
        for trigger in SQLITE_AUDIT_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")

    op.drop_table("channel_settings")
    op.drop_table("digest_runs")
    op.drop_index("ix_drafts_team_inputs_hash", table_name="drafts")
    op.drop_table("drafts")
    op.drop_table("processed_events")
    op.drop_index(op.f("ix_audit_log_review_id"), table_name="audit_log")
    op.drop_index("ix_audit_log_team_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_decisions_review_id", table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_recommendations_review_id", table_name="recommendations")
    op.drop_table("recommendations")
    op.drop_table("answers")
    op.drop_index("ix_reviews_team_owner", table_name="reviews")
    op.drop_index("ix_reviews_team_status_activity", table_name="reviews")
    op.drop_index("ix_reviews_team_channel_status", table_name="reviews")
    op.drop_table("reviews")
