"""Rung 1: draft a stronger system prompt, with an LLM when a key is set, from a template otherwise.

``draft_prompt`` is the entry point for the CLI and Slack; ``template_draft`` and
``llm_draft`` are the two paths, both returning a ``DraftResult`` of the same shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

import openai
import pydantic
from genai_prices import Usage, calc_price
from openai.types.chat import ChatCompletionMessageParam
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    computed_field,
    field_validator,
    model_validator,
)

from bot import draft_prompts as text
from bot.answers import FailureMode
from bot.errors import ExternalServiceError, InvalidInput
from bot.prices import looks_like_openai
from bot.tokens import count_tokens

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

# Input caps (characters unless noted). Generous for real prompts, small enough that one
# request stays far below any model's context window.
MAX_TASK = 2_000
MAX_CURRENT_PROMPT = 20_000
MAX_PREVIOUS_DRAFT = 20_000
MAX_FAILURE_MODES = 10  # items
MAX_FAILURE_MODE = 300
MAX_EXAMPLES = 5  # items
MAX_EXAMPLE_FIELD = 4_000
MAX_OUTPUT_FORMAT = 4_000
MAX_FEEDBACK = 2_000

FEW_SHOT_MIN = 3  # LADDER.md rung 2: 3-10 worked examples

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 2
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_MAX_REFUSAL_SHOWN = 300

# --- inputs -------------------------------------------------------------------------------


class Example(BaseModel):
    """One example input with the output the team wants for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Annotated[str, Field(min_length=1, max_length=MAX_EXAMPLE_FIELD)]
    ideal_output: Annotated[str, Field(min_length=1, max_length=MAX_EXAMPLE_FIELD)]


class DraftRequest(BaseModel):
    """What the team gives the drafter. Constructing one with a value over a cap raises
    ``InvalidInput`` naming the field and the limit (never a pydantic ``ValidationError``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Annotated[str, Field(min_length=1, max_length=MAX_TASK)]
    current_prompt: Annotated[str, Field(max_length=MAX_CURRENT_PROMPT)] | None = None
    failure_modes: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=MAX_FAILURE_MODE)]],
        Field(max_length=MAX_FAILURE_MODES),
    ] = []
    examples: Annotated[list[Example], Field(max_length=MAX_EXAMPLES)] = []
    output_format: Annotated[str, Field(max_length=MAX_OUTPUT_FORMAT)] | None = None
    feedback: Annotated[str, Field(max_length=MAX_FEEDBACK)] | None = None
    previous_draft: Annotated[str, Field(max_length=MAX_PREVIOUS_DRAFT)] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _as_invalid_input(
        cls, data: Any, handler: ModelWrapValidatorHandler[DraftRequest]
    ) -> DraftRequest:
        try:
            return handler(data)
        except pydantic.ValidationError as err:
            raise _invalid_input(err) from None

    @field_validator("task", mode="before")
    @classmethod
    def _strip_task(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("current_prompt", "output_format", "feedback", "previous_draft", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        # Surrounding blank lines go, the text itself stays verbatim.
        if isinstance(v, str):
            v = v.strip("\n\r")
            return v if v.strip() else None
        return v

    @field_validator("failure_modes", mode="before")
    @classmethod
    def _clean_modes(cls, v: Any) -> Any:
        # Known modes in any case become the FailureMode value; free text stays as written.
        if isinstance(v, list):
            known = {m.value for m in FailureMode}
            cleaned = [_known_mode(m, known) if isinstance(m, str) else m for m in v]
            return list(dict.fromkeys(m for m in cleaned if m != ""))
        return v

    def inputs_hash(self) -> str:
        """sha256 of the request's canonical JSON: equal inputs, equal hash."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _known_mode(mode: str, known: set[str]) -> str:
    mode = mode.strip()
    return mode.lower() if mode.lower() in known else mode


