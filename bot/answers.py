"""The answer set a review fills in: the stable contract of LADDER.md ("Answers").

Every field is optional: ``None`` means "not answered yet". Unknown keys, wrong types and
out-of-range values are rejected by pydantic with a message naming the key.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class FailureMode(StrEnum):
    FORMAT = "format"
    TONE = "tone"
    JARGON = "jargon"
    KNOWLEDGE = "knowledge"
    CAPABILITY = "capability"
    COST_LATENCY = "cost_latency"


BEHAVIOUR_MODES = frozenset({FailureMode.FORMAT, FailureMode.TONE, FailureMode.JARGON})


class SystemPrompt(StrEnum):
    NONE = "none"
    SHORT = "short"
    DETAILED = "detailed"


class PromptDraft(StrEnum):
    DRAFTED = "drafted"
    DECLINED = "declined"


class TaskStability(StrEnum):
    STABLE = "stable"
    CHANGING = "changing"


class FewShot(StrEnum):
    NOT_TRIED = "not_tried"
    TRIED_FAILING = "tried_failing"
    TRIED_WORKING = "tried_working"


class EvalSet(StrEnum):
    NONE = "none"
    NO_BASELINE = "no_baseline"
    BASELINE = "baseline"


class TaskShape(StrEnum):
    CLASSIFICATION_EXTRACTION = "classification_extraction"
    GENERATION = "generation"


class ModelAccess(StrEnum):
    HOSTED_API = "hosted_api"
    OPEN_WEIGHTS = "open_weights"


class LoraTried(StrEnum):
    NOT_TRIED = "not_tried"
    PLATEAUED = "plateaued"


class Outcome(StrEnum):
    R1_PROMPT = "R1_PROMPT"
    R2_FEW_SHOT = "R2_FEW_SHOT"
    R3_RAG = "R3_RAG"
    R4_LORA = "R4_LORA"
    R4_FULL = "R4_FULL"
    EVAL_FIRST = "EVAL_FIRST"
    STAY_PROMPTING = "STAY_PROMPTING"
    CAPABILITY_GAP = "CAPABILITY_GAP"


USE_CASE_MAX = 200  # characters: a title, not a spec (LADDER.md "Answers")
NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class CostInputs(BaseModel):
    """Inputs of the cost model (LADDER.md "The cost model"); prices per 1M tokens, in dollars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: NonNegInt | None = None
    prompt_tokens: NonNegInt | None = None
    output_tokens: NonNegInt | None = None
    tuned_prompt_tokens: NonNegInt | None = None
    base_model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    tuned_model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    training_examples: NonNegInt | None = None
    tokens_per_example: NonNegInt | None = None
    epochs: PositiveInt = 3
    horizon_months: PositiveInt = 12
    one_time_costs: Money = Decimal(0)
    base_input_per_mtok: Money | None = None
    base_output_per_mtok: Money | None = None
    tuned_input_per_mtok: Money | None = None
    tuned_output_per_mtok: Money | None = None
    train_per_mtok: Money | None = None
    gpu_hours: Money | None = None
    gpu_hourly_rate: Money | None = None

    def given(self) -> set[str]:
        """Names of the inputs the user actually gave (defaults excluded)."""
        return set(self.model_fields_set)


class Answers(BaseModel):
    """What a team has answered so far. ``None`` = not answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use_case: Annotated[str, Field(min_length=1, max_length=USE_CASE_MAX)] | None = None
    failure_modes: list[FailureMode] | None = None
    system_prompt: SystemPrompt | None = None
    prompt_draft: PromptDraft | None = None
    task_stability: TaskStability | None = None
    few_shot: FewShot | None = None
    eval_set: EvalSet | None = None
    baseline_accuracy: Percent | None = None
    target_accuracy: Percent | None = None
    labeled_examples: NonNegInt | None = None
    task_shape: TaskShape | None = None
    model_access: ModelAccess | None = None
    latency_critical: bool | None = None
    lora_tried: LoraTried | None = None
    cost: CostInputs | None = None

    @field_validator("failure_modes")
    @classmethod
    def _dedupe_modes(cls, v: list[FailureMode] | None) -> list[FailureMode] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("pick at least one failure mode")
        return list(dict.fromkeys(v))

    @field_validator("use_case")
    @classmethod
    def _strip_use_case(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if not v:
            raise ValueError("the use case must not be blank")
        return v

    # -- answer keys --------------------------------------------------------------------------
    # A key is a top-level field ("few_shot") or a cost input ("cost.requests_per_month").

    def get(self, key: str) -> Any:
        if key.startswith("cost."):
            sub = key.removeprefix("cost.")
            if self.cost is None or sub not in self.cost.model_fields_set:
                return None
            return getattr(self.cost, sub)
        return getattr(self, key)

    def is_answered(self, key: str) -> bool:
        return self.get(key) is not None

    def with_answer(self, key: str, value: Any) -> Answers:
        """A copy with one answer set (or cleared with ``None``), validated like a whole file."""
        data = self.to_json_dict()
        if key.startswith("cost."):
            sub = key.removeprefix("cost.")
            if sub not in CostInputs.model_fields:
                raise UnknownAnswerKey(key)
            cost = dict(data.get("cost") or {})
            if value is None:
                cost.pop(sub, None)
            else:
                cost[sub] = value
            data["cost"] = cost or None
        else:
            if key not in Answers.model_fields:
                raise UnknownAnswerKey(key)
            data[key] = value
        return Answers.model_validate({k: v for k, v in data.items() if v is not None})

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> Answers:
        """Answers from ``{"few_shot": ..., "cost.requests_per_month": ...}`` (the store's form)."""
        data: dict[str, Any] = {}
        cost: dict[str, Any] = {}
        for key, value in flat.items():
            if value is None:
                continue
            if key.startswith("cost."):
                cost[key.removeprefix("cost.")] = value
            else:
                data[key] = value
        if cost:
            data["cost"] = cost
        return cls.model_validate(data)

    def to_flat(self) -> dict[str, Any]:
        """The inverse of ``from_flat``: one entry per answered key."""
        data = self.to_json_dict()
        cost = data.pop("cost", None) or {}
        data.update({f"cost.{k}": v for k, v in cost.items()})
        return data

    def to_json_dict(self) -> dict[str, Any]:
        """The answers as the JSON object of LADDER.md, unanswered keys and default cost inputs
        left out (so a round trip keeps "not given" distinct from "given as the default")."""
        out: dict[str, Any] = {}
        for name in Answers.model_fields:
            if name == "cost":
                continue
            value = getattr(self, name)
            if value is not None:
                out[name] = jsonable(value)
        if self.cost is not None:
            out["cost"] = {
                name: jsonable(getattr(self.cost, name))
                for name in CostInputs.model_fields
                if name in self.cost.model_fields_set
            }
        return out


def jsonable(value: Any) -> Any:
    """An answer value as JSON: enums by value, Decimal money as a decimal string."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


class UnknownAnswerKey(KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"{self.key}: unknown answer key"


def describe_validation_error(err: ValidationError) -> str:
    """One line naming the first offending key and why, e.g. ``cost.epochs: must be > 0``."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "answers"
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}"
