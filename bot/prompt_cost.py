"""What a system prompt costs a month at a review's volume: the base call of the cost model,
for a drafted prompt next to the current one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.answers import CostInputs
from bot.cost import per_call_cost, to_decimal
from bot.prices import resolve_prices


@dataclass(frozen=True)
class CostChoice:
    """The volume and model the monthly cost line is computed for (from the modal)."""

    requests_per_month: int | None = None
    base_model: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"requests_per_month": self.requests_per_month, "base_model": self.base_model}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CostChoice:
        data = data or {}
        rpm = data.get("requests_per_month")
        model = data.get("base_model")
        return cls(
            requests_per_month=int(rpm) if rpm is not None else None,
            base_model=str(model) if model else None,
        )


@dataclass(frozen=True)
class PromptCost:
    """What a prompt costs a month at the review's volume; ``missing`` says why not, if not."""

    requests_per_month: int | None
    model: str | None
    output_tokens: int | None
    after: Decimal | None = None
    before: Decimal | None = None
    price_source: str | None = None
    missing: str | None = None


def monthly_cost(
    *,
    requests_per_month: int,
    prompt_tokens: int,
    output_tokens: int,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
) -> Decimal:
    """requests a month x (prompt tokens x input price + output tokens x output price), prices
    per 1M tokens: the base call of LADDER.md's cost model, per month."""
    per_call = per_call_cost(
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
    )
    return to_decimal(per_call * requests_per_month)


def prompt_cost(
    choice: CostChoice,
    answers: Mapping[str, Any],
    *,
    tokens_after: int,
    tokens_before: int,
) -> PromptCost:
    """The drafted (and the current) prompt's monthly cost at the chosen volume and model, with
    the review's output tokens and any prices the team gave; prices from the bundled snapshot."""
    rpm, model = choice.requests_per_month, choice.base_model
    output = answers.get("cost.output_tokens")
    output_tokens = int(output) if output is not None else None
    missing = [w for w, v in (("the monthly volume", rpm), ("the model", model)) if v is None]
    if rpm is None or model is None:
        return PromptCost(
            requests_per_month=rpm,
            model=model,
            output_tokens=output_tokens,
            missing=f"needs {' and '.join(missing)}",
        )
    own = model == answers.get("cost.base_model")

    def price(key: str) -> Decimal | None:
        value = answers.get(f"cost.{key}") if own else None
        return Decimal(str(value)) if value is not None else None

    def cost_for(tokens: int) -> tuple[Decimal | None, int | None, str | None]:
        """(monthly cost, output tokens counted, price source)."""
        prices = resolve_prices(
            CostInputs(
                base_model=model,
                prompt_tokens=tokens,
                base_input_per_mtok=price("base_input_per_mtok"),
                base_output_per_mtok=price("base_output_per_mtok"),
            )
        )
        if prices.base_input_per_mtok is None:
            return None, None, None
        out_price = prices.base_output_per_mtok
        counted = output_tokens if out_price is not None else None
        return (
            monthly_cost(
                requests_per_month=rpm,
                prompt_tokens=tokens,
                output_tokens=counted or 0,
                input_per_mtok=prices.base_input_per_mtok,
                output_per_mtok=out_price or Decimal(0),
            ),
            counted,
            prices.base_input_source,
        )

    after, counted, source = cost_for(tokens_after)
    if after is None:
        return PromptCost(
            requests_per_month=rpm,
            model=model,
            output_tokens=output_tokens,
            missing=f"no price for {model} in the bundled price table",
        )
    before = cost_for(tokens_before)[0] if tokens_before > 0 else None
    return PromptCost(
        requests_per_month=rpm,
        model=model,
        output_tokens=counted,
        after=after,
        before=before,
        price_source=source,
    )
