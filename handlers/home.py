"""App Home: the user's open reviews and the decisions waiting for them."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks import STATUS_LABELS, Block, context, section
from handlers.context import AppContext
from handlers.errors import defer, guarded
from handlers.text import escape, truncate
from store import repository as repo
from store.models import ReviewStatus

MAX_ROWS = 20


def build_home_view(
    *, mine: list[tuple[str, str, str | None]], waiting: list[tuple[str, str, str | None]]
) -> dict[str, Any]:
    """(title, status, permalink) rows for the user's reviews and those awaiting them."""

    def lines(rows: list[tuple[str, str, str | None]]) -> str:
        out = []
        for title, status, link in rows[:MAX_ROWS]:
            t = escape(truncate(title, 80))
            out.append(f"• {f'<{link}|{t}>' if link else t} · {STATUS_LABELS.get(status, status)}")
        return "\n".join(out)

    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ladder-bot"}},
        context(
            "Before anyone fine-tunes: prompt, few-shot, retrieval, then LoRA. "
            "Start a review with `/ladder <use case>` in a channel."
        ),
        section("*Waiting for your decision*\n" + (lines(waiting) or "_Nothing right now._")),
        section(
            "*Your open reviews*\n"
            + (lines(mine) or "_None. Start one with `/ladder <use case>`._")
        ),
    ]
    return {"type": "home", "blocks": blocks}


def register(app: App, ctx: AppContext) -> None:
    def handle_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") in (None, "home"):
            defer(ctx, body, client, publish_home, event, body, client)

    def publish_home(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        user_id, team_id = event["user"], body.get("team_id") or ""
        approver = user_id in ctx.settings.approvers
        with ctx.session() as session:
            mine = repo.reviews_for_user(session=session, team_id=team_id, user_id=user_id)
            open_reviews = (
                repo.list_open_reviews(session=session, team_id=team_id) if approver else mine
            )
            waiting = [r for r in open_reviews if r.status is ReviewStatus.RECOMMENDED]
            rows_mine = [(r.title, r.status.value, r.channel_id, r.thread_ts) for r in mine]
            rows_waiting = [(r.title, r.status.value, r.channel_id, r.thread_ts) for r in waiting]

        def link(channel: str | None, ts: str | None) -> str | None:
            if not channel or not ts:
                return None
            try:
                return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
            except SlackApiError:
                return None

        client.views_publish(
            user_id=user_id,
            view=build_home_view(
                mine=[(t, s, link(c, ts)) for t, s, c, ts in rows_mine[:MAX_ROWS]],
                waiting=[(t, s, link(c, ts)) for t, s, c, ts in rows_waiting[:MAX_ROWS]],
            ),
        )

    app.event("app_home_opened")(guarded(handle_home_opened))
