"""``ladder cost``: the break-even model alone, as a table, JSON or a chart."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bot.answers import CostInputs, describe_validation_error
from bot.cli_common import fail
from bot.cost import (
    CostReport,
    cost_report,
    decimal_str,
    format_dollars,
    format_ratio,
)
from bot.cost_text import VERDICT_WORDS, calls, flip_lines, months
from bot.errors import InvalidInput, LadderError
from bot.parse import parse_answer
from bot.questions import QUESTIONS
from bot.tokens import count_tokens


def cost_command(
    requests_per_month: Annotated[
        str | None, typer.Option(metavar="INT", help="Calls a month.", show_default=False)
    ] = None,
    prompt_tokens: Annotated[
        str | None,
        typer.Option(metavar="INT", help="Prompt tokens per call today.", show_default=False),
    ] = None,
    output_tokens: Annotated[
        str | None, typer.Option(metavar="INT", help="Output tokens per call.", show_default=False)
    ] = None,
    tuned_prompt_tokens: Annotated[
        str | None,
        typer.Option(metavar="INT", help="Prompt tokens per call once tuned.", show_default=False),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL", help="Model used today, e.g. gpt-4o-mini.", show_default=False
        ),
    ] = None,
    tuned_model: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="Model to fine-tune (default: the base model).",
            show_default=False,
        ),
    ] = None,
    training_examples: Annotated[
        str | None, typer.Option(metavar="INT", help="Training examples.", show_default=False)
    ] = None,
    tokens_per_example: Annotated[
        str | None,
        typer.Option(metavar="INT", help="Tokens per training example.", show_default=False),
    ] = None,
    epochs: Annotated[
        str | None,
        typer.Option(metavar="INT", help="Training epochs (default 3).", show_default=False),
    ] = None,
    horizon_months: Annotated[
        str | None,
        typer.Option(metavar="INT", help="Months to weigh (default 12).", show_default=False),
    ] = None,
    one_time_costs: Annotated[
        str | None,
        typer.Option(
            metavar="USD",
            help="Data preparation, evaluation, engineering (default 0).",
            show_default=False,
        ),
    ] = None,
    base_input_per_mtok: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Your base input price per 1M tokens.", show_default=False
        ),
    ] = None,
    base_output_per_mtok: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Your base output price per 1M tokens.", show_default=False
        ),
    ] = None,
    tuned_input_per_mtok: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Your tuned input price per 1M tokens.", show_default=False
        ),
    ] = None,
    tuned_output_per_mtok: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Your tuned output price per 1M tokens.", show_default=False
        ),
    ] = None,
    train_per_mtok: Annotated[
        str | None,
        typer.Option(metavar="USD", help="Training price per 1M tokens.", show_default=False),
    ] = None,
    gpu_hours: Annotated[
        str | None,
        typer.Option(metavar="HOURS", help="Self-hosted LoRA: GPU hours.", show_default=False),
    ] = None,
    gpu_hourly_rate: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Self-hosted LoRA: dollars per GPU hour.", show_default=False
        ),
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Count today's prompt offline and use it as --prompt-tokens.",
            show_default=False,
        ),
    ] = None,
    tuned_prompt_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Count the tuned prompt offline and use it as --tuned-prompt-tokens.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the cost report as JSON.")
    ] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Write the break-even chart as a PNG.", show_default=False
        ),
    ] = None,
) -> None:
    """Break-even of fine-tuning vs prompting: per-call costs, payback, ratio and verdict."""
    # Values come in as text and CostInputs validates them, so every bad value (not a number,
    # negative, zero epochs) gets the same one-line error instead of click's usage box.
    out = Console()
    err = Console(stderr=True)
    info = err if json_output else out

    given: dict[str, Any] = {
        "requests_per_month": requests_per_month,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "tuned_prompt_tokens": tuned_prompt_tokens,
        "base_model": base_model,
        "tuned_model": tuned_model,
        "training_examples": training_examples,
        "tokens_per_example": tokens_per_example,
        "epochs": epochs,
        "horizon_months": horizon_months,
        "one_time_costs": one_time_costs,
        "base_input_per_mtok": base_input_per_mtok,
        "base_output_per_mtok": base_output_per_mtok,
        "tuned_input_per_mtok": tuned_input_per_mtok,
        "tuned_output_per_mtok": tuned_output_per_mtok,
        "train_per_mtok": train_per_mtok,
        "gpu_hours": gpu_hours,
        "gpu_hourly_rate": gpu_hourly_rate,
    }
    for key, path in (("prompt_tokens", prompt_file), ("tuned_prompt_tokens", tuned_prompt_file)):
        if path is None:
            continue
        if given[key] is not None:
            fail(f"cost.{key}: give --{_flag(key)} or a prompt file, not both")
        given[key] = _count_file(path, key, err, info)

    for key, raw in list(given.items()):
        q = QUESTIONS.get(f"cost.{key}")
        if isinstance(raw, str) and q is not None and q.is_numeric:
            # The same notation as a Slack reply: 1.2M, 50k, $3/M, 800 tokens.
            try:
                given[key] = parse_answer(q, raw)
            except InvalidInput as exc:
                fail(exc.user_message)
    try:
        inputs = CostInputs.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(f"cost.{describe_validation_error(exc)}")
    try:
        # The edge reads the date so the model does not: prices in force today.
        report = cost_report(inputs, on=date.today())
    except InvalidInput as exc:
        hint = f"; give --{_flag(exc.field.removeprefix('cost.'))}" if exc.field else ""
        fail(exc.user_message + hint)
    except LadderError as exc:
        fail(exc.user_message)

    if json_output:
        typer.echo(json.dumps(report.to_json_dict(), indent=2))
    else:
        render_cost_report(report, out)
    if chart is not None:
        from bot.chart import render_break_even_chart

        try:
            render_break_even_chart(report, chart)
        except OSError as exc:
            fail(f"--chart: cannot write {chart}: {exc.strerror or exc}", code=1)
        info.print(f"chart written to {chart}", markup=False, highlight=False)


def render_cost_report(report: CostReport, console: Console) -> None:
    """The report as two tables (results, prices with sources) and its notes."""
    inputs = report.inputs
    table = Table(title="Fine-tuning break-even", title_justify="left", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("")
    tuned_model = inputs.tuned_model or inputs.base_model
    table.add_row("Models", f"{inputs.base_model} today; fine-tuned {tuned_model}")
    table.add_row(
        "Volume",
        f"{inputs.requests_per_month or 0:,} requests/month over {inputs.horizon_months} months",
    )
    table.add_row("Per call today", format_dollars(report.per_call_base))
    table.add_row("Per call tuned", format_dollars(report.per_call_tuned))
    table.add_row("One-time cost", format_dollars(report.one_time_cost))
    table.add_row("Monthly savings", format_dollars(report.monthly_savings))
    table.add_row("Break-even", calls(report.break_even_calls))
    table.add_row("Payback", months(report.payback_months))
    table.add_row(
        f"Ratio ({inputs.horizon_months}-month volume / break-even)", format_ratio(report.ratio)
    )
    table.add_row("Verdict", VERDICT_WORDS[report.verdict])
    table.add_row("What flips it", "\n".join(flip_lines(report)) or "n/a")
    low, high = report.latency_saved_ms
    table.add_row("Latency saved", f"about {low:,}-{high:,} ms per call")
    console.print(table)

    prices = Table(title="Prices (per 1M tokens)", title_justify="left")
    prices.add_column("price", style="bold", no_wrap=True)
    prices.add_column("$/1M", justify="right")
    prices.add_column("source")
    p = report.prices
    for label, value, source in (
        ("base input", p.base_input_per_mtok, p.base_input_source),
        ("base output", p.base_output_per_mtok, p.base_output_source),
        ("tuned input", p.tuned_input_per_mtok, p.tuned_input_source),
        ("tuned output", p.tuned_output_per_mtok, p.tuned_output_source),
        ("training", p.train_per_mtok, p.train_source),
    ):
        shown = "-" if value is None else _price(value)
        prices.add_row(label, shown, source or "-")
    console.print(prices)
    for note in report.notes:
        console.print(f"- {note}", markup=False, highlight=False)


def _price(value: Decimal) -> str:
    # Prices read best with cents ($3.00, $0.15) and keep any finer digits ($0.075).
    text = decimal_str(value)
    whole, _, frac = text.partition(".")
    return f"${int(whole):,}.{frac.ljust(2, '0')}"


def _count_file(path: Path, key: str, err: Console, info: Console) -> int:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"cost.{key}: cannot read {path}: {exc.strerror or exc}")
    counted = count_tokens(text)
    info.print(
        f"{key} = {counted.tokens:,} from {path} ({counted.method})", markup=False, highlight=False
    )
    return counted.tokens


def _flag(key: str) -> str:
    return key.replace("_", "-")
