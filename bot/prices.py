"""Price resolution for the cost model: model prices from genai-prices' bundled snapshot,
training prices from ``bot/data/training_prices.csv``, and the user's own prices on top.

Nothing here reads the network: ``genai_prices.UpdatePrices`` is never used, so a price is
whatever the installed snapshot says. Nothing reads the clock either: the date whose prices
apply is passed in (``on``); without it the latest price in the snapshot is used.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from genai_prices import Usage, calc_price
from genai_prices import __version__ as genai_prices_version
from genai_prices.types import TieredPrices
from pydantic import BaseModel, ConfigDict

from bot.answers import CostInputs, Money

USER = "user"
SELF_HOSTED_GPU = "self-hosted GPU: user"

# Conditional prices in the snapshot are either dated (a new price from a day on) or off-peak
# windows (DeepSeek). Noon UTC is inside no off-peak window, so it gives the standard price.
_STANDARD_HOUR = time(12, 0, tzinfo=UTC)
_ONE_MILLION = 1_000_000
_OPENAI_PREFIXES = ("ft:", "gpt-", "o1", "o3", "o4", "chatgpt-", "davinci", "babbage")
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class ModelQuote(BaseModel):
    """Per-1M-token prices of one model as found in the genai-prices snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    provider_id: str
    input_per_mtok: Money | None
    output_per_mtok: Money | None
    source: str


class TrainingPrice(BaseModel):
    """One row of ``training_prices.csv``: a provider's price per 1M training tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    base_model: str
    fine_tuned_model_ref: str | None
    train_per_mtok: Money
    source: str
    as_of: str

    @property
    def citation(self) -> str:
        return f"training_prices.csv: {self.source}, {self.as_of}"


class PriceSet(BaseModel):
    """The prices the cost model uses, dollars per 1M tokens, each with where it came from.

    A price of ``None`` is unknown (the model is not in the snapshot, or has no fine-tuned
    price): the caller asks the user for it. Its source is then ``None`` too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_input_per_mtok: Money | None = None
    base_input_source: str | None = None
    base_output_per_mtok: Money | None = None
    base_output_source: str | None = None
    tuned_input_per_mtok: Money | None = None
    tuned_input_source: str | None = None
    tuned_output_per_mtok: Money | None = None
    tuned_output_source: str | None = None
    train_per_mtok: Money | None = None
    train_source: str | None = None


def is_self_hosted(inputs: CostInputs) -> bool:
    """True when the one-time training cost is GPU time (``gpu_hours`` x ``gpu_hourly_rate``)."""
    return inputs.gpu_hours is not None or inputs.gpu_hourly_rate is not None


def looks_like_openai(model: str) -> bool:
    """OpenAI model ids (incl. fine-tuned ``ft:...`` ids) are looked up under provider "openai"."""
    return model.strip().lower().startswith(_OPENAI_PREFIXES)


def model_family(model: str) -> str:
    """``ft:gpt-4o-mini-2024-07-18:org::id`` and ``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name.removeprefix("ft:").split(":", 1)[0]
    return _DATE_SUFFIX.sub("", name)


def lookup_model_price(
    model_ref: str, *, prompt_tokens: int = 0, on: date | None = None
) -> ModelQuote | None:
    """The snapshot's input/output price of ``model_ref``, or ``None`` if it is not there.

    ``prompt_tokens`` picks the tier of a model whose price rises for long prompts (the
    tier applies to the whole call, so it depends on the prompt, not on monthly volume).
    """
    ref = model_ref.strip()
    provider_id = "openai" if looks_like_openai(ref) else None
    try:
        calc = calc_price(
            Usage(input_tokens=_ONE_MILLION, output_tokens=_ONE_MILLION),
            model_ref=ref,
            provider_id=provider_id,
            genai_request_timestamp=_price_time(on),
        )
    except LookupError:
        return None
    model_price = calc.model_price
    tiered = False
    rates: list[Decimal | None] = []
    for price in (model_price.input_mtok, model_price.output_mtok):
        if isinstance(price, TieredPrices):
            rate = _tier_rate(price, prompt_tokens)
            tiered = tiered or rate != price.base
            rates.append(rate)
        elif isinstance(price, Decimal):
            rates.append(price)
        else:
            rates.append(None)
    source = f"genai-prices {genai_prices_version} snapshot: {calc.model.id} ({calc.provider.id})"
    if tiered:
        source += f", long-prompt tier for {prompt_tokens:,} prompt tokens"
    return ModelQuote(
        model_id=calc.model.id,
        provider_id=calc.provider.id,
        input_per_mtok=rates[0],
        output_per_mtok=rates[1],
        source=source,
    )


@cache
def training_prices() -> tuple[TrainingPrice, ...]:
    """The rows of ``bot/data/training_prices.csv`` (read once)."""
    text = resources.files("bot").joinpath("data/training_prices.csv").read_text("utf-8")
    rows: list[TrainingPrice] = []
    for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            price = Decimal(row["train_per_mtok"])
        except (InvalidOperation, KeyError) as exc:
            raise ValueError(f"training_prices.csv line {line_no}: bad train_per_mtok") from exc
        rows.append(
            TrainingPrice(
                provider=row["provider"],
                base_model=row["base_model"].strip().lower(),
                fine_tuned_model_ref=row["fine_tuned_model_ref"].strip() or None,
                train_per_mtok=price,
                source=row["source"],
                as_of=row["as_of"],
            )
        )
    return tuple(rows)


def training_price(model: str) -> TrainingPrice | None:
    """The provider's training price for fine-tuning ``model`` (a base or an ``ft:`` id)."""
    family = model_family(model)
    return next((row for row in training_prices() if row.base_model == family), None)