def _invalid_input(err: pydantic.ValidationError) -> InvalidInput:
    first = err.errors()[0]
    loc = first["loc"]
    field = str(loc[0]) if loc else "draft"
    where = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    ctx = first.get("ctx") or {}
    value = first.get("input")
    if first["type"] == "string_too_long" and isinstance(value, str):
        limit = int(ctx["max_length"])
        msg = f"{where}: {len(value):,} characters; the limit is {limit:,}"
    elif first["type"] == "too_long" and isinstance(value, list):
        limit = int(ctx["max_length"])
        msg = f"{where}: {len(value)} given; the limit is {limit}"
    elif first["type"] == "string_too_short":
        msg = f"{where}: must not be empty"
    else:
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        msg = f"{where or 'draft request'}: {reason}"
    return InvalidInput(msg, field=field)


# --- the draft ----------------------------------------------------------------------------


class PromptExample(BaseModel):
    input: str = Field(description="An example input, or a placeholder like [example input].")
    output: str = Field(description="The ideal output for that input, reasoning before the answer.")


class Change(BaseModel):
    what: str = Field(description="What was changed or added.")
    why: str = Field(description="Why: the failure it prevents or the habit it follows.")


class DraftedPrompt(BaseModel):
    """A system prompt in sections, plus what changed and what to ask the team.

    Also the structured-output schema the drafting model fills in, so every field is plain.
    """

    role_and_task: str = Field(description="Who the model is and what it must do.")
    steps: list[str] = Field(description="Steps the model follows; reasoning first, answer last.")
    output_format: str = Field(description="The exact format of the model's answer.")
    constraints: list[str] = Field(description="Rules every answer must follow.")
    examples: list[PromptExample] = Field(description="Input/output examples.")
    edge_cases: list[str] = Field(description="Unusual inputs and what to do with each.")
    changes: list[Change] = Field(description="Each change made, with its reason.")
    open_questions: list[str] = Field(description="Questions only the team can answer.")

    def render(self) -> str:
        """The full system prompt text: role and task, then steps (reasoning) before the
        constraints, edge cases and output format, then the examples."""
        parts = [self.role_and_task.strip()]
        if self.steps:
            numbered = "\n".join(f"{i}. {s.strip()}" for i, s in enumerate(self.steps, 1))
            parts.append(f"# Steps\n\n{numbered}")
        if self.constraints:
            parts.append("# Constraints\n\n" + _bullets(self.constraints))
        if self.edge_cases:
            parts.append("# Edge cases\n\n" + _bullets(self.edge_cases))
        if self.output_format.strip():
            parts.append(f"# Output format\n\n{self.output_format.strip()}")
        if self.examples:
            blocks = [
                f"## Example {i}\n\n<input>\n{ex.input.strip()}\n</input>\n"
                f"<output>\n{ex.output.strip()}\n</output>"
                for i, ex in enumerate(self.examples, 1)
            ]
            parts.append("# Examples\n\n" + "\n\n".join(blocks))
        return "\n\n".join(parts) + "\n"


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item.strip()}" for item in items)


class DraftUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class DraftResult(BaseModel):
    """A draft and what is recorded with it (source, model, inputs hash, tokens, latency, cost)."""

    draft: DraftedPrompt
    source: Literal["llm", "template"]
    model: str | None
    inputs_hash: str
    tokens_before: int = Field(description="Tokens of the current prompt; 0 when there was none.")
    tokens_after: int = Field(description="Tokens of the rendered draft.")
    token_method: str
    latency_ms: int
    usage: DraftUsage | None = Field(description="Token usage of the drafting call, if any.")
    cost_usd: Decimal | None = Field(description="Cost of the drafting call, when priced.")
    label: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prompt(self) -> str:
        """The rendered system prompt."""
        return self.draft.render()


# --- failures -----------------------------------------------------------------------------


class DraftFailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED = "malformed"
    REFUSED = "refused"
    REJECTED = "rejected"  # any other 4xx: bad key, unknown model, unsupported request


