"""The break-even cost model of LADDER.md ("The cost model"): pure functions over Decimal money.

Arithmetic is exact (``fractions.Fraction``) and each reported quotient is rounded once, to
34 significant digits, so a verdict at exactly 3x or 10x is never off by a rounding error.
Nothing here reads the clock or the network; ``cost_report`` takes the price date as ``on``.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.answers import CostInputs
from bot.errors import InvalidInput
from bot.prices import PriceSet, is_self_hosted, resolve_prices

ONE_MILLION = 1_000_000
RATIO_STAY = 3  # 001: "within 3x ... stay with prompts"
RATIO_TUNE = 10  # 001: 10x and up supports fine-tuning
LOW_VOLUME = 50_000  # 000 FAQ: under 50,000 calls a month, prompt
# 000: removing 500 prompt tokens saves about 300-700 ms per call.
LATENCY_TOKENS = 500
LATENCY_MS = (300, 700)
# Quotients in the JSON output: enough places for calls and months, no 34-digit tails.
JSON_PLACES = 6

_CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_REQUIRED = (
    "requests_per_month",
    "base_model",
    "prompt_tokens",
    "output_tokens",
    "tuned_prompt_tokens",
)


class Verdict(StrEnum):
    STAY_PROMPTING = "stay_prompting"
    DEPENDS = "depends"
    FINE_TUNE = "fine_tune"
    NEVER_BREAKS_EVEN = "never_breaks_even"


class Flip(BaseModel):
    """What would change the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_month_for_3x: int | None
    """Smallest monthly volume at which the ratio reaches 3 (``None``: never breaks even)."""
    requests_per_month_for_10x: int | None
    """Smallest monthly volume at which the ratio reaches 10 (``None``: never breaks even)."""
    max_tuned_prompt_tokens: int | None
    """Largest tuned prompt at which the tuned call is still cheaper than the base call
    (``None``: not even an empty tuned prompt is cheaper, or tuned input tokens are free)."""


class CostReport(BaseModel):
    """The cost model's result. Money is dollars; quotients keep full precision here and are
    rounded to ``JSON_PLACES`` places in ``to_json_dict``. ``None`` = the value does not exist.

    - ``break_even_calls``/``payback_months``/``ratio`` are ``None`` when the tuned call is
      not cheaper (``never_breaks_even``); ``payback_months`` also when there is no volume.
    - With no one-time cost and a cheaper tuned call, break-even is 0 calls and 0 months and
      the ratio is unbounded: ``ratio`` is ``None`` and the verdict ``fine_tune`` (or
      ``stay_prompting`` at zero volume).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_call_base: Decimal
    per_call_tuned: Decimal
    one_time_cost: Decimal
    monthly_savings: Decimal
    break_even_calls: Decimal | None
    payback_months: Decimal | None
    ratio: Decimal | None
    verdict: Verdict
    flip: Flip
    latency_saved_ms: tuple[int, int]
    prices: PriceSet
    inputs: CostInputs
    notes: list[str]

    def to_json_dict(self) -> dict[str, Any]:
        """The report as the JSON object of LADDER.md ("JSON output"): money as decimal strings
        without exponents, ``null`` for what does not exist, never Infinity or NaN."""
        return {
            "per_call_base": decimal_str(self.per_call_base),
            "per_call_tuned": decimal_str(self.per_call_tuned),
            "one_time_cost": decimal_str(self.one_time_cost),
            "monthly_savings": decimal_str(self.monthly_savings),
            "break_even_calls": _opt_str(self.break_even_calls, JSON_PLACES),
            "payback_months": _opt_str(self.payback_months, JSON_PLACES),
            "ratio": _opt_str(self.ratio, JSON_PLACES),
            "verdict": self.verdict.value,
            "flip": self.flip.model_dump(),
            "latency_saved_ms": list(self.latency_saved_ms),
            "prices": {
                name: decimal_str(value) if isinstance(value, Decimal) else value
                for name, value in self.prices.model_dump().items()
            },
            "inputs": {
                name: decimal_str(value) if isinstance(value, Decimal) else value
                for name, value in self.inputs.model_dump().items()
            },
            "notes": list(self.notes),
        }


# -- public functions --------------------------------------------------------------------------


def missing_cost_keys(inputs: CostInputs | None, *, self_hosted: bool = False) -> list[str]:
    """The cost keys (``cost.*``) still needed before the model can run, in the order a person
    should be asked: volume, model, prompt and output sizes, then prices the snapshot does not
    know, then the one-time training part (GPU time when self-hosted). Defaults are never
    missing. Prices are asked only once the model is known, since the model may supply them."""
    inputs = inputs or CostInputs()
    prices = resolve_prices(inputs) if inputs.base_model is not None else None
    return _missing_keys(inputs, prices, self_hosted=self_hosted)


def cost_report(inputs: CostInputs, *, on: date | None = None) -> CostReport:
    """Resolve the prices for ``inputs`` (as of ``on``; ``None`` = latest in the snapshot)
    and run the cost model."""
    return compute_cost(inputs, resolve_prices(inputs, on=on))


def per_call_cost(
    *,
    prompt_tokens: int,
    output_tokens: int,
    input_per_mtok: Decimal | Fraction,
    output_per_mtok: Decimal | Fraction,
) -> Fraction:
    """One call's cost, exactly: tokens x price, prices per 1M tokens (``P_base``/``P_tuned``)."""
    return (
        prompt_tokens * Fraction(input_per_mtok) + output_tokens * Fraction(output_per_mtok)
    ) / ONE_MILLION


