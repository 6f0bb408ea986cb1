"""When the weekly digest goes out: ``LADDER_DIGEST_CRON`` in ``LADDER_TIMEZONE``.

The cron is read in local time, so ``0 9 * * MON`` stays 09:00 on the wall clock across a
daylight-saving change. Several replicas may each run the job: exactly-once is the claim's
business (``handlers.digest.send_digests``), not the scheduler's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.settings import Settings

DIGEST_JOB_ID = "weekly-digest"
# A run missed by up to this much (the process was down at 09:00) still happens once.
MISFIRE_GRACE_SECONDS = 6 * 3600


def digest_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """The crontab expression as a trigger in ``tz``; ``ValueError`` if it is not one."""
    return CronTrigger.from_crontab(cron, timezone=tz)


def next_run_times(cron: str, tz: ZoneInfo, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` times ``cron`` fires after ``after``, as aware datetimes in ``tz``."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    trigger = digest_trigger(cron, tz)
    times: list[datetime] = []
    previous: datetime | None = None
    now = after
    while len(times) < n:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    return times


def start_digest_scheduler(settings: Settings, job: Callable[[], None]) -> BackgroundScheduler:
    """Start a background scheduler that runs ``job`` on ``LADDER_DIGEST_CRON``.

    One instance at a time (a slow run is never overlapped by the next), missed runs
    coalesced into one, and a run missed by a restart still happens within the grace time.
    Call ``shutdown()`` on the result when the server stops.
    """
    tz = ZoneInfo(settings.ladder_timezone)
    scheduler = BackgroundScheduler(timezone=tz)
    scheduler.add_job(
        job,
        trigger=digest_trigger(settings.ladder_digest_cron, tz),
        id=DIGEST_JOB_ID,
        name="weekly ladder digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        replace_existing=True,
    )
    scheduler.start()
    return scheduler
