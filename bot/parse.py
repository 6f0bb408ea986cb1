"""Turn what a person typed ("1.2M", "50k", "800 tokens", "$3/M", "82%", "yes") into an
answer value for a question, or an ``InvalidInput`` saying what was wrong and what was expected.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.errors import InvalidInput
from bot.questions import Kind, Question

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_NUMBER = re.compile(
    r"""^\s*
    (?P<dollar>\$)?\s*
    (?P<num>[0-9][0-9,_]*(?:\.[0-9]+)?|\.[0-9]+)\s*
    (?P<suffix>(?:thousand|million|billion|mm|k|m|b)\b)?\s*
    (?P<unit>.*?)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_WORD_SUFFIX = {"thousand": "k", "million": "m", "billion": "b", "mm": "m"}
# Words allowed after a number: the unit the question is about, spelled the usual ways.
_UNITS = re.compile(
    r"^(?:%|percent|pct|points?|tokens?|toks?|examples?|pairs?|requests?|reqs?|calls?|"
    r"(?:requests?|reqs?|calls?)?\s*(?:/|per|a)\s*(?:month|mo)|/mo|/month|per month|"
    r"(?:/|per)\s*(?:1?m|1m tokens|million(?: tokens)?|mtok)|/\s*1m\s*tokens?|"
    r"(?:/|per|an?)\s*(?:h|hr|hour)|hours?|hrs?|h|gpu[ -]?hours?|usd|dollars?)?$",
    re.IGNORECASE,
)
_YES = {"yes", "y", "true", "1", "yep", "yeah", "sure"}
_NO = {"no", "n", "false", "0", "nope"}
_PER_THOUSAND = re.compile(r"^(?:/|per)\s*(?:1k|k|1,?000|thousand)(?: tokens?)?$", re.IGNORECASE)


def parse_number(text: str, *, what: str = "a number") -> tuple[Decimal, str]:
    """Parse a number with an optional $ and k/M/B suffix; returns the value and the rest."""
    m = _NUMBER.match(text or "")
    if not m:
        raise InvalidInput(f"expected {what}, got {text.strip()[:40]!r}")
    try:
        value = Decimal(m.group("num").replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InvalidInput(f"expected {what}, got {text.strip()[:40]!r}") from None
    suffix = (m.group("suffix") or "").lower()
    suffix = _WORD_SUFFIX.get(suffix, suffix)
    return value * _SUFFIX[suffix], (m.group("unit") or "").strip()


def parse_answer(q: Question, text: str) -> Any:
    """The answer value for ``q`` from free text, validated like the answers file."""
    raw = (text or "").strip()
    if not raw:
        raise InvalidInput(f"{q.key}: the answer is empty; {q.help}", field=q.key)
    if q.kind is Kind.TEXT:
        return raw
    if q.kind is Kind.BOOLEAN:
        word = raw.lower().rstrip(".!")
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise InvalidInput(f"{q.key}: expected yes or no, got {raw[:40]!r}", field=q.key)
    if q.kind in (Kind.CHOICE, Kind.MULTI):
        return _parse_choice(q, raw)
    return _parse_numeric(q, raw)


def _parse_choice(q: Question, raw: str) -> Any:
    parts = [p.strip() for p in re.split(r"[,;]| and ", raw) if p.strip()]
    if q.kind is Kind.CHOICE:
        parts = [raw]
    values: list[str] = []
    for part in parts:
        match = _match_option(q, part)
        if match is None:
            allowed = ", ".join(o.value for o in q.options)
            raise InvalidInput(f"{q.key}: {part[:40]!r} is not one of: {allowed}", field=q.key)
        values.append(match)
    return values if q.kind is Kind.MULTI else values[0]


def _match_option(q: Question, text: str) -> str | None:
    low = text.lower().strip()
    for i, opt in enumerate(q.options, start=1):
        if low in (opt.value, opt.label.lower(), str(i)):
            return opt.value
    return None


def _parse_numeric(q: Question, raw: str) -> Any:
    expected = {
        Kind.INTEGER: "a whole number (e.g. 1200, 50k or 1.2M)",
        Kind.PERCENT: "a percentage from 0 to 100 (e.g. 82 or 82%)",
        Kind.MONEY: "an amount in dollars (e.g. $3/M or 0.15)",
        Kind.DECIMAL: "a number (e.g. 8 or 12.5)",
    }[q.kind]
    if raw.startswith("-"):
        raise InvalidInput(f"{q.key}: must be 0 or more, got {raw[:40]!r}", field=q.key)
    try:
        value, rest = parse_number(raw, what=expected)
    except InvalidInput as err:
        raise InvalidInput(f"{q.key}: {err.user_message}", field=q.key) from None
    if q.kind is Kind.MONEY and _PER_THOUSAND.match(rest) and q.unit == "$/1M tokens":
        # "$0.002 per 1K tokens" is the same price as $2 per 1M tokens.
        value, rest = value * 1000, ""
    if rest and not _UNITS.match(rest):
        raise InvalidInput(
            f"{q.key}: did not understand {rest[:40]!r} after the number; expected {expected}",
            field=q.key,
        )
    if q.kind is Kind.INTEGER:
        if value != value.to_integral_value():
            raise InvalidInput(f"{q.key}: expected a whole number, got {raw[:40]!r}", field=q.key)
        return int(value)
    if q.kind is Kind.PERCENT:
        if value > 100:
            raise InvalidInput(f"{q.key}: {value} is over 100; expected {expected}", field=q.key)
        return float(value)
    return format(value.normalize(), "f")
