"""Every action, block and callback id the bot uses, named once."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    ANSWER_CHOICE = "answer_choice"  # a button for one option of a question
    ANSWER_MODES = "answer_modes"  # the failure-mode checkboxes (changing them only acks)
    ANSWER_MODES_NEXT = "answer_modes_next"  # "Next" under the checkboxes
    OPEN_NUMBER_MODAL = "open_number_modal"  # "Enter a value" for number/text questions
    DRAFT_OPEN = "draft_open"  # "Draft it for me"
    DRAFT_USE = "draft_use"  # "Use as baseline"
    DRAFT_REDRAFT = "draft_redraft"  # "Redraft with feedback"
    DECIDE_ACCEPT = "decide_accept"
    DECIDE_OVERRIDE = "decide_override"
    DECIDE_PARK = "decide_park"
    OPEN_THREAD = "open_thread"  # a link button; acked and ignored
    DIGEST_SNOOZE = "digest_snooze"
    DIGEST_CLOSE_WORKED = "digest_close_worked"
    DIGEST_CLOSE_ABANDONED = "digest_close_abandoned"


class BlockId(StrEnum):
    QUESTION = "question"
    ANSWER_INPUT = "answer_input"
    MODES = "modes"
    OVERRIDE_OUTCOME = "override_outcome"
    OVERRIDE_REASON = "override_reason"
    PARK_DATE = "park_date"
    COST_FIELD = "cost_field"  # prefix: one input block per cost key, "cost_field:<key>"
    DRAFT_FIELD = "draft_field"  # prefix: "draft_field:<name>"


class CallbackId(StrEnum):
    NUMBER_ANSWER = "number_answer"
    OVERRIDE = "override"
    PARK = "park"
    COST = "cost"
    DRAFT = "draft"
    REDRAFT = "redraft"


INPUT_ACTION = "value"  # the action_id of the single input inside an input block
