"""deploy/slack/manifest.yaml asks for exactly the scopes and events the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "slack" / "manifest.yaml"

# The bot scope each Web API method needs (methods that need none map to an empty set).
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_getPermalink": set(),
    "conversations_replies": {"channels:history", "groups:history"},
    "files_upload_v2": {"files:write"},
    "views_open": set(),
    "views_publish": set(),
    "with_options": set(),  # not an API call: a copy of the client with other options
}
EVENT_SUBSCRIPTIONS = {
    "message": {"message.channels", "message.groups"},
    "app_home_opened": {"app_home_opened"},
}


def _source() -> str:
    return "\n".join(p.read_text() for d in ("handlers", "bot") for p in (ROOT / d).glob("*.py"))


def test_manifest_scopes_are_exactly_those_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    code = _source()
    methods = set(re.findall(r"client\.([A-Za-z0-9_]+)\(", code))
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {unknown} to METHOD_SCOPES and the manifest"
    needed = {"commands"} | set().union(*(METHOD_SCOPES[m] for m in methods))
    if "url_private" in code:  # a prompt shared as a file is downloaded for drafting
        needed.add("files:read")
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_manifest_events_and_command() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    code = _source()
    events = set(re.findall(r"app\.event\(\"([a-z_]+)\"\)", code))
    needed = set().union(*(EVENT_SUBSCRIPTIONS[e] for e in events))
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == needed
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/ladder"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
