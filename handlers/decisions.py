"""Accept, Override (outcome + required reason) and Park (follow-up date) on a recommendation.
Only the review's owner and LADDER_APPROVERS may; anyone else is told so and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.errors import LadderError, NotAllowed
from bot.ladder import Recommendation
from handlers.blocks import (
    build_override_modal,
    build_park_modal,
    build_recommendation_blocks,
    value_of,
)
from handlers.context import AppContext
from handlers.errors import defer, guarded
from handlers.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from handlers.thread import ReviewView, refresh_root
from store import repository as repo
from store.models import DecisionKind
from store.workflow import decide, decision_line, load


def _today(ctx: AppContext) -> date:
    return ctx.now().astimezone(ZoneInfo(ctx.settings.ladder_timezone)).date()


def _check_may_decide(ctx: AppContext, *, team_id: str, review_id: int, user_id: str) -> None:
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if review is None:
            raise NotAllowed("I can't find this review any more.")
        if not ctx.may_decide(owner_id=review.owner_id, user_id=user_id):
            raise NotAllowed(
                f"Only the review's owner (<@{review.owner_id}>) or an approver can accept, "
                "override or park it; nothing was changed."
            )


def store_decision(
    ctx: AppContext,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    kind: DecisionKind,
    **details: Any,
) -> tuple[ReviewView, Recommendation | None, str]:
    """Store the decision in one transaction; returns what the thread should show."""
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if review is None:
            raise NotAllowed("I can't find this review any more.")
        decision = decide(
            session,
            review=review,
            kind=kind,
            by=user_id,
            approvers=ctx.settings.approvers,
            today=_today(ctx),
            **details,
        )
        step = load(session, review).step
        return (
            ReviewView.of(review),
            step if isinstance(step, Recommendation) else None,
            decision_line(decision),
        )


def show_decision(
    client: WebClient,
    view: ReviewView,
    rec: Recommendation | None,
    line: str,
    message_ts: str | None,
) -> None:
    """The decision under the recommendation (buttons gone) and on the root message."""
    refresh_root(client, view)
    if message_ts and rec is not None:
        client.chat_update(
            channel=view.channel_id,
            ts=message_ts,
            text=f"Recommendation: {rec.title}",
            blocks=build_recommendation_blocks(review_id=view.id, rec=rec, decision_line=line),
        )
    else:
        client.chat_postMessage(channel=view.channel_id, thread_ts=view.thread_ts, text=line)


def accept(
    ctx: AppContext,
    client: WebClient,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    message_ts: str | None,
) -> None:
    shown = store_decision(
        ctx, team_id=team_id, review_id=review_id, user_id=user_id, kind=DecisionKind.ACCEPTED
    )
    show_decision(client, *shown, message_ts=message_ts)


def register(app: App, ctx: AppContext) -> None:
    def handle_accept_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        defer(
            ctx,
            body,
            client,
            accept,
            ctx,
            client,
            team_id=body["team"]["id"],
            review_id=int(data["r"]),
            user_id=body["user"]["id"],
            message_ts=(body.get("message") or {}).get("ts"),
        )

    def open_decision_modal(
        body: dict[str, Any], client: WebClient, build: Callable[[int, str], dict[str, Any]]
    ) -> None:
        """Check the user may decide, then open the modal ``build(review_id, channel)``
        within the trigger's 3 seconds."""
        data = value_of(body["actions"][0]["value"])
        review_id = int(data["r"])
        _check_may_decide(
            ctx, team_id=body["team"]["id"], review_id=review_id, user_id=body["user"]["id"]
        )
        view = build(review_id, body["channel"]["id"])
        view["private_metadata"] = _with_message(view["private_metadata"], body)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def open_override_modal(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        current = value_of(action["value"])["o"]
        open_decision_modal(
            body,
            client,
            lambda r, c: build_override_modal(review_id=r, current=current, channel=c),
        )

    def open_park_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_decision_modal(
            body,
            client,
            lambda r, c: build_park_modal(review_id=r, channel=c, today=_today(ctx)),
        )

    def handle_override_submission(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        meta = value_of(view["private_metadata"])
        values = view["state"]["values"]
        chosen = (
            values[BlockId.OVERRIDE_OUTCOME.value][INPUT_ACTION].get("selected_option") or {}
        ).get("value")
        reason = values[BlockId.OVERRIDE_REASON.value][INPUT_ACTION].get("value") or ""
        _submit(
            ack,
            ctx,
            client,
            body,
            meta,
            DecisionKind.OVERRIDDEN,
            {"chosen_outcome": chosen, "reason": reason},
            field_blocks={
                "reason": BlockId.OVERRIDE_REASON,
                "chosen_outcome": BlockId.OVERRIDE_OUTCOME,
            },
        )

    def handle_park_submission(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        meta = value_of(view["private_metadata"])
        picked = view["state"]["values"][BlockId.PARK_DATE.value][INPUT_ACTION].get("selected_date")
        follow_up = date.fromisoformat(picked) if picked else None
        _submit(
            ack,
            ctx,
            client,
            body,
            meta,
            DecisionKind.PARKED,
            {"follow_up_on": follow_up},
            field_blocks={"follow_up_on": BlockId.PARK_DATE},
        )

    app.action(ActionId.DECIDE_ACCEPT.value)(guarded(handle_accept_button))
    app.action(ActionId.DECIDE_OVERRIDE.value)(guarded(open_override_modal))
    app.action(ActionId.DECIDE_PARK.value)(guarded(open_park_modal))
    app.view(CallbackId.OVERRIDE.value)(guarded(handle_override_submission))
    app.view(CallbackId.PARK.value)(guarded(handle_park_submission))


def _with_message(metadata: str, body: dict[str, Any]) -> str:
    from handlers.blocks import encode

    data = value_of(metadata)
    data["m"] = (body.get("message") or {}).get("ts")
    return encode(**data)


def _submit(
    ack: Ack,
    ctx: AppContext,
    client: WebClient,
    body: dict[str, Any],
    meta: dict[str, Any],
    kind: DecisionKind,
    details: dict[str, Any],
    *,
    field_blocks: dict[str, BlockId],
) -> None:
    """Validate and store before acking, so a problem shows on the modal's field; the thread
    is updated after the ack."""
    try:
        shown = store_decision(
            ctx,
            team_id=body["team"]["id"],
            review_id=int(meta["r"]),
            user_id=body["user"]["id"],
            kind=kind,
            **details,
        )
    except LadderError as exc:
        block = field_blocks.get(exc.field or "", next(iter(field_blocks.values())))
        ack(response_action="errors", errors={block.value: exc.user_message})
        return
    ack()
    defer(ctx, body, client, show_decision, client, *shown, message_ts=meta.get("m"))