class DraftFailed(ExternalServiceError):
    """The drafting call failed; ``user_message`` says why in words a user can act on.

    Carries what the caller records about the failed attempt. Never carries the API key or
    the provider's own error text (a 401's text quotes part of the key).
    """

    def __init__(
        self,
        user_message: str,
        *,
        kind: DraftFailureKind,
        latency_ms: int,
        model: str,
        status_code: int | None = None,
    ) -> None:
        super().__init__(user_message)
        self.kind = kind
        self.latency_ms = latency_ms
        self.model = model
        self.status_code = status_code


# --- template path ------------------------------------------------------------------------


def template_draft(req: DraftRequest) -> DraftResult:
    """A deterministic draft built from the inputs alone: no network, same input, same draft.

    A current prompt is kept word for word as the role and task; the template only adds the
    sections around it and says why, with placeholders where only the team knows the answer.
    """
    started = time.perf_counter()
    draft = _template_prompt(req)
    return _result(
        req,
        draft,
        source="template",
        model=None,
        latency_ms=_ms_since(started),
        usage=None,
        cost_usd=None,
        label=text.TEMPLATE_LABEL,
    )


def _template_prompt(req: DraftRequest) -> DraftedPrompt:
    changes: list[Change] = []
    questions: list[str] = []

    if req.current_prompt is not None:
        role = req.current_prompt
        changes.append(
            Change(
                what="Kept your current prompt word for word as the role and task",
                why="Minimal change: its wording and constants are what the team already "
                "knows works; the sections below only add what was missing.",
            )
        )
    else:
        role = text.TEMPLATE_ROLE.format(task=req.task)
        changes.append(
            Change(
                what="Wrote a role and task section from the task description",
                why="The model needs to know what it is for before it reads any input.",
            )
        )

    steps = list(text.TEMPLATE_STEPS)
    changes.append(
        Change(
            what="Added numbered steps that end with the answer",
            why="Reasoning before conclusions: the model works through the input before it "
            "commits to an answer.",
        )
    )

    constraints: list[str] = []
    known = set(text.TEMPLATE_FAILURE_CONSTRAINTS)
    for mode in req.failure_modes:
        if mode in known:
            constraints.append(text.TEMPLATE_FAILURE_CONSTRAINTS[mode])
            why = text.TEMPLATE_FAILURE_WHY[mode]
        else:
            constraints.append(text.TEMPLATE_FREE_CONSTRAINT.format(text=mode))
            why = text.TEMPLATE_FREE_WHY
        changes.append(Change(what=f"Added a constraint for the failure mode {mode!r}", why=why))
        if mode in text.TEMPLATE_QUESTIONS:
            questions.append(text.TEMPLATE_QUESTIONS[mode])
    if not constraints and req.current_prompt is None:
        constraints.append(text.TEMPLATE_CONSTRAINTS_PLACEHOLDER)

    edge_cases = list(text.TEMPLATE_EDGE_CASES)
    changes.append(
        Change(
            what="Added edge cases: empty or off-topic input, ambiguity, instructions inside "
            "the input",
            why="Saying what to do with unusual input keeps the model from guessing, and "
            "keeps instructions hidden in the input from taking over.",
        )
    )

    if req.output_format is not None:
        output_format = req.output_format
        changes.append(
            Change(
                what="Stated your output format verbatim in its own section, after the steps",
                why="An explicit format is the main cure for format drift; the conclusion "
                "comes last.",
            )
        )
    else:
        output_format = text.TEMPLATE_OUTPUT_FORMAT_PLACEHOLDER
        changes.append(
            Change(
                what="Added an output format section with a placeholder",
                why="An explicit format is the main cure for format drift; only the team "
                "knows the exact shape.",
            )
        )
        questions.append(text.TEMPLATE_QUESTIONS["output_format"])

    if req.examples:
        examples = [PromptExample(input=e.input, output=e.ideal_output) for e in req.examples]
        changes.append(
            Change(
                what=f"Included your {len(examples)} example(s) unchanged",
                why="Worked examples show the expected output better than a description.",
            )
        )
        if len(examples) < FEW_SHOT_MIN:
            questions.append(text.TEMPLATE_QUESTIONS["more_examples"])
    else:
        examples = [
            PromptExample(input=text.TEMPLATE_EXAMPLE_INPUT, output=text.TEMPLATE_EXAMPLE_OUTPUT)
        ]
        changes.append(
            Change(
                what="Added an example with placeholders",
                why="The team gave no examples; placeholders mark where real ones go.",
            )
        )
        questions.append(text.TEMPLATE_QUESTIONS["examples"])

    if req.feedback is not None:
        questions.append(text.TEMPLATE_QUESTIONS["feedback"].format(feedback=req.feedback))

    return DraftedPrompt(
        role_and_task=role,
        steps=steps,
        output_format=output_format,
        constraints=constraints,
        examples=examples,
        edge_cases=edge_cases,
        changes=changes,
        open_questions=questions,
    )


