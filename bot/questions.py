"""The question catalogue, as data: what each answer key asks, its options or unit, its rule."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.answers import (
    EvalSet,
    FailureMode,
    FewShot,
    LoraTried,
    ModelAccess,
    PromptDraft,
    SystemPrompt,
    TaskShape,
    TaskStability,
)


class Kind(StrEnum):
    CHOICE = "choice"  # one of options
    MULTI = "multi"  # several of options (checkboxes)
    BOOLEAN = "boolean"  # yes / no
    INTEGER = "integer"  # whole number >= 0 (counts, tokens, requests)
    PERCENT = "percent"  # 0-100
    MONEY = "money"  # dollars (per 1M tokens, per hour, one-off)
    DECIMAL = "decimal"  # a non-negative number that is not money (GPU hours)
    TEXT = "text"  # free text (model names)


class Option(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: str
    label: str


class Question(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    text: str
    help: str
    kind: Kind
    rule: str
    options: tuple[Option, ...] = ()
    unit: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.kind in (Kind.INTEGER, Kind.PERCENT, Kind.MONEY, Kind.DECIMAL)

    def label_for(self, value: object) -> str:
        """Human words for an answer value (``tried_working`` -> "Yes, and it works")."""
        if isinstance(value, list):
            return ", ".join(self.label_for(v) for v in value)
        if self.kind is Kind.BOOLEAN and isinstance(value, bool):
            return "Yes" if value else "No"
        for opt in self.options:
            if opt.value == str(value):
                return opt.label
        shown = _number(value) if self.is_numeric else str(value)
        if self.unit is None:
            return shown
        return f"{shown}%" if self.unit == "%" else f"{shown} {self.unit}"


def _number(value: object) -> str:
    """1200000 -> "1,200,000"; 82.0 -> "82"; "0.15" -> "0.15"."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return format(number.normalize(), "f")


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(value=v, label=label) for v, label in pairs)


