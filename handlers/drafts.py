"""Rung 1 in the thread: "Draft it for me" (on the P2 question and the R1 recommendation), the
drafting modal, a "Drafting…" message replaced by the result and the prompt as a snippet, then
"Use as baseline" or "Redraft with feedback". Every attempt is stored as a draft version."""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.answers import PromptDraft, SystemPrompt
from bot.cost import decimal_str, format_dollars
from bot.drafter import (
    MAX_CURRENT_PROMPT,
    MAX_EXAMPLE_FIELD,
    MAX_EXAMPLES,
    MAX_FAILURE_MODE,
    MAX_FAILURE_MODES,
    MAX_FEEDBACK,
    MAX_TASK,
    DraftFailed,
    DraftRequest,
    DraftResult,
    llm_draft,
    make_client,
    template_draft,
)
from bot.errors import Conflict, ExternalServiceError, InvalidInput, LadderError
from bot.ladder import NeedsAnswer
from bot.parse import parse_answer
from bot.prompt_cost import CostChoice, PromptCost, prompt_cost
from bot.questions import QUESTIONS
from bot.settings import Settings
from bot.tokens import short_method_name
from handlers.blocks import Block, button, context, encode, section, value_of
from handlers.context import AppContext
from handlers.errors import defer, guarded, handle_error
from handlers.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from handlers.questions import render
from handlers.text import escape, mention, truncate
from handlers.thread import ReviewView, Snapshot, show_answer
from store import repository as repo
from store.models import Draft, DraftSource, DraftStatus
from store.workflow import answered_by, load, submit_answer

logger = logging.getLogger(__name__)

# A drafting call holds a worker of the work pool and a "Drafting…" message: one retry and
# 30 s per attempt keep a slow OpenAI from holding either for minutes (the CLI allows more).
DRAFT_TIMEOUT_S = 30.0
DRAFT_MAX_RETRIES = 1

SLACK_INPUT_MAX = 3000  # Slack's plain_text_input max_length
EXAMPLE_SEP = "=>"
SNIPPET_FILENAME = "system-prompt.md"
# A prompt file in the thread: Slack says how big it is before we download it.
MAX_PROMPT_FILE_BYTES = 256_000
_MAX_REPLY_PAGES = 10
_FILE_DOWNLOAD_TIMEOUT_S = 15
_TEXT_FILETYPES = frozenset({"text", "markdown", "md", "txt", "post"})
_SLACK_FILE_HOST_SUFFIXES = (".slack.com", ".slack-gov.com", ".slack-edge.com")
# The drafts table keeps a short name of the counting method; the full text is in ``result``.


class DraftField(StrEnum):
    """The inputs of the two modals; block ids are ``draft_field:<name>``."""

    TASK = "task"
    CURRENT_PROMPT = "current_prompt"
    FAILURE_MODES = "failure_modes"
    OTHER_PROBLEMS = "other_problems"
    EXAMPLES = "examples"
    OUTPUT_FORMAT = "output_format"
    REQUESTS_PER_MONTH = "requests_per_month"
    MODEL = "base_model"
    FEEDBACK = "feedback"


def block_id(name: DraftField) -> str:
    return f"{BlockId.DRAFT_FIELD}:{name.value}"


# -- what the builders take ----------------------------------------------------------------------


@dataclass(frozen=True)
class DraftPrefill:
    """What the drafting modal starts with: the review's answers, or the last attempt's inputs."""

    task: str = ""
    current_prompt: str = ""
    failure_modes: tuple[str, ...] = ()  # known FailureMode values (the checkboxes)
    other_problems: tuple[str, ...] = ()  # free text, one a line
    examples: tuple[tuple[str, str], ...] = ()
    output_format: str = ""
    cost: CostChoice = field(default_factory=CostChoice)


@dataclass(frozen=True)
class EarlierDraft:
    version: int
    source: str  # "template" or the model
    failure: str | None  # the failure kind of a failed attempt


@dataclass(frozen=True)
class PromptFile:
    name: str
    user_id: str
    chars: int


@dataclass(frozen=True)
class ShownDraft:
    """Everything the result message shows, read after the draft was stored."""

    review_id: int
    draft_id: int
    version: int
    result: DraftResult
    cost: PromptCost
    earlier: tuple[EarlierDraft, ...]
    requested_by: str
    prompt_file: PromptFile | None = None
    snippet_link: str | None = None


@dataclass(frozen=True)
class FailedDraft:
    review_id: int
    version: int
    model: str
    message: str
    earlier: tuple[EarlierDraft, ...]
    requested_by: str
    asking_p2: bool


@dataclass(frozen=True)
class DraftJob:
    """One drafting run after the ack."""

    team_id: str
    review_id: int
    user_id: str
    request: DraftRequest
    cost: CostChoice
    look_in_thread: bool  # no prompt pasted: use the newest text file shared in the thread
    bot_user_id: str | None


# -- the modals ----------------------------------------------------------------------------------


