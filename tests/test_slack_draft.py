"""Rung 1 in Slack: "Draft it for me" end to end through ``app.dispatch`` with signed requests,
the fake Slack Web API and the fake OpenAI server, on SQLite and PostgreSQL; plus the pure
builders and parsers of ``handlers/drafts.py``."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from fake_openai import fake_openai as fake_openai
from fake_slack import Call, FakeSlack
from harness import BOT_TOKEN, Bot, make_bot
from slack_signing import checkboxes_value, plain_text_value
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from test_slack_review import answer_choice, answer_modes, db, start

import handlers.drafts as drafts
from bot.drafter import Change, DraftedPrompt, DraftResult, PromptExample
from bot.errors import InvalidInput
from bot.prices import lookup_model_price
from bot.prompt_cost import CostChoice, PromptCost, monthly_cost, prompt_cost
from handlers.drafts import (
    DraftField,
    EarlierDraft,
    ShownDraft,
    block_id,
    build_draft_result_blocks,
    parse_draft_fields,
    parse_examples,
)
from handlers.ids import INPUT_ACTION, ActionId, CallbackId
from store import repository as repo
from store.models import Answer, AuditEntry, Draft, Review

# Recognizable, so a leak anywhere is easy to find.
FAKE_KEY = "sk-test-NEVER-SHOW-ME-slack-4b2e9d71"
MODEL = "gpt-4.1-mini"

SAMPLE_DRAFT = DraftedPrompt(
    role_and_task="You triage Acme support tickets into queues. <!channel>",
    steps=["Read the ticket.", "Find the product and the problem.", "Pick the queue last."],
    output_format='JSON: {"queue": "...", "priority": "low|normal|high"}',
    constraints=["Only the queues listed below."],
    examples=[PromptExample(input="Where is my refund?", output='{"queue": "billing"}')],
    edge_cases=["Empty ticket: queue 'unknown'."],
    changes=[Change(what="Added steps", why="Reasoning before the answer.")],
    open_questions=["Which queues exist?"],
)


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def bot(
    fake_slack: FakeSlack, engine: Engine, session_factory: sessionmaker[Session]
) -> Iterator[Bot]:
    # No key: the template path, whatever the developer's environment says.
    bot = make_bot(fake_slack, session_factory, str(engine.url), openai_api_key=None)
    yield bot
    bot.close()


@pytest.fixture
def llm_bot(
    fake_slack: FakeSlack,
    engine: Engine,
    session_factory: sessionmaker[Session],
    fake_openai: FakeOpenAI,
) -> Iterator[Bot]:
    bot = make_bot(
        fake_slack,
        session_factory,
        str(engine.url),
        openai_api_key=FAKE_KEY,
        openai_base_url=fake_openai.base_url,
        ladder_draft_model=MODEL,
    )
    yield bot
    bot.close()


@pytest.fixture
def fast_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short per-attempt timeout so the timeout case takes about a second."""
    monkeypatch.setattr(drafts, "DRAFT_TIMEOUT_S", 0.4)


def dump(value: Any, **kw: Any) -> str:
    return json.dumps(value, ensure_ascii=False, **kw)


def to_p2(bot: Bot) -> str:
    """A review waiting on the P2 question ("shall I draft a stronger system prompt?")."""
    thread = start(bot)
    answer_modes(bot, thread, ["format", "tone"])
    answer_choice(bot, thread, "A detailed one")
    return thread


def p2_message(bot: Bot, thread: str) -> dict[str, Any]:
    return next(m for m in bot.thread(thread) if "draft a stronger system prompt" in m["text"])


def open_modal(bot: Bot, message: dict[str, Any], action: ActionId, **kw: Any) -> dict[str, Any]:
    n = len(bot.fake.calls("views.open"))
    status, _ = bot.click(message, action, **kw)
    assert status == 200
    view = bot.fake.wait_for("views.open", count=n + 1)[-1]["args"]["view"]
    return view if isinstance(view, dict) else dict(json.loads(view))


