"""Safe mrkdwn from user text: no @channel/@here/user-group pings, no broken formatting."""

from __future__ import annotations

import re

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape user text for mrkdwn.

    ``&``, ``<`` and ``>`` are escaped as Slack requires, which turns ``<!channel>``,
    ``<!here>``, ``<!subteam^...>`` and ``<@U...>`` into inert text. A bare ``@channel`` is
    broken with a zero-width joiner so no client or ``link_names`` setting turns it into a ping.
    Formatting characters are left alone (they cannot ping anyone).
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), text)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def mention(user_id: str) -> str:
    """A user mention for an id Slack gave us (never for user-typed text)."""
    if not re.fullmatch(r"[UW][A-Z0-9]+", user_id):
        return escape(user_id)
    return f"<@{user_id}>"
