"""The weekly digest composer: from review rows to what each channel should be told this week.

Pure: no Slack, no SQL, no clock. The edge (``handlers.digest``) loads ``DigestRow``s, passes
``now`` and the settings' values, and renders the result as Block Kit or sends it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.answers import Outcome

FOLLOW_UP_OUTCOMES = frozenset({Outcome.R1_PROMPT, Outcome.R2_FEW_SHOT, Outcome.R3_RAG})  # 1-3
COST_RULES = frozenset({"V1", "V2"})  # the cost rules of LADDER.md
# Review statuses as the store writes them (store.models.ReviewStatus values).
DECIDED_STATUSES = frozenset({"accepted", "overridden"})

FOLLOW_UP_DAYS = 30  # an accepted rung with no follow-up date is asked "did it work?" after this
AGED_DAYS = 90  # a STAY_PROMPTING on cost grounds is re-checked after this
STALLED_DAYS = 3  # LADDER_STALLED_DAYS' default


class DigestGroup(StrEnum):
    """The four kinds of pending item, in the order the digest lists them."""

    AWAITING_DECISION = "awaiting_decision"
    STALLED = "stalled"
    FOLLOW_UP = "follow_up"
    AGED = "aged"

    @property
    def heading(self) -> str:
        return GROUP_TITLES[self]

    @property
    def short(self) -> str:
        return GROUP_SHORT[self]


GROUP_ORDER: tuple[DigestGroup, ...] = tuple(DigestGroup)
GROUP_TITLES: dict[DigestGroup, str] = {
    DigestGroup.AWAITING_DECISION: "Recommendations awaiting a decision",
    DigestGroup.STALLED: "Reviews stalled in progress",
    DigestGroup.FOLLOW_UP: "Follow-ups due: did it work?",
    DigestGroup.AGED: "Aged assumptions: re-check the volume",
}
GROUP_SHORT: dict[DigestGroup, str] = {
    DigestGroup.AWAITING_DECISION: "awaiting a decision",
    DigestGroup.STALLED: "stalled",
    DigestGroup.FOLLOW_UP: "follow-ups due",
    DigestGroup.AGED: "aged assumptions",
}


class DigestRow(NamedTuple):
    """One open review with what the digest needs of its latest recommendation and decision.

    ``outcome`` is the review's outcome; ``chosen_outcome`` the one its latest decision chose
    (an override's). All datetimes are aware; ``follow_up_on`` is a local date. A named tuple
    rather than a frozen dataclass: a digest reads 100,000 of them, and a frozen dataclass
    takes seven times as long to build.
    """

    review_id: int
    team_id: str
    channel_id: str | None
    thread_ts: str | None
    owner_id: str
    title: str
    status: str
    outcome: str | None
    last_activity_at: datetime
    snoozed_until: datetime | None = None
    follow_up_on: date | None = None
    recommended_at: datetime | None = None
    rules: tuple[str, ...] = ()
    decision_kind: str | None = None
    decided_at: datetime | None = None
    chosen_outcome: str | None = None

    @property
    def outcome_in_force(self) -> str | None:
        """What the team is doing: an override's choice, else the recommendation's outcome."""
        if self.decision_kind == "overridden" and self.chosen_outcome:
            return self.chosen_outcome
        return self.outcome


class DigestItem(NamedTuple):
    """One pending review in a digest: what to show and which group it is listed under."""

    review_id: int
    title: str
    owner_id: str
    group: DigestGroup
    since: datetime  # what the item's age counts from; the sort key within its group
    age_days: int
    detail: str
    permalink: str | None
    outcome: str | None


@dataclass(frozen=True)
class ChannelDigest:
    """What one channel is told in one week: items grouped, each group oldest first."""

    team_id: str
    channel_id: str
    week: date
    items: tuple[DigestItem, ...]

    @property
    def counts(self) -> dict[DigestGroup, int]:
        found = {g: 0 for g in GROUP_ORDER}
        for item in self.items:
            found[item.group] += 1
        return found

    @property
    def total(self) -> int:
        return len(self.items)

    def grouped(self) -> list[tuple[DigestGroup, list[DigestItem]]]:
        """Non-empty groups in digest order, items as sorted."""
        by_group: dict[DigestGroup, list[DigestItem]] = defaultdict(list)
        for item in self.items:
            by_group[item.group].append(item)
        return [(g, by_group[g]) for g in GROUP_ORDER if by_group[g]]


@dataclass(frozen=True)
class ChannelCount:
    channel_id: str
    counts: Mapping[DigestGroup, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class WorkspaceSummary:
    """Counts per channel for ``LADDER_DIGEST_CHANNEL``, busiest channel first."""

    team_id: str
    week: date
    channels: tuple[ChannelCount, ...]
    totals: Mapping[DigestGroup, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


# -- time -------------------------------------------------------------------------------------


def week_of(now: datetime, tz: ZoneInfo) -> date:
    """The Monday of ``now``'s week in ``tz``: the week a digest belongs to."""
    local = now.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def _utc(at: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo subtract and compare by wall clock (a day across a
    # daylight-saving change would be 23 or 25 hours): all arithmetic here is in UTC.
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _days(now: datetime, since: datetime) -> int:
    return max(0, (_utc(now) - _utc(since)).days)


def permalink(workspace_url: str | None, channel_id: str, ts: str | None) -> str | None:
    """The thread's permalink, built like Slack's (``auth.test``'s ``url`` + archives path)
    so a digest needs no ``chat.getPermalink`` call per item."""
    if not workspace_url or not ts:
        return None
    base = workspace_url if workspace_url.endswith("/") else workspace_url + "/"
    return f"{base}archives/{channel_id}/p{ts.replace('.', '')}"


# -- the rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    """``now`` and the cut-offs the rules compare with, computed once per digest (UTC)."""

    now: datetime
    today: date  # in LADDER_TIMEZONE
    stalled_before: datetime  # no activity since then: stalled
    follow_up_before: datetime  # a rung 1-3 decided before then: "did it work?"
    aged_before: datetime  # a cost-based STAY_PROMPTING decided before then: aged


def _awaiting(row: DigestRow, c: _Clock) -> tuple[datetime, str] | None:
    """A recommendation nobody has accepted, overridden or parked yet."""
    if row.status != "recommended":
        return None
    since = row.recommended_at or row.last_activity_at
    outcome = f"recommended {row.outcome}" if row.outcome else "recommendation ready"
    return since, f"{outcome}, no decision for {_days(c.now, since)} days"


def _stalled(row: DigestRow, c: _Clock) -> tuple[datetime, str] | None:
    """A review in progress with no answer (no activity) for ``stalled_days``."""
    if row.status != "in_progress":
        return None
    if _utc(row.last_activity_at) > c.stalled_before:
        return None
    return row.last_activity_at, f"no answer for {_days(c.now, row.last_activity_at)} days"


def _follow_up(row: DigestRow, c: _Clock) -> tuple[datetime, str] | None:
    """ "Did it work?": a parked review whose follow-up date has come, or a decided rung 1-3
    whose follow-up date has come or that was decided more than ``follow_up_days`` ago."""
    since = row.decided_at or row.last_activity_at
    due = row.follow_up_on if row.follow_up_on and row.follow_up_on <= c.today else None
    if row.status == "parked":
        return None if due is None else (since, f"parked; follow-up date {_day(due)} has come")
    if row.status not in DECIDED_STATUSES or row.outcome_in_force not in FOLLOW_UP_OUTCOMES:
        return None
    if due is not None:
        return since, f"{row.outcome_in_force}; follow-up date {_day(due)} has come"
    if row.decided_at is not None and _utc(row.decided_at) < c.follow_up_before:
        return since, f"{row.outcome_in_force} decided {_days(c.now, since)} days ago"
    return None


def _aged(row: DigestRow, c: _Clock) -> tuple[datetime, str] | None:
    """A STAY_PROMPTING decided on cost grounds (rules V1 or V2) more than ``aged_days`` ago:
    the volume it assumed may have grown."""
    if row.status not in DECIDED_STATUSES or row.outcome_in_force != Outcome.STAY_PROMPTING:
        return None
    if not COST_RULES.intersection(row.rules):
        return None
    since = row.decided_at or row.recommended_at or row.last_activity_at
    if _utc(since) >= c.aged_before:
        return None
    days = _days(c.now, since)
    return since, f"stay prompting on cost grounds, {days} days ago: re-check the volume"


_RULES = (
    (DigestGroup.AWAITING_DECISION, _awaiting),
    (DigestGroup.STALLED, _stalled),
    (DigestGroup.FOLLOW_UP, _follow_up),
    (DigestGroup.AGED, _aged),
)


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _classify(row: DigestRow, c: _Clock, workspace_url: str | None) -> DigestItem | None:
    """The digest item for ``row``, or ``None`` when nothing about it is pending this week."""
    if row.status == "closed" or not row.channel_id:
        return None
    if row.snoozed_until is not None and _utc(row.snoozed_until) > c.now:
        return None
    for group, rule in _RULES:
        hit = rule(row, c)
        if hit is not None:
            since, detail = hit
            return DigestItem(
                review_id=row.review_id,
                title=row.title,
                owner_id=row.owner_id,
                group=group,
                since=_utc(since),
                age_days=_days(c.now, since),
                detail=detail,
                permalink=permalink(workspace_url, row.channel_id, row.thread_ts),
                outcome=row.outcome_in_force,
            )
    return None


def compose_digests(
    rows: Iterable[DigestRow],
    *,
    now: datetime,
    tz: ZoneInfo,
    stalled_days: int = STALLED_DAYS,
    aged_days: int = AGED_DAYS,
    follow_up_days: int = FOLLOW_UP_DAYS,
    workspace_url: str | None = None,
) -> list[ChannelDigest]:
    """One digest per (team, channel) with anything pending, sorted by team and channel.

    Items are grouped (awaiting a decision, stalled, follow-ups due, aged assumptions) and each
    group is oldest first. Snoozed and closed reviews are left out. Nothing pending -> ``[]``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    utc_now = _utc(now)
    clock = _Clock(
        now=utc_now,
        today=now.astimezone(tz).date(),
        stalled_before=utc_now - timedelta(days=stalled_days),
        follow_up_before=utc_now - timedelta(days=follow_up_days),
        aged_before=utc_now - timedelta(days=aged_days),
    )
    week = week_of(now, tz)
    per_channel: dict[tuple[str, str], list[DigestItem]] = defaultdict(list)
    for row in rows:
        item = _classify(row, clock, workspace_url)
        if item is not None:
            assert row.channel_id is not None
            per_channel[(row.team_id, row.channel_id)].append(item)
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return [
        ChannelDigest(
            team_id=team_id,
            channel_id=channel_id,
            week=week,
            items=tuple(sorted(items, key=lambda i: (rank[i.group], i.since, i.review_id))),
        )
        for (team_id, channel_id), items in sorted(per_channel.items())
    ]


def compose_workspace_summary(digests: Sequence[ChannelDigest]) -> WorkspaceSummary:
    """Counts per channel for one team's week (the digests ``compose_digests`` made for it)."""
    if not digests:
        raise ValueError("no digests to summarise: a week with nothing pending posts nothing")
    teams = {d.team_id for d in digests}
    weeks = {d.week for d in digests}
    if len(teams) != 1 or len(weeks) != 1:
        raise ValueError("a workspace summary covers one team and one week")
    channels = sorted(
        (ChannelCount(d.channel_id, d.counts) for d in digests),
        key=lambda c: (-c.total, c.channel_id),
    )
    totals = {g: sum(c.counts.get(g, 0) for c in channels) for g in GROUP_ORDER}
    return WorkspaceSummary(
        team_id=teams.pop(), week=weeks.pop(), channels=tuple(channels), totals=totals
    )


# -- plain text (terminal preview, message fallback text) -------------------------------------


def format_counts(counts: Mapping[DigestGroup, int]) -> str:
    """``3 awaiting a decision · 1 stalled``: the non-zero groups, in digest order."""
    parts = [f"{counts[g]} {g.short}" for g in GROUP_ORDER if counts.get(g)]
    return " · ".join(parts) if parts else "nothing pending"


def week_label(week: date) -> str:
    return f"week of {_day(week)}"


def render_digest_text(digest: ChannelDigest) -> str:
    """The digest as plain text, for a terminal or a log."""
    lines = [
        f"Ladder digest for {digest.channel_id} ({digest.team_id}), {week_label(digest.week)}",
        format_counts(digest.counts),
    ]
    for group, items in digest.grouped():
        lines.append("")
        lines.append(f"{group.heading} ({len(items)})")
        for item in items:
            lines.append(
                f"  - [{item.review_id}] {item.title} · owner {item.owner_id} · "
                f"{item.age_days} days · {item.detail}"
            )
            if item.permalink:
                lines.append(f"    {item.permalink}")
    return "\n".join(lines)


def render_summary_text(summary: WorkspaceSummary) -> str:
    lines = [
        f"Ladder workspace summary ({summary.team_id}), {week_label(summary.week)}",
        format_counts(summary.totals),
    ]
    lines += [f"  {c.channel_id}: {format_counts(c.counts)}" for c in summary.channels]
    return "\n".join(lines)