def fields(**given: Any) -> dict[str, Any]:
    """Modal state: text fields by ``DraftField`` name; ``failure_modes`` as a list."""
    state: dict[str, Any] = {}
    for name, value in given.items():
        field = DraftField(name)
        element = (
            checkboxes_value(value)
            if field is DraftField.FAILURE_MODES
            else plain_text_value(value)
        )
        state[block_id(field)] = {INPUT_ACTION: element}
    return state


def prefilled(view: dict[str, Any], field: DraftField) -> Any:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id(field))
    element = block["element"]
    if element["type"] == "checkboxes":
        return [o["value"] for o in element.get("initial_options", [])]
    return element.get("initial_value", "")


def submit_and_wait(bot: Bot, view: dict[str, Any], state: dict[str, Any], **kw: Any) -> Call:
    """Submit a drafting modal; wait for "Drafting…" and for the chat.update that replaces it.
    Returns that chat.update call."""
    n = len(_drafting_posts(bot))
    status, body = bot.submit(view, state, **kw)
    assert status == 200 and body == "", body  # acked with no view change: the modal closes
    post = bot.fake.wait_for(
        "chat.postMessage", count=n + 1, where=lambda c: "Drafting a system prompt" in _text(c)
    )[-1]
    ts = post["response"]["ts"]
    return bot.fake.wait_for("chat.update", where=lambda c: c["args"].get("ts") == ts)[-1]


def _drafting_posts(bot: Bot) -> list[Call]:
    return [c for c in bot.fake.calls("chat.postMessage") if "Drafting a system prompt" in _text(c)]


def _text(call: Call) -> str:
    return str(call["args"].get("text", ""))


def message(bot: Bot, ts: str) -> dict[str, Any]:
    return next(m for m in bot.fake.messages(channel="C1") if m["ts"] == ts)


def rows(bot: Bot) -> list[Draft]:
    with bot.session_factory() as s:
        found = list(s.scalars(select(Draft).order_by(Draft.version)))
        s.expunge_all()
        return found


def answers(bot: Bot) -> dict[str, Any]:
    with bot.session_factory() as s:
        review_id = s.scalars(select(Review.id)).one()
        return repo.current_answers(session=s, team_id="T1", review_id=review_id)


def wait_question(bot: Bot, thread: str, words: str) -> dict[str, Any]:
    """The first reply in the thread whose text has ``words``, once it is there."""

    def found() -> list[dict[str, Any]]:
        return [m for m in bot.thread(thread)[1:] if words in m["text"]]

    bot.wait_until(lambda: bool(found()))
    return found()[0]


# -- end to end: the template path ---------------------------------------------------------------