def to_decimal(value: Fraction) -> Decimal:
    """An exact amount as the report's Decimal (rounded once, to the report's precision)."""
    return _dec(value)


def compute_cost(inputs: CostInputs, prices: PriceSet) -> CostReport:
    """The cost model of LADDER.md with the given prices.

    Raises ``InvalidInput`` naming the first missing key (``cost.prompt_tokens: required``).
    """
    missing = _missing_keys(inputs, prices, self_hosted=False)
    if missing:
        key = missing[0]
        reason = "required"
        if key.endswith("_per_mtok"):
            model = inputs.base_model if key.startswith("cost.base") else _tuned_name(inputs)
            reason = f"required (no known price for {model!r})"
        raise InvalidInput(f"{key}: {reason}", field=key)

    rpm = _int(inputs.requests_per_month)
    horizon = inputs.horizon_months
    prompt = _int(inputs.prompt_tokens)
    tuned_prompt = _int(inputs.tuned_prompt_tokens)
    output = _int(inputs.output_tokens)
    in_b = _frac(prices.base_input_per_mtok)
    out_b = _frac(prices.base_output_per_mtok)
    in_t = _frac(prices.tuned_input_per_mtok)
    out_t = _frac(prices.tuned_output_per_mtok)

    p_base = per_call_cost(
        prompt_tokens=prompt, output_tokens=output, input_per_mtok=in_b, output_per_mtok=out_b
    )
    p_tuned = per_call_cost(
        prompt_tokens=tuned_prompt,
        output_tokens=output,
        input_per_mtok=in_t,
        output_per_mtok=out_t,
    )
    one_time = _one_time_cost(inputs, prices)
    saving = p_base - p_tuned

    break_even: Fraction | None = None
    payback: Fraction | None = None
    ratio: Fraction | None = None
    if saving > 0:
        break_even = one_time / saving
        if rpm > 0:
            payback = one_time / (saving * rpm)
        if one_time > 0:
            ratio = rpm * horizon * saving / one_time
    verdict = v1_verdict(saving=saving, one_time=one_time, requests_per_month=rpm, ratio=ratio)

    report = CostReport(
        per_call_base=_dec(p_base),
        per_call_tuned=_dec(p_tuned),
        one_time_cost=_dec(one_time),
        monthly_savings=_dec(max(saving, Fraction(0)) * rpm),
        break_even_calls=None if break_even is None else _dec(break_even),
        payback_months=None if payback is None else _dec(payback),
        ratio=None if ratio is None else _dec(ratio),
        verdict=verdict,
        flip=_flip(saving, one_time, horizon, p_base, output, in_t, out_t),
        latency_saved_ms=latency_saved_ms(prompt - tuned_prompt),
        prices=prices,
        inputs=inputs,
        notes=[],
    )
    return report.model_copy(update={"notes": _notes(report, saving, in_b, in_t)})


