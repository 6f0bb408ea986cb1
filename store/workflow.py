"""What happens to a review when someone answers or decides: the same for Slack and the terminal.

Each function works inside the caller's transaction (the edge commits) and returns the
review's progress so the edge can render it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from bot.answers import Answers, UnknownAnswerKey, describe_validation_error, jsonable
from bot.errors import InvalidInput
from bot.ladder import Recommendation, Step, next_step
from bot.questions import QUESTIONS
from store import repository as repo
from store.models import Answer, Decision, DecisionKind, Review, ReviewSource, ReviewStatus
from store.models import Recommendation as RecommendationRow


@dataclass
class Progress:
    review: Review
    answers: Answers
    step: Step
    revisions: dict[str, int]
    # Set when this call stored a recommendation that differs from the previous one.
    new_recommendation: RecommendationRow | None = None
    answer: Answer | None = None


def load(session: Session, review: Review) -> Progress:
    current = repo.current_answers(session=session, team_id=review.team_id, review_id=review.id)
    answers = Answers.from_flat(current)
    return Progress(
        review=review,
        answers=answers,
        step=next_step(answers),
        revisions=repo.current_revisions(
            session=session, team_id=review.team_id, review_id=review.id
        ),
    )


def start_review(
    session: Session,
    *,
    team_id: str,
    owner_id: str,
    title: str,
    source: ReviewSource,
    channel_id: str | None = None,
    thread_ts: str | None = None,
) -> Progress:
    """A new review with its use case answered by its owner."""
    try:
        Answers(use_case=title)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc), field="use_case") from None
    review = repo.create_review(
        session=session,
        team_id=team_id,
        channel_id=channel_id,
        thread_ts=thread_ts,
        root_ts=thread_ts,
        owner_id=owner_id,
        title=title.strip(),
        source=source,
    )
    repo.add_audit(
        session=session,
        team_id=team_id,
        review_id=review.id,
        actor=owner_id,
        action="review.started",
        detail={"title": review.title, "source": source.value},
    )
    return submit_answer(session, review=review, key="use_case", value=title.strip(), by=owner_id)


def validate_answer(answers: Answers, key: str, value: Any) -> Answers:
    """The answers with ``key`` set, or an ``InvalidInput`` naming the key and the reason."""
    if key not in QUESTIONS:
        raise InvalidInput(f"{key}: not a question of the ladder", field=key)
    try:
        return answers.with_answer(key, value)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc), field=key) from None
    except UnknownAnswerKey as exc:
        raise InvalidInput(str(exc), field=key) from None


def submit_answer(
    session: Session,
    *,
    review: Review,
    key: str,
    value: Any,
    by: str,
    expected_revision: int | None = None,
    event_id: str | None = None,
) -> Progress:
    """Record one answer (a new row when it changes an earlier one) and recompute the ladder.

    Raises ``Conflict`` when someone answered the same question first (``expected_revision``
    is stale, or a concurrent insert won) and ``InvalidInput`` for a bad value; in both cases
    nothing is written and every earlier answer stays.
    """
    before = load(session, review)
    answers = validate_answer(before.answers, key, value)
    stored = answers.get(key)
    answer = repo.record_answer(
        session=session,
        review=review,
        key=key,
        value=jsonable(stored),
        by=by,
        expected_revision=expected_revision,
        source_event_id=event_id,
    )
    review.last_activity_at = answer.answered_at
    repo.add_audit(
        session=session,
        team_id=review.team_id,
        review_id=review.id,
        actor=by,
        action="answer.recorded",
        detail={"key": key, "revision": answer.revision},
    )
    progress = Progress(
        review=review,
        answers=answers,
        step=next_step(answers),
        revisions={**before.revisions, key: answer.revision},
        answer=answer,
    )
    _settle(session, progress, by=by)
    return progress


def _settle(session: Session, progress: Progress, *, by: str) -> None:
    """Store a changed recommendation and move the review's status to match the ladder."""
    review, step = progress.review, progress.step
    if not isinstance(step, Recommendation):
        if review.status is not ReviewStatus.CLOSED:
            review.status = ReviewStatus.IN_PROGRESS
        review.outcome = None
        return
    latest = repo.latest_recommendation(
        session=session, team_id=review.team_id, review_id=review.id
    )
    report = None if step.cost is None else step.cost.to_json_dict()
    if (
        latest is not None
        and latest.outcome == step.outcome.value
        and latest.rules == step.rules
        and latest.cost_report == report
        and review.outcome == step.outcome.value
    ):
        return
    progress.new_recommendation = repo.add_recommendation(
        session=session,
        review=review,
        outcome=step.outcome.value,
        rules=step.rules,
        reasons=step.reasons,
        tracks=[t.value for t in step.tracks],
        next_steps=list(step.next_steps),
        answers_snapshot=progress.answers.to_json_dict(),
        cost_inputs=None
        if progress.answers.cost is None
        else progress.answers.to_json_dict()["cost"],
        cost_report=report,
    )
    review.status = ReviewStatus.RECOMMENDED
    review.outcome = step.outcome.value
    repo.add_audit(
        session=session,
        team_id=review.team_id,
        review_id=review.id,
        actor=by,
        action="recommendation.made",
        detail={"outcome": step.outcome.value, "rules": step.rules},
    )


def decide(
    session: Session,
    *,
    review: Review,
    kind: DecisionKind,
    by: str,
    approvers: frozenset[str],
    chosen_outcome: str | None = None,
    reason: str | None = None,
    follow_up_on: date | None = None,
    today: date | None = None,
) -> Decision:
    """Accept, override (with a reason) or park (with a follow-up date) the current
    recommendation; the store checks who may and what each kind needs."""
    if review.status is ReviewStatus.IN_PROGRESS:
        raise InvalidInput(
            "There is no recommendation to decide on yet: answer the open question first."
        )
    decision = repo.add_decision(
        session=session,
        review=review,
        kind=kind,
        decided_by=by,
        approvers=approvers,
        chosen_outcome=chosen_outcome,
        reason=reason,
        follow_up_on=follow_up_on,
        today=today,
    )
    repo.add_audit(
        session=session,
        team_id=review.team_id,
        review_id=review.id,
        actor=by,
        action=f"decision.{kind.value}",
        detail={
            "outcome": decision.chosen_outcome,
            "reason": decision.reason,
            "follow_up_on": None if follow_up_on is None else follow_up_on.isoformat(),
        },
    )
    return decision


def decision_line(decision: Decision) -> str:
    """One line for the thread: what was decided, by whom."""
    who = f"<@{decision.decided_by}>"
    when = _day(decision.decided_at)
    if decision.kind is DecisionKind.ACCEPTED:
        return f":white_check_mark: Accepted by {who} on {when}."
    if decision.kind is DecisionKind.OVERRIDDEN:
        return (
            f":twisted_rightwards_arrows: Overridden by {who} on {when}: {decision.chosen_outcome}."
        )
    if decision.kind is DecisionKind.PARKED:
        return f":parking: Parked by {who} on {when} until {decision.follow_up_on}."
    return f"{decision.kind.value} by {who} on {when}."


def _day(at: datetime) -> str:
    return at.date().isoformat()


def answered_by(session: Session, *, review: Review) -> dict[str, str]:
    """Who gave the current answer to each key."""
    history = repo.answer_history(session=session, team_id=review.team_id, review_id=review.id)
    return {a.key: a.answered_by for a in history}  # ordered by revision: the last one wins
