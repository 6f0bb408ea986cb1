"""bench/digest: the weekly digest at scale, on SQLite and PostgreSQL side by side.

Seeds 100,000 reviews over 1,000 channels (with recommendations and decisions in realistic
proportions) into a temporary SQLite file and, when a URL is given, into a dedicated
PostgreSQL schema that is dropped afterwards. Then times, in the same run:

  (a) the digest composition: load the rows (``store.digest_queries.digest_rows``) and
      ``bot.digest.compose_digests``;
  (b) the bare query that fetches the same rows (the same Core select, no ORM, no mapping);

and prints p50 over the repeats, the ratio a/b, and the query plan (EXPLAIN QUERY PLAN on
SQLite, EXPLAIN on PostgreSQL) with the indexes it uses.

    python -m bench.digest                       # SQLite, plus PostgreSQL if
                                                 # LADDER_TEST_POSTGRES_URL is set
    python -m bench.digest --pg postgresql+psycopg://u:p@127.0.0.1/db --repeats 7
    python -m bench.digest --reviews 20000 --channels 200 --max-seconds 120
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from bot.digest import compose_digests
from store.db import make_engine, make_session_factory, normalize_url, session_scope, upgrade
from store.digest_queries import digest_rows, digest_rows_statement
from store.models import Decision, Recommendation, Review

TEAM = "T0BENCH"
NOW = datetime(2025, 10, 27, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin
TZ = ZoneInfo("Europe/Berlin")
BATCH = 10_000
ONE_CHANNEL = f"C{7:08d}"

# A workspace about a year in: most reviews decided, many closed, a fifth still open.
STATUS_WEIGHTS = {
    "closed": 40,
    "accepted": 20,
    "in_progress": 17,
    "recommended": 10,
    "parked": 6,
    "overridden": 7,
}
OUTCOME_WEIGHTS = {
    "R1_PROMPT": 25,
    "R2_FEW_SHOT": 25,
    "R3_RAG": 14,
    "EVAL_FIRST": 10,
    "STAY_PROMPTING": 16,
    "R4_LORA": 8,
    "CAPABILITY_GAP": 2,
}


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _rows(n_reviews: int, n_channels: int, seed: int) -> tuple[list[dict[str, Any]], ...]:
    """Reviews, recommendations and decisions as plain dicts for bulk inserts."""
    rng = random.Random(seed)
    reviews: list[dict[str, Any]] = []
    recommendations: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    rec_id = dec_id = 0
    for review_id in range(1, n_reviews + 1):
        status = _pick(rng, STATUS_WEIGHTS)
        created = NOW - timedelta(days=rng.uniform(0, 365))
        activity = min(NOW, created + timedelta(days=rng.uniform(0, 20)))
        outcome = None if status == "in_progress" else _pick(rng, OUTCOME_WEIGHTS)
        channel = f"C{rng.randrange(n_channels):08d}"
        ts = f"{1_700_000_000 + review_id}.{review_id % 1_000_000:06d}"
        snoozed = (
            NOW + timedelta(days=rng.uniform(-7, 7))
            if status != "closed" and rng.random() < 0.03
            else None
        )
        review = {
            "id": review_id,
            "team_id": TEAM,
            "channel_id": channel if rng.random() > 0.02 else None,  # 2% terminal reviews
            "thread_ts": ts,
            "root_ts": ts,
            "owner_id": f"U{rng.randrange(5000):08d}",
            "title": f"use case {review_id}: triage support tickets for product line {channel}",
            "status": status,
            "source": "slack",
            "outcome": outcome,
            "created_at": created,
            "updated_at": activity,
            "last_activity_at": activity,
            "snoozed_until": snoozed,
            "follow_up_on": None,
            "closed_reason": None,
            "question_ts": {},
        }
        reviews.append(review)
        if outcome is None:
            continue
        last_rec = None
        for _ in range(1 if rng.random() < 0.8 else 2):  # a fifth were re-recommended
            rec_id += 1
            rules = ["P2", "F1"]
            if outcome == "STAY_PROMPTING" and rng.random() < 0.5:
                rules = ["P2", "F2", rng.choice(["V1", "V2"])]
            recommendations.append(
                {
                    "id": rec_id,
                    "review_id": review_id,
                    "outcome": outcome,
                    "rules": rules,
                    "reasons": [f"{r}: fired" for r in rules],
                    "tracks": [],
                    "next_steps": [],
                    "answers_snapshot": {"use_case": review["title"]},
                    "cost_inputs": None,
                    "cost_report": None,
                    "created_at": activity,
                }
            )
            last_rec = rec_id
        decided = min(NOW, activity + timedelta(days=rng.uniform(0, 5)))
        kinds: list[str] = {
            "accepted": ["accepted"],
            "overridden": ["overridden"],
            "parked": ["parked"],
            "closed": ["accepted", "closed"],
            "recommended": [],
        }[status]
        if kinds and rng.random() < 0.1:
            kinds.insert(1, "snoozed")
        for kind in kinds:
            dec_id += 1
            decision = {
                "id": dec_id,
                "review_id": review_id,
                "recommendation_id": last_rec,
                "kind": kind,
                "chosen_outcome": outcome,
                "reason": None,
                "follow_up_on": None,
                "snoozed_until": None,
                "decided_by": review["owner_id"],
                "decided_at": decided,
            }
            if kind == "overridden":
                decision["chosen_outcome"] = rng.choice(["R2_FEW_SHOT", "R4_LORA", "R1_PROMPT"])
                decision["reason"] = "the team knows its data"
            elif kind == "parked":
                follow_up = (decided + timedelta(days=rng.uniform(7, 90))).date()
                decision["follow_up_on"] = follow_up
                review["follow_up_on"] = follow_up
            elif kind == "snoozed":
                decision["snoozed_until"] = decided + timedelta(days=7)
            elif kind == "closed":
                decision["reason"] = "worked"
                review["closed_reason"] = "worked"
            decisions.append(decision)
    return reviews, recommendations, decisions


def seed(engine: Engine, n_reviews: int, n_channels: int) -> dict[str, int]:
    reviews, recommendations, decisions = _rows(n_reviews, n_channels, seed=5)
    with engine.begin() as conn:
        for table, rows in (
            (Review, reviews),
            (Recommendation, recommendations),
            (Decision, decisions),
        ):
            for start in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[start : start + BATCH])
        if engine.dialect.name == "postgresql":
            for table_name in ("recommendations", "decisions"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                        f"(SELECT max(id) FROM {table_name}))"
                    )
                )
    # What autovacuum would have done by the time a digest runs: statistics for the planner
    # and, on PostgreSQL, the visibility map that lets index-only scans skip the heap.
    analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(analyze))
    return {
        "reviews": len(reviews),
        "recommendations": len(recommendations),
        "decisions": len(decisions),
    }


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    seconds: list[float]
    rows: int

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)


def _time(label: str, fn: Callable[[], int], repeats: int, deadline: float) -> Timing:
    fn()  # warm the caches and the statement cache once
    seconds: list[float] = []
    rows = 0
    for _ in range(repeats):
        start = time.perf_counter()
        rows = fn()
        seconds.append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return Timing(label, seconds, rows)


def measure(engine: Engine, repeats: int, deadline: float) -> tuple[list[Timing], int]:
    factory = make_session_factory(engine)
    stmt = digest_rows_statement(team_id=TEAM)
    pending = 0

    def composition() -> int:
        nonlocal pending
        with session_scope(factory) as session:
            rows = digest_rows(session=session, team_id=TEAM)
        digests = compose_digests(rows, now=NOW, tz=TZ, workspace_url="https://bench.slack.com/")
        pending = sum(d.total for d in digests)
        return len(rows)

    def bare_query() -> int:
        with engine.connect() as conn:
            return len(conn.execute(stmt).fetchall())

    def load_only() -> int:
        with session_scope(factory) as session:
            return len(digest_rows(session=session, team_id=TEAM))

    def one_channel() -> int:
        with session_scope(factory) as session:
            rows = digest_rows(session=session, team_id=TEAM, channel_id=ONE_CHANNEL)
        compose_digests(rows, now=NOW, tz=TZ, workspace_url="https://bench.slack.com/")
        return len(rows)

    timings = [
        _time("(a) load rows + compose_digests", composition, repeats, deadline),
        _time("(b) bare query (Core select, fetchall)", bare_query, repeats, deadline),
        _time("    load rows only (query + DigestRow)", load_only, repeats, deadline),
        _time("    one channel, /ladder digest (a)", one_channel, repeats, deadline),
    ]
    return timings, pending


def query_plan(engine: Engine, channel_id: str | None = None) -> str:
    stmt = digest_rows_statement(team_id=TEAM, channel_id=channel_id)
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            parents = {r[0]: r[1] for r in plan}
            return "\n".join(f"{'  ' * _depth(parents, r[1])}{r[3]}" for r in plan)
        plan = conn.exec_driver_sql(f"EXPLAIN {sql}").fetchall()
        return "\n".join(r[0] for r in plan)


def _depth(parents: dict[int, int], parent: int) -> int:
    depth = 0
    while parent in parents:
        depth += 1
        parent = parents[parent]
    return depth


# -- databases --------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="ladder-bench-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_database(url: str) -> Iterator[Engine]:
    """A schema of its own in the given database, dropped afterwards whatever happens."""
    base = normalize_url(url)
    schema = f"ladder_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(base.update_query_dict({"options": f"-csearch_path={schema}"}))
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the run ----------------------------------------------------------------------------------


def run_backend(
    name: str, database: Any, args: argparse.Namespace, deadline: float
) -> list[Timing] | None:
    print(f"\n== {name}", flush=True)
    with database as engine:
        start = time.perf_counter()
        counts = seed(engine, args.reviews, args.channels)
        print(
            f"seeded {counts['reviews']:,} reviews over {args.channels:,} channels, "
            f"{counts['recommendations']:,} recommendations, {counts['decisions']:,} decisions "
            f"in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        if time.monotonic() > deadline:
            print("time limit reached after seeding: no timings")
            return None
        timings, pending = measure(engine, args.repeats, deadline)
        for t in timings:
            print(
                f"{t.label:42s} p50 {t.p50 * 1000:8.1f} ms  ({len(t.seconds)} runs, "
                f"{t.rows:,} rows)"
            )
        print(f"pending items in the digests: {pending:,}")
        print(f"ratio (a)/(b): {timings[0].p50 / timings[1].p50:.2f}")
        print("query plan, the whole team (the weekly send):")
        print("\n".join("  " + line for line in query_plan(engine).splitlines()))
        print("query plan, one channel (/ladder digest):")
        print("\n".join("  " + line for line in query_plan(engine, ONE_CHANNEL).splitlines()))
        return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--pg",
        default=os.environ.get("LADDER_TEST_POSTGRES_URL") or None,
        help="PostgreSQL URL (default: LADDER_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=900.0,
        help="stop timing (not mid-insert) once this much time has passed",
    )
    args = parser.parse_args(argv)
    if args.reviews < 1 or args.channels < 1 or args.repeats < 1:
        parser.error("--reviews, --channels and --repeats must be positive")
    deadline = time.monotonic() + args.max_seconds

    print(
        f"bench/digest: {args.reviews:,} reviews, {args.channels:,} channels, "
        f"{args.repeats} repeats, digest as of {NOW.isoformat()}"
    )
    results: dict[str, list[Timing] | None] = {}
    results["SQLite"] = run_backend("SQLite (temporary file)", sqlite_database(), args, deadline)
    if args.pg:
        shown = make_url(normalize_url(args.pg)).render_as_string(hide_password=True)
        results["PostgreSQL"] = run_backend(
            f"PostgreSQL ({shown}, own schema)", postgres_database(args.pg), args, deadline
        )
    else:
        print("\n(PostgreSQL skipped: pass --pg URL or set LADDER_TEST_POSTGRES_URL)")

    print("\n== side by side (p50, ms)")
    names = [n for n, t in results.items() if t]
    print(f"{'':42s}" + "".join(f"{n:>14s}" for n in names))
    for i in range(4):
        label = next(t[i].label for t in results.values() if t)
        print(
            f"{label:42s}"
            + "".join(
                f"{results[n][i].p50 * 1000:14.1f}"  # type: ignore[index]
                for n in names
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
