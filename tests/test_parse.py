"""Typed answers from free text, as people write them in a Slack thread or a terminal."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import InvalidInput
from bot.parse import parse_answer
from bot.questions import question


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("cost.requests_per_month", "1.2M", 1_200_000),
        ("cost.requests_per_month", "50k", 50_000),
        ("cost.requests_per_month", "1,000,000 requests/month", 1_000_000),
        ("cost.requests_per_month", "2 million", 2_000_000),
        ("cost.prompt_tokens", "800 tokens", 800),
        ("cost.prompt_tokens", "3.2k tokens", 3200),
        ("labeled_examples", "2k", 2000),
        ("cost.train_per_mtok", "$3/M", "3"),
        ("cost.base_input_per_mtok", "$0.15 per 1M tokens", "0.15"),
        ("cost.base_input_per_mtok", "$0.002 per 1K tokens", "2"),
        ("cost.gpu_hourly_rate", "$2.50/hour", "2.5"),
        ("cost.gpu_hours", "8", "8"),
        ("baseline_accuracy", "82%", 82.0),
        ("target_accuracy", "90", 90.0),
        ("latency_critical", "yes", True),
        ("latency_critical", "No", False),
        ("few_shot", "tried_working", "tried_working"),
        ("few_shot", "Yes, and it works", "tried_working"),
        ("few_shot", "1", "not_tried"),
        ("failure_modes", "format, knowledge", ["format", "knowledge"]),
        ("cost.base_model", "gpt-4o-mini", "gpt-4o-mini"),
    ],
)
def test_understood(key: str, text: str, value: Any) -> None:
    assert parse_answer(question(key), text) == value


@pytest.mark.parametrize(
    ("key", "text", "says"),
    [
        ("cost.requests_per_month", "lots", "expected a whole number"),
        ("cost.requests_per_month", "1.5", "whole number"),
        ("cost.requests_per_month", "-5", "0 or more"),
        ("cost.requests_per_month", "12 bananas", "did not understand 'bananas'"),
        ("baseline_accuracy", "120%", "over 100"),
        ("latency_critical", "perhaps", "yes or no"),
        ("few_shot", "sometimes", "not one of"),
        ("cost.prompt_tokens", "", "empty"),
    ],
)
def test_wrong_input_says_what_was_wrong(key: str, text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_answer(question(key), text)
    assert says in err.value.user_message
    assert err.value.user_message.startswith(key)