def fine_tuned_quote(
    model: str, *, prompt_tokens: int = 0, on: date | None = None
) -> ModelQuote | None:
    """The inference price of ``model`` once fine-tuned: never the base model's price.

    An ``ft:`` id is looked up as it is; a base model goes through the fine-tuned ref of
    its row in the training table, then ``ft:<model>``. No fine-tuned price -> ``None``.
    """
    name = model.strip()
    if name.lower().startswith("ft:"):
        return lookup_model_price(name, prompt_tokens=prompt_tokens, on=on)
    row = training_price(name)
    if row is not None and row.fine_tuned_model_ref is not None:
        quote = lookup_model_price(row.fine_tuned_model_ref, prompt_tokens=prompt_tokens, on=on)
        if quote is not None:
            return quote
    quote = lookup_model_price(f"ft:{name}", prompt_tokens=prompt_tokens, on=on)
    # A fuzzy match in the snapshot could land on a plain model; only a fine-tuned id counts.
    if quote is not None and quote.model_id.lower().startswith("ft:"):
        return quote
    return None


def resolve_prices(inputs: CostInputs, *, on: date | None = None) -> PriceSet:
    """The prices for ``inputs``: the user's own price always wins, then the snapshot (base
    model; the fine-tuned price of ``tuned_model``, which defaults to ``base_model``), then the
    training table; self-hosted training is GPU time the user gave. Unknown -> ``None``."""
    values: dict[str, Decimal | str | None] = {}

    base: ModelQuote | None = None
    tuned: ModelQuote | None = None
    train: TrainingPrice | None = None
    if inputs.base_model is not None:
        tuned_name = inputs.tuned_model or inputs.base_model
        base = lookup_model_price(inputs.base_model, prompt_tokens=inputs.prompt_tokens or 0, on=on)
        tuned = fine_tuned_quote(tuned_name, prompt_tokens=inputs.tuned_prompt_tokens or 0, on=on)
        train = training_price(tuned_name)

    def pick(key: str, found: Decimal | None, source: str | None) -> None:
        user_value: Decimal | None = getattr(inputs, f"{key}_per_mtok")
        if user_value is not None:
            values[f"{key}_per_mtok"], values[f"{key}_source"] = user_value, USER
        elif found is not None:
            values[f"{key}_per_mtok"], values[f"{key}_source"] = found, source

    for side, quote in (("base", base), ("tuned", tuned)):
        source = None if quote is None else quote.source
        pick(f"{side}_input", None if quote is None else quote.input_per_mtok, source)
        pick(f"{side}_output", None if quote is None else quote.output_per_mtok, source)
    if is_self_hosted(inputs):
        values["train_source"] = SELF_HOSTED_GPU
    elif train is None:
        pick("train", None, None)
    else:
        pick("train", train.train_per_mtok, train.citation)
    return PriceSet.model_validate(values)


def _price_time(on: date | None) -> datetime:
    return datetime.combine(on or date.max, _STANDARD_HOUR)


def _tier_rate(price: TieredPrices, prompt_tokens: int) -> Decimal:
    # Same rule as genai-prices: a tier applies to all tokens once the prompt passes its start.
    rate: Decimal = price.base
    for tier in sorted(price.tiers, key=lambda t: t.start):
        if prompt_tokens > tier.start:
            rate = tier.price
    return rate
