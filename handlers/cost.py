"""``/ladder cost``: the cost model in a modal; the result is shown to the user alone."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.answers import CostInputs, describe_validation_error
from bot.cost import cost_report
from bot.errors import InvalidInput, LadderError
from bot.parse import parse_answer
from bot.questions import QUESTIONS, Kind, Question
from handlers.blocks import Block, build_cost_lines, context, section
from handlers.context import AppContext
from handlers.errors import guarded
from handlers.ids import INPUT_ACTION, BlockId, CallbackId

# (key, label, example, required)
FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("requests_per_month", "Requests a month", "1.2M", True),
    ("base_model", "Model today", "gpt-4o-mini", True),
    ("prompt_tokens", "Input tokens per call today", "3200", True),
    ("output_tokens", "Output tokens per call", "150", True),
    ("tuned_prompt_tokens", "Input tokens per call, tuned", "400", True),
    ("tuned_model", "Tuned model (default: the same model)", "gpt-4o-mini", False),
    ("training_examples", "Training examples", "2000", False),
    ("tokens_per_example", "Tokens per training example", "600", False),
    ("one_time_costs", "Other one-time costs ($: data prep, evals, engineering)", "$5000", False),
    ("horizon_months", "Horizon (months, default 12)", "12", False),
)

_EXTRA = {
    "tuned_model": Question(
        key="cost.tuned_model", text="Tuned model", help="a model id", kind=Kind.TEXT, rule="V1"
    ),
    "one_time_costs": Question(
        key="cost.one_time_costs",
        text="One-time costs",
        help="dollars, e.g. $5000",
        kind=Kind.MONEY,
        rule="V1",
    ),
    "horizon_months": Question(
        key="cost.horizon_months",
        text="Horizon",
        help="months, e.g. 12",
        kind=Kind.INTEGER,
        rule="V1",
    ),
}


def _block_id(key: str) -> str:
    return f"{BlockId.COST_FIELD}:{key}"


def build_cost_modal() -> dict[str, Any]:
    blocks: list[Block] = [
        context(
            "Break-even of fine-tuning vs prompting. Prices come from the bundled price "
            "table (genai-prices); numbers like 1.2M, 50k or $3/M are fine."
        ),
    ]
    for key, label, example, required in FIELDS:
        blocks.append(
            {
                "type": "input",
                "block_id": _block_id(key),
                "optional": not required,
                "label": {"type": "plain_text", "text": label},
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "placeholder": {"type": "plain_text", "text": f"e.g. {example}"},
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": CallbackId.COST.value,
        "title": {"type": "plain_text", "text": "Fine-tuning break-even"},
        "submit": {"type": "plain_text", "text": "Calculate"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def parse_cost_fields(values: dict[str, Any]) -> CostInputs:
    """The modal's state as cost inputs; ``InvalidInput.field`` names the offending key."""
    data: dict[str, Any] = {}
    for key, _label, _example, _required in FIELDS:
        raw = ((values.get(_block_id(key)) or {}).get(INPUT_ACTION) or {}).get("value")
        if raw is None or not str(raw).strip():
            continue
        q = QUESTIONS.get(f"cost.{key}") or _EXTRA[key]
        try:
            data[key] = parse_answer(q, str(raw))
        except InvalidInput as exc:
            raise InvalidInput(exc.user_message.split(": ", 1)[-1], field=key) from None
    try:
        return CostInputs.model_validate(data)
    except ValidationError as exc:
        line = describe_validation_error(exc)
        raise InvalidInput(line.split(": ", 1)[-1], field=line.split(":", 1)[0]) from None


def build_cost_result_view(lines: list[str], notes: list[str]) -> dict[str, Any]:
    blocks: list[Block] = [section("*The numbers*\n" + "\n".join(lines))]
    if notes:
        blocks.append(context("\n".join(notes)))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Fine-tuning break-even"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": blocks,
    }


def open_cost_modal(client: WebClient, trigger_id: str) -> None:
    client.views_open(trigger_id=trigger_id, view=build_cost_modal())


def register(app: App, ctx: AppContext) -> None:
    def handle_cost_submission(ack: Ack, view: dict[str, Any]) -> None:
        try:
            inputs = parse_cost_fields(view["state"]["values"])
            report = cost_report(inputs)
        except LadderError as exc:
            key = (exc.field or "requests_per_month").removeprefix("cost.")
            if key not in {f[0] for f in FIELDS}:
                key = "requests_per_month"
            ack(response_action="errors", errors={_block_id(key): exc.user_message})
            return
        ack(
            response_action="update",
            view=build_cost_result_view(build_cost_lines(report), list(report.notes)),
        )

    app.view(CallbackId.COST.value)(guarded(handle_cost_submission))
