"""Requests signed exactly as Slack signs them, for driving the bot over HTTP (or ``app.dispatch``).

Slack's v0 signature is ``"v0=" + HMAC-SHA256(secret, f"v0:{timestamp}:{body}")`` sent in
``X-Slack-Signature`` with the timestamp in ``X-Slack-Request-Timestamp``. Slash commands are
a form body; interactivity is a form body with one field, ``payload=<json>``; the Events API
is a JSON body. Every builder comes in two halves: ``*_payload`` returns what Slack sends
(also what Socket Mode delivers), and ``signed_*`` turns it into a ``SignedRequest``::

    req = signed_command("secret", text="help")
    status, body = post(f"{base}/slack/events", req.body, req.headers)

``forged`` and ``stale`` make the requests Bolt must refuse.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
STALE_AFTER_SECONDS = 5 * 60  # Bolt refuses timestamps older than this

_counter = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_counter):06d}"


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode()


def signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Slack-Signature`` value for ``body`` sent at ``timestamp``."""
    raw = body.decode() if isinstance(body, bytes) else body
    base = f"v0:{timestamp}:{raw}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def sign(
    secret: str,
    body: bytes | str,
    *,
    content_type: str,
    timestamp: int | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> SignedRequest:
    """``body`` with the headers Slack would send (``timestamp`` defaults to now)."""
    data = body.encode() if isinstance(body, str) else body
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, ts, data),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    headers.update(extra_headers or {})
    return SignedRequest(body=data, headers=headers)


def forged(request: SignedRequest) -> SignedRequest:
    """The same request with a signature made with the wrong secret."""
    ts = request.headers["X-Slack-Request-Timestamp"]
    headers = dict(request.headers)
    headers["X-Slack-Signature"] = signature("not-the-signing-secret", ts, request.body)
    return replace(request, headers=headers)


def stale(
    secret: str, request: SignedRequest, *, age_seconds: int = STALE_AFTER_SECONDS + 60
) -> SignedRequest:
    """The same body correctly signed, but with a timestamp ``age_seconds`` in the past (a
    replay)."""
    rest = {
        k: v
        for k, v in request.headers.items()
        if k not in ("Content-Type", "X-Slack-Request-Timestamp", "X-Slack-Signature")
    }
    return sign(
        secret,
        request.body,
        content_type=request.headers["Content-Type"],
        timestamp=int(time.time()) - age_seconds,
        extra_headers=rest,
    )


# -- slash commands ---------------------------------------------------------------------------


def command_payload(
    *,
    command: str = "/ladder",
    text: str = "",
    user_id: str = "U1",
    user_name: str | None = None,
    channel_id: str = "C1",
    channel_name: str = "general",
    team_id: str = "T1",
    team_domain: str = "example",
    trigger_id: str | None = None,
    response_url: str | None = None,
    api_app_id: str = "A0LADDER",
) -> dict[str, str]:
    """The form fields of a slash command, as Slack posts them."""
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url
        or f"https://hooks.slack.com/commands/{team_id}/{_unique('')}/fake",
        "trigger_id": trigger_id or _unique("1337.42.trigger"),
    }


def signed_command(secret: str, *, timestamp: int | None = None, **fields: Any) -> SignedRequest:
    """A signed slash command; ``fields`` as for ``command_payload``."""
    body = urllib.parse.urlencode(command_payload(**fields))
    return sign(secret, body, content_type=FORM, timestamp=timestamp)


# -- interactivity ----------------------------------------------------------------------------


def button(
    action_id: str, value: str, *, block_id: str = "question", text: str = "Button"
) -> dict[str, Any]:
    """One clicked button, as it appears in ``actions``."""
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "action_ts": f"{time.time():.6f}",
    }


def checkboxes_action(action_id: str, values: Sequence[str], *, block_id: str) -> dict[str, Any]:
    return {
        "type": "checkboxes",
        "action_id": action_id,
        "block_id": block_id,
        "selected_options": [_option(v) for v in values],
        "action_ts": f"{time.time():.6f}",
    }


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}


# Values of ``state.values[block_id][action_id]``, one per input element type.


