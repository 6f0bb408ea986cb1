"""The break-even chart renders a PNG of Slack's preview size."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image

from bot.answers import CostInputs
from bot.chart import HEIGHT_PX, WIDTH_PX, render_break_even_chart
from bot.cost import CostReport, Verdict, cost_report

INPUTS: dict[str, Any] = {
    "requests_per_month": 1_000_000,
    "base_model": "gpt-4o-mini",
    "prompt_tokens": 1000,
    "tuned_prompt_tokens": 200,
    "output_tokens": 0,
    "base_input_per_mtok": Decimal(2),
    "tuned_input_per_mtok": Decimal(2),
    "training_examples": 0,
    "tokens_per_example": 0,
    "one_time_costs": Decimal(10_000),
}


def report(**changes: Any) -> CostReport:
    return cost_report(CostInputs.model_validate({**INPUTS, **changes}))


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        return image.size


def test_crossover_chart_to_a_buffer() -> None:
    r = report()
    assert r.payback_months == Decimal("6.25")
    buffer = io.BytesIO()
    render_break_even_chart(r, buffer)
    assert png_size(buffer.getvalue()) == (WIDTH_PX, HEIGHT_PX) == (800, 450)


def test_never_breaks_even_chart_to_a_path(tmp_path: Path) -> None:
    r = report(tuned_prompt_tokens=1200)
    assert r.verdict is Verdict.NEVER_BREAKS_EVEN
    path = tmp_path / "never.png"
    render_break_even_chart(r, path)
    assert png_size(path.read_bytes()) == (800, 450)


def test_edge_cases_render() -> None:
    for r in (
        report(requests_per_month=0),
        report(one_time_costs=Decimal(0)),
        report(requests_per_month=500_000),  # crossover just past the horizon
        report(requests_per_month=10_000),  # crossover far past it
    ):
        buffer = io.BytesIO()
        render_break_even_chart(r, buffer)
        assert png_size(buffer.getvalue()) == (800, 450)


def test_import_leaves_matplotlib_global_state_alone() -> None:
    # No pyplot (whose import picks a backend) and no rcParams change, even after rendering.
    # (Reading rcParams["backend"] would itself resolve a backend, so it is left out.)
    code = (
        "import io, sys, matplotlib; rc = matplotlib.rcParams; "
        "params = lambda: {k: rc[k] for k in rc if k != 'backend'}; before = params(); "
        "import bot.chart; from tests.test_chart import report; "
        "bot.chart.render_break_even_chart(report(), io.BytesIO()); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
        "assert params() == before, 'rcParams changed'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr
