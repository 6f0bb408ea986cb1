"""The ladder: rules K1-L1 of LADDER.md, each its own function, and ``next_step(answers)``.

The rules run in order; the first that decides wins, the others add notes. A rule that needs an
answer nobody gave yet stops the walk with that question: missing answers are never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.answers import (
    Answers,
    EvalSet,
    FailureMode,
    FewShot,
    LoraTried,
    ModelAccess,
    Outcome,
    PromptDraft,
    SystemPrompt,
    TaskShape,
    TaskStability,
    jsonable,
)
from bot.cost import CostReport, Verdict, cost_report, format_ratio, missing_cost_keys
from bot.questions import Question, question

# Thresholds, named as LADDER.md gives them.
FEW_DATA = 200  # D1: below this fine-tuning often makes the model worse (000, 001 FAQ)
LORA_DATA = 500  # D2 / F2: 500+ for LoRA on generation (000, 002 FAQ)
FULL_DATA = 2000  # L1: full fine-tuning needs 2,000+ examples (000 FAQ)
SMALL_GAP = 5.0  # A1: a gap this small is closed by prompt optimizations (003 FAQ)
LARGE_GAP = 15.0  # A1: a gap this large is where fine-tuning may close it (003 FAQ)
LOW_VOLUME = 50_000  # V2: requests a month below which fine-tuning rarely pays (000 FAQ)

OUTCOME_TITLES: dict[Outcome, str] = {
    Outcome.R1_PROMPT: "Rung 1: write a real system prompt",
    Outcome.R2_FEW_SHOT: "Rung 2: add few-shot examples",
    Outcome.R3_RAG: "Rung 3: add retrieval for the knowledge gaps",
    Outcome.R4_LORA: "Rung 4: LoRA / parameter-efficient fine-tuning",
    Outcome.R4_FULL: "Rung 4+: full fine-tuning",
    Outcome.EVAL_FIRST: "Build an eval set and measure the baseline first",
    Outcome.STAY_PROMPTING: "Stay with prompting",
    Outcome.CAPABILITY_GAP: "Capability gap: fine-tuning will not create the skill",
}


class RuleHit(BaseModel):
    """A rule that fired, with the answers that made it fire and what it concluded."""

    model_config = ConfigDict(frozen=True)

    rule: str
    answers: dict[str, Any]
    note: str


class NeedsAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: Question
    hits: tuple[RuleHit, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        q = self.question
        return {
            "status": "needs_answer",
            "question": {
                "key": q.key,
                "text": q.text,
                "help": q.help,
                "kind": q.kind.value,
                "options": [o.value for o in q.options],
                "rule": q.rule,
            },
        }


class Recommendation(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    hits: tuple[RuleHit, ...]
    tracks: tuple[Outcome, ...] = ()
    next_steps: tuple[str, ...] = ()
    cost: CostReport | None = None

    @property
    def title(self) -> str:
        return OUTCOME_TITLES[self.outcome]

    @property
    def rules(self) -> list[str]:
        return list(dict.fromkeys(h.rule for h in self.hits))

    @property
    def reasons(self) -> list[str]:
        return [f"{h.rule}: {h.note}" for h in self.hits]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "status": "recommended",
            "outcome": self.outcome.value,
            "title": self.title,
            "rules": self.rules,
            "reasons": self.reasons,
            "evidence": [h.model_dump(mode="json") for h in self.hits],
            "tracks": [t.value for t in self.tracks],
            "next_steps": list(self.next_steps),
            "cost": None if self.cost is None else self.cost.to_json_dict(),
        }


Step = NeedsAnswer | Recommendation


# -- the walk --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    key: str


@dataclass(frozen=True)
class _Decide:
    outcome: Outcome


_Result = _Ask | _Decide | None


@dataclass
class _Walk:
    answers: Answers
    hits: list[RuleHit] = field(default_factory=list)
    tracks: list[Outcome] = field(default_factory=list)
    cost: CostReport | None = None
    extra_steps: list[str] = field(default_factory=list)

    def fire(self, rule: str, keys: list[str], note: str) -> None:
        self.hits.append(
            RuleHit(rule=rule, answers={k: jsonable(self.answers.get(k)) for k in keys}, note=note)
        )

    def missing(self, *keys: str) -> _Ask | None:
        for key in keys:
            if not self.answers.is_answered(key):
                return _Ask(key)
        return None

    @property
    def modes(self) -> set[FailureMode]:
        return set(self.answers.failure_modes or [])

    @property
    def gap(self) -> float | None:
        a = self.answers
        if a.baseline_accuracy is None or a.target_accuracy is None:
            return None
        return a.target_accuracy - a.baseline_accuracy


def rule_k1(w: _Walk) -> _Result:
    """K1: only `knowledge` -> R3_RAG; knowledge with behaviour modes -> R3_RAG as a parallel
    track (002 "Rung 3", 000 "Middle Ground")."""
    if ask := w.missing("use_case", "failure_modes"):
        return ask
    if FailureMode.KNOWLEDGE not in w.modes:
        return None
    if w.modes == {FailureMode.KNOWLEDGE}:
        w.fire(
            "K1",
            ["failure_modes"],
            "the only gap is knowledge (missing or stale facts): retrieval fixes that, "
            "training does not keep facts current",
        )
        return _Decide(Outcome.R3_RAG)
    w.fire(
        "K1",
        ["failure_modes"],
        "knowledge gaps go to retrieval as a parallel track; the behaviour problems go on "
        "up the ladder",
    )
    w.tracks.append(Outcome.R3_RAG)
    return None


def rule_c1(w: _Walk) -> _Result:
    """C1: `capability` -> CAPABILITY_GAP: fine-tuning amplifies latent skills, rarely creates
    new ones (002 "fundamentally new capability")."""
    if FailureMode.CAPABILITY in w.modes:
        w.fire(
            "C1",
            ["failure_modes"],
            "the base model cannot do the task: fine-tuning sharpens skills a model has, it "
            "rarely creates new ones; try a stronger model, decomposition or chain-of-thought",
        )
        return _Decide(Outcome.CAPABILITY_GAP)
    return None


def rule_p1(w: _Walk) -> _Result:
    """P1: no or a short system prompt -> R1_PROMPT, with the offer to draft (002 "Rung 1")."""
    if ask := w.missing("system_prompt"):
        return ask
    if w.answers.system_prompt in (SystemPrompt.NONE, SystemPrompt.SHORT):
        w.fire(
            "P1",
            ["system_prompt"],
            f"the system prompt today is {w.answers.system_prompt.value}: a real one (role, "
            "task, output format, constraints, tone, edge cases) is the cheapest fix; I can "
            "draft it",
        )
        return _Decide(Outcome.R1_PROMPT)
    return None


def rule_p2(w: _Walk) -> _Result:
    """P2: offer to draft a stronger prompt before any training is discussed."""
    if ask := w.missing("prompt_draft"):
        return ask
    assert w.answers.prompt_draft is not None
    w.fire(
        "P2",
        ["prompt_draft"],
        f"a stronger system prompt was offered and {w.answers.prompt_draft.value}",
    )
    return None


def rule_f1(w: _Walk) -> _Result:
    """F1: few-shot not tried -> R2_FEW_SHOT (002 "Rung 2", 001 workflow step 4)."""
    if ask := w.missing("few_shot"):
        return ask
    if w.answers.few_shot is FewShot.NOT_TRIED:
        w.fire(
            "F1",
            ["few_shot"],
            "few-shot examples are untried: 3-10 worked examples in the prompt often get most "
            "of what fine-tuning would",
        )
        return _Decide(Outcome.R2_FEW_SHOT)
    return None


def rule_s1(w: _Walk) -> _Result:
    """S1: the task is still changing -> STAY_PROMPTING (001, 002)."""
    if ask := w.missing("task_stability"):
        return ask
    if w.answers.task_stability is TaskStability.CHANGING:
        w.fire(
            "S1",
            ["task_stability"],
            "the definition of a good answer is still changing: training locks in today's "
            "definition of correct, prompts can change every hour",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    return None


def rule_f2(w: _Walk) -> _Result:
    """F2: few-shot works -> STAY_PROMPTING, except to shrink prompts at scale (001): cost or
    latency hurts, baseline measured, 500+ examples and a cost ratio of 10 or more -> R4_LORA."""
    if w.answers.few_shot is not FewShot.TRIED_WORKING:
        return None
    keys = ["few_shot", "failure_modes"]
    if FailureMode.COST_LATENCY not in w.modes:
        w.fire("F2", keys, "few-shot prompting works and cost/latency is not a problem")
        return _Decide(Outcome.STAY_PROMPTING)
    if ask := w.missing("eval_set"):
        return ask
    if w.answers.eval_set is not EvalSet.BASELINE:
        w.fire(
            "F2",
            [*keys, "eval_set"],
            "few-shot works; shrinking prompts by training needs a measured baseline first",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    if ask := w.missing("labeled_examples"):
        return ask
    labeled = w.answers.labeled_examples or 0
    if labeled < LORA_DATA:
        w.fire(
            "F2",
            [*keys, "eval_set", "labeled_examples"],
            f"few-shot works; {labeled} examples is under the {LORA_DATA} needed to train the "
            "prompt away",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    result = _run_cost_model(w)
    if result is not None:
        return result
    assert w.cost is not None
    ratio = w.cost.ratio
    if w.cost.verdict is Verdict.FINE_TUNE:
        w.fire(
            "F2",
            [*keys, "eval_set", "labeled_examples", "cost.requests_per_month"],
            f"few-shot works, but prompts are costly at scale: volume is {_x(ratio)} the "
            "break-even, so LoRA can shrink the prompt",
        )
        return _Decide(Outcome.R4_LORA)
    w.fire(
        "F2",
        [*keys, "cost.requests_per_month"],
        "few-shot works and the volume is under 10x the break-even: shrinking the prompt by "
        "training does not pay enough",
    )
    return _Decide(Outcome.STAY_PROMPTING)


def rule_e1(w: _Walk) -> _Result:
    """E1: no eval set or no measured baseline -> EVAL_FIRST (001 steps 2-3, 002)."""
    if ask := w.missing("eval_set"):
        return ask
    if w.answers.eval_set in (EvalSet.NONE, EvalSet.NO_BASELINE):
        detail = "no eval set" if w.answers.eval_set is EvalSet.NONE else "no measured baseline"
        w.fire(
            "E1",
            ["eval_set"],
            f"{detail}: build 50-200 held-out examples and measure the prompt baseline before "
            "any training, or nobody can tell whether training helped",
        )
        return _Decide(Outcome.EVAL_FIRST)
    return None


def rule_d1(w: _Walk) -> _Result:
    """D1: under 200 labeled examples -> R2_FEW_SHOT (000, 001 FAQ)."""
    if ask := w.missing("labeled_examples"):
        return ask
    labeled = w.answers.labeled_examples or 0
    if labeled < FEW_DATA:
        w.fire(
            "D1",
            ["labeled_examples"],
            f"{labeled} labeled examples: below 100 few-shot almost always wins, under "
            f"{FEW_DATA} fine-tuning often makes the model worse; put the best in the prompt",
        )
        return _Decide(Outcome.R2_FEW_SHOT)
    return None


def rule_d2(w: _Walk) -> _Result:
    """D2: 200-499 examples on a generation task -> R2_FEW_SHOT, collect to 500+ (002 FAQ)."""
    labeled = w.answers.labeled_examples or 0
    if labeled >= LORA_DATA:
        return None
    if ask := w.missing("task_shape"):
        return ask
    if w.answers.task_shape is TaskShape.GENERATION:
        w.fire(
            "D2",
            ["labeled_examples", "task_shape"],
            f"{labeled} examples for a generation task: 200-500 is only enough for simple "
            f"classification or extraction; collect to {LORA_DATA}+",
        )
        w.extra_steps.append(f"Collect to {LORA_DATA}+ high-quality examples, then run again.")
        return _Decide(Outcome.R2_FEW_SHOT)
    return None


def rule_a1(w: _Walk) -> _Result:
    """A1: a gap of 5 points or less -> STAY_PROMPTING with prompt optimizations; 15 or more is
    where fine-tuning may close it (003 FAQ)."""
    if ask := w.missing("baseline_accuracy", "target_accuracy"):
        return ask
    gap = w.gap
    assert gap is not None
    keys = ["baseline_accuracy", "target_accuracy"]
    if gap <= SMALL_GAP:
        w.fire(
            "A1",
            keys,
            f"the gap to target is {_pts(gap)}: better examples, output parsing and input "
            "preprocessing close that without training",
        )
        w.extra_steps.append(
            "Optimize the prompt: better examples, output parsing, input preprocessing."
        )
        return _Decide(Outcome.STAY_PROMPTING)
    if gap >= LARGE_GAP:
        w.fire("A1", keys, f"the gap to target is {_pts(gap)}: where fine-tuning may close it")
    return None


def rule_v2(w: _Walk) -> _Result:
    """V2: volume first; under 50,000 requests a month with no other cost inputs given ->
    STAY_PROMPTING without asking them (000 FAQ)."""
    if ask := w.missing("cost.requests_per_month"):
        return ask
    cost = w.answers.cost
    assert cost is not None and cost.requests_per_month is not None
    others = cost.given() - {"requests_per_month"}
    if cost.requests_per_month < LOW_VOLUME and not others:
        w.fire(
            "V2",
            ["cost.requests_per_month"],
            f"{cost.requests_per_month:,} requests a month is under {LOW_VOLUME:,}: at this "
            "volume the training cost rarely pays back",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    return None


def _run_cost_model(w: _Walk) -> _Result:
    """Collect the cost inputs (V2 first) and run the cost model into ``w.cost``."""
    if (result := rule_v2(w)) is not None:
        return result
    if ask := w.missing("model_access"):
        return ask
    self_hosted = w.answers.model_access is ModelAccess.OPEN_WEIGHTS
    if missing := missing_cost_keys(w.answers.cost, self_hosted=self_hosted):
        return _Ask(missing[0])
    assert w.answers.cost is not None
    w.cost = cost_report(w.answers.cost)
    return None


def rule_v1(w: _Walk) -> _Result:
    """V1: ratio = expected volume / break-even. <3 -> STAY_PROMPTING; >=10 supports
    fine-tuning; 3-10 only if latency-critical or the A1 gap is 15+ (001). A tuned call that
    is not cheaper never breaks even: treated as ratio < 3."""
    if (result := _run_cost_model(w)) is not None:
        return result
    report = w.cost
    assert report is not None
    keys = ["cost.requests_per_month", "cost.prompt_tokens", "cost.tuned_prompt_tokens"]
    if report.verdict is Verdict.NEVER_BREAKS_EVEN:
        w.fire(
            "V1",
            keys,
            f"the tuned call costs ${report.per_call_tuned} against ${report.per_call_base} "
            "for the base call: fine-tuning never breaks even (treated as ratio < 3)",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    ratio = report.ratio
    be = _calls(report.break_even_calls)
    if report.verdict is Verdict.STAY_PROMPTING:
        w.fire(
            "V1",
            keys,
            f"expected volume is {_x(ratio)} the break-even of {be} calls: under 3x, stay "
            "with prompts",
        )
        return _Decide(Outcome.STAY_PROMPTING)
    if report.verdict is Verdict.FINE_TUNE:
        w.fire(
            "V1",
            keys,
            f"expected volume is {_x(ratio)} the break-even of {be} calls: 10x or more "
            "supports fine-tuning",
        )
        return None
    gap = w.gap
    if gap is not None and gap >= LARGE_GAP:
        w.fire(
            "V1",
            [*keys, "baseline_accuracy", "target_accuracy"],
            f"expected volume is {_x(ratio)} the break-even of {be} calls (3-10x) and the "
            f"quality gap is {_pts(gap)}: the gap tips it",
        )
        return None
    if ask := w.missing("latency_critical"):
        return ask
    if w.answers.latency_critical:
        low, high = report.latency_saved_ms
        w.fire(
            "V1",
            [*keys, "latency_critical"],
            f"expected volume is {_x(ratio)} the break-even of {be} calls (3-10x) and latency "
            f"is critical: a shorter tuned prompt saves about {low}-{high} ms a call",
        )
        return None
    w.fire(
        "V1",
        [*keys, "latency_critical"],
        f"expected volume is {_x(ratio)} the break-even of {be} calls (3-10x), latency is not "
        "critical and the quality gap is under 15 points: stay with prompts",
    )
    return _Decide(Outcome.STAY_PROMPTING)


def rule_l1(w: _Walk) -> _Result:
    """L1: everything above passed -> R4_LORA; R4_FULL only when LoRA plateaued and there are
    2,000+ examples (001 steps 6-7, 000 FAQ)."""
    labeled = w.answers.labeled_examples or 0
    if labeled >= FULL_DATA:
        if ask := w.missing("lora_tried"):
            return ask
        if w.answers.lora_tried is LoraTried.PLATEAUED:
            w.fire(
                "L1",
                ["lora_tried", "labeled_examples"],
                f"LoRA plateaued and there are {labeled:,} examples (2,000+): full "
                "fine-tuning is the next step, if the math still holds",
            )
            return _Decide(Outcome.R4_FULL)
    w.fire(
        "L1",
        ["labeled_examples"],
        "every cheaper rung has been tried and the numbers hold: start with LoRA, cheap and "
        "reversible, before any full fine-tune",
    )
    return _Decide(Outcome.R4_LORA)


RULES: tuple[Callable[[_Walk], _Result], ...] = (
    rule_k1,
    rule_c1,
    rule_p1,
    rule_p2,
    rule_f1,
    rule_s1,
    rule_f2,
    rule_e1,
    rule_d1,
    rule_d2,
    rule_a1,
    rule_v1,
    rule_l1,
)


def next_step(answers: Answers) -> Step:
    """The next question a rule needs, or the recommendation once a rule decides."""
    w = _Walk(answers)
    for rule in RULES:
        result = rule(w)
        if isinstance(result, _Ask):
            return NeedsAnswer(question=question(result.key), hits=tuple(w.hits))
        if isinstance(result, _Decide):
            return Recommendation(
                outcome=result.outcome,
                hits=tuple(w.hits),
                tracks=tuple(w.tracks),
                next_steps=tuple(_next_steps(result.outcome, w)),
                cost=w.cost,
            )
    raise AssertionError("rule L1 always decides")  # pragma: no cover


# -- next steps: the seven-step workflow of reference 001, cut to where the team stands -----

WORKFLOW: tuple[str, ...] = (
    "Prompt-engineer first: iterate on the system prompt with real examples until you hit a "
    "hard quality ceiling.",
    "Build an eval set: 50-200 held-out examples with known-good outputs.",
    "Measure the prompt baseline: accuracy, latency and cost per call. These are the numbers "
    "to beat.",
    "Try few-shot with up to 10 carefully chosen examples.",
    "Run the break-even math (`ladder cost`); if you are nowhere near break-even volume, stop.",
    "Try LoRA (or a provider's hosted fine-tuning) first: cheap, reversible, comparable quality.",
    "Consider full fine-tuning only if LoRA plateaus, and only if the math still justifies it.",
)

_LAST_STEP: dict[Outcome, int] = {
    Outcome.R1_PROMPT: 3,
    Outcome.R2_FEW_SHOT: 4,
    Outcome.EVAL_FIRST: 3,
    Outcome.STAY_PROMPTING: 3,
    Outcome.R3_RAG: 3,
    Outcome.CAPABILITY_GAP: 3,
    Outcome.R4_LORA: 6,
    Outcome.R4_FULL: 7,
}

_LEAD: dict[Outcome, str] = {
    Outcome.R1_PROMPT: "Write a real system prompt (role, task, output format, constraints, "
    "tone, edge cases); ask me to draft it.",
    Outcome.R2_FEW_SHOT: "Put 3-10 worked input/output examples in the prompt.",
    Outcome.R3_RAG: "Add retrieval over the sources of truth (products, policies, recent "
    "facts) and cite them in the answer.",
    Outcome.EVAL_FIRST: "Build a 50-200 example held-out eval set and score the current prompt "
    "on it.",
    Outcome.STAY_PROMPTING: "Keep prompting; record the reason and revisit if volume or the "
    "task changes.",
    Outcome.CAPABILITY_GAP: "Try a stronger model, decompose the task, or add chain-of-thought "
    "examples.",
    Outcome.R4_LORA: "Start a LoRA run on your eval-gated data set.",
    Outcome.R4_FULL: "Plan a full fine-tune with 2,000+ examples, gated on the eval set.",
}


def _done_steps(a: Answers, cost_ran: bool) -> set[int]:
    done: set[int] = set()
    if a.system_prompt is SystemPrompt.DETAILED or a.prompt_draft is PromptDraft.DRAFTED:
        done.add(1)
    if a.eval_set in (EvalSet.NO_BASELINE, EvalSet.BASELINE):
        done.add(2)
    if a.eval_set is EvalSet.BASELINE:
        done.add(3)
    if a.few_shot in (FewShot.TRIED_FAILING, FewShot.TRIED_WORKING):
        done.add(4)
    if cost_ran:
        done.add(5)
    if a.lora_tried is LoraTried.PLATEAUED:
        done.add(6)
    return done


def _next_steps(outcome: Outcome, w: _Walk) -> list[str]:
    steps = [_LEAD[outcome], *w.extra_steps]
    cost = w.answers.cost
    if w.cost is not None and cost is not None and "one_time_costs" not in cost.given():
        steps.append(
            "The one-time cost above counts training only: add data preparation, evaluation "
            "and engineering time (`ladder cost --one-time-costs`, or `/ladder cost`) before "
            "you commit."
        )
    if Outcome.R3_RAG in w.tracks:
        steps.append("In parallel: add retrieval for the knowledge gaps (rung 3).")
    done = _done_steps(w.answers, w.cost is not None)
    steps += [
        f"Step {i}: {text}"
        for i, text in enumerate(WORKFLOW, start=1)
        if i not in done and i <= _LAST_STEP[outcome]
    ]
    return list(dict.fromkeys(steps))


def _x(ratio: Decimal | None) -> str:
    # No ratio with a cheaper tuned call means nothing to pay back (no one-time cost).
    return "unbounded times" if ratio is None else format_ratio(ratio)


def _pts(gap: float) -> str:
    return f"{gap:g} points"


def _calls(n: Decimal | None) -> str:
    return "n/a" if n is None else f"{int(n):,}"