# --- LLM path -----------------------------------------------------------------------------


def build_messages(req: DraftRequest) -> list[ChatCompletionMessageParam]:
    """The chat messages for the drafting call: the meta-prompt, then the team's text as
    tagged data."""
    return [
        {"role": "system", "content": text.META_PROMPT},
        {"role": "user", "content": build_user_message(req)},
    ]


def build_user_message(req: DraftRequest) -> str:
    """The team's inputs, each inside its own tag. Our tag names inside the team's text are
    escaped, so a closing tag in a pasted prompt cannot end the data early."""
    parts = [_tagged("task", req.task)]
    parts.append(
        _tagged("current_prompt", req.current_prompt)
        if req.current_prompt is not None
        else f"<current_prompt>{text.NO_CURRENT_PROMPT}</current_prompt>"
    )
    if req.failure_modes:
        lines = []
        for mode in req.failure_modes:
            meaning = text.FAILURE_MODE_MEANINGS.get(mode)
            lines.append(f"- {_escape(mode)}: {meaning}" if meaning else f"- {_escape(mode)}")
        parts.append("<failure_modes>\n" + "\n".join(lines) + "\n</failure_modes>")
    if req.examples:
        blocks = [
            f'<example index="{i}">\n{_tagged("input", e.input)}\n'
            f"{_tagged('ideal_output', e.ideal_output)}\n</example>"
            for i, e in enumerate(req.examples, 1)
        ]
        parts.append("<examples>\n" + "\n".join(blocks) + "\n</examples>")
    if req.output_format is not None:
        parts.append(_tagged("output_format", req.output_format))
    if req.previous_draft is not None:
        parts.append(_tagged("previous_draft", req.previous_draft))
    if req.feedback is not None:
        parts.append(_tagged("feedback", req.feedback))
    parts.append(text.USER_MESSAGE_CLOSING)
    return "\n\n".join(parts)


def _tagged(tag: str, value: str) -> str:
    return f"<{tag}>\n{_escape(value)}\n</{tag}>"


def _escape(value: str) -> str:
    for tag in text.DATA_TAGS:
        value = value.replace(f"</{tag}", f"&lt;/{tag}").replace(f"<{tag}", f"&lt;{tag}")
    return value