def test_template_draft_end_to_end_then_use_as_baseline(bot: Bot) -> None:
    thread = to_p2(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    assert view["callback_id"] == CallbackId.DRAFT
    # Prefilled from the review: the use case and the failure-mode answer.
    assert prefilled(view, DraftField.TASK) == "triage support tickets"
    assert prefilled(view, DraftField.FAILURE_MODES) == ["format", "tone"]
    hint = next(
        b for b in view["blocks"] if b.get("block_id") == block_id(DraftField.CURRENT_PROMPT)
    )
    assert "text file" in hint["hint"]["text"] and "3,000" in hint["hint"]["text"]

    update = submit_and_wait(
        bot,
        view,
        fields(
            task="Triage support tickets into queues",
            failure_modes=["format", "tone"],
            examples="Where is my refund? => queue: billing\nApp crashes on login => queue: bugs",
            output_format="queue: <name>",
        ),
    )
    # "Drafting…" was replaced by the result.
    shown = message(bot, update["args"]["ts"])
    body = dump(shown["blocks"])
    assert "Drafting" not in shown["text"]
    assert "Template draft (no OPENAI_API_KEY set)" in body
    assert "What changed and why" in body and "Open questions" in body
    assert "no current prompt →" in body and "Counted with tiktoken" in body
    assert "needs the monthly volume and the model" in body
    assert "Draft v1 (template)" in body
    # The prompt itself went into the thread as a snippet.
    done = bot.fake.wait_for("files.completeUploadExternal")[-1]
    assert done["args"]["thread_ts"] == thread and done["args"]["channel_id"] == "C1"
    assert "Drafted system prompt v1 (template)" in dump(done["args"]["files"])
    uploaded = bot.fake.calls("upload")[-1]["body"].decode()
    assert "Where is my refund?" in uploaded and "queue: <name>" in uploaded
    # Stored: version, source, hash, tokens, method, latency, status, who.
    (row,) = rows(bot)
    assert (row.version, row.source.value, row.status.value, row.model) == (
        1,
        "template",
        "ok",
        None,
    )
    assert row.prompt_text == uploaded
    assert row.tokens_before == 0 and row.tokens_after and row.tokens_after > 100
    assert f"{row.tokens_after:,} tokens" in body
    assert len(row.inputs_hash) == 64 and row.inputs["task"].startswith("Triage")
    assert row.token_method == "tiktoken cl100k_base (offline)"
    assert row.latency_ms is not None and row.created_by == "U1" and row.review_id is not None
    assert row.error is None and row.cost_usd is None

    # Use as baseline: P2 answered "drafted", the next question (few-shot) is posted.
    bot.click(shown, ActionId.DRAFT_USE)
    wait_question(bot, thread, "worked input/output examples")
    assert answers(bot)["prompt_draft"] == "drafted"
    assert answers(bot)["system_prompt"] == "detailed"
    p2 = p2_message(bot, thread)
    assert "Drafted" in dump(p2["blocks"]) and "answered by <@U1>" in dump(p2["blocks"])
    adopted = message(bot, shown["ts"])
    assert "adopted as the baseline by <@U1>" in dump(adopted["blocks"])
    assert not any(b["type"] == "actions" for b in adopted["blocks"])
    audit = db(bot, select(AuditEntry.detail).where(AuditEntry.action == "draft.adopted"))
    assert audit == {"draft_id": row.id, "version": 1}
    # A second click (the old message) records nothing more and says so.
    bot.click(shown, ActionId.DRAFT_USE, user="U2")
    eph = bot.fake.wait_for("chat.postEphemeral")[-1]
    assert eph["args"]["user"] == "U2" and "already the baseline" in eph["args"]["text"]
    count = select(func.count()).select_from(Answer).where(Answer.key == "prompt_draft")
    assert db(bot, count) == 1


def test_monthly_cost_with_volume_model_and_current_prompt(bot: Bot) -> None:
    thread = to_p2(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    current = "You are a helpful assistant. Put each ticket in a queue."
    update = submit_and_wait(
        bot,
        view,
        fields(
            task="Triage support tickets",
            current_prompt=current,
            requests_per_month="1.2M",
            base_model="gpt-4o-mini",
        ),
    )
    body = dump(message(bot, update["args"]["ts"])["blocks"])
    (row,) = rows(bot)
    assert row.tokens_before is not None and row.tokens_after is not None
    assert 0 < row.tokens_before < row.tokens_after
    price = lookup_model_price("gpt-4o-mini")
    assert price is not None and price.input_per_mtok is not None
    after = Decimal(1_200_000) * row.tokens_after * price.input_per_mtok / 1_000_000
    before = Decimal(1_200_000) * row.tokens_before * price.input_per_mtok / 1_000_000
    from bot.cost import format_dollars

    assert f"{row.tokens_before:,} before → {row.tokens_after:,} after" in body
    assert f"about {format_dollars(after)} at 1,200,000 requests on gpt-4o-mini" in body
    assert f"The current prompt:* {format_dollars(before)} a month" in body
    assert "output tokens not known yet" in body and "genai-prices" in body
    assert row.result is not None
    assert row.result["cost_inputs"] == {
        "requests_per_month": 1_200_000,
        "base_model": "gpt-4o-mini",
    }
    # The template keeps the current prompt word for word.
    assert current in (row.prompt_text or "")


def test_r1_recommendation_offers_a_draft_and_adopting_moves_the_review_on(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    answer_choice(bot, thread, "A line or two")  # P1 -> R1_PROMPT
    rec = wait_question(bot, thread, "Recommendation: ")
    assert db(bot, select(Review.status)) == "recommended"
    view = open_modal(bot, rec, ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage support tickets"))
    result = message(bot, update["args"]["ts"])
    # Two people click at once: one adoption is recorded, the other is told.
    bot.click(result, ActionId.DRAFT_USE)
    bot.click(result, ActionId.DRAFT_USE, user="U2")
    wait_question(bot, thread, "worked input/output examples")
    told = bot.fake.wait_for("chat.postEphemeral")[0]["args"]["text"]
    assert "already the baseline" in told or "answered this question first" in told
    for key in ("system_prompt", "prompt_draft"):
        count = select(func.count()).select_from(Answer).where(Answer.key == key)
        assert db(bot, count) == (2 if key == "system_prompt" else 1)
    adoptions = (
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "draft.adopted")
    )
    assert db(bot, adoptions) == 1
    got = answers(bot)
    assert got["system_prompt"] == "detailed" and got["prompt_draft"] == "drafted"
    assert db(bot, select(Review.status)) == "in_progress"
    # The system-prompt question shows its new answer.
    sp = next(m for m in bot.thread(thread) if "What system prompt" in m["text"])
    assert "A detailed one" in dump(sp["blocks"])


# -- the LLM path --------------------------------------------------------------------------------


def test_llm_draft_and_redraft_with_feedback(llm_bot: Bot, fake_openai: FakeOpenAI) -> None:
    bot = llm_bot
    fake_openai.script(
        Reply.parsed(SAMPLE_DRAFT, model=MODEL),
        Reply.parsed(SAMPLE_DRAFT, model=MODEL, prompt_tokens=2000, completion_tokens=900),
    )
    thread = to_p2(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage support tickets into queues"))
    assert f"with {MODEL}" in _drafting_posts(bot)[-1]["args"]["text"]
    shown = message(bot, update["args"]["ts"])
    body = dump(shown["blocks"])
    assert f"Drafted by {MODEL}" in body and f"Draft v1 ({MODEL})" in body
    assert "drafting call $" in body and "1,200 in / 800 out" in body
    # Model text is escaped: no channel ping from the drafted prompt's changes or label.
    sent = json.loads(fake_openai.requests[0].body)
    assert sent["model"] == MODEL and "Triage support tickets" in dump(sent)
    (v1,) = rows(bot)
    assert (v1.source.value, v1.model, v1.status.value) == ("llm", MODEL, "ok")
    assert v1.cost_usd is not None and v1.cost_usd > 0

    # Redraft with feedback: a second version, drafted from the first plus the feedback.
    redraft = open_modal(bot, shown, ActionId.DRAFT_REDRAFT)
    assert redraft["callback_id"] == CallbackId.REDRAFT
    update = submit_and_wait(bot, redraft, fields(feedback="Shorter, and never promise refunds"))
    body = dump(message(bot, update["args"]["ts"])["blocks"])
    assert f"Draft v2 ({MODEL})" in body and f"earlier drafts: v1 ({MODEL})" in body
    second = dump(json.loads(fake_openai.requests[1].body))
    assert "never promise refunds" in second and "previous_draft" in second
    v1, v2 = rows(bot)
    assert v2.version == 2 and v2.inputs["feedback"] == "Shorter, and never promise refunds"
    assert v2.inputs["previous_draft"] == (v1.prompt_text or "").strip("\n")
    assert v2.inputs_hash != v1.inputs_hash
    assert len(bot.fake.calls("files.completeUploadExternal")) == 2


def test_openai_failures_are_shown_recorded_and_leave_the_review_alone(
    llm_bot: Bot,
    fake_openai: FakeOpenAI,
    fast_openai: None,
) -> None:
    bot = llm_bot
    thread = to_p2(bot)
    before = answers(bot)
    answer_rows = db(bot, select(func.count()).select_from(Answer))

    # 500, and the server says not to retry.
    fake_openai.script(Reply.error(500, headers={"x-should-retry": "false"}))
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    examples = "Where is my refund? => queue: billing"
    update = submit_and_wait(bot, view, fields(task="Triage tickets", examples=examples))
    failed = message(bot, update["args"]["ts"])
    body = dump(failed["blocks"])
    assert "Drafting failed" in body and "server error (HTTP 500)" in body
    assert "Nothing in the review changed" in body and "Declined" in body
    (row,) = rows(bot)
    assert (row.status.value, row.version, row.model) == ("failed", 1, MODEL)
    assert row.error and "HTTP 500" in row.error and row.prompt_text is None
    assert row.result == {
        "failure": "server_error",
        "status_code": 500,
        "cost_inputs": {"requests_per_month": None, "base_model": None},
    }
    assert bot.fake.calls("files.completeUploadExternal") == []

    # Try again: the modal keeps what was entered; this time OpenAI is too slow.
    fake_openai.script(then=Reply.completion("{}", delay_s=3))
    retry = open_modal(bot, failed, ActionId.DRAFT_OPEN, label="Try again")
    assert prefilled(retry, DraftField.TASK) == "Triage tickets"
    assert prefilled(retry, DraftField.EXAMPLES) == "Where is my refund? => queue: billing"
    update = submit_and_wait(bot, retry, fields(task="Triage tickets", examples=examples))
    body = dump(message(bot, update["args"]["ts"])["blocks"])
    assert "did not answer within 0.4 s" in body
    assert (
        f"Draft v2 ({MODEL}) · failed · earlier drafts: v1 ({MODEL}, failed: server_error)" in body
    )
    assert [r.result["failure"] for r in rows(bot) if r.result] == ["server_error", "timeout"]

    # Every earlier answer is unchanged, and nothing was added.
    assert answers(bot) == before
    assert db(bot, select(func.count()).select_from(Answer)) == answer_rows
    assert db(bot, select(Review.status)) == "in_progress"


def test_api_key_never_reaches_slack_the_database_or_logs(
    llm_bot: Bot,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = llm_bot
    # A 401 whose text quotes the key, as OpenAI's does; then a success.
    fake_openai.script(
        Reply.error(
            401,
            f"Incorrect API key provided: {FAKE_KEY}",
            type_="invalid_request_error",
            code="invalid_api_key",
        ),
        Reply.parsed(SAMPLE_DRAFT, model=MODEL),
    )
    thread = to_p2(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage tickets"))
    failed = message(bot, update["args"]["ts"])
    assert "did not accept the API key (HTTP 401)" in dump(failed["blocks"])
    retry = open_modal(bot, failed, ActionId.DRAFT_OPEN, label="Try again")
    submit_and_wait(bot, retry, fields(task="Triage tickets"))
    bot.fake.wait_for("files.completeUploadExternal")
    # The key was used...
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    # ...and appears in no Slack call, no drafts row, no log line.
    for call in bot.fake.calls():
        assert FAKE_KEY not in str(call["args"]) and FAKE_KEY.encode() not in call["body"]
    assert len(rows(bot)) == 2
    for row in rows(bot):
        stored = dump({c.name: getattr(row, c.name) for c in Draft.__table__.columns}, default=str)
        assert FAKE_KEY not in stored and "NEVER-SHOW-ME" not in stored
    assert FAKE_KEY not in caplog.text


# -- the modal -----------------------------------------------------------------------------------


def test_modal_field_errors_name_the_line_and_the_limit(bot: Bot) -> None:
    thread = to_p2(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    six = "\n".join(f"ticket {i} => queue {i}" for i in range(1, 7))
    status, body = bot.submit(view, fields(task="Triage", examples=six))
    assert status == 200
    reply = json.loads(body)
    assert reply["response_action"] == "errors"
    assert reply["errors"] == {
        block_id(
            DraftField.EXAMPLES
        ): "6 examples given (example 6 starts on line 6); the limit is 5."
    }
    status, body = bot.submit(view, fields(task="Triage", examples="no arrow here"))
    assert json.loads(body)["errors"][block_id(DraftField.EXAMPLES)].startswith("Line 1:")
    status, body = bot.submit(view, fields(task="Triage", requests_per_month="lots"))
    assert block_id(DraftField.REQUESTS_PER_MONTH) in json.loads(body)["errors"]
    status, body = bot.submit(view, fields(task="   "))
    assert json.loads(body)["errors"] == {block_id(DraftField.TASK): "task: must not be empty"}
    # Nothing was drafted or stored.
    assert _drafting_posts(bot) == [] and rows(bot) == []


# -- a prompt longer than a Slack field, shared as a file in the thread ------------------------


class FileServer:
    """Serves Slack-style private files on 127.0.0.1 and records the Authorization header."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.auth: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.auth.append(self.headers.get("authorization", ""))
                content = server.files.get(self.path)
                ok = content is not None and self.headers.get("authorization") == (
                    f"Bearer {BOT_TOKEN}"
                )
                payload = content if ok and content is not None else b"<html>sign in</html>"
                self.send_response(200)
                self.send_header("content-type", "text/plain" if ok else "text/html")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    prompt = "You are TicketBot for Acme. " + "Route each ticket to one of 12 queues. " * 150
    server = FileServer({"/files/prompt.md": prompt.encode()})
    server.thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()


def test_long_current_prompt_from_a_file_shared_in_the_thread(
    bot: Bot, file_server: FileServer
) -> None:
    thread = to_p2(bot)
    prompt = file_server.files["/files/prompt.md"].decode()
    assert len(prompt) > 3000  # too long for a Slack text field

    def replies(fake: FakeSlack, call: Call) -> dict[str, Any]:
        shown = fake.messages(channel=call["args"]["channel"], thread_ts=call["args"]["ts"])
        shared = {
            "type": "message",
            "user": "U2",
            "ts": "1700000999.000100",
            "thread_ts": call["args"]["ts"],
            "text": "our current prompt",
            "files": [
                {
                    "id": "F0PROMPT",
                    "name": "prompt.md",
                    "mimetype": "text/plain",
                    "filetype": "markdown",
                    "size": len(prompt),
                    "url_private": file_server.url("/files/prompt.md"),
                }
            ],
        }
        return {"ok": True, "messages": [*shown, shared], "has_more": False}

    bot.fake.respond("conversations.replies", replies)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage support tickets"))
    body = dump(message(bot, update["args"]["ts"])["blocks"])
    assert file_server.auth == [f"Bearer {BOT_TOKEN}"]
    assert "the file prompt.md shared by <@U2>" in body and f"{len(prompt):,} characters" in body
    (row,) = rows(bot)
    assert row.inputs["current_prompt"] == prompt
    assert row.tokens_before and row.tokens_before > 500
    assert prompt.strip() in (row.prompt_text or "")  # the template keeps it word for word


def test_unreadable_thread_file_stops_drafting_with_the_reason(
    bot: Bot, file_server: FileServer
) -> None:
    thread = to_p2(bot)

    def replies(fake: FakeSlack, call: Call) -> dict[str, Any]:
        shared = {
            "type": "message",
            "user": "U2",
            "ts": "1700000999.000100",
            "files": [
                {
                    "name": "prompt.md",
                    "mimetype": "text/plain",
                    "url_private": file_server.url("/gone"),
                }
            ],
        }
        return {"ok": True, "messages": [shared], "has_more": False}

    bot.fake.respond("conversations.replies", replies)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage support tickets"))
    text = message(bot, update["args"]["ts"])["text"]
    assert "Drafting stopped" in text and "files:read" in text
    assert rows(bot) == []


def test_an_unexpected_error_while_drafting_is_reported_not_left_spinning(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> DraftResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(drafts, "run_drafter", broken)
    thread = to_p2(bot)
    before = answers(bot)
    view = open_modal(bot, p2_message(bot, thread), ActionId.DRAFT_OPEN)
    update = submit_and_wait(bot, view, fields(task="Triage support tickets"))
    text = message(bot, update["args"]["ts"])["text"]
    assert "Drafting stopped: an error on my side" in text and "Drafting a" not in text
    # The one error handler logged it with a reference and told the user in the thread.
    eph = bot.fake.wait_for("chat.postEphemeral")[-1]["args"]
    assert eph["user"] == "U1" and eph["thread_ts"] == thread and "(ref " in eph["text"]
    assert "unexpected error (ref" in caplog.text
    assert answers(bot) == before and rows(bot) == []


# -- pure pieces ---------------------------------------------------------------------------------


def test_parse_examples_one_a_line_or_with_multiline_outputs() -> None:
    assert parse_examples("a => b\nc => d") == [
        {"input": "a", "ideal_output": "b"},
        {"input": "c", "ideal_output": "d"},
    ]
    assert parse_examples('refund? => {\n  "queue": "billing"\n}\n\nbug => {"queue": "bugs"}') == [
        {"input": "refund?", "ideal_output": '{\n  "queue": "billing"\n}'},
        {"input": "bug", "ideal_output": '{"queue": "bugs"}'},
    ]
    assert parse_examples("") == []
    for text, message in [
        (" => b", "Line 1: the input before => is empty."),
        ("x => b\n => c", "Line 2: the input before => is empty."),
        ("a =>", "Line 1: the ideal output after => is empty."),
        ("\nhello", "Line 2: write each example as  input => ideal output."),
    ]:
        with pytest.raises(InvalidInput) as err:
            parse_examples(text)
        assert err.value.user_message == message and err.value.field == "examples"


def test_parse_fields_maps_errors_to_their_block() -> None:
    too_many = "\n".join(f"problem {i}" for i in range(11))
    with pytest.raises(InvalidInput) as err:
        parse_draft_fields(fields(task="x", other_problems=too_many))
    assert err.value.field == DraftField.OTHER_PROBLEMS and "limit is 10" in err.value.user_message
    req, cost = parse_draft_fields(
        fields(
            task=" t ",
            failure_modes=["tone"],
            other_problems="too long answers\n\n",
            base_model="m",
        )
    )
    assert req.task == "t" and req.failure_modes == ["tone", "too long answers"]
    assert cost == CostChoice(requests_per_month=None, base_model="m")


def test_monthly_cost_is_exact() -> None:
    got = monthly_cost(
        requests_per_month=1_200_000,
        prompt_tokens=354,
        output_tokens=150,
        input_per_mtok=Decimal("0.15"),
        output_per_mtok=Decimal("0.6"),
    )
    assert got == Decimal("171.72")  # 1.2M x (354 x 0.15 + 150 x 0.6) / 1M
    cost = prompt_cost(
        CostChoice(requests_per_month=1000, base_model="my-own-model"),
        {
            "cost.base_model": "my-own-model",
            "cost.base_input_per_mtok": "2",
            "cost.output_tokens": 10,
        },
        tokens_after=500,
        tokens_before=0,
    )
    # The team's own input price; no output price known, so output is not counted.
    assert cost.after == Decimal("1") and cost.output_tokens is None and cost.before is None
    unknown = prompt_cost(CostChoice(), {}, tokens_after=1, tokens_before=0)
    assert unknown.missing == "needs the monthly volume and the model"


def test_result_blocks_escape_model_text() -> None:
    from bot.drafter import DraftUsage

    result = DraftResult(
        draft=SAMPLE_DRAFT.model_copy(
            update={"changes": [Change(what="<!here> ping", why="@channel")]}
        ),
        source="llm",
        model=MODEL,
        inputs_hash="0" * 64,
        tokens_before=0,
        tokens_after=200,
        token_method="tiktoken",
        latency_ms=1500,
        usage=DraftUsage(prompt_tokens=1200, completion_tokens=800),
        cost_usd=Decimal("0.00176"),
        label=f"Drafted by {MODEL}",
    )
    shown = ShownDraft(
        review_id=1,
        draft_id=7,
        version=3,
        result=result,
        cost=PromptCost(requests_per_month=None, model=None, output_tokens=None, missing="needs x"),
        earlier=(EarlierDraft(1, "template", None), EarlierDraft(2, MODEL, "timeout")),
        requested_by="U1",
    )
    body = dump(build_draft_result_blocks(shown))
    assert "<!here>" not in body and "&lt;!here&gt;" in body and "@channel" not in body
    assert (
        f"Draft v3 ({MODEL}) · 200 tokens · 1,500 ms · drafting call $0.00176 (1,200 in / 800 out)"
        f" · earlier drafts: v1 (template), v2 ({MODEL}, failed: timeout)"
    ) in body
