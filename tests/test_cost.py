"""The cost model (LADDER.md "The cost model"): worked figures, V1 boundaries, edge cases,
missing keys, JSON, and the ``ladder cost`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.answers import CostInputs
from bot.cli_cost import cost_command
from bot.cost import (
    CostReport,
    Verdict,
    compute_cost,
    cost_report,
    decimal_str,
    format_dollars,
    latency_saved_ms,
    missing_cost_keys,
)
from bot.errors import InvalidInput
from bot.prices import PriceSet

# 000: 1,000,000 calls a month, 800 prompt tokens removed at $0.002 per 1K tokens, a $10,000
# fine-tune. $0.002 per 1K = $2 per 1M, given as the user's price on both sides.
PER_1K = Decimal("0.002")
WORKED: dict[str, Any] = {
    "requests_per_month": 1_000_000,
    "base_model": "gpt-4o-mini",
    "prompt_tokens": 1000,
    "tuned_prompt_tokens": 200,
    "output_tokens": 0,
    "base_input_per_mtok": PER_1K * 1000,
    "tuned_input_per_mtok": PER_1K * 1000,
    "training_examples": 0,
    "tokens_per_example": 0,
    "one_time_costs": Decimal(10_000),
}
BREAK_EVEN = 6_250_000  # $10,000 / $0.0016 saved per call


def report(**changes: Any) -> CostReport:
    return cost_report(CostInputs.model_validate({**WORKED, **changes}))


# -- worked figures ------------------------------------------------------------------------------


def test_worked_example_of_000_exactly() -> None:
    r = report()
    assert r.monthly_savings == Decimal(1600)
    assert r.payback_months == Decimal("6.25")
    data = r.to_json_dict()
    assert data["monthly_savings"] == "1600"
    assert data["payback_months"] == "6.25"
    assert data["per_call_base"] == "0.002"
    assert data["per_call_tuned"] == "0.0004"
    assert data["one_time_cost"] == "10000"
    assert data["break_even_calls"] == str(BREAK_EVEN)
    # 12 months x 1M calls / 6.25M = 1.92: under 3x, so V1 says stay with prompts.
    assert data["ratio"] == "1.92"
    assert data["verdict"] == "stay_prompting"
    assert data["prices"]["base_input_per_mtok"] == "2"
    assert data["prices"]["base_input_source"] == "user"


def test_worked_example_with_equal_output_tokens_on_both_sides() -> None:
    # Output tokens cost the same on both sides when the output prices are equal.
    r = report(output_tokens=300, base_output_per_mtok=Decimal(8), tuned_output_per_mtok=Decimal(8))
    assert r.monthly_savings == Decimal(1600)
    assert r.payback_months == Decimal("6.25")


def test_gpt_4o_mini_prices_of_002() -> None:
    # 1000 examples x 1000 tokens x 3 epochs x $3.00 / 1M = $9 one-time.
    r = cost_report(
        CostInputs(
            requests_per_month=2_000_000,
            base_model="gpt-4o-mini",
            prompt_tokens=1500,
            output_tokens=200,
            tuned_prompt_tokens=100,
            training_examples=1000,
            tokens_per_example=1000,
        )
    )
    p = r.prices
    assert (p.base_input_per_mtok, p.base_output_per_mtok) == (Decimal("0.15"), Decimal("0.60"))
    assert (p.tuned_input_per_mtok, p.tuned_output_per_mtok) == (Decimal("0.30"), Decimal("1.20"))
    assert p.train_per_mtok == Decimal("3.00")
    assert r.one_time_cost == Decimal(9)
    assert r.per_call_base == Decimal("0.000345")  # 1500 x 0.15 + 200 x 0.60, per 1M
    assert r.per_call_tuned == Decimal("0.00027")  # 100 x 0.30 + 200 x 1.20, per 1M
    assert r.monthly_savings == Decimal(150)
    assert r.break_even_calls == Decimal(120_000)
    assert r.payback_months == Decimal("0.06")
    assert r.ratio == Decimal(200)
    assert r.verdict is Verdict.FINE_TUNE
    assert any("more per input token" in n for n in r.notes)


def test_latency_range_of_000() -> None:
    assert latency_saved_ms(500) == (300, 700)
    assert latency_saved_ms(800) == (480, 1120)
    assert latency_saved_ms(0) == (0, 0)
    assert latency_saved_ms(-50) == (0, 0)
    assert report().latency_saved_ms == (480, 1120)
    assert report().to_json_dict()["latency_saved_ms"] == [480, 1120]


# -- V1 boundaries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpm", "verdict"),
    [
        (3 * BREAK_EVEN - 1, Verdict.STAY_PROMPTING),
        (3 * BREAK_EVEN, Verdict.DEPENDS),
        (10 * BREAK_EVEN - 1, Verdict.DEPENDS),
        (10 * BREAK_EVEN, Verdict.FINE_TUNE),
    ],
)
def test_v1_ratio_boundaries(rpm: int, verdict: Verdict) -> None:
    # With a one-month horizon the ratio is rpm / break-even.
    r = report(requests_per_month=rpm, horizon_months=1)
    assert r.verdict is verdict
    assert r.ratio == Decimal(rpm) / BREAK_EVEN


def test_exact_boundary_is_not_lost_to_rounding() -> None:
    # 1/3 of a dollar per 1M tokens saved: exact arithmetic keeps "exactly 3" exact.
    r = report(
        base_input_per_mtok=Decimal(1),
        tuned_input_per_mtok=Decimal(0),
        prompt_tokens=3,
        tuned_prompt_tokens=0,
        one_time_costs=Decimal(1),
        horizon_months=1,
        requests_per_month=1_000_000,
    )
    assert r.ratio == Decimal(3)
    assert r.verdict is Verdict.DEPENDS


def test_flip_volumes_for_3x_and_10x() -> None:
    r = report()
    assert r.flip.requests_per_month_for_3x == 1_562_500  # 3 x 6.25M / 12
    assert r.flip.requests_per_month_for_10x == 5_208_334  # ceil(10 x 6.25M / 12)
    assert report(requests_per_month=1_562_500).verdict is Verdict.DEPENDS
    assert report(requests_per_month=1_562_499).verdict is Verdict.STAY_PROMPTING
    assert report(requests_per_month=5_208_334).verdict is Verdict.FINE_TUNE
    assert report(requests_per_month=5_208_333).verdict is Verdict.DEPENDS


def test_flip_max_tuned_prompt_tokens() -> None:
    # Base call: 1000 tokens at $2; tuned at $2 is cheaper up to 999 tokens.
    r = report()
    assert r.flip.max_tuned_prompt_tokens == 999
    assert report(tuned_prompt_tokens=999).verdict is not Verdict.NEVER_BREAKS_EVEN
    assert report(tuned_prompt_tokens=1000).verdict is Verdict.NEVER_BREAKS_EVEN
    # Tuned output alone costs more than the whole base call: no length is cheaper.
    worse = report(
        output_tokens=100, base_output_per_mtok=Decimal(0), tuned_output_per_mtok=Decimal(30)
    )
    assert worse.flip.max_tuned_prompt_tokens is None


# -- never breaks even and other edges ----------------------------------------------------------


def test_tuned_equal_to_base_never_breaks_even() -> None:
    r = report(tuned_prompt_tokens=1000)
    assert r.verdict is Verdict.NEVER_BREAKS_EVEN
    assert (r.break_even_calls, r.payback_months, r.ratio) == (None, None, None)
    assert r.monthly_savings == 0
    assert r.flip.requests_per_month_for_3x is None
    assert r.flip.requests_per_month_for_10x is None
    assert any("never breaks even" in n for n in r.notes)
    data = r.to_json_dict()
    assert data["break_even_calls"] is None and data["ratio"] is None
    assert data["monthly_savings"] == "0"


def test_tuned_more_expensive_never_breaks_even_and_says_how_much_more() -> None:
    r = report(tuned_prompt_tokens=1200)
    assert r.verdict is Verdict.NEVER_BREAKS_EVEN
    assert r.monthly_savings == 0
    assert r.ratio is None
    assert any("$400 more a month" in n for n in r.notes)


def test_zero_volume() -> None:
    r = report(requests_per_month=0)
    assert r.payback_months is None
    assert r.break_even_calls == Decimal(BREAK_EVEN)
    assert r.ratio == 0
    assert r.monthly_savings == 0
    assert r.verdict is Verdict.STAY_PROMPTING
    assert any("no requests" in n for n in r.notes)


def test_no_one_time_cost_breaks_even_at_once() -> None:
    r = report(one_time_costs=Decimal(0))
    assert r.one_time_cost == 0
    assert r.break_even_calls == 0
    assert r.payback_months == 0
    assert r.ratio is None  # unbounded
    assert r.verdict is Verdict.FINE_TUNE
    assert (r.flip.requests_per_month_for_3x, r.flip.requests_per_month_for_10x) == (1, 1)
    zero = report(one_time_costs=Decimal(0), requests_per_month=0)
    assert zero.verdict is Verdict.STAY_PROMPTING and zero.payback_months is None


def test_payback_beyond_horizon_is_noted() -> None:
    r = report(requests_per_month=500_000)
    assert r.payback_months == Decimal("12.5")
    assert any("longer than the 12-month horizon" in n for n in r.notes)


def test_low_volume_note() -> None:
    assert any("50,000" in n for n in report(requests_per_month=49_999).notes)
    assert not any("50,000" in n for n in report(requests_per_month=50_000).notes)


# -- prices in the model -------------------------------------------------------------------------


def test_user_prices_win_over_the_snapshot() -> None:
    r = cost_report(
        CostInputs.model_validate(
            {**WORKED, "base_input_per_mtok": "0.5", "train_per_mtok": "1", "training_examples": 10}
        )
    )
    assert r.prices.base_input_per_mtok == Decimal("0.5")
    assert r.prices.base_input_source == "user"
    assert r.prices.train_per_mtok == Decimal(1)
    assert r.prices.train_source == "user"
    assert r.prices.base_output_source is not None
    assert r.prices.base_output_source.startswith("genai-prices ")


def test_gpu_path_replaces_training_price() -> None:
    inputs = CostInputs.model_validate(
        {
            **{
                k: v
                for k, v in WORKED.items()
                if k not in ("training_examples", "tokens_per_example")
            },
            "base_model": "llama-3-8b",
            "base_output_per_mtok": "0",
            "tuned_output_per_mtok": "0",
            "gpu_hours": "10",
            "gpu_hourly_rate": "2.50",
            "one_time_costs": "100",
        }
    )
    assert missing_cost_keys(inputs) == []
    r = cost_report(inputs)
    assert r.one_time_cost == Decimal(125)
    assert r.prices.train_source == "self-hosted GPU: user"
    assert r.prices.train_per_mtok is None


def test_compute_cost_takes_prices_as_given() -> None:
    inputs = CostInputs.model_validate({**WORKED, "base_input_per_mtok": None})
    prices = PriceSet(
        base_input_per_mtok=Decimal(4),
        base_input_source="test",
        base_output_per_mtok=Decimal(0),
        tuned_input_per_mtok=Decimal(2),
        tuned_output_per_mtok=Decimal(0),
        train_per_mtok=Decimal(0),
    )
    r = compute_cost(inputs, prices)
    assert r.per_call_base == Decimal("0.004")
    assert r.prices is prices


# -- missing keys ---------------------------------------------------------------------------------


def test_missing_keys_in_asking_order() -> None:
    assert missing_cost_keys(None) == [
        "cost.requests_per_month",
        "cost.base_model",
        "cost.prompt_tokens",
        "cost.output_tokens",
        "cost.tuned_prompt_tokens",
        "cost.training_examples",
        "cost.tokens_per_example",
    ]


def test_missing_keys_known_model_needs_no_prices() -> None:
    inputs = CostInputs(requests_per_month=100_000, base_model="gpt-4o-mini")
    assert missing_cost_keys(inputs) == [
        "cost.prompt_tokens",
        "cost.output_tokens",
        "cost.tuned_prompt_tokens",
        "cost.training_examples",
        "cost.tokens_per_example",
    ]


def test_missing_keys_unknown_model_asks_prices_before_training() -> None:
    inputs = CostInputs(
        requests_per_month=100_000,
        base_model="my-private-model",
        prompt_tokens=1000,
        output_tokens=100,
        tuned_prompt_tokens=100,
    )
    assert missing_cost_keys(inputs) == [
        "cost.base_input_per_mtok",
        "cost.base_output_per_mtok",
        "cost.tuned_input_per_mtok",
        "cost.tuned_output_per_mtok",
        "cost.training_examples",
        "cost.tokens_per_example",
        "cost.train_per_mtok",
    ]
    given = inputs.model_copy(update={"base_input_per_mtok": Decimal(1)})
    assert "cost.base_input_per_mtok" not in missing_cost_keys(given)


def test_missing_keys_tuned_price_unknown_for_known_base() -> None:
    # gpt-4.1 has a base price in the snapshot but no fine-tuned price: ask for it, never
    # fall back to the base price.
    inputs = CostInputs(
        requests_per_month=100_000,
        base_model="gpt-4.1",
        prompt_tokens=1000,
        output_tokens=100,
        tuned_prompt_tokens=100,
        training_examples=500,
        tokens_per_example=800,
    )
    assert missing_cost_keys(inputs) == ["cost.tuned_input_per_mtok", "cost.tuned_output_per_mtok"]


def test_missing_keys_self_hosted_asks_gpu_time() -> None:
    inputs = CostInputs(
        requests_per_month=100_000,
        base_model="gpt-4o-mini",
        prompt_tokens=1000,
        output_tokens=100,
        tuned_prompt_tokens=100,
    )
    assert missing_cost_keys(inputs, self_hosted=True) == ["cost.gpu_hours", "cost.gpu_hourly_rate"]
    one = inputs.model_copy(update={"gpu_hours": Decimal(3)})
    assert missing_cost_keys(one) == ["cost.gpu_hourly_rate"]


def test_defaults_are_never_missing() -> None:
    keys = missing_cost_keys(CostInputs())
    for default in ("epochs", "horizon_months", "one_time_costs", "tuned_model"):
        assert f"cost.{default}" not in keys


def test_compute_cost_names_the_missing_key() -> None:
    inputs = CostInputs.model_validate({**WORKED, "prompt_tokens": None})
    with pytest.raises(InvalidInput) as err:
        cost_report(inputs)
    assert err.value.user_message == "cost.prompt_tokens: required"
    assert err.value.field == "cost.prompt_tokens"


def test_compute_cost_names_an_unknown_price() -> None:
    inputs = CostInputs.model_validate({**WORKED, "base_model": "no-such-model-xyz"})
    inputs = inputs.model_copy(update={"base_input_per_mtok": None})
    with pytest.raises(InvalidInput) as err:
        cost_report(inputs)
    assert err.value.user_message.startswith("cost.base_input_per_mtok: required")
    assert "no-such-model-xyz" in err.value.user_message


# -- JSON and formatting -------------------------------------------------------------------------


def test_json_has_exactly_the_documented_fields() -> None:
    data = report().to_json_dict()
    assert list(data) == [
        "per_call_base",
        "per_call_tuned",
        "one_time_cost",
        "monthly_savings",
        "break_even_calls",
        "payback_months",
        "ratio",
        "verdict",
        "flip",
        "latency_saved_ms",
        "prices",
        "inputs",
        "notes",
    ]
    assert set(data["flip"]) == {
        "requests_per_month_for_3x",
        "requests_per_month_for_10x",
        "max_tuned_prompt_tokens",
    }
    assert data["inputs"]["requests_per_month"] == 1_000_000
    assert data["inputs"]["horizon_months"] == 12
    json.dumps(data, allow_nan=False)


def test_json_money_has_no_exponent() -> None:
    r = report(one_time_costs=Decimal("1E+4"), requests_per_month=10**9)
    data = r.to_json_dict()
    assert data["one_time_cost"] == "10000"
    assert data["monthly_savings"] == "1600000"
    assert data["inputs"]["one_time_costs"] == "10000"


def test_json_rounds_long_quotients() -> None:
    r = report(requests_per_month=3_000_000)  # payback 10000 / 4800 = 2.0833...
    assert r.to_json_dict()["payback_months"] == "2.083333"


def test_decimal_str_and_dollars() -> None:
    assert decimal_str(Decimal("1.6E+3")) == "1600"
    assert decimal_str(Decimal("0.00160")) == "0.0016"
    assert decimal_str(Decimal("-0")) == "0"
    assert decimal_str(Decimal("2.0833333333"), 2) == "2.08"
    with pytest.raises(ValueError):
        decimal_str(Decimal("Infinity"))
    assert format_dollars(Decimal(1600)) == "$1,600"
    assert format_dollars(Decimal("6.25")) == "$6.25"
    assert format_dollars(Decimal("0.3")) == "$0.30"
    assert format_dollars(Decimal("0.0016")) == "$0.0016"
    assert format_dollars(Decimal(0)) == "$0"


# -- ladder cost ----------------------------------------------------------------------------------

runner = CliRunner()
app = typer.Typer()
app.command()(cost_command)

WORKED_ARGS = [
    "--requests-per-month", "1000000",
    "--base-model", "gpt-4o-mini",
    "--prompt-tokens", "1000",
    "--tuned-prompt-tokens", "200",
    "--output-tokens", "0",
    "--base-input-per-mtok", "2",
    "--tuned-input-per-mtok", "2",
    "--training-examples", "0",
    "--tokens-per-example", "0",
    "--one-time-costs", "10000",
]  # fmt: skip


def test_cli_json_worked_example() -> None:
    result = runner.invoke(app, [*WORKED_ARGS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["monthly_savings"] == "1600"
    assert data["payback_months"] == "6.25"
    assert data["verdict"] == "stay_prompting"


def test_cli_table() -> None:
    result = runner.invoke(app, WORKED_ARGS, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Monthly savings", "$1,600", "6.25 months", "6,250,000 calls", "1.92x"):
        assert text in out
    assert "Stay with prompting" in out
    assert "1,562,500 requests/month" in out  # what flips it
    assert "480-1,120 ms" in out
    assert "user" in out and "genai-prices" in out  # price sources


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--requests-per-month", "-5"], "error: cost.requests_per_month: "),
        (["--requests-per-month", "lots"], "error: cost.requests_per_month: "),
        (["--epochs", "0"], "error: cost.epochs: "),
        (["--requests-per-month", "100"], "error: cost.base_model: required"),
        (
            [*WORKED_ARGS, "--base-model", "no-such-model-xyz", "--base-input-per-mtok", "1"],
            "error: cost.base_output_per_mtok: required (no known price for 'no-such-model-xyz')",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(args: list[str], line: str) -> None:
    # The unknown-model case passes --base-model twice: click keeps the last one.
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line)
    assert "Traceback" not in result.output


def test_cli_prompt_file_counts_tokens(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("tiktoken is great!", encoding="utf-8")
    args = [a for a in WORKED_ARGS]
    i = args.index("--tuned-prompt-tokens")
    del args[i : i + 2]
    result = runner.invoke(app, [*args, "--tuned-prompt-file", str(prompt), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inputs"]["tuned_prompt_tokens"] == 6
    assert "tuned_prompt_tokens = 6" in result.stderr and "cl100k_base" in result.stderr
    both = runner.invoke(app, [*WORKED_ARGS, "--tuned-prompt-file", str(prompt)])
    assert both.exit_code == 2 and "not both" in both.stderr


def test_cli_chart(tmp_path: Path) -> None:
    chart = tmp_path / "be.png"
    result = runner.invoke(app, [*WORKED_ARGS, "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_cli_in_a_real_process() -> None:
    code = (
        "import typer; from bot.cli_cost import cost_command; "
        "app=typer.Typer(); app.command()(cost_command); app()"
    )
    ok = subprocess.run(
        [sys.executable, "-c", code, *WORKED_ARGS, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["payback_months"] == "6.25"
    bad = subprocess.run(
        [sys.executable, "-c", code, "--prompt-tokens", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: cost.prompt_tokens: must be 0 or more, got '-1'"
    ]