_QUESTIONS: tuple[Question, ...] = (
    Question(
        key="use_case",
        text="What is the model for?",
        help="One line, e.g. 'triage support tickets into 12 queues'.",
        kind=Kind.TEXT,
        rule="K1",
    ),
    Question(
        key="failure_modes",
        text="What goes wrong with the model today? Pick all that apply.",
        help="Behaviour problems (format, tone, jargon) and knowledge gaps need different fixes.",
        kind=Kind.MULTI,
        rule="K1",
        options=_opts(
            (FailureMode.FORMAT, "Output format drifts"),
            (FailureMode.TONE, "Wrong tone, voice or persona"),
            (FailureMode.JARGON, "Niche jargon, internal schema or DSL"),
            (FailureMode.KNOWLEDGE, "Missing or stale facts"),
            (FailureMode.CAPABILITY, "It cannot do the task at all"),
            (FailureMode.COST_LATENCY, "Prompts too long, slow or expensive"),
        ),
    ),
    Question(
        key="system_prompt",
        text="What system prompt do you run today?",
        help="Detailed = role, task, output format, constraints, tone and edge cases spelled out.",
        kind=Kind.CHOICE,
        rule="P1",
        options=_opts(
            (SystemPrompt.NONE, "None"),
            (SystemPrompt.SHORT, "A line or two"),
            (SystemPrompt.DETAILED, "A detailed one"),
        ),
    ),
    Question(
        key="prompt_draft",
        text=(
            "Before any training: shall I draft a stronger system prompt from what you have? "
            "It takes a minute and costs a fraction of a cent."
        ),
        help=(
            "In Slack, 'Draft it for me' opens a short form; in a terminal, run `ladder draft` "
            "and answer 'drafted' once you use it. 'Declined' moves on."
        ),
        kind=Kind.CHOICE,
        rule="P2",
        options=_opts((PromptDraft.DRAFTED, "Drafted"), (PromptDraft.DECLINED, "Declined")),
    ),
    Question(
        key="few_shot",
        text="Have you tried putting 3-10 worked input/output examples in the prompt?",
        help="Few-shot examples often get most of what fine-tuning would.",
        kind=Kind.CHOICE,
        rule="F1",
        options=_opts(
            (FewShot.NOT_TRIED, "Not yet"),
            (FewShot.TRIED_FAILING, "Yes, still failing"),
            (FewShot.TRIED_WORKING, "Yes, and it works"),
        ),
    ),
    Question(
        key="task_stability",
        text="Is the definition of a good answer settled, or still changing?",
        help="Training locks in today's definition of correct.",
        kind=Kind.CHOICE,
        rule="S1",
        options=_opts(
            (TaskStability.STABLE, "Settled"), (TaskStability.CHANGING, "Still changing")
        ),
    ),
    Question(
        key="eval_set",
        text="Do you have a held-out eval set (50-200 examples with known-good outputs)?",
        help="Without one nobody can tell whether training helped.",
        kind=Kind.CHOICE,
        rule="E1",
        options=_opts(
            (EvalSet.NONE, "No"),
            (EvalSet.NO_BASELINE, "Yes, no baseline measured"),
            (EvalSet.BASELINE, "Yes, baseline measured"),
        ),
    ),
    Question(
        key="labeled_examples",
        text="How many high-quality, consistent input/output pairs do you have?",
        help="A number, e.g. 350 or 2k.",
        kind=Kind.INTEGER,
        rule="D1",
        unit="examples",
    ),
    Question(
        key="task_shape",
        text="Is the task classification/extraction or open generation?",
        help="With 200-499 examples fine-tuning only suits simple classification or extraction.",
        kind=Kind.CHOICE,
        rule="D2",
        options=_opts(
            (TaskShape.CLASSIFICATION_EXTRACTION, "Classification / extraction"),
            (TaskShape.GENERATION, "Generation"),
        ),
    ),
    Question(
        key="baseline_accuracy",
        text="What does your best prompt score on the eval set (0-100)?",
        help="A percentage, e.g. 82 or 82%.",
        kind=Kind.PERCENT,
        rule="A1",
        unit="%",
    ),
    Question(
        key="target_accuracy",
        text="What score do you need (0-100)?",
        help="A percentage, e.g. 90.",
        kind=Kind.PERCENT,
        rule="A1",
        unit="%",
    ),
    Question(
        key="model_access",
        text="Would you tune through a hosted API or on open weights you run yourself?",
        help="Open weights: LoRA on your own GPUs, costed in GPU hours.",
        kind=Kind.CHOICE,
        rule="V1",
        options=_opts(
            (ModelAccess.HOSTED_API, "Hosted API"),
            (ModelAccess.OPEN_WEIGHTS, "Open weights, self-hosted"),
        ),
    ),
    Question(
        key="cost.requests_per_month",
        text="How many requests a month does this use case serve?",
        help="A number, e.g. 1.2M or 50k.",
        kind=Kind.INTEGER,
        rule="V2",
        unit="requests/month",
    ),
    Question(
        key="cost.base_model",
        text="Which model runs it today?",
        help="A model id, e.g. gpt-4o-mini; prices are looked up.",
        kind=Kind.TEXT,
        rule="V1",
    ),
    Question(
        key="cost.prompt_tokens",
        text="How many input tokens does a call send today (system prompt + examples + input)?",
        help="A number, e.g. 3200 or 3.2k tokens.",
        kind=Kind.INTEGER,
        rule="V1",
        unit="tokens",
    ),
    Question(
        key="cost.output_tokens",
        text="How many output tokens does a typical call return?",
        help="A number, e.g. 150.",
        kind=Kind.INTEGER,
        rule="V1",
        unit="tokens",
    ),
    Question(
        key="cost.tuned_prompt_tokens",
        text="How many input tokens would a call send to the tuned model?",
        help="The shorter prompt once the instructions are trained in, e.g. 400.",
        kind=Kind.INTEGER,
        rule="V1",
        unit="tokens",
    ),
    Question(
        key="cost.base_input_per_mtok",
        text="I don't know this model's price. What does it cost per 1M input tokens?",
        help="Dollars per 1M tokens, e.g. $0.15/M.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/1M tokens",
    ),
    Question(
        key="cost.base_output_per_mtok",
        text="And per 1M output tokens?",
        help="Dollars per 1M tokens, e.g. $0.60/M.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/1M tokens",
    ),
    Question(
        key="cost.tuned_input_per_mtok",
        text="What does the tuned model cost per 1M input tokens?",
        help="Dollars per 1M tokens; fine-tuned models often cost 2x the base.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/1M tokens",
    ),
    Question(
        key="cost.tuned_output_per_mtok",
        text="And per 1M output tokens?",
        help="Dollars per 1M tokens.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/1M tokens",
    ),
    Question(
        key="cost.training_examples",
        text="How many examples would you train on?",
        help="A number, e.g. 2000.",
        kind=Kind.INTEGER,
        rule="V1",
        unit="examples",
    ),
    Question(
        key="cost.tokens_per_example",
        text="How many tokens is one training example (input + output)?",
        help="A number, e.g. 600.",
        kind=Kind.INTEGER,
        rule="V1",
        unit="tokens",
    ),
    Question(
        key="cost.train_per_mtok",
        text="What does training cost per 1M training tokens?",
        help="Dollars per 1M tokens, e.g. $3/M.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/1M tokens",
    ),
    Question(
        key="cost.gpu_hours",
        text="How many GPU hours would a LoRA run take?",
        help="A number, e.g. 8.",
        kind=Kind.DECIMAL,
        rule="V1",
        unit="GPU hours",
    ),
    Question(
        key="cost.gpu_hourly_rate",
        text="What does a GPU hour cost you?",
        help="Dollars per hour, e.g. $2.50.",
        kind=Kind.MONEY,
        rule="V1",
        unit="$/hour",
    ),
    Question(
        key="latency_critical",
        text="Is latency critical (sub-second, or time to first token matters)?",
        help="Shorter tuned prompts are faster; that can tip an in-between case.",
        kind=Kind.BOOLEAN,
        rule="V1",
        options=_opts(("true", "Yes"), ("false", "No")),
    ),
    Question(
        key="lora_tried",
        text="Have you already tried LoRA (or a provider's hosted fine-tuning)?",
        help="Full fine-tuning only after LoRA plateaued.",
        kind=Kind.CHOICE,
        rule="L1",
        options=_opts((LoraTried.NOT_TRIED, "Not yet"), (LoraTried.PLATEAUED, "Yes, it plateaued")),
    ),
)

QUESTIONS: dict[str, Question] = {q.key: q for q in _QUESTIONS}


def question(key: str) -> Question:
    return QUESTIONS[key]
