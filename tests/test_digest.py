"""The digest composer and its Block Kit: pure, no database, no Slack, explicit times."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.digest import (
    ChannelDigest,
    DigestGroup,
    DigestRow,
    compose_digests,
    compose_workspace_summary,
    permalink,
    render_digest_text,
    render_summary_text,
    week_of,
)
from bot.scheduler import DIGEST_JOB_ID, next_run_times, start_digest_scheduler
from bot.settings import Settings
from handlers.blocks import SECTION_LIMIT, value_of
from handlers.digest import (
    MAX_BLOCKS,
    DigestBlockId,
    build_digest_messages,
    build_item_done_blocks,
    build_summary_messages,
)
from handlers.ids import ActionId

BERLIN = ZoneInfo("Europe/Berlin")
CRON = "0 9 * * MON"
URL = "https://example.slack.com/"


def berlin(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=BERLIN)


def row(review_id: int, **kw: Any) -> DigestRow:
    base: dict[str, Any] = {
        "review_id": review_id,
        "team_id": "T1",
        "channel_id": "C1",
        "thread_ts": f"1760000000.{review_id:06d}",
        "owner_id": f"U{review_id}",
        "title": f"use case {review_id}",
        "status": "in_progress",
        "outcome": None,
        "last_activity_at": berlin(2025, 6, 1),
    }
    base.update(kw)
    return DigestRow(**base)


def mondays() -> list[datetime]:
    """The digest instants around the end of summer time in 2025 (Sunday 26 October)."""
    return next_run_times(CRON, BERLIN, datetime(2025, 10, 14, tzinfo=UTC), 3)


def ids(digest: ChannelDigest, group: DigestGroup | None = None) -> list[int]:
    return [i.review_id for i in digest.items if group is None or i.group is group]


# -- the schedule -----------------------------------------------------------------------------


def test_monday_nine_stays_nine_local_across_the_october_change() -> None:
    first, second, third = mondays()
    assert first == berlin(2025, 10, 20) and second == berlin(2025, 10, 27)
    assert third == berlin(2025, 11, 3)
    assert [t.utcoffset() for t in (first, second, third)] == [
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert first.astimezone(UTC) == datetime(2025, 10, 20, 7, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2025, 10, 27, 8, tzinfo=UTC)


def test_spring_change_too() -> None:
    # Summer time starts Sunday 30 March 2025: 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z.
    before, after = next_run_times(CRON, BERLIN, datetime(2025, 3, 20, tzinfo=UTC), 2)
    assert before.astimezone(UTC) == datetime(2025, 3, 24, 8, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2025, 3, 31, 7, tzinfo=UTC)
    assert (before.hour, after.hour) == (9, 9)


def test_week_of_is_the_local_monday() -> None:
    # Monday 00:30 in Berlin is still Sunday in UTC: the week is the local one.
    just_after_midnight = berlin(2025, 10, 27, 0, 30)
    assert just_after_midnight.astimezone(UTC).date() == date(2025, 10, 26)
    assert week_of(just_after_midnight, BERLIN) == date(2025, 10, 27)
    assert week_of(berlin(2025, 10, 26, 23, 59), BERLIN) == date(2025, 10, 20)
    assert week_of(just_after_midnight, ZoneInfo("UTC")) == date(2025, 10, 20)
    for instant in mondays():
        assert week_of(instant, BERLIN) == instant.date()


# -- a week in the life -----------------------------------------------------------------------


def test_a_week_in_the_life_across_the_daylight_saving_change() -> None:
    first, second, _ = mondays()

    # The state on Monday 20 October, 09:00 CEST.
    rows_20 = [
        # started Tuesday, last answer Thursday 16 Oct 10:00: 3 days 23 hours -> stalled
        row(1, last_activity_at=berlin(2025, 10, 16, 10)),
        # started Friday, answered Saturday: under 3 days -> not yet stalled
        row(2, last_activity_at=berlin(2025, 10, 18, 11)),
        # recommendations waiting: 4 since Wednesday, 3 since the Monday before (older: first)
        row(
            4,
            status="recommended",
            outcome="R2_FEW_SHOT",
            recommended_at=berlin(2025, 10, 15),
            last_activity_at=berlin(2025, 10, 15),
        ),
        row(
            3,
            status="recommended",
            outcome="R1_PROMPT",
            recommended_at=berlin(2025, 10, 13),
            last_activity_at=berlin(2025, 10, 13),
        ),
        # parked on Thursday until Friday 24 October: not due yet
        row(
            5,
            status="parked",
            outcome="R4_LORA",
            decision_kind="parked",
            decided_at=berlin(2025, 10, 16),
            follow_up_on=date(2025, 10, 24),
        ),
        # accepted rung 1 on 10 September: more than 30 days -> did it work?
        row(
            6,
            status="accepted",
            outcome="R1_PROMPT",
            decision_kind="accepted",
            decided_at=berlin(2025, 9, 10),
        ),
        # accepted LoRA long ago: not a rung 1-3 follow-up
        row(
            7,
            status="accepted",
            outcome="R4_LORA",
            decision_kind="accepted",
            decided_at=berlin(2025, 8, 1),
        ),
        # stay prompting on cost grounds (V1), decided 1 July: > 90 days -> re-check
        row(
            8,
            status="accepted",
            outcome="STAY_PROMPTING",
            rules=("P2", "F2", "V1"),
            decision_kind="accepted",
            decided_at=berlin(2025, 7, 1),
        ),
        # stay prompting because the task changes (S1): never "aged"
        row(
            9,
            status="accepted",
            outcome="STAY_PROMPTING",
            rules=("S1",),
            decision_kind="accepted",
            decided_at=berlin(2025, 5, 1),
        ),
        # snoozed until Wednesday 22 October: left out this week
        row(
            10,
            status="recommended",
            outcome="EVAL_FIRST",
            recommended_at=berlin(2025, 10, 1),
            snoozed_until=berlin(2025, 10, 22, 12),
        ),
        # closed: never in a digest
        row(11, status="closed", outcome="R2_FEW_SHOT", last_activity_at=berlin(2025, 9, 1)),
        # another channel, and a terminal review with no channel
        row(12, channel_id="C2", last_activity_at=berlin(2025, 10, 1)),
        row(13, channel_id=None, thread_ts=None, last_activity_at=berlin(2025, 9, 1)),
    ]
    c1, c2 = compose_digests(rows_20, now=first, tz=BERLIN, stalled_days=3, workspace_url=URL)
    assert (c1.channel_id, c2.channel_id) == ("C1", "C2")
    assert c1.week == c2.week == date(2025, 10, 20)
    assert ids(c1, DigestGroup.AWAITING_DECISION) == [3, 4]  # oldest first
    assert ids(c1, DigestGroup.STALLED) == [1]
    assert ids(c1, DigestGroup.FOLLOW_UP) == [6]
    assert ids(c1, DigestGroup.AGED) == [8]
    assert ids(c1) == [3, 4, 1, 6, 8]  # groups in order
    assert c1.counts == {
        DigestGroup.AWAITING_DECISION: 2,
        DigestGroup.STALLED: 1,
        DigestGroup.FOLLOW_UP: 1,
        DigestGroup.AGED: 1,
    }
    assert ids(c2) == [12]
    stalled = c1.items[2]
    assert stalled.age_days == 3 and stalled.owner_id == "U1"
    assert stalled.permalink == "https://example.slack.com/archives/C1/p1760000000000001"

    # During the week: 4 is accepted on Tuesday, 1 and 2 get answers, 10's snooze ends,
    # 5's follow-up date passes, and on Sunday the clocks go back an hour.
    by_id = {r.review_id: r for r in rows_20}
    by_id[4] = by_id[4]._replace(
        status="accepted", decision_kind="accepted", decided_at=berlin(2025, 10, 21, 14)
    )
    by_id[1] = by_id[1]._replace(last_activity_at=berlin(2025, 10, 25, 10))
    # Friday 09:30 CEST (07:30Z) to Monday 09:00 CET (08:00Z) is 3 days and half an hour of
    # real time (2 days 23.5 hours on the wall clock): stalled.
    by_id[2] = by_id[2]._replace(last_activity_at=berlin(2025, 10, 24, 9, 30))
    c1, c2 = compose_digests(
        by_id.values(), now=second, tz=BERLIN, stalled_days=3, workspace_url=URL
    )
    assert c1.week == date(2025, 10, 27)
    assert ids(c1, DigestGroup.AWAITING_DECISION) == [10, 3]  # snooze over; 10 is older
    assert ids(c1, DigestGroup.STALLED) == [2]
    assert ids(c1, DigestGroup.FOLLOW_UP) == [6, 5]  # 6 accepted 10 Sep, 5 parked 16 Oct
    assert ids(c1, DigestGroup.AGED) == [8]
    assert 4 not in ids(c1)  # accepted six days ago: too early to ask "did it work?"
    assert ids(c2) == [12]
    follow_up = {i.review_id: i for i in c1.items}[5]
    assert follow_up.detail == "parked; follow-up date 24 Oct 2025 has come"
    assert follow_up.age_days == 11  # parked Thursday 16 October


def test_stalled_counts_real_hours_across_the_change() -> None:
    second = mondays()[1]  # Monday 27 October 09:00 CET = 08:00Z
    # Friday 24 October 09:00 CEST = 07:00Z: exactly 3 days and 1 hour before.
    at_nine = row(1, last_activity_at=berlin(2025, 10, 24, 9))
    # Friday 24 October 10:30 CEST = 08:30Z: 2 days 23.5 hours before.
    later = row(2, last_activity_at=berlin(2025, 10, 24, 10, 30))
    (digest,) = compose_digests(
        [at_nine, later], now=second, tz=BERLIN, stalled_days=3, workspace_url=None
    )
    assert ids(digest) == [1]


def test_follow_up_dates_are_local_days() -> None:
    # Monday 00:30 in Berlin (Sunday 23:30Z): a follow-up on Monday is due.
    now = berlin(2025, 10, 27, 0, 30)
    parked = row(
        1,
        status="parked",
        decision_kind="parked",
        decided_at=berlin(2025, 10, 1),
        follow_up_on=date(2025, 10, 27),
    )
    tomorrow = parked._replace(review_id=2, follow_up_on=date(2025, 10, 28))
    (digest,) = compose_digests([parked, tomorrow], now=now, tz=BERLIN, workspace_url=None)
    assert ids(digest, DigestGroup.FOLLOW_UP) == [1]


def test_accepted_rung_with_a_follow_up_date_and_overrides() -> None:
    now = berlin(2025, 10, 27)
    dated = row(
        1,
        status="accepted",
        outcome="R3_RAG",
        decision_kind="accepted",
        decided_at=berlin(2025, 10, 20),
        follow_up_on=date(2025, 10, 26),
    )
    # overridden from LoRA to few-shot 40 days ago: the rung in force is R2 -> follow-up
    overridden = row(
        2,
        status="overridden",
        outcome="R4_LORA",
        decision_kind="overridden",
        chosen_outcome="R2_FEW_SHOT",
        decided_at=now - timedelta(days=40),
    )
    # overridden to LoRA: no "did it work?" for rung 4
    to_lora = row(
        3,
        status="overridden",
        outcome="R2_FEW_SHOT",
        decision_kind="overridden",
        chosen_outcome="R4_LORA",
        decided_at=now - timedelta(days=40),
    )
    recent = row(
        4,
        status="accepted",
        outcome="R2_FEW_SHOT",
        decision_kind="accepted",
        decided_at=now - timedelta(days=29),
    )
    (digest,) = compose_digests(
        [dated, overridden, to_lora, recent], now=now, tz=BERLIN, workspace_url=None
    )
    assert ids(digest) == [2, 1]  # 2 decided 40 days ago is older than 1 (a week ago)
    assert digest.items[0].outcome == "R2_FEW_SHOT"


def test_aged_needs_cost_rules_and_ninety_days() -> None:
    now = berlin(2025, 10, 27)
    v2 = row(
        1,
        status="accepted",
        outcome="STAY_PROMPTING",
        rules=("V2",),
        decision_kind="accepted",
        decided_at=now - timedelta(days=91),
    )
    young = v2._replace(review_id=2, decided_at=now - timedelta(days=89))
    not_cost = v2._replace(review_id=3, rules=("F2",))
    snoozed = v2._replace(review_id=4, snoozed_until=now + timedelta(hours=1))
    snooze_over = v2._replace(
        review_id=5, snoozed_until=now - timedelta(hours=1), decided_at=now - timedelta(days=200)
    )
    (digest,) = compose_digests(
        [v2, young, not_cost, snoozed, snooze_over], now=now, tz=BERLIN, workspace_url=None
    )
    assert ids(digest, DigestGroup.AGED) == [5, 1]
    assert "re-check the volume" in digest.items[0].detail
    (shorter,) = compose_digests([young], now=now, tz=BERLIN, aged_days=60, workspace_url=None)
    assert ids(shorter) == [2]


def test_an_empty_week_posts_nothing() -> None:
    now = berlin(2025, 10, 27)
    quiet = [
        row(1, last_activity_at=now - timedelta(hours=5)),
        row(2, status="closed", last_activity_at=berlin(2025, 1, 1)),
        row(
            3,
            status="recommended",
            recommended_at=berlin(2025, 9, 1),
            snoozed_until=now + timedelta(days=3),
        ),
    ]
    assert compose_digests(quiet, now=now, tz=BERLIN, workspace_url=URL) == []
    assert compose_digests([], now=now, tz=BERLIN, workspace_url=URL) == []
    with pytest.raises(ValueError):
        compose_workspace_summary([])


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        compose_digests([], now=datetime(2025, 10, 27, 9), tz=BERLIN, workspace_url=None)


def test_permalink_is_built_from_the_workspace_url() -> None:
    assert permalink("https://acme.slack.com/", "C9", "1712345678.123456") == (
        "https://acme.slack.com/archives/C9/p1712345678123456"
    )
    assert (
        permalink("https://acme.slack.com", "C9", "1.2") == "https://acme.slack.com/archives/C9/p12"
    )
    assert permalink(None, "C9", "1.2") is None
    assert permalink(URL, "C9", None) is None


def test_workspace_summary_counts_per_channel() -> None:
    now = berlin(2025, 10, 27)
    rows = [row(i, channel_id=f"C{i % 3}", last_activity_at=berlin(2025, 10, 1)) for i in range(7)]
    rows.append(row(50, channel_id="C0", status="recommended", recommended_at=berlin(2025, 10, 1)))
    digests = compose_digests(rows, now=now, tz=BERLIN, workspace_url=None)
    summary = compose_workspace_summary(digests)
    assert [(c.channel_id, c.total) for c in summary.channels] == [("C0", 4), ("C1", 2), ("C2", 2)]
    assert summary.totals[DigestGroup.STALLED] == 7
    assert summary.totals[DigestGroup.AWAITING_DECISION] == 1
    assert summary.total == 8
    assert "C0: 1 awaiting a decision · 3 stalled" in render_summary_text(summary)
    other_team = replace(digests[0], team_id="T2")
    with pytest.raises(ValueError):
        compose_workspace_summary([*digests, other_team])


# -- Block Kit --------------------------------------------------------------------------------


def _all_sections(messages: list[list[dict[str, Any]]]) -> list[str]:
    return [b["text"]["text"] for m in messages for b in m if b["type"] == "section"]


def _check_limits(messages: list[list[dict[str, Any]]]) -> None:
    for message in messages:
        assert 0 < len(message) <= MAX_BLOCKS
        for block in message:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= SECTION_LIMIT
            if block["type"] == "actions":
                assert len(block["elements"]) <= 25
                for el in block["elements"]:
                    assert len(el["text"]["text"]) <= 75 and len(el["value"]) <= 2000
        assert len(json.dumps(message)) < 40_000


def long_digest(n: int) -> ChannelDigest:
    now = berlin(2025, 10, 27)
    rows = []
    for i in range(1, n + 1):
        kind = i % 4
        title = f"{i:03d} " + "<!channel> & friends " * 12  # long, and must be escaped
        title = title[:200]
        if kind == 0:
            rows.append(
                row(
                    i,
                    title=title,
                    status="recommended",
                    outcome="R2_FEW_SHOT",
                    recommended_at=now - timedelta(days=i),
                )
            )
        elif kind == 1:
            rows.append(row(i, title=title, last_activity_at=now - timedelta(days=3 + i)))
        elif kind == 2:
            rows.append(
                row(
                    i,
                    title=title,
                    status="accepted",
                    outcome="R1_PROMPT",
                    decision_kind="accepted",
                    decided_at=now - timedelta(days=31 + i),
                )
            )
        else:
            rows.append(
                row(
                    i,
                    title=title,
                    status="accepted",
                    outcome="STAY_PROMPTING",
                    rules=("V1",),
                    decision_kind="accepted",
                    decided_at=now - timedelta(days=91 + i),
                )
            )
    (digest,) = compose_digests(rows, now=now, tz=BERLIN, workspace_url=URL)
    return digest


def test_a_long_digest_splits_cleanly() -> None:
    digest = long_digest(200)
    assert digest.total == 200
    messages = build_digest_messages(digest)
    assert len(messages) > 1
    _check_limits(messages)

    # The header and the counts are in the first message only; the others say "(continued)".
    assert messages[0][0]["type"] == "header"
    assert "200 waiting" in messages[0][1]["text"]["text"]
    for message in messages[1:]:
        assert message[0]["type"] == "context"
        assert "(continued)" in message[0]["elements"][0]["text"]
        assert all(b["type"] != "header" for b in message)

    # Every item exactly once, its line and its buttons in the same message, in order.
    seen: list[int] = []
    for message in messages:
        for i, block in enumerate(message):
            block_id = block.get("block_id", "")
            if block_id.startswith(f"{DigestBlockId.ITEM}:"):
                review_id = int(block_id.split(":")[1])
                seen.append(review_id)
                buttons = message[i + 1]
                assert buttons["block_id"] == f"{DigestBlockId.ACTIONS}:{review_id}"
                actions = [el["action_id"] for el in buttons["elements"]]
                assert actions == [
                    ActionId.OPEN_THREAD,
                    ActionId.DIGEST_SNOOZE,
                    ActionId.DIGEST_CLOSE_WORKED,
                    ActionId.DIGEST_CLOSE_ABANDONED,
                ]
                assert all(value_of(el["value"]) == {"r": review_id} for el in buttons["elements"])
                assert buttons["elements"][0]["url"].endswith(f"p1760000000{review_id:06d}")
    assert Counter(seen) == Counter(range(1, 201))
    assert seen == [i.review_id for i in digest.items]

    # A group that goes on in the next message says so; each group is announced once.
    sections = _all_sections(messages)
    for group in DigestGroup:
        assert sum(s.startswith(f"*{group.heading}* (50)") for s in sections) == 1
    assert any(s.endswith("(continued)") for s in sections)

    # Titles are escaped (no @channel ping), owners mentioned as users.
    items_text = "\n".join(s for s in sections if "<@U" in s)
    assert "<!channel>" not in items_text and "&lt;!channel&gt;" in items_text
    assert "&amp; friends" in items_text


@pytest.mark.parametrize("n", [1, 23, 24, 25, 47, 48])
def test_split_boundaries(n: int) -> None:
    messages = build_digest_messages(long_digest(n))
    _check_limits(messages)
    found = [
        b["block_id"]
        for m in messages
        for b in m
        if b.get("block_id", "").startswith(f"{DigestBlockId.ITEM}:")
    ]
    assert len(found) == len(set(found)) == n
    for message in messages[1:]:
        assert any(b.get("block_id", "").startswith(f"{DigestBlockId.ITEM}:") for b in message)


def test_no_link_without_a_workspace_url() -> None:
    digest = compose_digests(
        [row(1, last_activity_at=berlin(2025, 10, 1))],
        now=berlin(2025, 10, 27),
        tz=BERLIN,
        workspace_url=None,
    )[0]
    (message,) = build_digest_messages(digest)
    actions = next(b for b in message if b["type"] == "actions")
    assert [el["action_id"] for el in actions["elements"]] == [
        ActionId.DIGEST_SNOOZE,
        ActionId.DIGEST_CLOSE_WORKED,
        ActionId.DIGEST_CLOSE_ABANDONED,
    ]
    assert "*use case 1*" in _all_sections([message])[2]


def test_item_done_replaces_only_that_items_buttons() -> None:
    digest = long_digest(3)
    (message,) = build_digest_messages(digest)
    updated = build_item_done_blocks(message, 2, ":zzz: Snoozed by <@U1>.")
    assert len(updated) == len(message)
    assert not any(b.get("block_id") == f"{DigestBlockId.ACTIONS}:2" for b in updated)
    done = [b for b in updated if b.get("block_id") == f"{DigestBlockId.DONE}:2"]
    assert done and done[0]["elements"][0]["text"] == ":zzz: Snoozed by <@U1>."
    assert any(b.get("block_id") == f"{DigestBlockId.ACTIONS}:1" for b in updated)


def test_workspace_summary_of_a_thousand_channels_splits() -> None:
    now = berlin(2025, 10, 27)
    rows = [
        row(i, channel_id=f"C{i:05d}", last_activity_at=berlin(2025, 10, 1)) for i in range(1000)
    ]
    summary = compose_workspace_summary(
        compose_digests(rows, now=now, tz=BERLIN, workspace_url=None)
    )
    messages = build_summary_messages(summary)
    _check_limits(messages)
    text = "\n".join(_all_sections(messages))
    assert all(f"<#C{i:05d}>" in text for i in range(1000))


def test_plain_text_rendering() -> None:
    digest = long_digest(4)
    text = render_digest_text(digest)
    assert text.splitlines()[0] == "Ladder digest for C1 (T1), week of 27 Oct 2025"
    assert "Recommendations awaiting a decision (1)" in text
    assert "https://example.slack.com/archives/C1/p1760000000000004" in text


def test_the_scheduler_runs_the_job_on_the_local_cron() -> None:
    settings = Settings(ladder_digest_cron=CRON, ladder_timezone="Europe/Berlin")
    ran = threading.Event()
    scheduler = start_digest_scheduler(settings, ran.set)
    try:
        job = scheduler.get_job(DIGEST_JOB_ID)
        assert job is not None
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time is not None and job.misfire_grace_time >= 3600
        first = job.next_run_time
        assert (first.weekday(), first.hour, first.minute) == (0, 9, 0)
        assert first.tzinfo is not None and str(first.tzinfo) == "Europe/Berlin"
        job.modify(next_run_time=datetime.now(BERLIN))  # run it now: the wiring works
        assert ran.wait(timeout=10)
    finally:
        scheduler.shutdown(wait=False)


def test_next_run_times_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError):
        next_run_times(CRON, BERLIN, datetime(2025, 10, 14), 1)
