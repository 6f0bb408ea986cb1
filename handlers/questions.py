"""Answers in the thread: option buttons, failure-mode checkboxes, the value modal, and plain
thread replies ("1.2M", "800 tokens")."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.errors import InvalidInput, LadderError
from bot.ladder import NeedsAnswer
from bot.parse import parse_answer
from bot.questions import QUESTIONS, Kind, Question
from handlers.blocks import build_error_reply, build_number_modal, value_of
from handlers.context import AppContext
from handlers.errors import defer, guarded
from handlers.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from handlers.thread import Snapshot, post_next, refresh_root, show_answer
from store import repository as repo
from store.workflow import answered_by, load, submit_answer

logger = logging.getLogger(__name__)

# A thread reply is taken as an answer attempt only when it looks like one; anything else is
# discussion and is left alone.
_LOOKS_NUMERIC = re.compile(r"^\s*[-$0-9.]")
_LOOKS_LIKE_MODEL = re.compile(r"^[A-Za-z0-9][\w.:/-]{0,199}$")


def record(
    ctx: AppContext,
    *,
    team_id: str,
    review_id: int,
    key: str,
    value: Any,
    user_id: str,
    expected_revision: int | None,
    event_id: str | None = None,
) -> Snapshot | None:
    """Record one answer in one transaction; ``None`` when this event was already handled."""
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if review is None:
            raise InvalidInput("I can't find this review any more.")
        if event_id is not None and not repo.mark_event_processed(
            session=session, team_id=team_id, event_id=event_id, kind="answer"
        ):
            return None
        progress = submit_answer(
            session,
            review=review,
            key=key,
            value=value,
            by=user_id,
            expected_revision=expected_revision,
            event_id=event_id,
        )
        return Snapshot.of(progress, answered_by(session, review=review))


def render(ctx: AppContext, client: WebClient, snap: Snapshot, key: str) -> None:
    """After the commit: show the answer, refresh the root, post what comes next."""
    show_answer(client, snap, key)
    refresh_root(client, snap.review)
    asked = post_next(client, ctx, snap)
    if asked:
        with ctx.session() as session:
            review = repo.get_review(
                session=session, team_id=snap.review.team_id, review_id=snap.review.id
            )
            assert review is not None
            for k, ts in asked.items():
                repo.set_question_ts(session=session, review=review, key=k, ts=ts)


def answer_and_render(ctx: AppContext, client: WebClient, **kwargs: Any) -> None:
    snap = record(ctx, **kwargs)
    if snap is not None:
        render(ctx, client, snap, kwargs["key"])


def register(app: App, ctx: AppContext) -> None:
    def answer_click(
        body: dict[str, Any], client: WebClient, data: dict[str, Any], value: Any
    ) -> None:
        """Record a clicked answer after the ack; the button carries the revision it showed."""
        defer(
            ctx,
            body,
            client,
            answer_and_render,
            ctx,
            client,
            team_id=body["team"]["id"],
            review_id=int(data["r"]),
            key=data["k"],
            value=value,
            user_id=body["user"]["id"],
            expected_revision=int(data["n"]),
        )

    def handle_answer_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        q = QUESTIONS[data["k"]]
        value: Any = data["v"]
        if q.kind is Kind.BOOLEAN:
            value = value == "true"
        answer_click(body, client, data, value)

    def ack_checkbox_change(ack: Ack) -> None:
        ack()  # the choice is read when "Next" is clicked

    def handle_modes_next(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        state = (body.get("state") or {}).get("values") or {}
        block = state.get(f"{BlockId.MODES}:{data['r']}") or {}
        selected = (block.get(ActionId.ANSWER_MODES.value) or {}).get("selected_options") or []
        modes = [o["value"] for o in selected]
        if not modes:
            raise InvalidInput("Tick at least one box, then click Next.")
        answer_click(body, client, data, modes)

    def open_value_modal(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        client.views_open(
            trigger_id=body["trigger_id"],
            view=build_number_modal(
                review_id=int(data["r"]),
                q=QUESTIONS[data["k"]],
                revision=int(data["n"]),
                channel=(body.get("channel") or {}).get("id", ""),
            ),
        )

    def handle_value_submission(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        meta = value_of(view["private_metadata"])
        q = QUESTIONS[meta["k"]]
        raw = view["state"]["values"][BlockId.ANSWER_INPUT.value][INPUT_ACTION]["value"] or ""
        try:
            value = parse_answer(q, raw)
            snap = record(
                ctx,
                team_id=body["team"]["id"],
                review_id=int(meta["r"]),
                key=q.key,
                value=value,
                user_id=body["user"]["id"],
                expected_revision=int(meta["n"]),
            )
        except LadderError as exc:
            ack(response_action="errors", errors={BlockId.ANSWER_INPUT.value: exc.user_message})
            return
        ack()
        if snap is not None:
            defer(ctx, body, client, render, ctx, client, snap, q.key)

    def handle_thread_reply(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts:
            return
        team_id = body.get("team_id") or event.get("team") or ""
        with ctx.session() as session:
            review = repo.get_review_by_thread(
                session=session, team_id=team_id, channel_id=event["channel"], thread_ts=thread_ts
            )
            if review is None or not review.is_open:
                return
            progress = load(session, review)
            review_id = review.id
        if not isinstance(progress.step, NeedsAnswer):
            return
        q = progress.step.question
        text = (event.get("text") or "").strip()
        if not looks_like_an_answer(q, text):
            return
        event_id = body.get("event_id")
        try:
            value = parse_answer(q, text)
        except InvalidInput as exc:
            if event_id is not None:
                with ctx.session() as session:
                    if not repo.mark_event_processed(
                        session=session, team_id=team_id, event_id=event_id, kind="bad_answer"
                    ):
                        return
            client.chat_postMessage(
                channel=event["channel"],
                thread_ts=thread_ts,
                text=build_error_reply(
                    f"{exc.user_message.split(': ', 1)[-1]}. I'm still waiting for: {q.text} "
                    f"({q.help}) Earlier answers are kept."
                ),
            )
            return
        answer_and_render(
            ctx,
            client,
            team_id=team_id,
            review_id=review_id,
            key=q.key,
            value=value,
            user_id=event["user"],
            expected_revision=progress.revisions.get(q.key, 0),
            event_id=event_id,
        )

    app.action(ActionId.ANSWER_CHOICE.value)(guarded(handle_answer_button))
    app.action(ActionId.ANSWER_MODES.value)(guarded(ack_checkbox_change))
    app.action(ActionId.ANSWER_MODES_NEXT.value)(guarded(handle_modes_next))
    app.action(ActionId.OPEN_NUMBER_MODAL.value)(guarded(open_value_modal))
    app.view(CallbackId.NUMBER_ANSWER.value)(guarded(handle_value_submission))
    app.event("message")(guarded(handle_thread_reply))


def looks_like_an_answer(q: Question, text: str) -> bool:
    """Is this thread reply meant as an answer to ``q`` (rather than discussion)?"""
    if not text or len(text) > 200:
        return False
    if q.is_numeric:
        return bool(_LOOKS_NUMERIC.match(text))
    if q.kind is Kind.TEXT:
        return bool(_LOOKS_LIKE_MODEL.match(text))
    try:
        parse_answer(q, text)
    except InvalidInput:
        return False
    return True
