"""The fake Slack Web API answers like Slack, records every call, and can be scripted to fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import Settings
from handlers.slack_client import make_web_client


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack.api_url)
    return make_web_client(settings, timeout=5)


def test_api_url_is_loopback_with_trailing_slash(slack: FakeSlack) -> None:
    assert slack.api_url.startswith("http://127.0.0.1:")
    assert slack.api_url.endswith("/api/")
    assert slack.port > 0


def test_auth_test_and_token_recorded(slack: FakeSlack, client: WebClient) -> None:
    reply = client.auth_test()
    assert reply["ok"] is True
    assert reply["team_id"] == "T1"
    assert reply["user_id"] == slack.bot_user_id
    assert reply["bot_id"] == slack.bot_id
    call = slack.last("auth.test")
    assert call is not None
    assert call["token"] == "xoxb-test"
    assert call["headers"]["authorization"] == "Bearer xoxb-test"


def test_no_token_is_not_authed(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url).auth_test()
    assert err.value.response["error"] == "not_authed"


def test_post_message_unique_increasing_ts_and_message_store(
    slack: FakeSlack, client: WebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*root*"}}]
    root = client.chat_postMessage(channel="C1", text="root", blocks=blocks)
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=root["ts"])
    other = client.chat_postMessage(channel="C2", text="elsewhere")
    assert root["ts"] == "1700000000.000100"
    assert root["ts"] < reply["ts"] < other["ts"]
    assert root["channel"] == "C1"
    assert root["message"]["blocks"] == blocks
    assert reply["message"]["thread_ts"] == root["ts"]
    # The JSON body is parsed: blocks come back as structures, not text.
    assert slack.calls("chat.postMessage")[0]["args"]["blocks"] == blocks

    client.chat_update(channel="C1", ts=root["ts"], text="root (updated)", blocks=[])
    thread = slack.messages("C1", thread_ts=root["ts"])
    assert [m["text"] for m in thread] == ["root (updated)", "reply"]
    assert [m["text"] for m in slack.messages("C2")] == ["elsewhere"]


def test_form_encoded_arguments_and_json_strings_decoded(slack: FakeSlack) -> None:
    # Legacy clients post form bodies with blocks as JSON text.
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    client.api_call(
        "chat.postEphemeral",
        params={
            "channel": "C1",
            "user": "U1",
            "text": "only you",
            "blocks": '[{"type":"divider"}]',
        },
    )
    call = slack.last("chat.postEphemeral")
    assert call is not None
    assert call["headers"]["content-type"].startswith("application/x-www-form-urlencoded")
    assert call["args"]["user"] == "U1"
    assert call["args"]["blocks"] == [{"type": "divider"}]
    assert call["response"]["message_ts"]


def test_conversation_and_user_info(slack: FakeSlack, client: WebClient) -> None:
    info = client.conversations_info(channel="G42")
    assert info["channel"]["is_private"] is True
    assert info["channel"]["is_member"] is True
    user = client.users_info(user="U9")
    assert user["user"]["id"] == "U9"
    call = slack.last("conversations.info")
    assert call is not None
    assert call["args"] == {"channel": "G42"}


def test_permalink(slack: FakeSlack, client: WebClient) -> None:
    link = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")
    assert link["permalink"] == "https://example.slack.com/archives/C1/p1700000000000100"


def test_views_return_a_view_with_id(slack: FakeSlack, client: WebClient) -> None:
    view = {"type": "modal", "callback_id": "cost", "title": {"type": "plain_text", "text": "x"}}
    opened = client.views_open(trigger_id="1.2.trigger", view=view)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["callback_id"] == "cost"
    updated = client.views_update(view_id=opened["view"]["id"], view=view)
    assert updated["view"]["id"] == opened["view"]["id"]
    pushed = client.views_push(trigger_id="1.2.trigger", view=view)
    assert pushed["view"]["id"] != opened["view"]["id"]
    home = {"type": "home", "blocks": []}
    client.views_publish(user_id="U1", view=home)
    published = slack.home_view("U1")
    assert published is not None
    assert published["type"] == "home"


def test_files_upload_v2_goes_through_the_fake(slack: FakeSlack, client: WebClient) -> None:
    content = b"\x89PNG fake chart" * 100
    reply = client.files_upload_v2(
        channel="C1",
        thread_ts="1700000000.000100",
        content=content,
        filename="chart.png",
        title="Break-even",
    )
    assert reply["ok"] is True
    url_call = slack.last("files.getUploadURLExternal")
    upload = slack.last("upload")
    done = slack.last("files.completeUploadExternal")
    assert url_call is not None and upload is not None and done is not None
    assert url_call["response"]["upload_url"].startswith(slack.base_url + "/upload/")
    assert upload["size"] == len(content)
    assert upload["file_id"] == url_call["response"]["file_id"]
    assert done["args"]["channel_id"] == "C1"
    assert done["args"]["thread_ts"] == "1700000000.000100"
    assert done["args"]["files"][0]["id"] == upload["file_id"]


def test_error_next_then_normal(slack: FakeSlack, client: WebClient) -> None:
    slack.error_next("chat.postMessage", error="not_in_channel")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True


def test_set_member_refuses_posts(slack: FakeSlack, client: WebClient) -> None:
    slack.set_member("C9", False)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C9", text="hi")
    assert err.value.response["error"] == "not_in_channel"
    assert client.conversations_info(channel="C9")["channel"]["is_member"] is False


def test_unknown_method(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.api_call("reactions.add", json={"channel": "C1", "name": "x", "timestamp": "1.2"})
    assert err.value.response["error"] == "unknown_method"
    slack.respond("reactions.add", lambda fake, call: {"ok": True})
    assert client.api_call("reactions.add", json={"name": "x"})["ok"] is True


def test_rate_limit_retried_after_retry_after(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    reply = client.chat_postMessage(channel="C1", text="hello")
    elapsed = time.monotonic() - started
    assert reply["ok"] is True
    calls = slack.calls("chat.postMessage")
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[0]["response"] == {"ok": False, "error": "ratelimited"}
    assert elapsed >= 1.0
    assert calls[1]["at"] - calls[0]["at"] >= 1.0


def test_fail_next_times(slack: FakeSlack) -> None:
    # No retry handlers: every scripted failure reaches the caller.
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    slack.fail_next("auth.test", status=503, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.auth_test()
        assert err.value.response.status_code == 503
    assert client.auth_test()["ok"] is True


def test_wait_for_sees_calls_from_other_threads(slack: FakeSlack, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.2)
        client.chat_postMessage(channel="C1", text="first")
        client.chat_postMessage(channel="C1", text="second")

    threading.Thread(target=later, daemon=True).start()
    calls = slack.wait_for("chat.postMessage", count=2, timeout=5)
    assert [c["args"]["text"] for c in calls] == ["first", "second"]
    second = slack.wait_for(
        "chat.postMessage", where=lambda c: c["args"]["text"] == "second", timeout=1
    )
    assert len(second) == 1


def test_wait_for_times_out_with_what_arrived(slack: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        slack.wait_for("chat.postMessage", timeout=0.2)


def test_reset_forgets_everything(slack: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    slack.error_next("auth.test")
    slack.reset()
    assert slack.calls() == []
    assert slack.messages() == []
    assert client.auth_test()["ok"] is True


def test_response_url_posts_recorded(slack: FakeSlack) -> None:
    from slack_sdk.webhook import WebhookClient

    url = slack.response_url()
    assert url.startswith(slack.base_url + "/response/")
    reply = WebhookClient(url).send(text="only you", response_type="ephemeral")
    assert reply.status_code == 200
    call = slack.wait_for("response_url")[0]
    assert call["path"] == url[len(slack.base_url) :]
    assert call["args"] == {"text": "only you", "response_type": "ephemeral"}


def test_introspection_endpoints(slack: FakeSlack, client: WebClient) -> None:
    import json
    import urllib.request

    client.chat_postMessage(channel="C1", text="hi")
    with urllib.request.urlopen(f"{slack.base_url}/_fake/calls?method=chat.postMessage") as r:
        calls = json.loads(r.read())["calls"]
    assert [c["args"]["text"] for c in calls] == ["hi"]
    with urllib.request.urlopen(f"{slack.base_url}/_fake/messages?channel=C1") as r:
        assert [m["text"] for m in json.loads(r.read())["messages"]] == ["hi"]
    assert len(slack.calls()) == 1  # looking is not a call


def test_long_poll_wait_endpoint(slack: FakeSlack, client: WebClient) -> None:
    import json
    import urllib.error
    import urllib.request

    def later() -> None:
        time.sleep(0.2)
        client.chat_postMessage(channel="C1", text="root")
        client.chat_postMessage(channel="C2", text="reply", thread_ts="1.2")

    threading.Thread(target=later, daemon=True).start()
    url = f"{slack.base_url}/_fake/wait?method=chat.postMessage&channel=C2&thread_ts=*&timeout=5"
    with urllib.request.urlopen(url) as r:
        calls = json.loads(r.read())["calls"]
    assert [c["args"]["text"] for c in calls] == ["reply"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{slack.base_url}/_fake/wait?method=views.open&timeout=0.1")
    assert err.value.code == 408
