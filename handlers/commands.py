"""``/ladder``: start a review, list, cost, digest, help."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers import USE_CASE_MAX
from bot.errors import InvalidInput
from bot.ladder import NeedsAnswer
from handlers.blocks import (
    ListedReview,
    build_help_blocks,
    build_list_blocks,
    build_not_in_channel_text,
    build_root_blocks,
    build_root_text,
)
from handlers.context import AppContext
from handlers.errors import defer, guarded
from handlers.thread import Snapshot, post_next
from store import repository as repo
from store.models import ReviewSource
from store.workflow import answered_by, start_review

logger = logging.getLogger(__name__)

NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}


def register(app: App, ctx: AppContext) -> None:
    def handle_ladder_command(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        defer(ctx, command, client, run_ladder_command, ctx, client, command, respond)

    app.command(ctx.command)(guarded(handle_ladder_command))


def run_ladder_command(
    ctx: AppContext, client: WebClient, command: dict[str, Any], respond: Respond
) -> None:
    text = (command.get("text") or "").strip()
    word, _, rest = text.partition(" ")
    sub = word.lower()
    if sub in ("", "help"):
        respond(
            response_type="ephemeral", text="ladder-bot help", blocks=build_help_blocks(ctx.command)
        )
    elif sub == "list":
        list_reviews(ctx, client, command, respond)
    elif sub == "cost":
        from handlers.cost import open_cost_modal

        open_cost_modal(client, command["trigger_id"])
    elif sub == "digest":
        from handlers.digest import handle_digest_command

        handle_digest_command(ctx, client, command, rest.split(), respond)
    else:
        start_thread(ctx, client, command, text, respond)


def start_thread(
    ctx: AppContext, client: WebClient, command: dict[str, Any], title: str, respond: Respond
) -> None:
    """Post the root message, create the review, and ask the first question in the thread."""
    team_id, channel_id, user_id = command["team_id"], command["channel_id"], command["user_id"]
    if len(title) > USE_CASE_MAX:
        raise InvalidInput(
            f"The use case is {len(title)} characters; keep it to {USE_CASE_MAX} "
            "(a title, not a spec)."
        )
    try:
        root = client.chat_postMessage(
            channel=channel_id,
            text=build_root_text(title=title, owner_id=user_id, status="in_progress", outcome=None),
            blocks=build_root_blocks(
                title=title, owner_id=user_id, status="in_progress", outcome=None
            ),
            unfurl_links=False,
        )
    except SlackApiError as exc:
        if exc.response.get("error") in NOT_IN_CHANNEL:
            respond(response_type="ephemeral", text=build_not_in_channel_text(ctx.command))
            return
        raise
    thread_ts = str(root["ts"])
    with ctx.session() as session:
        progress = start_review(
            session,
            team_id=team_id,
            owner_id=user_id,
            title=title,
            source=ReviewSource.SLACK,
            channel_id=channel_id,
            thread_ts=thread_ts,
        )
        snap = Snapshot.of(progress, answered_by(session, review=progress.review))
    asked = post_next(client, ctx, snap)
    if asked:
        with ctx.session() as session:
            review = repo.get_review(session=session, team_id=team_id, review_id=snap.review.id)
            assert review is not None
            for key, ts in asked.items():
                repo.set_question_ts(session=session, review=review, key=key, ts=ts)
    if not isinstance(snap.step, NeedsAnswer):
        logger.info("review %s decided on its first answer", snap.review.id)


def list_reviews(
    ctx: AppContext, client: WebClient, command: dict[str, Any], respond: Respond
) -> None:
    with ctx.session() as session:
        reviews = repo.list_open_reviews(
            session=session, team_id=command["team_id"], channel_id=command["channel_id"]
        )
        rows = [(r.title, r.owner_id, r.status.value, r.channel_id, r.thread_ts) for r in reviews]
    listed = []
    for title, owner, status, channel, ts in rows:
        permalink = None
        if channel and ts:
            try:
                permalink = str(
                    client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
                )
            except SlackApiError:
                permalink = None
        listed.append(ListedReview(title=title, owner_id=owner, status=status, permalink=permalink))
    respond(response_type="ephemeral", text="Open reviews", blocks=build_list_blocks(listed))
