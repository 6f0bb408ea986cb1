"""The break-even chart: cumulative cost of prompting vs fine-tuning over the horizon, sized to
read in Slack's image preview (800x450 px)."""

from __future__ import annotations

import math
from decimal import Decimal
from os import PathLike
from typing import IO

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.cost import CostReport, Verdict, decimal_str, format_dollars, format_ratio

WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100
PROMPT_COLOR = "#d1495b"
TUNE_COLOR = "#00798c"
MARK_COLOR = "#222222"
# A crossover up to this many horizons out stretches the chart; a later one is named in words.
MAX_EXTENSION = 3
SAMPLES = 60


def render_break_even_chart(
    report: CostReport, path_or_buffer: str | PathLike[str] | IO[bytes]
) -> None:
    """Write the chart as an 800x450 px PNG to a path or a binary buffer."""
    # Floats are fine here: the chart only draws the Decimal results, it computes no money.
    rpm = report.inputs.requests_per_month or 0
    horizon = report.inputs.horizon_months
    base_monthly = float(report.per_call_base) * rpm
    tuned_monthly = float(report.per_call_tuned) * rpm
    one_time = float(report.one_time_cost)
    payback = report.payback_months

    months_shown = float(horizon)
    crossover_off_chart = False
    if payback is not None and payback > horizon:
        if payback <= horizon * MAX_EXTENSION:
            months_shown = float(math.ceil(payback * Decimal("1.15")))
        else:
            crossover_off_chart = True

    # A standalone Figure (no pyplot) leaves matplotlib's global state alone.
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    # Many points, not two: the legend's "best" placement avoids data points, not segments.
    xs = [months_shown * i / SAMPLES for i in range(SAMPLES + 1)]
    ax.plot(xs, [base_monthly * x for x in xs], color=PROMPT_COLOR, lw=3, label="Keep prompting")
    ax.plot(
        xs,
        [one_time + tuned_monthly * x for x in xs],
        color=TUNE_COLOR,
        lw=3,
        label="Fine-tune: one-time cost + tuned calls",
    )

    if months_shown > horizon:
        ax.axvline(horizon, color="#888888", lw=1.5, ls="--", label=f"{horizon}-month horizon")

    if payback is not None and not crossover_off_chart and one_time > 0:
        spent = report.per_call_base * rpm * payback
        ax.axvline(float(payback), color=MARK_COLOR, lw=1, ls=":", zorder=1)
        # The crossover is labelled in the legend, which "best" places off the lines.
        ax.plot(
            [float(payback)],
            [float(spent)],
            "o",
            ms=11,
            color=MARK_COLOR,
            zorder=5,
            label=(
                f"Break-even: month {decimal_str(payback, 2)}, {format_dollars(spent)} either way"
            ),
        )

    fig.suptitle(
        "Prompting vs fine-tuning: cumulative cost",
        x=0.015,
        ha="left",
        fontsize=18,
        fontweight="bold",
    )
    subtitle, bad_news = _subtitle(report, crossover_off_chart)
    ax.set_title(
        subtitle,
        loc="left",
        fontsize=13,
        fontweight="bold" if bad_news else "normal",
        color=PROMPT_COLOR if bad_news else "#333333",
    )
    ax.set_xlabel("Months", fontsize=13)
    ax.set_xlim(0, months_shown)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_dollar_tick))
    ax.tick_params(labelsize=12)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=12, loc="best", framealpha=0.95)
    fig.savefig(path_or_buffer, format="png", dpi=DPI)


def _subtitle(report: CostReport, crossover_off_chart: bool) -> tuple[str, bool]:
    """The line under the title: what the chart says, and whether it is bad news."""
    horizon = report.inputs.horizon_months
    if report.verdict is Verdict.NEVER_BREAKS_EVEN:
        return "Never breaks even: the tuned call costs as much as the base or more", True
    payback = report.payback_months
    if payback is None:
        return "No requests a month: fine-tuning never pays back", True
    if report.ratio is None:
        return "No one-time cost: fine-tuning saves money from the first call", False
    words = {
        Verdict.STAY_PROMPTING: "stay prompting",
        Verdict.DEPENDS: "it depends",
        Verdict.FINE_TUNE: "fine-tune",
    }[report.verdict]
    months = decimal_str(payback, 0 if crossover_off_chart else 2)
    ratio = format_ratio(report.ratio)
    return f"Break-even at month {months} · ratio {ratio} over {horizon} months · {words}", False


def _dollar_tick(value: float, _pos: int) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{sign}${value / limit:,.4g}{suffix}"
    return f"{sign}${value:,.4g}"
