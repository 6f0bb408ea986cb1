"""A review in a Slack thread, through ``app.dispatch`` with signed requests, a fake Slack Web API
and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import slack_signing as s
from fake_slack import FakeSlack
from harness import SECRET, Bot, make_bot
from slack_signing import plain_text_value
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.ids import ActionId, BlockId, CallbackId
from store.models import Answer, Decision, Recommendation, Review

# Answers that walk to R4_LORA: every cheaper rung tried, numbers that pay.
WALK: list[tuple[str, str]] = [
    ("system_prompt", "A detailed one"),
    ("prompt_draft", "Declined"),
    ("few_shot", "Yes, still failing"),
    ("task_stability", "Settled"),
    ("eval_set", "Yes, baseline measured"),
]


@pytest.fixture
def bot(
    fake_slack: FakeSlack, engine: Engine, session_factory: sessionmaker[Session]
) -> Iterator[Bot]:
    bot = make_bot(fake_slack, session_factory, str(engine.url), ladder_approvers="UAPPROVER")
    yield bot
    bot.close()


def roots(bot: Bot, channel: str = "C1") -> list[dict[str, Any]]:
    return [m for m in bot.fake.messages(channel=channel) if m.get("thread_ts") in (None, m["ts"])]


def start(bot: Bot, text: str = "triage support tickets", user: str = "U1") -> str:
    """``/ladder <text>``; returns the review's thread once its first question is posted."""
    before = len(roots(bot))
    status, _ = bot.command(text, user=user)
    assert status == 200
    bot.wait_until(lambda: len(roots(bot)) > before and len(bot.thread(roots(bot)[-1]["ts"])) > 1)
    return str(roots(bot)[-1]["ts"])


def current(bot: Bot, thread: str) -> dict[str, Any]:
    return bot.last_question(thread)


def answer_choice(bot: Bot, thread: str, label: str, user: str = "U1") -> None:
    before = len(bot.thread(thread))
    msg = current(bot, thread)
    status, _ = bot.click(msg, ActionId.ANSWER_CHOICE, label=label, user=user)
    assert status == 200
    bot.wait_until(lambda: len(bot.thread(thread)) > before)


def answer_modes(bot: Bot, thread: str, modes: list[str]) -> None:
    before = len(bot.thread(thread))
    msg = current(bot, thread)
    review_id = next(b for b in msg["blocks"] if b.get("block_id", "").startswith(BlockId.MODES))[
        "block_id"
    ]
    state = {
        review_id: {
            ActionId.ANSWER_MODES.value: {
                "type": "checkboxes",
                "selected_options": [{"value": m} for m in modes],
            }
        }
    }
    status, _ = bot.click(msg, ActionId.ANSWER_MODES_NEXT, state=state)
    assert status == 200
    bot.wait_until(lambda: len(bot.thread(thread)) > before)


def answer_reply(bot: Bot, thread: str, text: str, **kw: Any) -> None:
    before = len(bot.thread(thread))
    status, _ = bot.reply(text, thread_ts=thread, **kw)
    assert status == 200
    bot.wait_until(lambda: len(bot.thread(thread)) > before)


def db(bot: Bot, stmt: Any) -> Any:
    with bot.session_factory() as s:
        return s.execute(stmt).scalar()


def walk_to_recommendation(bot: Bot) -> str:
    thread = start(bot)
    answer_modes(bot, thread, ["format", "tone"])
    for _key, label in WALK:
        answer_choice(bot, thread, label)
    answer_reply(bot, thread, "1,500 examples")
    answer_reply(bot, thread, "70%")
    answer_reply(bot, thread, "90")
    answer_reply(bot, thread, "20M")  # requests a month
    answer_choice(bot, thread, "Hosted API")
    answer_reply(bot, thread, "gpt-4o-mini")
    answer_reply(bot, thread, "3200 tokens")
    answer_reply(bot, thread, "150")
    answer_reply(bot, thread, "400 tokens")
    answer_reply(bot, thread, "1500")  # training examples
    before = len(bot.thread(thread))
    bot.reply("800", thread_ts=thread)  # tokens per example -> recommendation
    bot.wait_until(
        lambda: any("Recommendation" in m.get("text", "") for m in bot.thread(thread)[before:])
    )
    return thread


