"""Time to acknowledge ``/ladder`` and a button click, the real app against a bare Bolt app.

Starts, on 127.0.0.1 only: the fake Slack Web API (tests/fake_slack.py, its own process), the
real bot (``ladder serve --http``: gunicorn gthread, the real ``create_app``, a SQLite file in
a temporary folder) and a bare Bolt app under the same gunicorn setup whose listeners only ack.
Then, for each concurrency level, each app in turn gets that many virtual users, each running
a bounded number of reviews: a signed ``/ladder <use case>``, then a signed click on a button
of the first question the bot posted in the review's thread (the bare app gets the same click
on a made-up message). The time to the HTTP response is the ack. Prints p50 and p99 per
scenario for both apps and the ratio real/bare. Stops by itself; see bench/README.md.

    /work/venv/bin/python bench/ack_latency.py [--concurrency 1,20,50] [--rounds 4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path[:0] = [str(ROOT), str(TESTS)]

import slack_signing as signing  # noqa: E402

SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
HOST = "127.0.0.1"
SLACK_ACK_LIMIT_S = 3.0
REAL_RUNNER = "from bot.cli_serve import main; main()"
USE_CASES = [
    "Classify support tickets by product area",
    "Extract invoice fields from PDFs",
    "Summarise incident reports for the weekly review",
    "Answer HR policy questions from the handbook",
    "Rewrite release notes in our house tone",
]


# -- the bare app (run in its own process by --serve-bare) ------------------------------------


def serve_bare(port: int, threads: int) -> None:
    """A Bolt app whose listeners only ack, under the same gunicorn setup as the bot."""
    from slack_bolt import Ack, App

    from bot.server import build_wsgi_app, serve_http
    from bot.settings import load_settings
    from handlers.slack_client import make_web_client

    settings = load_settings()

    def factory() -> Any:
        app = App(client=make_web_client(settings), signing_secret=SECRET)

        def ack_only(ack: Ack) -> None:
            ack()

        app.command(re.compile(".*"))(ack_only)
        app.action(re.compile(".*"))(ack_only)
        app.view(re.compile(".*"))(ack_only)
        app.event("message")(ack_only)
        return build_wsgi_app(app, lambda: True)

    serve_http(factory, host=HOST, port=port, threads=threads)


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@contextlib.contextmanager
def started(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Iterator[Proc]:
    """A child process in its own process group, always stopped (SIGTERM, then SIGKILL)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(name, popen, log)
    try:
        yield proc
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)  # the group started above, by its id
        popen.wait(timeout=5)


def child_env(api_url: str, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LADDER_", "OPENAI_", "GUNICORN_"))
        and k not in ("DATABASE_URL", "WEB_CONCURRENCY")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
        PYTHONUNBUFFERED="1",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
    )
    return env


def wait_until_healthy(proc: Proc, base_url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise SystemExit(
                f"bench: {proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}"
            )
        with contextlib.suppress(OSError):
            if signing.get(f"{base_url}/healthz", timeout=1)[0] == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"bench: {proc.name} not healthy after {timeout}s:\n{proc.tail()}")


