"""Properties of the cost model over generated inputs (hypothesis). Prices are passed in, so
these run without looking anything up."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import CostInputs
from bot.cost import RATIO_STAY, RATIO_TUNE, CostReport, Verdict, compute_cost
from bot.prices import PriceSet

MONEY_FIELDS = ("per_call_base", "per_call_tuned", "one_time_cost", "monthly_savings")

prices_per_mtok = st.decimals(
    min_value=Decimal(0), max_value=Decimal(200), places=3, allow_nan=False, allow_infinity=False
)
dollars = st.decimals(
    min_value=Decimal(0), max_value=Decimal(10**6), places=2, allow_nan=False, allow_infinity=False
)
tokens = st.integers(min_value=0, max_value=200_000)
volume = st.integers(min_value=0, max_value=10**10)


@st.composite
def cost_cases(draw: st.DrawFn) -> tuple[CostInputs, PriceSet]:
    gpu = draw(st.booleans())
    data: dict[str, Any] = {
        "requests_per_month": draw(volume),
        "base_model": "any-model",
        "prompt_tokens": draw(tokens),
        "output_tokens": draw(st.integers(min_value=0, max_value=20_000)),
        "tuned_prompt_tokens": draw(tokens),
        "epochs": draw(st.integers(min_value=1, max_value=10)),
        "horizon_months": draw(st.integers(min_value=1, max_value=60)),
        "one_time_costs": draw(dollars),
    }
    if gpu:
        data["gpu_hours"] = draw(dollars)
        data["gpu_hourly_rate"] = draw(prices_per_mtok)
    else:
        data["training_examples"] = draw(st.integers(min_value=0, max_value=100_000))
        data["tokens_per_example"] = draw(st.integers(min_value=0, max_value=10_000))
    prices = PriceSet(
        base_input_per_mtok=draw(prices_per_mtok),
        base_output_per_mtok=draw(prices_per_mtok),
        tuned_input_per_mtok=draw(prices_per_mtok),
        tuned_output_per_mtok=draw(prices_per_mtok),
        train_per_mtok=None if gpu else draw(prices_per_mtok),
    )
    return CostInputs.model_validate(data), prices


def with_volume(inputs: CostInputs, rpm: int) -> CostInputs:
    return inputs.model_copy(update={"requests_per_month": rpm})


def close(a: Decimal, b: Decimal) -> bool:
    """Equal within the model's 34-digit precision (each side rounded once)."""
    with localcontext(prec=80):  # the check itself must not round
        return abs(a - b) <= max(abs(a), abs(b)) * Decimal("1e-30")


def times(a: Decimal, n: int) -> Decimal:
    with localcontext(prec=80):
        return a * n


@given(cost_cases())
def test_money_is_never_negative_or_nan(case: tuple[CostInputs, PriceSet]) -> None:
    r = compute_cost(*case)
    for name in MONEY_FIELDS:
        value: Decimal = getattr(r, name)
        assert value.is_finite() and value >= 0, name
    for quotient in (r.break_even_calls, r.payback_months, r.ratio):
        assert quotient is None or (quotient.is_finite() and quotient >= 0)
    low, high = r.latency_saved_ms
    assert 0 <= low <= high


@given(cost_cases())
def test_json_never_has_infinity_or_nan(case: tuple[CostInputs, PriceSet]) -> None:
    data = compute_cost(*case).to_json_dict()
    text = json.dumps(data, allow_nan=False)
    for bad in ("Infinity", "NaN", "E+", "E-"):
        assert bad not in text
    for name in MONEY_FIELDS:
        assert Decimal(data[name]) >= 0


@given(cost_cases(), volume, volume)
def test_savings_and_ratio_grow_with_volume(
    case: tuple[CostInputs, PriceSet], a: int, b: int
) -> None:
    inputs, prices = case
    low, high = sorted((a, b))
    r_low = compute_cost(with_volume(inputs, low), prices)
    r_high = compute_cost(with_volume(inputs, high), prices)
    assert r_low.monthly_savings <= r_high.monthly_savings
    if r_low.ratio is not None and r_high.ratio is not None:
        assert r_low.ratio <= r_high.ratio
    order = [Verdict.STAY_PROMPTING, Verdict.DEPENDS, Verdict.FINE_TUNE]
    if r_low.verdict in order and r_high.verdict in order:
        assert order.index(r_low.verdict) <= order.index(r_high.verdict)


@given(cost_cases())
def test_break_even_matches_payback(case: tuple[CostInputs, PriceSet]) -> None:
    r = compute_cost(*case)
    rpm = r.inputs.requests_per_month
    assert rpm is not None
    if r.payback_months is not None:
        assert r.break_even_calls is not None
        assert close(times(r.payback_months, rpm), r.break_even_calls)
    if r.ratio is not None and r.break_even_calls:
        with localcontext(prec=80):
            volume_over_horizon = r.ratio * r.break_even_calls
        assert close(volume_over_horizon, Decimal(rpm * r.inputs.horizon_months))


@given(cost_cases())
def test_verdict_follows_v1(case: tuple[CostInputs, PriceSet]) -> None:
    r = compute_cost(*case)
    if r.per_call_tuned >= r.per_call_base:
        assert r.verdict is Verdict.NEVER_BREAKS_EVEN
        assert (r.break_even_calls, r.payback_months, r.ratio) == (None, None, None)
        return
    assert r.verdict is not Verdict.NEVER_BREAKS_EVEN
    if r.ratio is None or r.inputs.requests_per_month == 0:
        return
    expected = (
        Verdict.STAY_PROMPTING
        if r.ratio < RATIO_STAY
        else Verdict.FINE_TUNE
        if r.ratio >= RATIO_TUNE
        else Verdict.DEPENDS
    )
    assert r.verdict is expected


@settings(max_examples=50)
@given(cost_cases())
def test_flip_volumes_are_the_smallest_that_reach_3x_and_10x(
    case: tuple[CostInputs, PriceSet],
) -> None:
    inputs, prices = case
    r = compute_cost(inputs, prices)
    flip = r.flip
    if r.verdict is Verdict.NEVER_BREAKS_EVEN:
        assert flip.requests_per_month_for_3x is None and flip.requests_per_month_for_10x is None
        return
    assert flip.requests_per_month_for_3x is not None
    assert flip.requests_per_month_for_10x is not None
    for target, rpm in ((3, flip.requests_per_month_for_3x), (10, flip.requests_per_month_for_10x)):
        at = compute_cost(with_volume(inputs, rpm), prices)
        assert at.ratio is None or at.ratio >= target
        if rpm > 1:
            below = compute_cost(with_volume(inputs, rpm - 1), prices)
            assert below.ratio is not None and below.ratio < target


@given(cost_cases())
def test_max_tuned_prompt_tokens_is_the_last_cheaper_length(
    case: tuple[CostInputs, PriceSet],
) -> None:
    inputs, prices = case
    t = compute_cost(inputs, prices).flip.max_tuned_prompt_tokens

    def tuned(n: int) -> CostReport:
        return compute_cost(inputs.model_copy(update={"tuned_prompt_tokens": n}), prices)

    if t is None:
        free = prices.tuned_input_per_mtok == 0
        assert free or tuned(0).verdict is Verdict.NEVER_BREAKS_EVEN
        return
    assert tuned(t).per_call_tuned < tuned(t).per_call_base
    assert tuned(t + 1).per_call_tuned >= tuned(t + 1).per_call_base