def test_full_review_to_an_accepted_decision(bot: Bot) -> None:
    thread = walk_to_recommendation(bot)
    messages = bot.thread(thread)
    rec = next(m for m in messages if m.get("text", "").startswith("Recommendation"))
    assert "LoRA" in rec["text"]
    body = str(rec["blocks"])
    assert "`V1`" in body and "Break-even" in body and "What would flip it" in body
    # The chart went into the thread.
    bot.fake.wait_for("files.completeUploadExternal")
    assert bot.fake.calls("upload")[0]["size"] > 10_000
    # The root message shows the status.
    root = messages[0]
    assert "Recommendation ready" in root["text"] or "Recommendation ready" in str(root["blocks"])
    # Accept.
    status, _ = bot.click(rec, ActionId.DECIDE_ACCEPT)
    assert status == 200
    bot.wait_until(lambda: "Accepted" in str(bot.thread(thread)[0]["blocks"]))
    assert db(bot, select(Review.status)) == "accepted"
    assert db(bot, select(Decision.chosen_outcome)) == "R4_LORA"
    assert db(bot, select(func.count()).select_from(Recommendation)) == 1
    answers = db(bot, select(func.count()).select_from(Answer))
    assert answers == 18  # use case + 17 answers, one row each
    # The answered question shows the answer and who gave it.
    first_q = bot.thread(thread)[1]
    assert "answered by <@U1>" in str(first_q["blocks"])