def wait_for_file(path: Path, proc: Proc, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text().strip()
        if proc.popen.poll() is not None:
            raise SystemExit(f"bench: {proc.name} exited:\n{proc.tail()}")
        time.sleep(0.05)
    raise SystemExit(f"bench: {proc.name} did not start:\n{proc.tail()}")


# -- the fake Slack, seen from this process ------------------------------------------------------


@dataclass
class RemoteFake:
    base_url: str  # http://127.0.0.1:PORT

    def _get(self, path: str, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as resp:
                return int(resp.status), json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"{}")

    def count(self) -> int:
        return int(self._get("/_fake/calls?count=1")[1]["count"])

    def first_question(self, channel: str, timeout: float) -> dict[str, Any] | None:
        """The first message the bot posted in a thread in ``channel`` (the first question)."""
        query = urllib.parse.urlencode(
            {"method": "chat.postMessage", "channel": channel, "thread_ts": "*", "timeout": timeout}
        )
        status, body = self._get(f"/_fake/wait?{query}", timeout=timeout + 5)
        if status != 200:
            return None
        call = body["calls"][0]
        return {"channel": channel, **call["args"], "ts": call["response"]["ts"]}

    def quiesce(self, still: float = 1.0, timeout: float = 120.0) -> None:
        """Wait until the bot made no Web API call for ``still`` seconds (work after earlier
        acks is done), so one scenario's tail does not land in the next."""
        deadline = time.monotonic() + timeout
        count = self.count()
        while time.monotonic() < deadline:
            time.sleep(still)
            now = self.count()
            if now == count:
                return
            count = now


def first_button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("type") == "button" and "value" in element:
                return dict(element)
    return None


# -- load ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    app: str  # "real" | "bare"
    concurrency: int
    command_s: list[float] = field(default_factory=list)
    click_s: list[float] = field(default_factory=list)
    question_s: list[float] = field(default_factory=list)  # real only: /ladder -> 1st question
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            getattr(self, f"{kind}_s").append(seconds)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1


def timed_post(url: str, req: signing.SignedRequest, timeout: float) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        status, _ = signing.post(url, req.body, req.headers, timeout=timeout)
    except OSError:
        status = 0  # timed out or refused
    return status, time.perf_counter() - started


class Waves:
    """Keeps the users in step: each request goes out in a wave with the same request of every
    other user, so both apps see exactly ``concurrency`` requests arriving together (a user
    that waits for its question does not lighten the real app's load against the bare one's).
    """

    def __init__(self, parties: int, deadline: float) -> None:
        self.deadline = deadline
        self.over = False
        self._barrier = threading.Barrier(parties, action=self._check)

    def _check(self) -> None:
        self.over = self.over or time.monotonic() > self.deadline

    def next(self, scenario: Scenario) -> bool:
        """Wait for every user; false when the run must stop (time budget, a stuck user)."""
        try:
            self._barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            scenario.error("a user got stuck; wave abandoned")
            return False
        if self.over:
            scenario.error("time budget spent")
        return not self.over


def virtual_user(
    scenario: Scenario,
    *,
    index: int,
    rounds: int,
    events_url: str,
    fake: RemoteFake,
    waves: Waves,
    request_timeout: float,
) -> None:
    user = f"UB{index:03d}"
    for r in range(rounds):
        tag = f"{scenario.app[0].upper()}{scenario.concurrency:02d}U{index:03d}R{r:03d}"
        channel = f"CB{tag}"
        use_case = f"{USE_CASES[(index + r) % len(USE_CASES)]} ({tag})"
        command = signing.signed_command(
            SECRET,
            text=use_case,
            user_id=user,
            channel_id=channel,
            response_url=f"{fake.base_url}/response/{tag}",
        )
        if not waves.next(scenario):
            return
        sent = time.perf_counter()
        status, seconds = timed_post(events_url, command, request_timeout)
        click = None
        if status != 200:
            scenario.error(f"/ladder HTTP {status}")
        else:
            scenario.add("command", seconds)
            click = click_for(scenario, fake, channel=channel, user=user, tag=tag, sent=sent)
        if not waves.next(scenario):
            return
        if click is None:
            continue
        status, seconds = timed_post(events_url, click, request_timeout)
        if status != 200:
            scenario.error(f"click HTTP {status}")
        else:
            scenario.add("click", seconds)


def click_for(
    scenario: Scenario, fake: RemoteFake, *, channel: str, user: str, tag: str, sent: float
) -> signing.SignedRequest | None:
    """The signed click on the first button of the review's first question (real app), or
    on a made-up message (bare app); ``None`` when there is nothing to click."""
    if scenario.app == "real":
        question = fake.first_question(channel, timeout=30)
        if question is None:
            scenario.error("no question posted within 30 s")
            return None
        scenario.add("question", time.perf_counter() - sent)
        element = first_button(question)
        if element is None:
            scenario.error("first question has no button")
            return None
        message = question
    else:
        element = signing.button("answer_choice", f"bench-{tag}")
        message = {"channel": channel, "ts": "1700000000.000100", "blocks": []}
    payload = signing.block_actions_payload(
        [
            signing.button(
                element["action_id"], element["value"], block_id=element.get("block_id", "question")
            )
        ],
        user_id=user,
        channel_id=channel,
        message_ts=message["ts"],
        thread_ts=message.get("thread_ts"),
        message={"blocks": message.get("blocks") or [], "text": message.get("text", "")},
    )
    return signing.signed_interaction(SECRET, payload)


def run_scenario(
    app: str, concurrency: int, rounds: int, events_url: str, fake: RemoteFake, deadline: float
) -> Scenario:
    scenario = Scenario(app, concurrency)
    waves = Waves(concurrency, deadline)
    users = [
        threading.Thread(
            target=virtual_user,
            kwargs={
                "scenario": scenario,
                "index": i,
                "rounds": rounds,
                "events_url": events_url,
                "fake": fake,
                "waves": waves,
                "request_timeout": 10.0,
            },
            daemon=True,
        )
        for i in range(concurrency)
    ]
    for user in users:
        user.start()
    for user in users:
        user.join(timeout=max(1.0, deadline - time.monotonic()) + 300)
    return scenario


# -- report -------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float | None:
    """Nearest-rank percentile (with few samples, p99 is the slowest one)."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def ratio(real: float | None, bare: float | None) -> str:
    if real is None or bare is None or bare <= 0:
        return "-"
    return f"{real / bare:.2f}x"


def report(results: dict[tuple[str, int], Scenario], levels: list[int]) -> bool:
    """Print the table; true if every real p99 is under Slack's 3 s."""
    header = (
        f"{'request':<9}{'conc':>5}{'n':>6} | {'bare p50':>9}{'bare p99':>9} | "
        f"{'real p50':>9}{'real p99':>9} | {'p50 ratio':>9}{'p99 ratio':>10}"
    )
    print()
    print("time to ack over loopback, milliseconds (real = ladder serve --http; bare = ack only)")
    print(header)
    print("-" * len(header))
    within = True
    for kind, label in (("command", "/ladder"), ("click", "click")):
        for level in levels:
            bare, real = results[("bare", level)], results[("real", level)]
            b, r = getattr(bare, f"{kind}_s"), getattr(real, f"{kind}_s")
            rp99 = percentile(r, 99)
            within = within and rp99 is not None and rp99 < SLACK_ACK_LIMIT_S
            print(
                f"{label:<9}{level:>5}{len(r):>6} | {ms(percentile(b, 50)):>9}"
                f"{ms(percentile(b, 99)):>9} | {ms(percentile(r, 50)):>9}{ms(rp99):>9} | "
                f"{ratio(percentile(r, 50), percentile(b, 50)):>9}"
                f"{ratio(rp99, percentile(b, 99)):>10}"
            )
    print()
    print("real app, /ladder sent -> first question posted in the thread (work after the ack):")
    for level in levels:
        q = results[("real", level)].question_s
        mean = statistics.fmean(q) * 1000 if q else float("nan")
        print(
            f"  conc {level:>3}: p50 {ms(percentile(q, 50))} ms, p99 {ms(percentile(q, 99))} ms,"
            f" mean {mean:.1f} ms, n {len(q)}"
        )
    errors = {k: dict(v.errors) for k, v in results.items() if v.errors}
    if errors:
        print()
        print("errors:")
        for (app, level), counts in sorted(errors.items()):
            print(f"  {app} conc {level}: {counts}")
    print()
    verdict = "under" if within else "NOT under"
    print(f"real p99 {verdict} Slack's {SLACK_ACK_LIMIT_S:.0f} s ack limit at every level")
    return within and not errors


# -- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--concurrency",
        default="1,20,50",
        help="concurrent reviews (virtual users), comma-separated",
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="reviews per user (each: one /ladder and one click)"
    )
    parser.add_argument(
        "--min-samples",
        type=int,
        default=30,
        help="at low concurrency, users run more rounds to reach this many",
    )
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads, both apps")
    parser.add_argument(
        "--budget", type=float, default=600.0, help="seconds; no new review starts after this"
    )
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.port, args.threads)
        return 0
    if not (ROOT / "handlers" / "app.py").exists():
        print(
            "bench: handlers/app.py (create_app with the real listeners) does not exist yet; "
            "there is no real app to measure. Run this again once it does.",
            file=sys.stderr,
        )
        return 2
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.rounds < 1:
        print("bench: --concurrency and --rounds must be positive", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.budget

    with (
        tempfile.TemporaryDirectory(prefix="ladder-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        port_file = workdir / "fake-slack.url"
        fake_proc = stack.enter_context(
            started(
                "fake-slack",
                [sys.executable, str(TESTS / "fake_slack.py"), "--port-file", str(port_file)],
                child_env("unused", "unused"),
                workdir,
            )
        )
        api_url = wait_for_file(port_file, fake_proc)
        fake = RemoteFake(api_url.removesuffix("/api/"))
        env = child_env(api_url, f"sqlite:///{workdir / 'ladder.db'}")
        ports = {"real": free_port(), "bare": free_port()}
        threads = str(args.threads)
        procs = {
            "real": stack.enter_context(
                started(
                    "real",
                    [
                        sys.executable,
                        "-c",
                        REAL_RUNNER,
                        "--http",
                        "--host",
                        HOST,
                        "--port",
                        str(ports["real"]),
                        "--threads",
                        threads,
                    ],
                    env,
                    workdir,
                )
            ),
            "bare": stack.enter_context(
                started(
                    "bare",
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--serve-bare",
                        "--port",
                        str(ports["bare"]),
                        "--threads",
                        threads,
                    ],
                    env,
                    workdir,
                )
            ),
        }
        for name, proc in procs.items():
            wait_until_healthy(proc, f"http://{HOST}:{ports[name]}")
        print(
            f"bench: real and bare apps up (gunicorn gthread, 1 worker, {args.threads} threads); "
            f"{os.cpu_count()} CPUs; levels {levels}, {args.rounds} reviews per user",
            flush=True,
        )

        results: dict[tuple[str, int], Scenario] = {}
        for level in levels:
            rounds = max(args.rounds, math.ceil(args.min_samples / level))
            for app in ("bare", "real"):
                fake.quiesce()
                started_at = time.monotonic()
                scenario = run_scenario(
                    app, level, rounds, f"http://{HOST}:{ports[app]}/slack/events", fake, deadline
                )
                results[(app, level)] = scenario
                print(
                    f"  {app:<4} conc {level:>3}: {len(scenario.command_s)} /ladder, "
                    f"{len(scenario.click_s)} clicks in {time.monotonic() - started_at:.1f} s",
                    flush=True,
                )
        for name, proc in procs.items():
            if proc.popen.poll() is not None:
                print(f"bench: {name} died during the run:\n{proc.tail()}", file=sys.stderr)
                return 1
        ok = report(results, levels)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
