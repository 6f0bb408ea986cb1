"""How numbers read in messages: answers as people wrote them, paybacks in sensible units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.cost_text import months
from bot.questions import question


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("cost.requests_per_month", 20_000_000, "20,000,000 requests/month"),
        ("baseline_accuracy", 70.0, "70%"),
        ("baseline_accuracy", 82.5, "82.5%"),
        ("cost.train_per_mtok", "0.15", "0.15 $/1M tokens"),
        ("few_shot", "tried_working", "Yes, and it works"),
        ("latency_critical", False, "No"),
        ("failure_modes", ["format", "knowledge"], "Output format drifts, Missing or stale facts"),
    ],
)
def test_answers_read_as_written(key: str, value: object, shown: str) -> None:
    assert question(key).label_for(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "never"),
        (Decimal("6.25"), "6.25 months"),
        (Decimal("1"), "1 month"),
        (Decimal("0.05"), "2 days"),
        (Decimal("0.3"), "10 days"),
        (Decimal("0.002"), "under a day"),
    ],
)
def test_payback_wording(value: Decimal | None, shown: str) -> None:
    assert months(value) == shown
