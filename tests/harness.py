"""Drive the real Bolt app (``create_app``) with Slack-signed requests against a fake Slack Web
API and a real database: the listener layer of the tests (STYLE.md 12)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import slack_signing as s
from fake_slack import FakeSlack, fake_slack  # noqa: F401  (fixture)
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from handlers.app import create_app

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token-never-shown"


def make_settings(fake: FakeSlack, database_url: str, **extra: Any) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
        database_url=database_url,
        **extra,
    )


@dataclass
class Executors:
    listeners: ThreadPoolExecutor  # Bolt's: acks
    work: ThreadPoolExecutor  # ours: what happens after the ack


@dataclass
class Bot:
    """The app under test plus helpers to act as Slack users would."""

    app: App
    fake: FakeSlack
    session_factory: sessionmaker[Session]
    send: Callable[[s.SignedRequest], tuple[int, str]]
    executor: Executors | None = None

    def close(self) -> None:
        """Wait for the work listeners do after their ack."""
        if self.executor is not None:
            self.executor.listeners.shutdown(wait=True)
            self.executor.work.shutdown(wait=True)

    # -- what users do ---------------------------------------------------------------------

    def command(self, text: str, *, user: str = "U1", channel: str = "C1") -> tuple[int, str]:
        return self.send(
            s.signed_command(
                SECRET,
                text=text,
                user_id=user,
                channel_id=channel,
                response_url=self.fake.response_url(),
            )
        )

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        user: str = "U1",
        label: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> tuple[int, str]:
        """Click the button ``action_id`` (the one labelled ``label``) in a posted message."""
        element = find_element(message, action_id, label)
        payload = s.block_actions_payload(
            [s.button(action_id, element["value"])],
            user_id=user,
            channel_id=message["channel"],
            message_ts=message["ts"],
            thread_ts=message.get("thread_ts"),
            message={"blocks": message.get("blocks", [])},
            state_values=state,
        )
        return self.send(s.signed_interaction(SECRET, payload))

    def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U1"
    ) -> tuple[int, str]:
        payload = s.view_submission_payload(
            callback_id=view["callback_id"],
            state_values=values,
            private_metadata=view.get("private_metadata", ""),
            user_id=user,
        )
        return self.send(s.signed_interaction(SECRET, payload))

    def reply(
        self,
        text: str,
        *,
        thread_ts: str,
        user: str = "U1",
        channel: str = "C1",
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        event = s.message_event(text, user=user, channel=channel, thread_ts=thread_ts)
        payload = s.event_callback_payload(event, event_id=event_id)
        return self.send(s.signed_event(SECRET, payload, retry_num=retry_num))

    # -- what Slack shows ------------------------------------------------------------------

    def thread(self, thread_ts: str, channel: str = "C1") -> list[dict[str, Any]]:
        return self.fake.messages(channel=channel, thread_ts=thread_ts)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Listeners work after the ack, in Bolt's threads: wait for what they post."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError("condition not met in time")

    def last_question(self, thread_ts: str) -> dict[str, Any]:
        msgs = [m for m in self.thread(thread_ts) if m["ts"] != thread_ts]
        return msgs[-1]


def find_element(
    message: dict[str, Any], action_id: str, label: str | None = None
) -> dict[str, Any]:
    for block in message.get("blocks", []):
        for el in block.get("elements", []) if block.get("type") == "actions" else []:
            if el.get("action_id") != action_id:
                continue
            text = el.get("text", {}).get("text", "")
            if label is None or text.lstrip("✓ ") == label:
                return dict(el)
    raise AssertionError(f"no {action_id} {label!r} in message {json.dumps(message)[:500]}")


def dispatcher(app: App) -> Callable[[s.SignedRequest], tuple[int, str]]:
    def send(req: s.SignedRequest) -> tuple[int, str]:
        resp: BoltResponse = app.dispatch(BoltRequest(body=req.text, headers=req.headers))
        return resp.status, resp.body

    return send


def make_bot_app(
    fake: FakeSlack, session_factory: sessionmaker[Session], database_url: str, **settings: Any
) -> tuple[App, Executors]:
    """The app with its own listener threads, so a test can wait for the work after each ack
    to finish (``executor.shutdown(wait=True)``) before the fake Slack goes away."""
    listeners = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bolt-listener")
    work = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ladder-work")
    app = create_app(
        make_settings(fake, database_url, **settings),
        session_factory=session_factory,
        listener_executor=listeners,
        work_executor=work,
    )
    return app, Executors(listeners, work)


def make_bot(
    fake: FakeSlack, session_factory: sessionmaker[Session], database_url: str, **settings: Any
) -> Bot:
    app, executor = make_bot_app(fake, session_factory, database_url, **settings)
    return Bot(
        app=app,
        fake=fake,
        session_factory=session_factory,
        send=dispatcher(app),
        executor=executor,
    )