def test_unauthorised_accept_is_refused_and_nothing_changes(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    answer_choice(bot, thread, "None")  # system prompt: none -> R1_PROMPT
    rec = next(m for m in bot.thread(thread) if m.get("text", "").startswith("Recommendation"))
    status, _ = bot.click(rec, ActionId.DECIDE_ACCEPT, user="USTRANGER")
    assert status == 200
    eph = bot.fake.wait_for("chat.postEphemeral")[-1]
    assert eph["args"]["user"] == "USTRANGER" and "Only the review's owner" in eph["args"]["text"]
    assert db(bot, select(func.count()).select_from(Decision)) == 0
    assert db(bot, select(Review.status)) == "recommended"
    # An approver may.
    bot.click(rec, ActionId.DECIDE_ACCEPT, user="UAPPROVER")
    bot.wait_until(lambda: db(bot, select(func.count()).select_from(Decision)) == 1)


def test_bad_number_gets_the_reason_and_earlier_answers_stay(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    for _key, label in WALK:
        answer_choice(bot, thread, label)
    answers_before = db(bot, select(func.count()).select_from(Answer))
    answer_reply(bot, thread, "12 bananas")
    last = bot.thread(thread)[-1]
    assert "bananas" in last["text"] and "Earlier answers are kept" in last["text"]
    assert db(bot, select(func.count()).select_from(Answer)) == answers_before
    # Discussion is left alone: no reply, no answer.
    n = len(bot.thread(thread))
    bot.reply("I think we have a lot of examples, @channel thoughts?", thread_ts=thread)
    bot.reply("350", thread_ts=thread)
    bot.wait_until(lambda: db(bot, select(func.count()).select_from(Answer)) == answers_before + 1)
    assert len([m for m in bot.thread(thread)[n:] if "warning" in m.get("text", "")]) == 0


def test_retried_event_is_recorded_once(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    for _key, label in WALK:
        answer_choice(bot, thread, label)
    before = db(bot, select(func.count()).select_from(Answer))
    bot.reply("1500", thread_ts=thread, event_id="Ev-RETRY-1")
    bot.reply("1500", thread_ts=thread, event_id="Ev-RETRY-1", retry_num=1)
    bot.wait_until(lambda: db(bot, select(func.count()).select_from(Answer)) == before + 1)
    import time

    time.sleep(0.5)
    assert db(bot, select(func.count()).select_from(Answer)) == before + 1


def test_two_clicks_at_once_record_one_answer_and_tell_the_other(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    msg = current(bot, thread)
    # Both clicks carry the revision the question showed; their work runs concurrently.
    bot.click(msg, ActionId.ANSWER_CHOICE, label="A detailed one", user="U1")
    bot.click(msg, ActionId.ANSWER_CHOICE, label="None", user="U2")
    eph = bot.fake.wait_for("chat.postEphemeral")[-1]
    assert "first" in eph["args"]["text"]
    with bot.session_factory() as session:
        rows = session.execute(
            select(Answer.answered_by, Answer.value).where(Answer.key == "system_prompt")
        ).all()
    assert len(rows) == 1  # one winner...
    (winner, value), loser = rows[0], eph["args"]["user"]
    assert {winner, loser} == {"U1", "U2"}  # ...and the other person is told
    assert value == ("detailed" if winner == "U1" else "none")
    bot.close()
    assert len(bot.fake.calls("chat.postEphemeral")) == 1


def test_number_modal_shows_field_errors_then_saves(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    for _key, label in WALK:
        answer_choice(bot, thread, label)
    msg = current(bot, thread)
    bot.click(msg, ActionId.OPEN_NUMBER_MODAL)
    view = bot.fake.wait_for("views.open")[-1]["args"]["view"]
    view = view if isinstance(view, dict) else __import__("json").loads(view)
    assert view["callback_id"] == CallbackId.NUMBER_ANSWER
    status, body = bot.submit(
        view, {BlockId.ANSWER_INPUT.value: {"value": plain_text_value("lots")}}
    )
    assert status == 200 and "errors" in body and "whole number" in body
    status, body = bot.submit(view, {BlockId.ANSWER_INPUT.value: {"value": plain_text_value("2k")}})
    assert status == 200 and "errors" not in body
    assert db(bot, select(Answer.value).where(Answer.key == "labeled_examples")) == 2000


def test_user_text_cannot_ping_the_channel(bot: Bot) -> None:
    thread = start(bot, text="summaries <!channel> @here <!subteam^S1|devs>")
    root = bot.thread(thread)[0]
    posted = root["text"] + str(root["blocks"])
    assert "<!channel>" not in posted and "<!subteam" not in posted
    assert "@here" not in posted


def test_help_list_and_not_in_channel(bot: Bot) -> None:
    bot.command("")
    r = bot.fake.wait_for("response_url")[-1]
    assert "start a review" in str(r["args"]).lower()
    start(bot, text="classify invoices")
    bot.command("list")
    r = bot.fake.wait_for("response_url", count=2)[-1]
    assert "classify invoices" in str(r["args"])
    bot.fake.set_member("C9", False)
    bot.command("new thing", channel="C9")
    r = bot.fake.wait_for("response_url", count=3)[-1]
    assert "/invite" in str(r["args"])
    assert db(bot, select(func.count()).select_from(Review).where(Review.channel_id == "C9")) == 0


def _view(call: dict[str, Any]) -> dict[str, Any]:
    view = call["args"]["view"]
    return view if isinstance(view, dict) else dict(json.loads(view))


def test_changing_an_earlier_answer_recomputes_from_there(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    answer_choice(bot, thread, "None")  # -> R1_PROMPT
    assert db(bot, select(Review.status)) == "recommended"
    system_q = bot.thread(thread)[2]
    assert "answered by" in str(system_q["blocks"])
    before = len(bot.thread(thread))
    bot.click(system_q, ActionId.ANSWER_CHOICE, label="A detailed one")
    bot.wait_until(lambda: len(bot.thread(thread)) > before)
    assert db(bot, select(Review.status)) == "in_progress"
    assert "Draft it for me" in str(bot.thread(thread)[-1]["blocks"])  # P2 asked next
    history = db(bot, select(func.count()).select_from(Answer).where(Answer.key == "system_prompt"))
    assert history == 2  # the change is a new row; the first answer is kept
    assert "In progress" in bot.thread(thread)[0]["text"]


def test_override_needs_a_reason_and_park_a_future_date(bot: Bot) -> None:
    thread = start(bot)
    answer_modes(bot, thread, ["format"])
    answer_choice(bot, thread, "None")
    rec = next(m for m in bot.thread(thread) if m.get("text", "").startswith("Recommendation"))
    bot.click(rec, ActionId.DECIDE_OVERRIDE)
    view = _view(bot.fake.wait_for("views.open")[-1])
    assert view["callback_id"] == CallbackId.OVERRIDE
    choice = {"type": "static_select", "selected_option": {"value": "R2_FEW_SHOT"}}
    status, body = bot.submit(
        view,
        {
            BlockId.OVERRIDE_OUTCOME.value: {"value": choice},
            BlockId.OVERRIDE_REASON.value: {"value": plain_text_value("   ")},
        },
    )
    assert status == 200 and "errors" in body and BlockId.OVERRIDE_REASON.value in body
    assert db(bot, select(func.count()).select_from(Decision)) == 0
    # Park with a past date: refused on the date field; a future date: parked.
    bot.click(rec, ActionId.DECIDE_PARK)
    park = _view(bot.fake.wait_for("views.open", count=2)[-1])
    past = {
        BlockId.PARK_DATE.value: {"value": {"type": "datepicker", "selected_date": "2000-01-01"}}
    }
    status, body = bot.submit(park, past)
    assert "errors" in body and BlockId.PARK_DATE.value in body
    future = {
        BlockId.PARK_DATE.value: {"value": {"type": "datepicker", "selected_date": "2099-01-01"}}
    }
    status, body = bot.submit(park, future)
    assert status == 200 and "errors" not in body
    bot.wait_until(lambda: "Parked" in str(bot.thread(thread)[0]["blocks"]))
    assert db(bot, select(Review.status)) == "parked"
    assert str(db(bot, select(Decision.follow_up_on))) == "2099-01-01"


def test_cost_modal_shows_the_numbers_to_the_user_alone(bot: Bot) -> None:
    bot.command("cost")
    view = _view(bot.fake.wait_for("views.open")[-1])
    assert view["callback_id"] == CallbackId.COST

    def fields(**values: str) -> dict[str, Any]:
        return {
            f"{BlockId.COST_FIELD}:{k}": {"value": plain_text_value(v)} for k, v in values.items()
        }

    base = {
        "base_model": "gpt-4o-mini",
        "prompt_tokens": "3200",
        "output_tokens": "150",
        "tuned_prompt_tokens": "400",
        "training_examples": "2000",
        "tokens_per_example": "800",
    }
    status, body = bot.submit(view, fields(requests_per_month="lots", **base))
    assert status == 200 and "errors" in body and "requests_per_month" in body
    status, body = bot.submit(view, fields(requests_per_month="1.2M", **base))
    assert status == 200
    result = json.loads(body)
    assert result["response_action"] == "update"
    text = json.dumps(result["view"])
    assert "Break-even" in text and "$" in text
    assert bot.fake.calls("chat.postMessage") == []  # nothing posted in the channel


def test_app_home_lists_open_reviews_and_waiting_decisions(bot: Bot) -> None:
    thread = start(bot, text="summarise incidents")
    answer_modes(bot, thread, ["format"])
    answer_choice(bot, thread, "None")
    event = s.event_callback_payload(s.app_home_opened_event(user="U1"))
    bot.send(s.signed_event(SECRET, event))
    bot.wait_until(lambda: bot.fake.home_view("U1") is not None)
    home = json.dumps(bot.fake.home_view("U1"))
    assert "summarise incidents" in home and "Waiting for your decision" in home


def test_an_overlong_use_case_is_refused_with_the_limit(bot: Bot) -> None:
    status, _ = bot.command("x" * 201)
    assert status == 200
    eph = bot.fake.wait_for("chat.postEphemeral")[-1]
    assert "201 characters" in eph["args"]["text"] and "200" in eph["args"]["text"]
    bot.close()
    assert db(bot, select(func.count()).select_from(Review)) == 0
    assert bot.fake.calls("chat.postMessage") == []
