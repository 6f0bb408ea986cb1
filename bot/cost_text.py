"""Plain-English pieces of a cost report, shared by the terminal and Slack."""

from __future__ import annotations

import math
from decimal import Decimal

from bot.cost import CostReport, Verdict, decimal_str, format_dollars, format_ratio

VERDICT_WORDS = {
    Verdict.STAY_PROMPTING: "Stay with prompting: the volume is under 3x the break-even",
    Verdict.DEPENDS: (
        "It depends: 3-10x the break-even; fine-tune only if latency is critical or the "
        "quality gap is 15+ points"
    ),
    Verdict.FINE_TUNE: "The numbers support fine-tuning",
    Verdict.NEVER_BREAKS_EVEN: "Never breaks even: the tuned call is not cheaper",
}


def flip_lines(report: CostReport) -> list[str]:
    flip = report.flip
    lines: list[str] = []
    if flip.requests_per_month_for_3x is not None:
        lines.append(f"ratio 3x at {flip.requests_per_month_for_3x:,} requests/month")
    if flip.requests_per_month_for_10x is not None:
        lines.append(f"ratio 10x at {flip.requests_per_month_for_10x:,} requests/month")
    if flip.max_tuned_prompt_tokens is not None:
        lines.append(
            f"tuned call stops being cheaper above {flip.max_tuned_prompt_tokens:,} "
            "tuned prompt tokens"
        )
    elif report.prices.tuned_input_per_mtok == 0:
        lines.append("tuned input tokens are free: any tuned prompt length stays cheaper")
    else:
        lines.append("even an empty tuned prompt is not cheaper than the base call")
    return lines


def calls(value: Decimal | None) -> str:
    if value is None:
        return "never"
    # Whole calls, rounded up: after that many calls the one-time cost is recovered.
    return f"{math.ceil(value):,} calls"


DAYS_PER_MONTH = Decimal("30.44")  # an average month, for paybacks shorter than one


def months(value: Decimal | None) -> str:
    """A payback period people can read: "6.25 months", "9 days", "under a day"."""
    if value is None:
        return "never"
    if value >= 1:
        shown = decimal_str(value, 2)
        return f"{shown} month" if shown == "1" else f"{shown} months"
    days = value * DAYS_PER_MONTH
    if days < 1:
        return "under a day"
    return "1 day" if math.ceil(days) == 1 else f"{math.ceil(days)} days"


def summary_lines(report: CostReport) -> list[str]:
    """The report in a few lines: per-call costs, one-time cost, savings, break-even,
    payback, ratio with its verdict, latency and what would flip it."""
    low, high = report.latency_saved_ms
    lines = [
        f"Per call: {format_dollars(report.per_call_base)} today, "
        f"{format_dollars(report.per_call_tuned)} tuned",
        f"One-time cost: {format_dollars(report.one_time_cost)}; saves "
        f"{format_dollars(report.monthly_savings)} a month",
        f"Break-even: {calls(report.break_even_calls)}; payback {months(report.payback_months)}",
        f"Volume / break-even over {report.inputs.horizon_months} months: "
        f"{format_ratio(report.ratio)}. {VERDICT_WORDS[report.verdict]}",
        f"Latency saved: about {low:,}-{high:,} ms per call",
    ]
    flips = flip_lines(report)
    if flips:
        lines.append("What would flip it: " + "; ".join(flips))
    return lines