def v1_verdict(
    *, saving: Fraction, one_time: Fraction, requests_per_month: int, ratio: Fraction | None
) -> Verdict:
    """V1 of LADDER.md: ratio = expected volume over the horizon / break-even volume.

    A tuned call that is not cheaper never breaks even. No volume -> stay prompting. Ratio
    < 3 -> stay prompting (001 "within 3x"); >= 10 -> fine-tune; in between it depends
    (latency or a large quality gap decide, outside the cost model). With no one-time cost
    the ratio is unbounded: fine-tune.
    """
    if saving <= 0:
        return Verdict.NEVER_BREAKS_EVEN
    if requests_per_month == 0:
        return Verdict.STAY_PROMPTING
    if one_time == 0 or ratio is None:
        return Verdict.FINE_TUNE
    if ratio < RATIO_STAY:
        return Verdict.STAY_PROMPTING
    if ratio >= RATIO_TUNE:
        return Verdict.FINE_TUNE
    return Verdict.DEPENDS


def latency_saved_ms(tokens_removed: int) -> tuple[int, int]:
    """About 300-700 ms per call for every 500 prompt tokens removed (000), scaled linearly;
    ``(0, 0)`` when the tuned prompt is not shorter."""
    if tokens_removed <= 0:
        return (0, 0)
    low, high = (round(Fraction(ms * tokens_removed, LATENCY_TOKENS)) for ms in LATENCY_MS)
    return (low, high)