def _text_input(
    name: DraftField,
    label: str,
    *,
    initial: str = "",
    optional: bool = True,
    multiline: bool = True,
    max_length: int = SLACK_INPUT_MAX,
    hint: str | None = None,
    placeholder: str | None = None,
) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial and len(initial) <= max_length:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": truncate(placeholder, 150)}
    block: Block = {
        "type": "input",
        "block_id": block_id(name),
        "optional": optional,
        "label": {"type": "plain_text", "text": truncate(label, 2000)},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": truncate(hint, 2000)}
    return block


def _checkbox_option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": truncate(label, 75)}, "value": value}


def build_draft_modal(*, review_id: int, prefill: DraftPrefill) -> Block:
    """The "Draft it for me" modal: task, current prompt, what goes wrong, examples, output
    format, and the volume and model for the monthly cost line."""
    options = [_checkbox_option(o.label, o.value) for o in QUESTIONS["failure_modes"].options]
    checkboxes: Block = {"type": "checkboxes", "action_id": INPUT_ACTION, "options": options}
    initial = [o for o in options if o["value"] in prefill.failure_modes]
    if initial:
        checkboxes["initial_options"] = initial
    examples = "\n".join(
        f"{' '.join(i.split())} {EXAMPLE_SEP} {o}" for i, o in prefill.examples[:MAX_EXAMPLES]
    )
    rpm = prefill.cost.requests_per_month
    blocks: list[Block] = [
        context(
            "I'll draft a stronger system prompt from what you give here. Nothing in the "
            "review changes until someone clicks *Use as baseline*."
        ),
        _text_input(
            DraftField.TASK,
            "What the model does",
            initial=prefill.task,
            optional=False,
            max_length=MAX_TASK,
        ),
        _text_input(
            DraftField.CURRENT_PROMPT,
            "The system prompt you run today",
            initial=prefill.current_prompt,
            hint=(
                f"Optional; up to {SLACK_INPUT_MAX:,} characters. A longer prompt: leave this "
                "empty and share it as a text file or snippet in the review's thread first; "
                f"I'll use the newest one (up to {MAX_CURRENT_PROMPT:,} characters)."
            ),
        ),
        {
            "type": "input",
            "block_id": block_id(DraftField.FAILURE_MODES),
            "optional": True,
            "label": {"type": "plain_text", "text": "What goes wrong"},
            "element": checkboxes,
        },
        _text_input(
            DraftField.OTHER_PROBLEMS,
            "Anything else that goes wrong",
            initial="\n".join(prefill.other_problems),
            hint=f"One problem a line, at most {MAX_FAILURE_MODE} characters each.",
        ),
        _text_input(
            DraftField.EXAMPLES,
            f"Up to {MAX_EXAMPLES} example inputs with their ideal outputs",
            initial=examples,
            hint=(
                f"One a line: input {EXAMPLE_SEP} ideal output. An ideal output may go on over "
                f"the next lines; the next line with {EXAMPLE_SEP} starts the next example."
            ),
            placeholder=f"Where is my refund? {EXAMPLE_SEP} queue: billing, priority: normal",
        ),
        _text_input(
            DraftField.OUTPUT_FORMAT,
            "The output format you need",
            initial=prefill.output_format,
            placeholder='e.g. JSON with the keys "queue" and "priority"',
        ),
        _text_input(
            DraftField.REQUESTS_PER_MONTH,
            "Requests a month (for the monthly cost)",
            initial=f"{rpm:,}" if rpm is not None else "",
            multiline=False,
            max_length=40,
            placeholder="e.g. 1.2M",
        ),
        _text_input(
            DraftField.MODEL,
            "Model the prompt runs on (for the monthly cost)",
            initial=prefill.cost.base_model or "",
            multiline=False,
            max_length=200,
            placeholder="e.g. gpt-4o-mini",
        ),
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.DRAFT.value,
        "private_metadata": encode(r=review_id),
        "title": {"type": "plain_text", "text": "Draft a system prompt"},
        "submit": {"type": "plain_text", "text": "Draft"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def build_redraft_modal(*, review_id: int, draft_id: int, version: int) -> Block:
    return {
        "type": "modal",
        "callback_id": CallbackId.REDRAFT.value,
        "private_metadata": encode(r=review_id, d=draft_id),
        "title": {"type": "plain_text", "text": "Redraft"},
        "submit": {"type": "plain_text", "text": "Redraft"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context(f"What should change in draft v{version}? Everything else is kept."),
            _text_input(
                DraftField.FEEDBACK,
                "Your feedback",
                optional=False,
                max_length=MAX_FEEDBACK,
                placeholder="e.g. shorter; never mention prices; answer in German",
            ),
        ],
    }


# -- parsing the modals --------------------------------------------------------------------------


def _state(values: Mapping[str, Any], name: DraftField) -> Mapping[str, Any]:
    return (values.get(block_id(name)) or {}).get(INPUT_ACTION) or {}


def _text(values: Mapping[str, Any], name: DraftField) -> str:
    return str(_state(values, name).get("value") or "")


def parse_examples(text: str) -> list[dict[str, str]]:
    """``input => ideal output`` examples: a line with ``=>`` starts an example, the lines after
    it without one continue its ideal output. ``InvalidInput`` names the line and the limit."""
    found: list[tuple[int, str, list[str]]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if EXAMPLE_SEP in line:
            given, _, ideal = line.partition(EXAMPLE_SEP)
            if not given.strip():
                raise _bad_examples(f"Line {n}: the input before {EXAMPLE_SEP} is empty.")
            found.append((n, given.strip(), [ideal.strip()]))
        elif found:
            found[-1][2].append(line.rstrip())
        elif line.strip():
            raise _bad_examples(
                f"Line {n}: write each example as  input {EXAMPLE_SEP} ideal output."
            )
    if len(found) > MAX_EXAMPLES:
        starts = found[MAX_EXAMPLES][0]
        raise _bad_examples(
            f"{len(found)} examples given (example {MAX_EXAMPLES + 1} starts on line {starts}); "
            f"the limit is {MAX_EXAMPLES}."
        )
    examples: list[dict[str, str]] = []
    for n, given, lines in found:
        ideal = "\n".join(lines).strip()
        if not ideal:
            raise _bad_examples(f"Line {n}: the ideal output after {EXAMPLE_SEP} is empty.")
        for what, value in (("input", given), ("ideal output", ideal)):
            if len(value) > MAX_EXAMPLE_FIELD:
                raise _bad_examples(
                    f"Line {n}: the {what} is {len(value):,} characters; "
                    f"the limit is {MAX_EXAMPLE_FIELD:,}."
                )
        examples.append({"input": given, "ideal_output": ideal})
    return examples


def _bad_examples(message: str) -> InvalidInput:
    return InvalidInput(message, field=DraftField.EXAMPLES.value)


def parse_failure_modes(values: Mapping[str, Any]) -> list[str]:
    """The ticked failure modes, then the typed ones (one a line)."""
    ticked = [
        str(o["value"])
        for o in _state(values, DraftField.FAILURE_MODES).get("selected_options") or []
    ]
    typed: list[str] = []
    for n, line in enumerate(_text(values, DraftField.OTHER_PROBLEMS).splitlines(), 1):
        if not line.strip():
            continue
        if len(line.strip()) > MAX_FAILURE_MODE:
            raise InvalidInput(
                f"Line {n}: {len(line.strip()):,} characters; the limit is {MAX_FAILURE_MODE}.",
                field=DraftField.OTHER_PROBLEMS.value,
            )
        typed.append(line.strip())
    modes = list(dict.fromkeys([*ticked, *typed]))
    if len(modes) > MAX_FAILURE_MODES:
        raise InvalidInput(
            f"{len(modes)} problems in all (ticked and typed); the limit is {MAX_FAILURE_MODES}.",
            field=DraftField.OTHER_PROBLEMS.value,
        )
    return modes


def parse_draft_fields(values: Mapping[str, Any]) -> tuple[DraftRequest, CostChoice]:
    """The drafting modal as a ``DraftRequest`` and the cost choice. ``InvalidInput.field`` is
    the ``DraftField`` whose block shows the error."""
    examples = parse_examples(_text(values, DraftField.EXAMPLES))
    modes = parse_failure_modes(values)
    rpm_text = _text(values, DraftField.REQUESTS_PER_MONTH).strip()
    rpm: int | None = None
    if rpm_text:
        try:
            rpm = int(parse_answer(QUESTIONS["cost.requests_per_month"], rpm_text))
        except InvalidInput as exc:
            raise InvalidInput(
                exc.user_message.split(": ", 1)[-1], field=DraftField.REQUESTS_PER_MONTH.value
            ) from None
    model = _text(values, DraftField.MODEL).strip() or None
    try:
        req = DraftRequest(
            task=_text(values, DraftField.TASK),
            current_prompt=_text(values, DraftField.CURRENT_PROMPT),
            failure_modes=modes,
            examples=examples,
            output_format=_text(values, DraftField.OUTPUT_FORMAT),
        )
    except InvalidInput as exc:
        field = exc.field if exc.field in {f.value for f in DraftField} else DraftField.TASK.value
        if field == DraftField.FAILURE_MODES.value:
            field = DraftField.OTHER_PROBLEMS.value
        raise InvalidInput(exc.user_message, field=field) from None
    return req, CostChoice(requests_per_month=rpm, base_model=model)


def field_errors(exc: LadderError, *, default: DraftField) -> dict[str, str]:
    """``response_action: errors`` for a modal: the message under the block it is about."""
    names = {f.value for f in DraftField}
    name = DraftField(exc.field) if exc.field in names else default
    return {block_id(name): truncate(exc.user_message, 2000)}


# -- the monthly cost of a prompt -------------------------------------------------------------


# -- what the thread shows -----------------------------------------------------------------------


def build_drafting_text(*, user_id: str, settings_model: str | None) -> str:
    how = (
        f"with {escape(settings_model)}, usually under a minute"
        if settings_model
        else "from the template (no OPENAI_API_KEY set)"
    )
    return f":hourglass_flowing_sand: Drafting a system prompt for {mention(user_id)} {how}…"


def _source_name(source: str, model: str | None) -> str:
    return "template" if source == DraftSource.TEMPLATE.value else (model or "LLM")


def build_history_line(
    *, version: int, source: str, earlier: tuple[EarlierDraft, ...], extra: list[str]
) -> str:
    """``Draft v2 (template) · 354 tokens · … · earlier drafts: v1 (failed: timeout)``."""
    parts = [f"Draft v{version} ({escape(source)})", *extra]
    if earlier:
        listed = ", ".join(
            f"v{d.version} ({escape(d.source)}"
            + (f", failed: {escape(d.failure)})" if d.failure else ")")
            for d in earlier
        )
        parts.append(f"earlier drafts: {listed}")
    return " · ".join(parts)


def _tokens_line(result: DraftResult) -> str:
    how = f"_Counted with {escape(result.token_method)}_"
    if result.tokens_before:
        change = result.tokens_after - result.tokens_before
        return (
            f"*Tokens:* {result.tokens_before:,} before → {result.tokens_after:,} after "
            f"({change:+,})\n{how}"
        )
    return f"*Tokens:* no current prompt → {result.tokens_after:,} after\n{how}"


def _cost_line(cost: PromptCost, tokens_after: int) -> str:
    if cost.after is None:
        return (
            f"*Per month:* {escape(cost.missing or 'unknown')} (fill in *Requests a month* and "
            "*Model* in the form, or answer the cost questions of this review)"
        )
    assert cost.requests_per_month is not None and cost.model is not None
    calls = f"{tokens_after:,} prompt tokens" + (
        f" + {cost.output_tokens:,} output tokens" if cost.output_tokens is not None else ""
    )
    line = (
        f"*Per month:* about {format_dollars(cost.after)} at {cost.requests_per_month:,} "
        f"requests on {escape(cost.model)} ({calls} a call"
        + ("" if cost.output_tokens is not None else "; output tokens not known yet")
        + ")"
    )
    if cost.before is not None:
        diff = cost.after - cost.before
        sign = "+" if diff >= 0 else "−"
        line += (
            f"\n*The current prompt:* {format_dollars(cost.before)} a month "
            f"({sign}{format_dollars(abs(diff))} with the draft)"
        )
    if cost.price_source:
        line += f"\n_Prices: {escape(cost.price_source)}_"
    return line


def build_draft_result_blocks(shown: ShownDraft) -> list[Block]:
    """The result that replaces "Drafting…": label, changes, open questions, tokens, cost,
    the buttons, and the history line."""
    r = shown.result
    draft = r.draft
    changes = "\n".join(f"• {escape(c.what)}: _{escape(c.why)}_" for c in draft.changes)
    blocks: list[Block] = [
        section(
            f":memo: *{escape(r.label)}*, for {mention(shown.requested_by)}. "
            + (
                f"The prompt is in <{shown.snippet_link}|{SNIPPET_FILENAME}> below."
                if shown.snippet_link
                else f"The prompt is in {SNIPPET_FILENAME} below."
            )
        ),
        section("*What changed and why*\n" + (changes or "• nothing")),
    ]
    if draft.open_questions:
        blocks.append(
            section(
                "*Open questions for the team*\n"
                + "\n".join(f"• {escape(q)}" for q in draft.open_questions)
            )
        )
    blocks.append(section(_tokens_line(r) + "\n" + _cost_line(shown.cost, r.tokens_after)))
    if shown.prompt_file is not None:
        f = shown.prompt_file
        blocks.append(
            context(
                f"Current prompt: the file {escape(f.name)} shared by {mention(f.user_id)} "
                f"({f.chars:,} characters)."
            )
        )
    value = encode(r=shown.review_id, d=shown.draft_id, v=shown.version)
    blocks.append(
        {
            "type": "actions",
            "elements": [
                button("Use as baseline", ActionId.DRAFT_USE, value, style="primary"),
                button("Redraft with feedback", ActionId.DRAFT_REDRAFT, value),
            ],
        }
    )
    extra = [f"{r.tokens_after:,} tokens", f"{r.latency_ms:,} ms"]
    if r.source == "llm":
        usage = (
            f" ({r.usage.prompt_tokens:,} in / {r.usage.completion_tokens:,} out)"
            if r.usage
            else ""
        )
        cost = format_dollars(r.cost_usd) if r.cost_usd is not None else "cost unknown"
        extra.append(f"drafting call {cost}{usage}")
    source = _source_name(r.source, r.model)
    blocks.append(
        context(
            build_history_line(
                version=shown.version, source=source, earlier=shown.earlier, extra=extra
            )
        )
    )
    return blocks


def build_draft_failed_blocks(failed: FailedDraft) -> list[Block]:
    """The failure that replaces "Drafting…": why, what to do next, and the history line."""
    go_on = (
        "answer *Declined* on the drafting question above to go on without one"
        if failed.asking_p2
        else "carry on with the review without one"
    )
    return [
        section(
            f":warning: *Drafting failed* for {mention(failed.requested_by)}: "
            f"{escape(failed.message)}"
        ),
        section(
            f"Nothing in the review changed. *Try again* (what you entered is kept), or {go_on}."
        ),
        {
            "type": "actions",
            "elements": [
                button("Try again", ActionId.DRAFT_OPEN, encode(r=failed.review_id)),
            ],
        },
        context(
            build_history_line(
                version=failed.version,
                source=failed.model,
                earlier=failed.earlier,
                extra=["failed"],
            )
        ),
    ]


def build_adopted_blocks(blocks: list[Block], *, user_id: str, version: int) -> list[Block]:
    """The result message once adopted: the buttons give way to who adopted it."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [
        *kept,
        context(
            f":white_check_mark: Draft v{version} adopted as the baseline by {mention(user_id)}."
        ),
    ]


# -- the drafter, the store, the thread -----------------------------------------------------


def run_drafter(req: DraftRequest, settings: Settings) -> DraftResult:
    """``bot.drafter.draft_prompt`` with Slack's bounds: the LLM with one retry and a 30 s
    timeout when a key is set, the template otherwise. Raises ``DraftFailed``."""
    client = make_client(settings)
    if client is None:
        return template_draft(req)
    with client:
        return llm_draft(
            req,
            client=client,
            model=settings.ladder_draft_model,
            timeout_s=DRAFT_TIMEOUT_S,
            max_retries=DRAFT_MAX_RETRIES,
        )


def _has_key(settings: Settings) -> bool:
    key = settings.openai_api_key
    return key is not None and bool(key.get_secret_value())


def _earlier(drafts: list[Draft], *, before: int) -> tuple[EarlierDraft, ...]:
    return tuple(
        EarlierDraft(
            version=d.version,
            source=_source_name(d.source.value, d.model),
            failure=str((d.result or {}).get("failure") or "error")
            if d.status is DraftStatus.FAILED
            else None,
        )
        for d in drafts
        if d.version < before
    )


def _get_review_view(session: Session, *, team_id: str, review_id: int) -> ReviewView:
    review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
    if review is None or review.channel_id is None or review.thread_ts is None:
        raise InvalidInput("I can't find this review any more.")
    return ReviewView.of(review)


def store_result(
    ctx: AppContext,
    job: DraftJob,
    req: DraftRequest,
    result: DraftResult,
    prompt_file: PromptFile | None,
) -> ShownDraft:
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=job.team_id, review_id=job.review_id)
        if review is None:
            raise InvalidInput("I can't find this review any more.")
        answers = repo.current_answers(session=session, team_id=job.team_id, review_id=review.id)
        cost = prompt_cost(
            job.cost,
            answers,
            tokens_after=result.tokens_after,
            tokens_before=result.tokens_before,
        )
        stored = result.model_dump(mode="json", exclude={"prompt"})
        stored["cost_inputs"] = job.cost.to_json()
        stored["monthly_cost"] = {
            "after": None if cost.after is None else decimal_str(cost.after, 6),
            "before": None if cost.before is None else decimal_str(cost.before, 6),
            "price_source": cost.price_source,
            "missing": cost.missing,
        }
        if prompt_file is not None:
            stored["prompt_file"] = {"name": prompt_file.name, "shared_by": prompt_file.user_id}
        draft = repo.add_draft(
            session=session,
            team_id=job.team_id,
            review=review,
            source=DraftSource(result.source),
            inputs=req.model_dump(mode="json"),
            created_by=job.user_id,
            model=result.model,
            result=stored,
            prompt_text=result.prompt,
            tokens_before=result.tokens_before,
            tokens_after=result.tokens_after,
            token_method=short_method_name(result.token_method),
            latency_ms=result.latency_ms,
            cost_usd=result.cost_usd,
        )
        drafts = repo.list_drafts(session=session, team_id=job.team_id, review_id=review.id)
        return ShownDraft(
            review_id=review.id,
            draft_id=draft.id,
            version=draft.version,
            result=result,
            cost=cost,
            earlier=_earlier(drafts, before=draft.version),
            requested_by=job.user_id,
            prompt_file=prompt_file,
        )


def store_failure(
    ctx: AppContext, job: DraftJob, req: DraftRequest, exc: DraftFailed
) -> FailedDraft:
    """Record the failed attempt; the review's answers are not touched."""
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=job.team_id, review_id=job.review_id)
        if review is None:
            raise InvalidInput("I can't find this review any more.")
        draft = repo.add_draft(
            session=session,
            team_id=job.team_id,
            review=review,
            source=DraftSource.LLM,
            inputs=req.model_dump(mode="json"),
            created_by=job.user_id,
            status=DraftStatus.FAILED,
            model=exc.model,
            result={
                "failure": exc.kind.value,
                "status_code": exc.status_code,
                "cost_inputs": job.cost.to_json(),
            },
            latency_ms=exc.latency_ms,
            error=exc.user_message,
        )
        drafts = repo.list_drafts(session=session, team_id=job.team_id, review_id=review.id)
        step = load(session, review).step
        return FailedDraft(
            review_id=review.id,
            version=draft.version,
            model=exc.model,
            message=exc.user_message,
            earlier=_earlier(drafts, before=draft.version),
            requested_by=job.user_id,
            asking_p2=isinstance(step, NeedsAnswer) and step.question.key == "prompt_draft",
        )


def _thread_messages(client: WebClient, review: ReviewView) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    for _page in range(_MAX_REPLY_PAGES):
        kwargs: dict[str, Any] = {"channel": review.channel_id, "ts": review.thread_ts}
        if cursor:
            kwargs["cursor"] = cursor
        resp = client.conversations_replies(limit=200, **kwargs)
        yield from resp.get("messages") or []
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def _is_text_file(f: Mapping[str, Any]) -> bool:
    mimetype = str(f.get("mimetype") or "")
    return (
        mimetype.startswith("text/")
        or f.get("mode") == "snippet"
        or f.get("filetype") in _TEXT_FILETYPES
    )


def find_prompt_file(
    client: WebClient, review: ReviewView, *, bot_user_id: str | None
) -> tuple[dict[str, Any], str] | None:
    """The newest text file or snippet a person shared in the review's thread, and who."""
    newest: tuple[dict[str, Any], str] | None = None
    for message in _thread_messages(client, review):
        user = message.get("user")
        if not user or message.get("bot_id") or user == bot_user_id:
            continue
        for f in message.get("files") or []:
            if isinstance(f, dict) and _is_text_file(f):
                newest = (f, str(user))
    return newest


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The bot token must never follow a redirect to another host.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _may_send_token_to(url: str, settings: Settings) -> bool:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    api_host = (urllib.parse.urlsplit(settings.slack_api_url).hostname or "").lower()
    slack_host = host.endswith(_SLACK_FILE_HOST_SUFFIXES) and parts.scheme == "https"
    return slack_host or (bool(host) and host == api_host)


def download_prompt_file(f: Mapping[str, Any], *, token: str, settings: Settings) -> str:
    """The text of a Slack file, fetched from its ``url_private`` with the bot token."""
    name = str(f.get("name") or f.get("title") or "the file")
    size = int(f.get("size") or 0)
    too_big = (
        f"The prompt file {name} is over {MAX_PROMPT_FILE_BYTES:,} bytes; a current prompt "
        f"may have {MAX_CURRENT_PROMPT:,} characters."
    )
    if size > MAX_PROMPT_FILE_BYTES:
        raise InvalidInput(too_big)
    url = str(f.get("url_private_download") or f.get("url_private") or "")
    if not url or not _may_send_token_to(url, settings):
        raise ExternalServiceError(f"I can't download {name}: it is not a Slack file URL.")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=_FILE_DOWNLOAD_TIMEOUT_S) as response:
            content_type = str(response.headers.get("content-type") or "")
            data = bytes(response.read(MAX_PROMPT_FILE_BYTES + 1))
    except urllib.error.HTTPError as err:
        raise ExternalServiceError(
            f"Slack would not give me {name} (HTTP {err.code}); the app needs the files:read scope."
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError):
        raise ExternalServiceError(f"I couldn't download {name} from Slack; try again.") from None
    # Without files:read Slack answers 200 with its sign-in page instead of the file.
    if content_type.startswith("text/html"):
        raise ExternalServiceError(
            f"Slack would not give me {name}; the app needs the files:read scope."
        )
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise InvalidInput(too_big)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"The prompt file {name} is not UTF-8 text.") from None
    if len(text) > MAX_CURRENT_PROMPT:
        raise InvalidInput(
            f"The prompt file {name} is {len(text):,} characters; the limit is "
            f"{MAX_CURRENT_PROMPT:,}."
        )
    return text


def _with_thread_prompt(
    ctx: AppContext, client: WebClient, job: DraftJob, review: ReviewView
) -> tuple[DraftRequest, PromptFile | None]:
    """The request, with the current prompt taken from the newest text file in the thread when
    none was pasted into the modal."""
    if not job.look_in_thread:
        return job.request, None
    found = find_prompt_file(client, review, bot_user_id=job.bot_user_id)
    if found is None:
        return job.request, None
    f, user = found
    text = download_prompt_file(f, token=client.token or "", settings=ctx.settings)
    if not text.strip():
        return job.request, None
    req = DraftRequest.model_validate({**job.request.model_dump(), "current_prompt": text})
    name = str(f.get("name") or f.get("title") or "file")
    return req, PromptFile(name=name, user_id=user, chars=len(text))


def upload_snippet(client: WebClient, review: ReviewView, shown: ShownDraft) -> str | None:
    """The drafted prompt as a file in the thread; its permalink, or None when it failed."""
    source = _source_name(shown.result.source, shown.result.model)
    try:
        resp = client.files_upload_v2(
            channel=review.channel_id,
            thread_ts=review.thread_ts,
            content=shown.result.prompt,
            filename=SNIPPET_FILENAME,
            title=f"Drafted system prompt v{shown.version} ({source})",
        )
    except SlackApiError as exc:
        logger.warning("draft snippet upload failed: %s", exc.response.get("error"))
        return None
    link = (resp.get("file") or {}).get("permalink")
    return str(link) if link else None


def _where(review: ReviewView, user_id: str) -> dict[str, Any]:
    # A view submission carries no channel: tell the user in the review's thread.
    return {
        "channel": {"id": review.channel_id},
        "user": {"id": user_id},
        "message": {"thread_ts": review.thread_ts},
    }


def draft_in_thread(ctx: AppContext, client: WebClient, job: DraftJob) -> None:
    """After the ack: "Drafting…" in the thread, the drafter, the stored attempt, then the
    result (or the failure) in place of "Drafting…" and the prompt as a snippet."""
    with ctx.session() as session:
        review = _get_review_view(session, team_id=job.team_id, review_id=job.review_id)
    model = ctx.settings.ladder_draft_model if _has_key(ctx.settings) else None
    text = build_drafting_text(user_id=job.user_id, settings_model=model)
    progress = client.chat_postMessage(
        channel=review.channel_id, thread_ts=review.thread_ts, text=text, blocks=[section(text)]
    )
    progress_ts = str(progress["ts"])

    def show(text: str, blocks: list[Block]) -> None:
        client.chat_update(channel=review.channel_id, ts=progress_ts, text=text, blocks=blocks)

    # The one place that catches everything: "Drafting…" must never be left spinning. The
    # error itself still goes to the one error handler (logged with a reference when it is ours).
    try:
        req, prompt_file = _with_thread_prompt(ctx, client, job, review)
        try:
            result = run_drafter(req, ctx.settings)
        except DraftFailed as exc:
            failed = store_failure(ctx, job, req, exc)
            show(f"Drafting failed: {exc.user_message}", build_draft_failed_blocks(failed))
            return
        shown = store_result(ctx, job, req, result, prompt_file)
        link = upload_snippet(client, review, shown)
        shown = replace(shown, snippet_link=link)
        show(f"{result.label} (draft v{shown.version})", build_draft_result_blocks(shown))
    except Exception as exc:
        reason = exc.user_message if isinstance(exc, LadderError) else "an error on my side"
        reason = reason.rstrip(".")
        stopped = f":warning: Drafting stopped: {escape(reason)}. Nothing in the review changed."
        try:
            show(stopped, [section(stopped)])
        except SlackApiError:
            logger.warning("could not replace the drafting message %s", progress_ts)
        if not isinstance(exc, LadderError):
            handle_error(exc, _where(review, job.user_id), client)


# -- adopting a draft ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Adopted:
    version: int
    snapshot: Snapshot | None  # None when no answer had to change
    changed: tuple[str, ...]


def adopt_draft(
    ctx: AppContext, *, team_id: str, review_id: int, draft_id: int, user_id: str
) -> Adopted:
    """P2 answered "drafted" (and a none/short system prompt becomes "detailed") in one
    transaction, with a ``draft.adopted`` audit entry. Of two clicks at once only one adopts:
    the review row is locked first, so the second sees the first's audit entry."""
    with ctx.session() as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if review is None:
            raise InvalidInput("I can't find this review any more.")
        # SELECT ... FOR UPDATE on PostgreSQL (READ COMMITTED would let both clicks read "not
        # adopted yet"); SQLite's write transactions already take turns.
        session.refresh(review, with_for_update=True)
        draft = session.get(Draft, draft_id)
        if draft is None or draft.review_id != review.id or draft.status is not DraftStatus.OK:
            raise InvalidInput("I can't find this draft any more.")
        for entry in repo.audit_entries(session=session, team_id=team_id, review_id=review.id):
            if entry.action == "draft.adopted" and entry.detail.get("draft_id") == draft.id:
                raise Conflict(f"Draft v{draft.version} is already the baseline.")
        answers = repo.current_answers(session=session, team_id=team_id, review_id=review.id)
        revisions = repo.current_revisions(session=session, team_id=team_id, review_id=review.id)
        changes: list[tuple[str, str]] = []
        if answers.get("system_prompt") in (SystemPrompt.NONE.value, SystemPrompt.SHORT.value):
            changes.append(("system_prompt", SystemPrompt.DETAILED.value))
        if answers.get("prompt_draft") != PromptDraft.DRAFTED.value:
            changes.append(("prompt_draft", PromptDraft.DRAFTED.value))
        progress = None
        for key, value in changes:
            progress = submit_answer(
                session,
                review=review,
                key=key,
                value=value,
                by=user_id,
                expected_revision=revisions.get(key, 0),
            )
        repo.add_audit(
            session=session,
            team_id=team_id,
            review_id=review.id,
            actor=user_id,
            action="draft.adopted",
            detail={"draft_id": draft.id, "version": draft.version},
        )
        snapshot = (
            None if progress is None else Snapshot.of(progress, answered_by(session, review=review))
        )
        return Adopted(
            version=draft.version, snapshot=snapshot, changed=tuple(k for k, _ in changes)
        )


def adopt_and_show(
    ctx: AppContext,
    client: WebClient,
    *,
    team_id: str,
    review_id: int,
    draft_id: int,
    user_id: str,
    channel: str | None,
    message: Mapping[str, Any],
) -> None:
    """Adopt the draft, mark its message adopted, and move the thread on as any answer does."""
    adopted = adopt_draft(
        ctx, team_id=team_id, review_id=review_id, draft_id=draft_id, user_id=user_id
    )
    if channel and message.get("ts"):
        client.chat_update(
            channel=channel,
            ts=message["ts"],
            text=f"Draft v{adopted.version} adopted as the baseline",
            blocks=build_adopted_blocks(
                list(message.get("blocks") or []), user_id=user_id, version=adopted.version
            ),
        )
    snap = adopted.snapshot
    if snap is not None:
        if "system_prompt" in adopted.changed:
            show_answer(client, snap, "system_prompt")
        render(ctx, client, snap, "prompt_draft")


# -- listeners ----------------------------------------------------------------------------------


def _prefill(session: Session, *, team_id: str, review_id: int) -> DraftPrefill:
    """The last attempt's inputs (so "Try again" keeps them), else the review's answers."""
    answers = repo.current_answers(session=session, team_id=team_id, review_id=review_id)
    known = {o.value for o in QUESTIONS["failure_modes"].options}
    answered_cost = CostChoice(
        requests_per_month=answers.get("cost.requests_per_month"),
        base_model=answers.get("cost.base_model"),
    )
    drafts = repo.list_drafts(session=session, team_id=team_id, review_id=review_id)
    if not drafts:
        modes = [str(m) for m in answers.get("failure_modes") or []]
        return DraftPrefill(
            task=str(answers.get("use_case") or ""),
            failure_modes=tuple(m for m in modes if m in known),
            cost=answered_cost,
        )
    last = drafts[-1]
    inputs = last.inputs
    modes = [str(m) for m in inputs.get("failure_modes") or []]
    chosen = CostChoice.from_json((last.result or {}).get("cost_inputs"))
    if chosen.requests_per_month is None and chosen.base_model is None:
        chosen = answered_cost
    return DraftPrefill(
        task=str(inputs.get("task") or answers.get("use_case") or ""),
        current_prompt=str(inputs.get("current_prompt") or ""),
        failure_modes=tuple(m for m in modes if m in known),
        other_problems=tuple(m for m in modes if m not in known),
        examples=tuple(
            (str(e.get("input", "")), str(e.get("ideal_output", "")))
            for e in inputs.get("examples") or []
        ),
        output_format=str(inputs.get("output_format") or ""),
        cost=chosen,
    )


def _check_open(session: Session, *, team_id: str, review_id: int) -> None:
    review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
    if review is None:
        raise InvalidInput("I can't find this review any more.")
    if not review.is_open:
        raise Conflict("This review is closed; start a new one to draft a prompt for it.")


def register(app: App, ctx: AppContext) -> None:
    def open_draft_modal(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        review_id = int(value_of(action["value"])["r"])
        team_id = body["team"]["id"]
        with ctx.session() as session:
            _check_open(session, team_id=team_id, review_id=review_id)
            prefill = _prefill(session, team_id=team_id, review_id=review_id)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=build_draft_modal(review_id=review_id, prefill=prefill),
        )

    def start_drafting(
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        *,
        review_id: int,
        request: DraftRequest,
        cost: CostChoice,
        look_in_thread: bool,
    ) -> None:
        """After the ack, on the drafting pool: draft_in_thread shows its own errors in the
        thread (a view submission has no channel to tell the user in)."""
        job = DraftJob(
            team_id=body["team"]["id"],
            review_id=review_id,
            user_id=body["user"]["id"],
            request=request,
            cost=cost,
            look_in_thread=look_in_thread,
            bot_user_id=context.bot_user_id,
        )
        defer(ctx, body, client, draft_in_thread, ctx, client, job, pool=ctx.drafting)

    def handle_draft_submission(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        review_id = int(value_of(view["private_metadata"])["r"])
        team_id = body["team"]["id"]
        try:
            req, cost = parse_draft_fields(view["state"]["values"])
            with ctx.session() as session:
                _check_open(session, team_id=team_id, review_id=review_id)
        except LadderError as exc:
            ack(response_action="errors", errors=field_errors(exc, default=DraftField.TASK))
            return
        ack()
        start_drafting(
            body,
            client,
            context,
            review_id=review_id,
            request=req,
            cost=cost,
            look_in_thread=req.current_prompt is None,
        )

    def open_redraft_modal(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        client.views_open(
            trigger_id=body["trigger_id"],
            view=build_redraft_modal(
                review_id=int(data["r"]), draft_id=int(data["d"]), version=int(data["v"])
            ),
        )

    def handle_redraft_submission(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        meta = value_of(view["private_metadata"])
        review_id, draft_id = int(meta["r"]), int(meta["d"])
        team_id = body["team"]["id"]
        feedback = _text(view["state"]["values"], DraftField.FEEDBACK)
        try:
            with ctx.session() as session:
                _check_open(session, team_id=team_id, review_id=review_id)
                previous = session.get(Draft, draft_id)
                if previous is None or previous.review_id != review_id:
                    raise InvalidInput("I can't find that draft any more.")
                inputs = dict(previous.inputs)
                cost = CostChoice.from_json((previous.result or {}).get("cost_inputs"))
                prompt_text = previous.prompt_text
            req = DraftRequest.model_validate(
                {**inputs, "feedback": feedback, "previous_draft": prompt_text}
            )
            if req.feedback is None:
                raise InvalidInput("Say what should change.", field=DraftField.FEEDBACK.value)
        except LadderError as exc:
            ack(response_action="errors", errors=field_errors(exc, default=DraftField.FEEDBACK))
            return
        ack()
        start_drafting(
            body,
            client,
            context,
            review_id=review_id,
            request=req,
            cost=cost,
            look_in_thread=False,  # the previous inputs already hold the current prompt
        )

    def handle_use_as_baseline(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        data = value_of(action["value"])
        defer(
            ctx,
            body,
            client,
            adopt_and_show,
            ctx,
            client,
            team_id=body["team"]["id"],
            review_id=int(data["r"]),
            draft_id=int(data["d"]),
            user_id=body["user"]["id"],
            channel=(body.get("channel") or {}).get("id"),
            message=body.get("message") or {},
        )

    app.action(ActionId.DRAFT_OPEN.value)(guarded(open_draft_modal))
    app.view(CallbackId.DRAFT.value)(guarded(handle_draft_submission))
    app.action(ActionId.DRAFT_REDRAFT.value)(guarded(open_redraft_modal))
    app.view(CallbackId.REDRAFT.value)(guarded(handle_redraft_submission))
    app.action(ActionId.DRAFT_USE.value)(guarded(handle_use_as_baseline))
