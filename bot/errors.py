"""Typed errors that carry a message meant for the user (CLI line, Slack reply, modal field)."""

from __future__ import annotations


class LadderError(Exception):
    """An error whose ``user_message`` can be shown to the user as it is."""

    def __init__(self, user_message: str, *, field: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.field = field


class InvalidInput(LadderError):
    """A value the user gave is wrong; ``field`` names it."""


class NotAllowed(LadderError):
    """The user may not do this (e.g. decide on someone else's review)."""


class Conflict(LadderError):
    """Someone else changed the same thing first."""


class ExternalServiceError(LadderError):
    """An outside service (OpenAI, Slack) failed; the review is unaffected."""
