"""The weekly digest at the Slack edge: its Block Kit, sending it exactly once per channel and
week, its buttons (snooze, close) and ``/ladder digest [on|off]``.

What is pending is decided by ``bot.digest`` (pure); this module loads rows, claims, posts.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.digest import (
    ChannelDigest,
    DigestItem,
    WorkspaceSummary,
    compose_digests,
    compose_workspace_summary,
    format_counts,
    week_label,
    week_of,
)
from bot.errors import Conflict
from bot.settings import Settings
from handlers.blocks import SECTION_LIMIT, Block, button, context, encode, section, value_of
from handlers.context import AppContext
from handlers.errors import tell_user
from handlers.ids import ActionId
from handlers.text import escape, mention, truncate
from handlers.thread import ReviewView, refresh_root
from store import repository as repo
from store.db import session_scope, utcnow
from store.digest_queries import digest_progress, digest_rows, record_digest_progress
from store.models import ClosedReason, DecisionKind, DigestStatus, ReviewStatus

logger = logging.getLogger(__name__)

MAX_BLOCKS = 50  # Slack's limit per message
ITEM_TITLE_MAX = 150  # characters of a title shown in an item
STALE_CLAIM = timedelta(minutes=10)  # a claim not sent after this is taken over
SNOOZE = timedelta(days=7)
SUMMARY_MARKER = ":summary"  # digest_runs.channel_id of the workspace summary: "<channel>:summary"
EPHEMERAL_RESPONSES = 5  # a response_url takes at most five messages
SAME_CHANNEL_INTERVAL = 1.0  # seconds between two messages to one channel (Slack: ~1/s/channel)


class DigestBlockId(StrEnum):
    """Block ids of a digest message: ``"<prefix>:<review id>"`` so a click finds its item."""

    ITEM = "digest_item"
    ACTIONS = "digest_actions"
    DONE = "digest_done"


# -- Block Kit --------------------------------------------------------------------------------


def _item_text(item: DigestItem) -> str:
    title = escape(truncate(item.title, ITEM_TITLE_MAX))
    head = f"*<{item.permalink}|{title}>*" if item.permalink else f"*{title}*"
    n = item.age_days
    days = "today" if n == 0 else f"{n} day{'s' if n != 1 else ''}"
    return f"{head}\n{mention(item.owner_id)} · {days} · {escape(item.detail)}"


def build_item_blocks(item: DigestItem) -> list[Block]:
    """One pending review: its line and its buttons (open, snooze, it worked, abandoned)."""
    value = encode(r=item.review_id)
    elements: list[Block] = []
    if item.permalink:
        elements.append(button("Open the thread", ActionId.OPEN_THREAD, value, url=item.permalink))
    elements += [
        button("Snooze a week", ActionId.DIGEST_SNOOZE, value),
        button("It worked", ActionId.DIGEST_CLOSE_WORKED, value, style="primary"),
        button("Abandoned", ActionId.DIGEST_CLOSE_ABANDONED, value, style="danger"),
    ]
    text_block = section(_item_text(item))
    text_block["block_id"] = f"{DigestBlockId.ITEM}:{item.review_id}"
    return [
        text_block,
        {
            "type": "actions",
            "block_id": f"{DigestBlockId.ACTIONS}:{item.review_id}",
            "elements": elements,
        },
    ]


def build_digest_messages(
    digest: ChannelDigest, *, note: str | None = None, command: str = "/ladder"
) -> list[list[Block]]:
    """The digest as messages of at most 50 blocks: the header and counts in the first, then
    each group oldest first; an item is never split across two messages and a group that goes
    on in the next message says "(continued)"."""
    first: list[Block] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"Ladder digest: {week_label(digest.week)}", 150),
            },
        },
        section(f"*{digest.total} waiting in this channel:* {format_counts(digest.counts)}"),
        context(
            (f"{note} · " if note else "") + "Snooze and close: the review's owner or an approver. "
            f"Approvers turn this digest off with `{escape(command)} digest off`."
        ),
    ]
    messages: list[list[Block]] = []
    current = first
    for group, items in digest.grouped():
        heading: str | None = f"*{group.heading}* ({len(items)})"
        for item in items:
            blocks = build_item_blocks(item)
            if len(current) + (heading is not None) + len(blocks) > MAX_BLOCKS:
                messages.append(current)
                current = [context(f"Ladder digest, {week_label(digest.week)} (continued)")]
                if heading is None:  # the group goes on in this message
                    heading = f"*{group.heading}* (continued)"
            if heading is not None:
                current.append(section(heading))
                heading = None
            current += blocks
    messages.append(current)
    return messages


def build_digest_text(digest: ChannelDigest, part: int = 1, parts: int = 1) -> str:
    """The notification text of message ``part`` of ``parts``."""
    text = f"Ladder digest, {week_label(digest.week)}: {format_counts(digest.counts)}"
    return text if parts == 1 else f"{text} ({part}/{parts})"


_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else escape(channel_id)


def build_summary_messages(summary: WorkspaceSummary) -> list[list[Block]]:
    """The workspace summary: totals, then one line per channel (busiest first), packed into
    sections of at most 3,000 characters and messages of at most 50 blocks."""
    first: list[Block] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(
                    f"Ladder digest: workspace summary, {week_label(summary.week)}", 150
                ),
            },
        },
        section(
            f"*{summary.total} waiting in {len(summary.channels)} channel"
            f"{'s' if len(summary.channels) != 1 else ''}:* {format_counts(summary.totals)}"
        ),
    ]
    lines = [f"• {_channel(c.channel_id)}: {format_counts(c.counts)}" for c in summary.channels]
    messages: list[list[Block]] = []
    current = first
    chunk: list[str] = []

    def flush() -> None:
        nonlocal current
        if not chunk:
            return
        if len(current) + 1 > MAX_BLOCKS:
            messages.append(current)
            current = [context(f"Workspace summary, {week_label(summary.week)} (continued)")]
        current.append(section("\n".join(chunk)))
        chunk.clear()

    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_LIMIT:
            flush()
        chunk.append(truncate(line, SECTION_LIMIT))
    flush()
    messages.append(current)
    return messages


def build_summary_text(summary: WorkspaceSummary) -> str:
    return f"Ladder digest summary, {week_label(summary.week)}: {format_counts(summary.totals)}"


def build_item_done_blocks(blocks: Sequence[Block], review_id: int, line: str) -> list[Block]:
    """The digest message after a click: the item's buttons replaced by what happened."""
    actions_id = f"{DigestBlockId.ACTIONS}:{review_id}"
    out: list[Block] = []
    for block in blocks:
        if block.get("block_id") == actions_id:
            done = context(line)
            done["block_id"] = f"{DigestBlockId.DONE}:{review_id}"
            out.append(done)
        else:
            out.append(dict(block))
    return out