def llm_draft(
    req: DraftRequest,
    *,
    client: openai.OpenAI,
    model: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> DraftResult:
    """Draft with the model behind ``client`` using structured output.

    ``timeout_s`` bounds each attempt; the SDK retries 408/409/429/5xx, timeouts and
    connection errors up to ``max_retries`` times with exponential backoff, honouring
    ``Retry-After``. Every failure becomes ``DraftFailed``.
    """
    started = time.perf_counter()
    try:
        completion = client.with_options(
            timeout=timeout_s, max_retries=max_retries
        ).chat.completions.parse(
            model=model,
            messages=build_messages(req),
            response_format=DraftedPrompt,
        )
    except openai.OpenAIError as err:
        raise _draft_failed(err, model=model, timeout_s=timeout_s, started=started) from None
    except (pydantic.ValidationError, json.JSONDecodeError, TypeError, AttributeError, KeyError):
        # The body or the message content was not JSON, or JSON in another shape (the SDK
        # builds the completion unvalidated, so a wrong-shaped body fails as Type/Attribute/
        # KeyError). The try holds only the SDK call, so these cannot hide our own bugs.
        # No exc_info: the traceback would quote the model's output into the log.
        raise _failed(DraftFailureKind.MALFORMED, model=model, started=started) from None

    latency_ms = _ms_since(started)
    if not completion.choices:
        raise _failed(DraftFailureKind.MALFORMED, model=model, started=started)
    message = completion.choices[0].message
    if message.refusal:
        raise _failed(
            DraftFailureKind.REFUSED, model=model, started=started, refusal=message.refusal
        )
    if message.parsed is None:
        raise _failed(DraftFailureKind.MALFORMED, model=model, started=started)

    used_model = completion.model or model
    usage = (
        DraftUsage(
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
        )
        if completion.usage is not None
        else None
    )
    logger.info(
        "draft via %s in %d ms (%s tokens in, %s out)",
        used_model,
        latency_ms,
        usage.prompt_tokens if usage else "?",
        usage.completion_tokens if usage else "?",
    )
    return _result(
        req,
        message.parsed,
        source="llm",
        model=used_model,
        latency_ms=latency_ms,
        usage=usage,
        cost_usd=_call_cost(usage, used_model),
        label=f"Drafted by {used_model}",
    )


def _draft_failed(
    err: openai.OpenAIError, *, model: str, timeout_s: float, started: float
) -> DraftFailed:
    # Only the error's class and status code are used: its text can quote the key (401).
    if isinstance(err, openai.APITimeoutError):
        return _failed(DraftFailureKind.TIMEOUT, model=model, started=started, timeout_s=timeout_s)
    if isinstance(err, openai.APIConnectionError):
        return _failed(DraftFailureKind.CONNECTION, model=model, started=started)
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status == 429 and err.code == "insufficient_quota":
            return _failed(
                DraftFailureKind.RATE_LIMITED,
                model=model,
                started=started,
                status=status,
                out_of_quota=True,
            )
        if status == 429:
            kind = DraftFailureKind.RATE_LIMITED
        elif status >= 500:
            kind = DraftFailureKind.SERVER_ERROR
        else:
            kind = DraftFailureKind.REJECTED
        # The SDK numbers its attempts in a request header; the server may forbid retries.
        retries = err.response.request.headers.get("x-stainless-retry-count", "0")
        attempts = int(retries) + 1 if retries.isdigit() else 1
        return _failed(kind, model=model, started=started, status=status, attempts=attempts)
    if isinstance(err, openai.ContentFilterFinishReasonError):
        return _failed(DraftFailureKind.REFUSED, model=model, started=started, refusal=None)
    # LengthFinishReasonError (cut off), APIResponseValidationError and the like.
    return _failed(DraftFailureKind.MALFORMED, model=model, started=started)


_REJECTED_MESSAGES = {
    401: "OpenAI did not accept the API key (HTTP 401); check OPENAI_API_KEY.",
    403: "OpenAI refused access to the drafting model (HTTP 403); check the key's project.",
    404: "The drafting model {model!r} was not found (HTTP 404); check LADDER_DRAFT_MODEL.",
}


def _failed(
    kind: DraftFailureKind,
    *,
    model: str,
    started: float,
    status: int | None = None,
    attempts: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    refusal: str | None = None,
    out_of_quota: bool = False,
) -> DraftFailed:
    if kind is DraftFailureKind.RATE_LIMITED and out_of_quota:
        msg = "OpenAI says the account has run out of quota (HTTP 429); check its billing."
    elif kind is DraftFailureKind.RATE_LIMITED:
        msg = "OpenAI is rate-limiting us; try again in a minute."
    elif kind is DraftFailureKind.SERVER_ERROR:
        msg = (
            f"OpenAI had a server error (HTTP {status})"
            + (f" on all {attempts} attempts" if attempts > 1 else "")
            + "; try again in a few minutes."
        )
    elif kind is DraftFailureKind.TIMEOUT:
        msg = f"OpenAI did not answer within {timeout_s:g} s; try again in a few minutes."
    elif kind is DraftFailureKind.CONNECTION:
        msg = "Could not connect to OpenAI; check the network and OPENAI_BASE_URL."
    elif kind is DraftFailureKind.REFUSED:
        if refusal:
            shown = " ".join(refusal.split())
            if len(shown) > _MAX_REFUSAL_SHOWN:
                shown = shown[: _MAX_REFUSAL_SHOWN - 1] + "…"
            msg = f"The drafting model refused: {shown}"
        else:
            msg = "The drafting model's answer was blocked by its content filter."
    elif kind is DraftFailureKind.REJECTED:
        default = f"OpenAI rejected the drafting request (HTTP {status}); check LADDER_DRAFT_MODEL."
        msg = _REJECTED_MESSAGES.get(status or 0, default).format(model=model)
    else:
        msg = (
            "The model returned output we could not read; try again, or set "
            "LADDER_DRAFT_MODEL to a model that supports structured output."
        )
    latency_ms = _ms_since(started)
    # INFO, not WARNING: the failure is reported by the exception, which the caller shows
    # and records; a warning would also reach stderr through logging's last-resort handler.
    logger.info(
        "draft via %s failed: %s (HTTP %s) after %d ms", model, kind.value, status, latency_ms
    )
    return DraftFailed(msg, kind=kind, latency_ms=latency_ms, model=model, status_code=status)


def _call_cost(usage: DraftUsage | None, model: str) -> Decimal | None:
    """The drafting call's cost from genai-prices' bundled table, or None when unknown."""
    if usage is None:
        return None
    try:
        price = calc_price(
            Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
            model_ref=model,
            provider_id="openai" if looks_like_openai(model) else None,
        )
    except LookupError:
        return None
    return Decimal(price.total_price)


# --- entry points -------------------------------------------------------------------------


def make_client(settings: Settings) -> openai.OpenAI | None:
    """An OpenAI client from the settings (``OPENAI_BASE_URL`` honoured), or None without a key."""
    if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
        return None
    return openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url or OPENAI_DEFAULT_BASE_URL,
        timeout=DEFAULT_TIMEOUT_S,
        max_retries=DEFAULT_MAX_RETRIES,
    )