def decimal_str(value: Decimal, places: int | None = None) -> str:
    """A finite Decimal as a plain decimal string: ``1600``, ``0.0016``, never ``1.6E+3``.

    ``places`` rounds (half-even) to at most that many decimal places first.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    if places is not None:
        with localcontext(_CONTEXT) as ctx:
            ctx.prec = max(ctx.prec, value.adjusted() + places + 2)
            value = value.quantize(Decimal(1).scaleb(-places))
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


def format_dollars(value: Decimal) -> str:
    """Dollars for people: ``$1,600``, ``$6.25``, ``$0.30``, ``$0.0016`` (4 significant digits
    under $1)."""
    if value.is_zero():
        return "$0"
    if abs(value) >= 1:
        text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,.2f}"
        return "$" + text.removesuffix(".00")
    text = decimal_str(value.quantize(Decimal(1).scaleb(value.adjusted() - 3)))
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def format_ratio(value: Decimal | None) -> str:
    """``1.92x``; ``None`` -> ``n/a``."""
    if value is None:
        return "n/a"
    return f"{decimal_str(value, 2)}x"


# -- internals ---------------------------------------------------------------------------------


def _missing_keys(inputs: CostInputs, prices: PriceSet | None, *, self_hosted: bool) -> list[str]:
    keys = [name for name in _REQUIRED if getattr(inputs, name) is None]
    gpu = self_hosted or is_self_hosted(inputs)
    if inputs.base_model is not None and prices is not None:
        for name in (
            "base_input_per_mtok",
            "base_output_per_mtok",
            "tuned_input_per_mtok",
            "tuned_output_per_mtok",
        ):
            if getattr(prices, name) is None:
                keys.append(name)
    if gpu:
        keys += [name for name in ("gpu_hours", "gpu_hourly_rate") if getattr(inputs, name) is None]
    else:
        keys += [
            name
            for name in ("training_examples", "tokens_per_example")
            if getattr(inputs, name) is None
        ]
        if inputs.base_model is not None and prices is not None and prices.train_per_mtok is None:
            keys.append("train_per_mtok")
    return [f"cost.{name}" for name in keys]


def _one_time_cost(inputs: CostInputs, prices: PriceSet) -> Fraction:
    if is_self_hosted(inputs):
        training = _frac(inputs.gpu_hours) * _frac(inputs.gpu_hourly_rate)
    else:
        tokens = _int(inputs.training_examples) * _int(inputs.tokens_per_example) * inputs.epochs
        training = tokens * _frac(prices.train_per_mtok) / ONE_MILLION
    return training + Fraction(inputs.one_time_costs)


def _flip(
    saving: Fraction,
    one_time: Fraction,
    horizon: int,
    p_base: Fraction,
    output: int,
    in_t: Fraction,
    out_t: Fraction,
) -> Flip:
    for_3x: int | None = None
    for_10x: int | None = None
    if saving > 0:
        # ratio = rpm * horizon * saving / T >= k  <=>  rpm >= k * T / (saving * horizon)
        for_3x = max(1, math.ceil(RATIO_STAY * one_time / (saving * horizon)))
        for_10x = max(1, math.ceil(RATIO_TUNE * one_time / (saving * horizon)))
    # Largest t with t * in_t + output * out_t < P_base (all per 1M tokens).
    budget = p_base * ONE_MILLION - output * out_t
    max_tokens: int | None = None
    if budget > 0 and in_t > 0:
        max_tokens = math.ceil(budget / in_t) - 1
    return Flip(
        requests_per_month_for_3x=for_3x,
        requests_per_month_for_10x=for_10x,
        max_tuned_prompt_tokens=max_tokens,
    )


def _notes(report: CostReport, saving: Fraction, in_b: Fraction, in_t: Fraction) -> list[str]:
    inputs = report.inputs
    rpm = _int(inputs.requests_per_month)
    horizon = inputs.horizon_months
    notes: list[str] = []
    verdict = report.verdict
    if verdict is Verdict.NEVER_BREAKS_EVEN:
        notes.append(
            "The tuned call costs as much as or more than the base call, so fine-tuning never "
            "breaks even."
        )
        if saving < 0 and rpm > 0:
            extra = format_dollars(_dec(-saving * rpm))
            notes.append(f"At this volume the tuned model would cost {extra} more a month.")
    elif rpm == 0:
        notes.append(
            "With no requests a month there is nothing to save, so the one-time cost never "
            "pays back."
        )
    elif report.one_time_cost.is_zero():
        notes.append(
            "There is no one-time cost, so fine-tuning saves money from the first call (the "
            "ratio is unbounded and left empty)."
        )
    else:
        ratio = format_ratio(report.ratio)
        span = f"The expected volume over {horizon} months is {ratio} the break-even volume"
        if verdict is Verdict.STAY_PROMPTING:
            notes.append(f"{span}: under 3x, stay with prompts.")
        elif verdict is Verdict.DEPENDS:
            notes.append(
                f"{span}: between 3x and 10x, fine-tune only if latency is critical or the "
                "quality gap is 15 points or more."
            )
        else:
            notes.append(f"{span}: 10x or more, the numbers support fine-tuning.")
        payback = report.payback_months
        if payback is not None and payback > horizon:
            notes.append(
                f"Payback takes {decimal_str(payback, 2)} months, longer than the "
                f"{horizon}-month horizon."
            )
    if in_t > in_b:
        notes.append(
            f"The fine-tuned model costs more per input token than the base model "
            f"({format_dollars(_dec(in_t))} vs {format_dollars(_dec(in_b))} per 1M), so any "
            "saving comes from the shorter prompt."
        )
    if 0 < rpm < LOW_VOLUME:
        notes.append(
            f"Under {LOW_VOLUME:,} requests a month prompting is usually enough; the volume "
            "rarely pays for training."
        )
    if in_t == 0 and verdict is not Verdict.NEVER_BREAKS_EVEN:
        notes.append("Tuned input tokens are free here, so any tuned prompt length stays cheaper.")
    low, high = report.latency_saved_ms
    if high > 0:
        notes.append(
            f"Latency: the shorter prompt saves about {low:,}-{high:,} ms per call (300-700 ms "
            "per 500 tokens removed); a different tuned model changes latency too."
        )
    return notes


def _tuned_name(inputs: CostInputs) -> str | None:
    return inputs.tuned_model or inputs.base_model


def _frac(value: Decimal | None) -> Fraction:
    if value is None:  # guarded by _missing_keys; kept for the type checker
        raise InvalidInput("cost: a required value is missing")
    return Fraction(value)


def _int(value: int | None) -> int:
    if value is None:  # guarded by _missing_keys; kept for the type checker
        raise InvalidInput("cost: a required value is missing")
    return value


def _dec(value: Fraction) -> Decimal:
    """``value`` rounded once to 34 significant digits (exact when it fits)."""
    with localcontext(_CONTEXT):
        return Decimal(value.numerator) / Decimal(value.denominator)


def _opt_str(value: Decimal | None, places: int) -> str | None:
    return None if value is None else decimal_str(value, places)