# -- sending, exactly once --------------------------------------------------------------------


class SendStatus(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # an earlier run (or another replica) sent it this week
    CLAIMED_ELSEWHERE = "claimed_elsewhere"  # another sender holds a fresh claim
    TURNED_OFF = "turned_off"  # /ladder digest off
    FAILED = "failed"  # Slack refused; the claim was released (or kept, if half sent)
    LOST_CLAIM = "lost_claim"  # too slow: another sender took the claim over


@dataclass(frozen=True)
class SendResult:
    channel_id: str  # where it was (or would have been) posted
    kind: str  # "channel" or "summary"
    status: SendStatus
    items: int
    message_ts: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class SendReport:
    week: date
    team_id: str
    results: list[SendResult] = field(default_factory=list)

    @property
    def sent(self) -> list[SendResult]:
        return [r for r in self.results if r.status is SendStatus.SENT]

    @property
    def skipped(self) -> list[SendResult]:
        return [r for r in self.results if r.status is not SendStatus.SENT]

    def summary(self) -> str:
        by_status = Counter(r.status.value for r in self.results)
        parts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "nothing pending"
        return f"digest {week_label(self.week)} ({self.team_id}): {parts}"


@dataclass(frozen=True)
class _Outgoing:
    """One digest to post: the channel it is claimed under and the one it is posted to
    differ for the workspace summary."""

    claim_channel: str  # digest_runs.channel_id
    post_channel: str
    kind: str
    items: int
    messages: list[list[Block]]
    texts: list[str]


def send_digests(
    *,
    session_factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    now: datetime,
    claimer: str,
    stale_after: timedelta = STALE_CLAIM,
    same_channel_interval: float = SAME_CHANNEL_INTERVAL,
) -> SendReport:
    """Post this week's digests for the token's workspace, each (team, channel, week) once.

    Every digest is claimed in its own transaction before it is posted and marked sent after;
    a claim that was never sent and is older than ``stale_after`` is taken over (its sender
    died). Messages posted so far are recorded one by one, so a takeover resumes after them.
    Channels turned off are skipped; the workspace summary goes to ``LADDER_DIGEST_CHANNEL``
    under a claim of its own.
    """
    tz = ZoneInfo(settings.ladder_timezone)
    auth = client.auth_test()
    team_id = str(auth["team_id"])
    workspace_url = auth.get("url")
    with session_scope(session_factory) as session:
        rows = digest_rows(session=session, team_id=team_id)
        turned_off = repo.digest_disabled_channels(session=session, team_id=team_id)
    digests = compose_digests(
        rows,
        now=now,
        tz=tz,
        stalled_days=settings.ladder_stalled_days,
        workspace_url=str(workspace_url) if workspace_url else None,
    )
    sender = _Sender(
        session_factory=session_factory,
        client=client,
        team_id=team_id,
        week=week_of(now, tz),
        now=now,
        claimer=claimer,
        stale_after=stale_after,
        interval=same_channel_interval,
    )
    report = SendReport(week=sender.week, team_id=team_id)
    included: list[ChannelDigest] = []
    for digest in digests:
        if digest.channel_id in turned_off:
            report.results.append(
                SendResult(digest.channel_id, "channel", SendStatus.TURNED_OFF, digest.total)
            )
            continue
        included.append(digest)
        messages = build_digest_messages(digest, command=settings.ladder_command)
        parts = len(messages)
        report.results.append(
            sender.send(
                _Outgoing(
                    claim_channel=digest.channel_id,
                    post_channel=digest.channel_id,
                    kind="channel",
                    items=digest.total,
                    messages=messages,
                    texts=[build_digest_text(digest, i, parts) for i in range(1, parts + 1)],
                )
            )
        )
    if settings.ladder_digest_channel and included:
        summary = compose_workspace_summary(included)
        messages = build_summary_messages(summary)
        report.results.append(
            sender.send(
                _Outgoing(
                    claim_channel=settings.ladder_digest_channel + SUMMARY_MARKER,
                    post_channel=settings.ladder_digest_channel,
                    kind="summary",
                    items=summary.total,
                    messages=messages,
                    texts=[build_summary_text(summary)] * len(messages),
                )
            )
        )
    return report


class _RunKey(TypedDict):
    """The primary key of a digest run."""

    team_id: str
    channel_id: str
    week: date


@dataclass(frozen=True)
class _Sender:
    """Claim, post, record, mark: each step in a transaction of its own."""

    session_factory: sessionmaker[Session]
    client: WebClient
    team_id: str
    week: date
    now: datetime
    claimer: str
    stale_after: timedelta
    interval: float

    def send(self, out: _Outgoing) -> SendResult:
        def result(status: SendStatus, ts: Sequence[str] = (), detail: str = "") -> SendResult:
            return SendResult(out.post_channel, out.kind, status, out.items, tuple(ts), detail)

        key = _RunKey(team_id=self.team_id, channel_id=out.claim_channel, week=self.week)
        with session_scope(self.session_factory) as session:
            if repo.claim_digest(
                session=session,
                **key,
                claimer=self.claimer,
                stale_after=self.stale_after,
                now=self.now,
            ):
                posted = digest_progress(session=session, **key)
            else:
                run = repo.get_digest_run(session=session, **key)
                if run is not None and run.status is DigestStatus.SENT:
                    return result(SendStatus.ALREADY_SENT, run.message_ts or ())
                holder = run.claimed_by if run is not None else "?"
                return result(SendStatus.CLAIMED_ELSEWHERE, detail=f"claimed by {holder}")
        if posted:
            logger.info(
                "digest for %s: resuming after %d message(s) of a sender that died",
                out.claim_channel,
                len(posted),
            )
        for index in range(len(posted), len(out.messages)):
            if index > 0 and self.interval > 0:
                time.sleep(self.interval)
            try:
                response = self.client.chat_postMessage(
                    channel=out.post_channel,
                    text=out.texts[index],
                    blocks=out.messages[index],
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (SlackApiError, OSError) as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
                logger.warning("digest for %s not posted: %s", out.post_channel, error)
                if not posted:  # nothing went out: let the next run try at once
                    with session_scope(self.session_factory) as session:
                        repo.release_digest(session=session, **key, claimer=self.claimer)
                return result(SendStatus.FAILED, posted, f"chat.postMessage: {error}")
            posted.append(str(response["ts"]))
            with session_scope(self.session_factory) as session:
                still_ours = record_digest_progress(
                    session=session, **key, claimer=self.claimer, message_ts=posted
                )
            if not still_ours:
                return result(SendStatus.LOST_CLAIM, posted, "another sender took the claim over")
        try:
            with session_scope(self.session_factory) as session:
                repo.mark_digest_sent(
                    session=session,
                    **key,
                    claimer=self.claimer,
                    message_ts=posted,
                    now=self.now,
                )
        except Conflict:
            return result(SendStatus.LOST_CLAIM, posted, "another sender took the claim over")
        return result(SendStatus.SENT, posted)


def new_claimer() -> str:
    """Who is sending: host, process and a run id (two runs never share a claim)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def digest_job(
    settings: Settings, session_factory: sessionmaker[Session], client: WebClient
) -> Callable[[], None]:
    """The scheduled job of ``ladder serve``: send this week's digests (exactly once, however
    many replicas run it) and log what happened."""

    def run_digest_job() -> None:
        report = send_digests(
            session_factory=session_factory,
            client=client,
            settings=settings,
            now=utcnow(),
            claimer=new_claimer(),
        )
        logger.info("%s", report.summary())

    return run_digest_job


# -- the buttons ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Done:
    line: str
    closed: ReviewView | None


_ACTIONS: dict[str, tuple[str, ClosedReason | None]] = {
    ActionId.DIGEST_SNOOZE.value: ("snooze", None),
    ActionId.DIGEST_CLOSE_WORKED.value: ("close", ClosedReason.WORKED),
    ActionId.DIGEST_CLOSE_ABANDONED.value: ("close", ClosedReason.ABANDONED),
}


def _day(at: datetime | date, tz: ZoneInfo) -> str:
    d = at.astimezone(tz).date() if isinstance(at, datetime) else at
    return f"{d:%a} {d.day} {d:%b}"


def apply_digest_action(
    ctx: AppContext, *, team_id: str, review_id: int, user_id: str, action_id: str
) -> _Done | str:
    """Snooze or close the review from the digest in one transaction. Returns what happened,
    or the refusal to show the user (nothing is changed then)."""
    what, reason = _ACTIONS[action_id]
    now = ctx.now()
    tz = ZoneInfo(ctx.settings.ladder_timezone)
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if review is None:
            return "I can't find this review any more; nothing was changed."
        if not ctx.may_decide(owner_id=review.owner_id, user_id=user_id):
            return (
                f"Only the review's owner ({mention(review.owner_id)}) or an approver can "
                f"{what} it; nothing was changed."
            )
        if what == "snooze":
            until = now + SNOOZE
            repo.add_decision(
                session=session,
                review=review,
                kind=DecisionKind.SNOOZED,
                decided_by=user_id,
                approvers=ctx.settings.approvers,
                snoozed_until=until,
            )
            detail: dict[str, Any] = {"snoozed_until": until.isoformat(), "from": "digest"}
            line = f":zzz: Snoozed until {_day(until, tz)} by {mention(user_id)}."
        else:
            assert reason is not None
            repo.add_decision(
                session=session,
                review=review,
                kind=DecisionKind.CLOSED,
                decided_by=user_id,
                approvers=ctx.settings.approvers,
                closed_reason=reason,
                reason=reason.value,
            )
            detail = {"closed_reason": reason.value, "from": "digest"}
            line = (
                f":white_check_mark: Closed by {mention(user_id)}: it worked."
                if reason is ClosedReason.WORKED
                else f":wastebasket: Closed by {mention(user_id)}: abandoned."
            )
        repo.add_audit(
            session=session,
            team_id=team_id,
            review_id=review.id,
            actor=user_id,
            action=f"digest.{what}",
            detail=detail,
        )
        closed = (
            ReviewView.of(review)
            if review.status is ReviewStatus.CLOSED and review.channel_id and review.thread_ts
            else None
        )
        return _Done(line=line, closed=closed)


def handle_digest_button(
    ctx: AppContext,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
) -> None:
    """After the ack: apply the click, then show it on the digest (and close the thread)."""
    review_id = int(value_of(action["value"])["r"])
    outcome = apply_digest_action(
        ctx,
        team_id=body["team"]["id"],
        review_id=review_id,
        user_id=body["user"]["id"],
        action_id=action["action_id"],
    )
    if isinstance(outcome, str):
        tell_user(client, body, outcome)
        return
    _show_on_digest(body, client, respond, review_id, outcome.line)
    if outcome.closed is not None:
        view = outcome.closed
        try:
            refresh_root(client, view)
            client.chat_postMessage(
                channel=view.channel_id,
                thread_ts=view.thread_ts,
                text=f"{outcome.line} (from the weekly digest)",
            )
        except SlackApiError as exc:
            logger.warning(
                "could not update the thread of review %s: %s", view.id, exc.response.get("error")
            )


def _show_on_digest(
    body: dict[str, Any], client: WebClient, respond: Respond, review_id: int, line: str
) -> None:
    message = body.get("message") or {}
    container = body.get("container") or {}
    blocks = message.get("blocks")
    if not blocks:
        tell_user(client, body, line)
        return
    updated = build_item_done_blocks(blocks, review_id, line)
    if container.get("is_ephemeral"):
        respond(replace_original=True, text=message.get("text") or line, blocks=updated)
        return
    try:
        client.chat_update(
            channel=str((body.get("channel") or {}).get("id") or container.get("channel_id")),
            ts=str(container.get("message_ts") or message.get("ts")),
            text=message.get("text") or line,
            blocks=updated,
        )
    except SlackApiError as exc:
        # The change is saved; only the digest message is stale. Tell the person who clicked.
        logger.warning("could not update the digest message: %s", exc.response.get("error"))
        tell_user(client, body, line)


def register(app: App, ctx: AppContext) -> None:
    def handle_digest_action(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Respond,
    ) -> None:
        ack()
        handle_digest_button(ctx, body, action, client, respond)

    def ack_open_thread(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL and still sends the click

    for action_id in _ACTIONS:
        app.action(action_id)(handle_digest_action)
    app.action(ActionId.OPEN_THREAD.value)(ack_open_thread)


# -- /ladder digest [on|off] ------------------------------------------------------------------


def _workspace_url(client: WebClient) -> str | None:
    try:
        url = client.auth_test().get("url")
    except SlackApiError as exc:
        logger.warning(
            "auth.test failed; the digest preview has no links: %s", exc.response.get("error")
        )
        return None
    return str(url) if url else None


def channel_digest(
    ctx: AppContext, *, team_id: str, channel_id: str, workspace_url: str | None
) -> tuple[ChannelDigest | None, bool]:
    """This channel's digest as it would be posted now, and whether the digest is on."""
    with ctx.session() as session:
        rows = digest_rows(session=session, team_id=team_id, channel_id=channel_id)
        enabled = repo.digest_enabled(session=session, team_id=team_id, channel_id=channel_id)
    digests = compose_digests(
        rows,
        now=ctx.now(),
        tz=ZoneInfo(ctx.settings.ladder_timezone),
        stalled_days=ctx.settings.ladder_stalled_days,
        workspace_url=workspace_url,
    )
    return (digests[0] if digests else None), enabled


def handle_digest_command(
    ctx: AppContext,
    client: WebClient,
    command_body: dict[str, Any],
    args: list[str],
    respond: Respond,
) -> None:
    """``/ladder digest``: this channel's digest, to the caller alone.
    ``/ladder digest on|off``: an approver turns the weekly digest on or off here."""
    team_id = command_body["team_id"]
    channel_id = command_body["channel_id"]
    user_id = command_body["user_id"]
    cmd = escape(ctx.command)
    sub = args[0].lower() if args else ""
    if sub in ("on", "off") and len(args) == 1:
        if user_id not in ctx.settings.approvers:
            respond(
                response_type="ephemeral",
                text="Only an approver (LADDER_APPROVERS) can turn the weekly digest on or off; "
                "nothing was changed.",
            )
            return
        enabled = sub == "on"
        with ctx.session() as session:
            repo.set_digest_enabled(
                session=session,
                team_id=team_id,
                channel_id=channel_id,
                enabled=enabled,
                by=user_id,
            )
            repo.add_audit(
                session=session,
                team_id=team_id,
                actor=user_id,
                action=f"digest.{sub}",
                detail={"channel_id": channel_id},
            )
        respond(
            response_type="in_channel",
            text=f"{mention(user_id)} turned the weekly ladder digest "
            f"{'on' if enabled else 'off'} for this channel.",
        )
        return
    if args:
        respond(
            response_type="ephemeral",
            text=f"`{cmd} digest` shows what is waiting here; approvers turn the weekly digest "
            f"on or off with `{cmd} digest on` / `{cmd} digest off`.",
        )
        return
    digest, enabled = channel_digest(
        ctx, team_id=team_id, channel_id=channel_id, workspace_url=_workspace_url(client)
    )
    state = "on" if enabled else f"off (an approver can turn it on: `{cmd} digest on`)"
    if digest is None:
        respond(
            response_type="ephemeral",
            text="Nothing is waiting for a decision in this channel. "
            f"The weekly digest is {state}.",
        )
        return
    messages = build_digest_messages(
        digest, note=f"Only you can see this; the weekly digest is {state}", command=ctx.command
    )
    if len(messages) > EPHEMERAL_RESPONSES:
        # A response_url takes five messages: four of the digest and a note of what is left.
        shown = messages[: EPHEMERAL_RESPONSES - 1]
        left = sum(
            1
            for blocks in messages[len(shown) :]
            for b in blocks
            if str(b.get("block_id", "")).startswith(f"{DigestBlockId.ITEM}:")
        )
    else:
        shown, left = messages, 0
    for i, blocks in enumerate(shown, 1):
        respond(
            response_type="ephemeral", text=build_digest_text(digest, i, len(shown)), blocks=blocks
        )
    if left:
        respond(
            response_type="ephemeral",
            text=f"…and {left} more item{'s' if left != 1 else ''}, too many to show here; "
            "the weekly digest lists them all.",
        )
