"""Block Kit builders: pure functions from domain objects to lists of block dicts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.answers import Outcome
from bot.cost import CostReport
from bot.cost_text import summary_lines
from bot.ladder import OUTCOME_TITLES, Recommendation
from bot.questions import Kind, Question
from handlers.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from handlers.text import escape, mention, truncate

Block = dict[str, Any]

STATUS_LABELS = {
    "in_progress": ":hourglass_flowing_sand: In progress",
    "recommended": ":bulb: Recommendation ready, awaiting a decision",
    "accepted": ":white_check_mark: Accepted",
    "overridden": ":twisted_rightwards_arrows: Overridden",
    "parked": ":parking: Parked",
    "closed": ":lock: Closed",
}

SECTION_LIMIT = 3000


def value_of(payload: str) -> dict[str, Any]:
    """Decode a button value / private_metadata written by ``encode``."""
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def encode(**data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2000)}]}


def button(
    text: str, action_id: ActionId, value: str, *, style: str | None = None, url: str | None = None
) -> Block:
    b: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, 75), "emoji": True},
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        b["style"] = style
    if url:
        b["url"] = url
    return b


# -- the root message -------------------------------------------------------------------------


def build_root_text(*, title: str, owner_id: str, status: str, outcome: str | None) -> str:
    label = STATUS_LABELS.get(status, status)
    line = (
        f":ladder: *Ladder review: {escape(title)}*\nOwner: {mention(owner_id)} · Status: {label}"
    )
    if outcome:
        line += f" · Recommendation: *{OUTCOME_TITLES[Outcome(outcome)]}*"
    return line


def build_root_blocks(
    *, title: str, owner_id: str, status: str, outcome: str | None
) -> list[Block]:
    return [
        section(build_root_text(title=title, owner_id=owner_id, status=status, outcome=outcome)),
        context("Answer the questions in this thread. Anyone in the channel can answer."),
    ]


# -- questions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    value: Any
    by: str


def build_question_blocks(
    *, review_id: int, q: Question, revision: int, answered: Answered | None = None
) -> list[Block]:
    """One question in the thread. ``revision`` is the answer revision the buttons expect, so a
    double click or a race is caught by the store; answered questions keep their buttons so the
    answer can be changed."""
    head = f"*{escape(q.text)}*"
    blocks: list[Block] = [
        {"type": "section", "block_id": f"{BlockId.QUESTION}:{q.key}", "text": _md(head)}
    ]
    blocks.append(context(escape(q.help)))
    if q.kind is Kind.MULTI:
        chosen = set(answered.value) if answered and isinstance(answered.value, list) else set()
        options = [_option(o.label, o.value) for o in q.options]
        checkboxes: Block = {
            "type": "checkboxes",
            "action_id": ActionId.ANSWER_MODES.value,
            "options": options,
        }
        initial = [o for o in options if o["value"] in chosen]
        if initial:
            checkboxes["initial_options"] = initial
        blocks.append(
            {
                "type": "actions",
                "block_id": f"{BlockId.MODES}:{review_id}",
                "elements": [
                    checkboxes,
                    button(
                        "Next",
                        ActionId.ANSWER_MODES_NEXT,
                        encode(r=review_id, k=q.key, n=revision),
                        style="primary",
                    ),
                ],
            }
        )
    elif q.kind in (Kind.CHOICE, Kind.BOOLEAN):
        current = None if answered is None else str(answered.value).lower()
        elements = [
            button(
                ("✓ " if current == o.value else "") + o.label,
                ActionId.ANSWER_CHOICE,
                encode(r=review_id, k=q.key, v=o.value, n=revision),
                style="primary" if current == o.value else None,
            )
            for o in q.options
        ]
        if q.key == "prompt_draft":
            # P2: the offer itself. Drafting records "drafted" once the team adopts a draft.
            elements = [
                button(
                    "Draft it for me", ActionId.DRAFT_OPEN, encode(r=review_id), style="primary"
                ),
                *[e for e in elements if '"v":"declined"' in e["value"]],
            ]
        blocks.append({"type": "actions", "elements": elements})
    else:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    button(
                        "Change value" if answered else "Enter a value",
                        ActionId.OPEN_NUMBER_MODAL,
                        encode(r=review_id, k=q.key, n=revision),
                    )
                ],
            }
        )
        if answered is None:
            example = "e.g. gpt-4o-mini" if q.kind is Kind.TEXT else escape(q.help)
            blocks.append(context(f"…or reply in this thread ({example})."))
    if answered is not None:
        blocks.append(
            context(
                f":white_check_mark: *{escape(q.label_for(answered.value))}*, answered by "
                f"{mention(answered.by)}"
            )
        )
    return blocks


def build_question_text(q: Question, answered: Answered | None) -> str:
    if answered is None:
        return f"Question: {q.text}"
    return f"{q.text} Answer: {q.label_for(answered.value)} (by {answered.by})"


def _md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}


def _option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": truncate(label, 75)}, "value": value}


def build_number_modal(*, review_id: int, q: Question, revision: int, channel: str) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": INPUT_ACTION}
    if q.unit:
        element["placeholder"] = {"type": "plain_text", "text": truncate(q.help, 150)}
    return {
        "type": "modal",
        "callback_id": CallbackId.NUMBER_ANSWER.value,
        "private_metadata": encode(r=review_id, k=q.key, n=revision, c=channel),
        "title": {"type": "plain_text", "text": "Ladder review"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.ANSWER_INPUT.value,
                "label": {"type": "plain_text", "text": truncate(q.text, 2000)},
                "hint": {"type": "plain_text", "text": truncate(q.help, 2000)},
                "element": element,
            }
        ],
    }


# -- the recommendation -----------------------------------------------------------------------


def build_cost_lines(c: CostReport) -> list[str]:
    return [f"• {escape(line)}" for line in summary_lines(c)]


def build_recommendation_blocks(
    *, review_id: int, rec: Recommendation, decision_line: str | None = None
) -> list[Block]:
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(rec.title, 150)}},
        section("*Why*\n" + "\n".join(f"• `{h.rule}` {escape(h.note)}" for h in rec.hits)),
    ]
    if rec.tracks:
        blocks.append(section("*In parallel:* " + ", ".join(OUTCOME_TITLES[t] for t in rec.tracks)))
    if rec.cost is not None:
        blocks.append(section("*The numbers*\n" + "\n".join(build_cost_lines(rec.cost))))
    blocks.append(section("*Next steps*\n" + "\n".join(f"• {escape(s)}" for s in rec.next_steps)))
    if decision_line:
        blocks.append(context(decision_line))
    else:
        value = encode(r=review_id, o=rec.outcome.value)
        elements = [
            button("Accept", ActionId.DECIDE_ACCEPT, value, style="primary"),
            button("Override…", ActionId.DECIDE_OVERRIDE, value),
            button("Park…", ActionId.DECIDE_PARK, value),
        ]
        if rec.outcome is Outcome.R1_PROMPT:
            elements.insert(0, button("Draft it for me", ActionId.DRAFT_OPEN, encode(r=review_id)))
        blocks.append({"type": "actions", "elements": elements})
        blocks.append(
            context("Only the review's owner or an approver can accept, override or park.")
        )
    return blocks


def build_override_modal(*, review_id: int, current: str, channel: str) -> Block:
    options = [_option(OUTCOME_TITLES[o], o.value) for o in Outcome if o.value != current]
    return {
        "type": "modal",
        "callback_id": CallbackId.OVERRIDE.value,
        "private_metadata": encode(r=review_id, c=channel),
        "title": {"type": "plain_text", "text": "Override"},
        "submit": {"type": "plain_text", "text": "Override"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.OVERRIDE_OUTCOME.value,
                "label": {"type": "plain_text", "text": "What the team will do instead"},
                "element": {"type": "static_select", "action_id": INPUT_ACTION, "options": options},
            },
            {
                "type": "input",
                "block_id": BlockId.OVERRIDE_REASON.value,
                "label": {"type": "plain_text", "text": "Why (required)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "multiline": True,
                    "min_length": 10,
                    "max_length": 2000,
                },
            },
        ],
    }


def build_park_modal(*, review_id: int, channel: str, today: date) -> Block:
    return {
        "type": "modal",
        "callback_id": CallbackId.PARK.value,
        "private_metadata": encode(r=review_id, c=channel),
        "title": {"type": "plain_text", "text": "Park the decision"},
        "submit": {"type": "plain_text", "text": "Park"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.PARK_DATE.value,
                "label": {"type": "plain_text", "text": "Follow up on"},
                "hint": {"type": "plain_text", "text": "The weekly digest brings it back then."},
                "element": {
                    "type": "datepicker",
                    "action_id": INPUT_ACTION,
                    "initial_date": today.isoformat(),
                },
            }
        ],
    }


# -- commands ---------------------------------------------------------------------------------


def build_help_blocks(command: str) -> list[Block]:
    c = escape(command)
    return [
        section(
            "*ladder-bot* walks your team up the ladder before anyone fine-tunes: a real system "
            "prompt, few-shot examples, retrieval, and only then LoRA, with the break-even "
            "numbers."
        ),
        section(
            f"• `{c} <use case>`: start a review in a thread, e.g. `{c} triage support tickets`\n"
            f"• `{c} list`: open reviews in this channel\n"
            f"• `{c} cost`: the break-even cost model\n"
            f"• `{c} digest`: what is waiting for a decision (`{c} digest on|off`)\n"
            f"• `{c} help`: this message"
        ),
    ]


@dataclass(frozen=True)
class ListedReview:
    title: str
    owner_id: str
    status: str
    permalink: str | None


def build_list_blocks(reviews: Sequence[ListedReview]) -> list[Block]:
    if not reviews:
        return [section("No open reviews in this channel. Start one with `/ladder <use case>`.")]
    lines = []
    for r in reviews[:40]:
        title = escape(truncate(r.title, 80))
        link = f"<{r.permalink}|{title}>" if r.permalink else title
        lines.append(f"• {link} · {mention(r.owner_id)} · {STATUS_LABELS.get(r.status, r.status)}")
    return [section(f"*Open reviews here ({len(reviews)})*"), section("\n".join(lines))]


def build_not_in_channel_text(command: str) -> str:
    return (
        "I'm not in this channel yet, so I can't open a thread here. Add me with "
        "`/invite @ladder-bot` (or the channel's Integrations tab), then run "
        f"`{escape(command)}` again."
    )


def build_error_reply(message: str) -> str:
    return f":warning: {escape(message)}"
