"""Price resolution: the genai-prices snapshot, fine-tuned prices, the training table, and the
user's own prices on top."""

from __future__ import annotations

from decimal import Decimal

import genai_prices
import time_machine

from bot.answers import CostInputs
from bot.prices import (
    PriceSet,
    fine_tuned_quote,
    lookup_model_price,
    model_family,
    resolve_prices,
    training_price,
    training_prices,
)

SNAPSHOT = f"genai-prices {genai_prices.__version__} snapshot"


def test_gpt_4o_mini_base_tuned_and_training_prices_of_002() -> None:
    p = resolve_prices(CostInputs(base_model="gpt-4o-mini"))
    assert p.base_input_per_mtok == Decimal("0.15")
    assert p.base_output_per_mtok == Decimal("0.60")
    # tuned_model defaults to base_model, and its price is the FINE-TUNED one, not the base.
    assert p.tuned_input_per_mtok == Decimal("0.30")
    assert p.tuned_output_per_mtok == Decimal("1.20")
    assert p.train_per_mtok == Decimal("3.00")
    assert p.base_input_source == f"{SNAPSHOT}: gpt-4o-mini (openai)"
    assert p.tuned_input_source == f"{SNAPSHOT}: ft:gpt-4o-mini (openai)"
    assert p.train_source is not None
    assert p.train_source.startswith("training_prices.csv: reference 002")


def test_explicit_fine_tuned_ids() -> None:
    for ref in ("ft:gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18:acme::abc123"):
        quote = fine_tuned_quote(ref)
        assert quote is not None
        assert (quote.input_per_mtok, quote.output_per_mtok) == (Decimal("0.3"), Decimal("1.2"))
    p = resolve_prices(CostInputs(base_model="gpt-4o", tuned_model="ft:gpt-4o-mini-2024-07-18"))
    assert p.base_input_per_mtok == Decimal("2.5")
    assert p.tuned_input_per_mtok == Decimal("0.3")
    # Training is priced for the model being tuned.
    assert p.train_per_mtok == Decimal("3.00")


def test_smaller_tuned_model_gets_its_fine_tuned_price() -> None:
    p = resolve_prices(CostInputs(base_model="gpt-4o", tuned_model="gpt-4o-mini"))
    assert (p.tuned_input_per_mtok, p.tuned_output_per_mtok) == (Decimal("0.3"), Decimal("1.2"))


def test_no_fine_tuned_price_is_unknown_not_the_base_price() -> None:
    p = resolve_prices(CostInputs(base_model="gpt-4.1"))
    assert p.base_input_per_mtok is not None
    assert p.tuned_input_per_mtok is None and p.tuned_input_source is None
    assert p.tuned_output_per_mtok is None
    assert p.train_per_mtok == Decimal("25.00")


def test_unknown_model_gives_none_not_an_error() -> None:
    assert lookup_model_price("no-such-model-xyz") is None
    assert fine_tuned_quote("no-such-model-xyz") is None
    assert resolve_prices(CostInputs(base_model="no-such-model-xyz")) == PriceSet()


def test_user_price_always_wins() -> None:
    p = resolve_prices(
        CostInputs(
            base_model="gpt-4o-mini",
            base_input_per_mtok=Decimal(2),
            tuned_output_per_mtok=Decimal(9),
            train_per_mtok=Decimal(0),
        )
    )
    assert (p.base_input_per_mtok, p.base_input_source) == (Decimal(2), "user")
    assert (p.tuned_output_per_mtok, p.tuned_output_source) == (Decimal(9), "user")
    assert (p.train_per_mtok, p.train_source) == (Decimal(0), "user")
    assert p.base_output_source == f"{SNAPSHOT}: gpt-4o-mini (openai)"


def test_user_prices_without_a_model() -> None:
    p = resolve_prices(CostInputs(base_input_per_mtok=Decimal(1)))
    assert p == PriceSet(base_input_per_mtok=Decimal(1), base_input_source="user")


def test_self_hosted_training_is_gpu_time() -> None:
    p = resolve_prices(CostInputs(base_model="gpt-4o-mini", gpu_hours=Decimal(5)))
    assert p.train_per_mtok is None
    assert p.train_source == "self-hosted GPU: user"


def test_training_table_rows_are_cited_and_resolve() -> None:
    rows = training_prices()
    by_model = {row.base_model: row for row in rows}
    expected = {
        "gpt-4o-mini": "3.00",
        "gpt-4o": "25",
        "gpt-4.1": "25",
        "gpt-4.1-mini": "5",
        "gpt-4.1-nano": "1.50",
        "gpt-3.5-turbo": "8",
    }
    assert {m: by_model[m].train_per_mtok for m in expected} == {
        m: Decimal(v) for m, v in expected.items()
    }
    assert "002" in by_model["gpt-4o-mini"].source
    for row in rows:
        assert row.source and row.as_of
        assert row.as_of[:4].isdigit()
        if row.fine_tuned_model_ref is not None:
            quote = lookup_model_price(row.fine_tuned_model_ref)
            assert quote is not None, row.fine_tuned_model_ref
            assert quote.model_id.startswith("ft:")


def test_model_family_matching() -> None:
    assert model_family("ft:gpt-4o-mini-2024-07-18:acme::x1") == "gpt-4o-mini"
    assert model_family("GPT-4o-2024-08-06") == "gpt-4o"
    assert model_family("gpt-3.5-turbo-0125") == "gpt-3.5-turbo"
    row = training_price("gpt-4o-mini-2024-07-18")
    assert row is not None and row.base_model == "gpt-4o-mini"
    assert training_price("gpt-4o").base_model == "gpt-4o"  # type: ignore[union-attr]


def test_long_prompt_tier() -> None:
    short = lookup_model_price("gemini-1.5-pro", prompt_tokens=1000)
    long = lookup_model_price("gemini-1.5-pro", prompt_tokens=300_000)
    assert short is not None and long is not None
    assert short.input_per_mtok is not None and long.input_per_mtok is not None
    assert long.input_per_mtok > short.input_per_mtok
    assert "long-prompt tier" in long.source and "tier" not in short.source


def test_prices_do_not_depend_on_the_clock() -> None:
    # deepseek-chat has off-peak prices by time of day; the model must not read the clock.
    inputs = CostInputs(base_model="deepseek-chat")
    with time_machine.travel("2025-03-01 03:00:00+00:00", tick=False):
        night = resolve_prices(inputs)
    with time_machine.travel("2025-03-01 12:00:00+00:00", tick=False):
        noon = resolve_prices(inputs)
    assert night == noon