def draft_prompt(
    req: DraftRequest, settings: Settings, client: openai.OpenAI | None = None
) -> DraftResult:
    """Draft with ``LADDER_DRAFT_MODEL`` when a key is set (or a client is given), else from
    the template. Raises ``DraftFailed`` when the LLM call fails; it never falls back
    silently, so the user knows which kind of draft they got."""
    if client is None:
        client = make_client(settings)
    if client is None:
        return template_draft(req)
    return llm_draft(req, client=client, model=settings.ladder_draft_model)


# --- shared -------------------------------------------------------------------------------


def _result(
    req: DraftRequest,
    draft: DraftedPrompt,
    *,
    source: Literal["llm", "template"],
    model: str | None,
    latency_ms: int,
    usage: DraftUsage | None,
    cost_usd: Decimal | None,
    label: str,
) -> DraftResult:
    after = count_tokens(draft.render())
    before = count_tokens(req.current_prompt).tokens if req.current_prompt is not None else 0
    return DraftResult(
        draft=draft,
        source=source,
        model=model,
        inputs_hash=req.inputs_hash(),
        tokens_before=before,
        tokens_after=after.tokens,
        token_method=after.method,
        latency_ms=latency_ms,
        usage=usage,
        cost_usd=cost_usd,
        label=label,
    )


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