def plain_text_value(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def static_select_value(value: str | None) -> dict[str, Any]:
    return {
        "type": "static_select",
        "selected_option": None if value is None else _option(value),
    }


def radio_value(value: str | None) -> dict[str, Any]:
    return {"type": "radio_buttons", "selected_option": None if value is None else _option(value)}


def checkboxes_value(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [_option(v) for v in values]}


def datepicker_value(date: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": date}


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def block_actions_payload(
    actions: Sequence[Mapping[str, Any]],
    *,
    user_id: str = "U1",
    channel_id: str = "C1",
    team_id: str = "T1",
    message_ts: str | None = "1700000000.000100",
    thread_ts: str | None = None,
    message: Mapping[str, Any] | None = None,
    state_values: Mapping[str, Any] | None = None,
    view: Mapping[str, Any] | None = None,
    trigger_id: str | None = None,
    api_app_id: str = "A0LADDER",
    bot_user_id: str = "U0BOT",
) -> dict[str, Any]:
    """A ``block_actions`` payload: a click in a message (``message_ts``, with ``thread_ts``
    when the message is a thread reply) or, when ``view`` is given, inside a modal.

    ``message`` is the clicked message as Slack echoes it (``blocks`` included); by default
    a bot message with no blocks."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-unused",
        "trigger_id": trigger_id or _unique("1337.42.trigger"),
        "team": {"id": team_id, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": dict(state_values or {})},
        "actions": [dict(a) for a in actions],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = _full_view(view, team_id=team_id, state_values=state_values)
        return payload
    assert message_ts is not None, "a click in a message needs its message_ts"
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    echoed: dict[str, Any] = {
        "type": "message",
        "user": bot_user_id,
        "bot_id": "B0BOT",
        "ts": message_ts,
        "text": "",
        "blocks": [],
        "team": team_id,
    }
    echoed.update(message or {})
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
        echoed["thread_ts"] = thread_ts
    payload["container"] = container
    payload["channel"] = {"id": channel_id, "name": "general"}
    payload["message"] = echoed
    payload["response_url"] = f"https://hooks.slack.com/actions/{team_id}/{_unique('')}/fake"
    return payload


def _full_view(
    view: Mapping[str, Any], *, team_id: str, state_values: Mapping[str, Any] | None
) -> dict[str, Any]:
    view_id = str(view.get("id", "V1"))
    full: dict[str, Any] = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "title": {"type": "plain_text", "text": "Ladder"},
        "hash": f"1700000000.{view_id}",
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": "A0LADDER",
        "bot_id": "B0BOT",
        "external_id": "",
        "clear_on_close": False,
        "notify_on_close": False,
    }
    full.update(view)
    full["state"] = {"values": dict(state_values or {})}
    return full


def view_submission_payload(
    *,
    callback_id: str,
    state_values: Mapping[str, Any],
    private_metadata: str = "",
    user_id: str = "U1",
    team_id: str = "T1",
    view_id: str = "V1",
    blocks: Sequence[Mapping[str, Any]] = (),
    api_app_id: str = "A0LADDER",
) -> dict[str, Any]:
    """A ``view_submission`` payload: the modal ``callback_id`` submitted with ``state_values``
    (``{block_id: {action_id: plain_text_value(...)}}``)."""
    view = {
        "id": view_id,
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "blocks": [dict(b) for b in blocks],
    }
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "example"},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-unused",
        "trigger_id": _unique("1337.42.trigger"),
        "view": _full_view(view, team_id=team_id, state_values=state_values),
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def signed_interaction(
    secret: str, payload: Mapping[str, Any], *, timestamp: int | None = None
) -> SignedRequest:
    """An interactivity request (``block_actions``, ``view_submission``): ``payload=<json>``."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    return sign(secret, body, content_type=FORM, timestamp=timestamp)


# -- Events API -------------------------------------------------------------------------------


def message_event(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
) -> dict[str, Any]:
    """A ``message`` event (a thread reply when ``thread_ts`` is given)."""
    ts = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": channel,
        "channel_type": channel_type,
        "client_msg_id": _unique("client-msg-"),
        "team": "T1",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "rt",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "U0BOT"
    return event


def app_home_opened_event(*, user: str = "U1", channel: str = "D1") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }


def event_callback_payload(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A0LADDER",
    bot_user_id: str = "U0BOT",
) -> dict[str, Any]:
    """The Events API envelope around ``event``; reuse ``event_id`` to model a retry."""
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or _unique("Ev0FAKE"),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": _unique("4-eventcontext-"),
    }


def signed_event(
    secret: str,
    payload: Mapping[str, Any],
    *,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
) -> SignedRequest:
    """An Events API request; ``retry_num`` adds the headers Slack sends on a redelivery."""
    extra = (
        {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        if retry_num is not None
        else None
    )
    return sign(
        secret, json.dumps(payload), content_type=JSON, timestamp=timestamp, extra_headers=extra
    )


# -- transport --------------------------------------------------------------------------------


def post(
    url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = 10.0
) -> tuple[int, bytes]:
    """POST ``body``; the status and body, also for 4xx/5xx answers."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


def get(url: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET ``url``; the status and body, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())
