"""What every listener needs, built once by ``create_app``: settings, sessions, the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from store.db import session_scope, utcnow


@dataclass
class AppContext:
    settings: Settings
    session_factory: sessionmaker[Session]
    now: Callable[[], datetime] = field(default=utcnow)
    # The work a listener does after its ack (Slack calls, the database, drafting) runs here,
    # not on Bolt's listener threads, so a burst of slow work never delays the next ack.
    work: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="ladder-work")
    )
    # Drafting waits on an LLM for up to a minute: its own pool, so answers keep moving.
    drafting: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="ladder-draft")
    )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction for one request: committed on success, rolled back on error."""
        with session_scope(self.session_factory) as session:
            yield session

    @property
    def command(self) -> str:
        return self.settings.ladder_command

    def may_decide(self, *, owner_id: str, user_id: str) -> bool:
        return user_id == owner_id or user_id in self.settings.approvers
