"""Keeping a review's thread in step with the database: the root message, the question
messages, the recommendation and its chart. Called after the transaction committed, so a Slack
failure never loses an answer."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ladder import NeedsAnswer, Recommendation, Step
from bot.questions import QUESTIONS
from handlers.blocks import (
    Answered,
    build_question_blocks,
    build_question_text,
    build_recommendation_blocks,
    build_root_blocks,
    build_root_text,
)
from handlers.context import AppContext
from store.models import Review
from store.workflow import Progress

logger = logging.getLogger(__name__)


@dataclass
class ReviewView:
    """What the thread needs to know about a review, detached from the session."""

    id: int
    team_id: str
    channel_id: str
    thread_ts: str
    title: str
    owner_id: str
    status: str
    outcome: str | None
    question_ts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, review: Review) -> ReviewView:
        assert review.channel_id is not None and review.thread_ts is not None
        return cls(
            id=review.id,
            team_id=review.team_id,
            channel_id=review.channel_id,
            thread_ts=review.thread_ts,
            title=review.title,
            owner_id=review.owner_id,
            status=review.status.value,
            outcome=review.outcome,
            question_ts=dict(review.question_ts or {}),
        )


@dataclass
class Snapshot:
    """A committed ``Progress``, safe to render after the session closed."""

    review: ReviewView
    step: Step
    revisions: dict[str, int]
    answers: dict[str, Any]
    answered_by: dict[str, str]
    new_recommendation: bool
    decision_line: str | None = None

    @classmethod
    def of(cls, progress: Progress, answered_by: dict[str, str]) -> Snapshot:
        return cls(
            review=ReviewView.of(progress.review),
            step=progress.step,
            revisions=dict(progress.revisions),
            answers=progress.answers.to_flat(),
            answered_by=answered_by,
            new_recommendation=progress.new_recommendation is not None,
        )


def refresh_root(client: WebClient, review: ReviewView) -> None:
    client.chat_update(
        channel=review.channel_id,
        ts=review.thread_ts,
        text=_plain(
            build_root_text(
                title=review.title,
                owner_id=review.owner_id,
                status=review.status,
                outcome=review.outcome,
            )
        ),
        blocks=build_root_blocks(
            title=review.title,
            owner_id=review.owner_id,
            status=review.status,
            outcome=review.outcome,
        ),
    )


def show_answer(client: WebClient, snap: Snapshot, key: str) -> None:
    """Update the question message of ``key`` to show its answer and who gave it."""
    ts = snap.review.question_ts.get(key)
    if ts is None or key not in QUESTIONS:
        return
    q = QUESTIONS[key]
    answered = Answered(value=snap.answers.get(key), by=snap.answered_by.get(key, ""))
    client.chat_update(
        channel=snap.review.channel_id,
        ts=ts,
        text=build_question_text(q, answered),
        blocks=build_question_blocks(
            review_id=snap.review.id, q=q, revision=snap.revisions.get(key, 0), answered=answered
        ),
    )


def post_next(client: WebClient, ctx: AppContext, snap: Snapshot) -> dict[str, str]:
    """Post what comes next in the thread; returns question ts to remember (key -> ts)."""
    step = snap.step
    review = snap.review
    if isinstance(step, NeedsAnswer):
        key = step.question.key
        last = list(review.question_ts)[-1] if review.question_ts else None
        if last == key:
            return {}  # that question is the last one asked and still open
        resp = client.chat_postMessage(
            channel=review.channel_id,
            thread_ts=review.thread_ts,
            text=build_question_text(step.question, None),
            blocks=build_question_blocks(
                review_id=review.id, q=step.question, revision=snap.revisions.get(key, 0)
            ),
        )
        return {key: str(resp["ts"])}
    if snap.new_recommendation:
        post_recommendation(client, review, step)
    return {}


def post_recommendation(client: WebClient, review: ReviewView, rec: Recommendation) -> None:
    client.chat_postMessage(
        channel=review.channel_id,
        thread_ts=review.thread_ts,
        text=f"Recommendation: {rec.title}",
        blocks=build_recommendation_blocks(review_id=review.id, rec=rec),
    )
    if rec.cost is not None:
        upload_chart(client, review, rec)


def upload_chart(client: WebClient, review: ReviewView, rec: Recommendation) -> None:
    """The break-even chart as a PNG in the thread; a failed upload is logged, not fatal."""
    from bot.chart import render_break_even_chart

    assert rec.cost is not None
    buf = io.BytesIO()
    render_break_even_chart(rec.cost, buf)
    try:
        client.files_upload_v2(
            channel=review.channel_id,
            thread_ts=review.thread_ts,
            content=buf.getvalue(),
            filename="break-even.png",
            title="Break-even: prompting vs fine-tuning",
        )
    except SlackApiError as exc:
        logger.warning("chart upload failed: %s", exc.response.get("error"))


def _plain(mrkdwn: str) -> str:
    return mrkdwn.replace("*", "").replace(":ladder: ", "")
