"""Rules K1-L1: each firing and not firing at its boundaries; the walk never guesses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.answers import Answers, Outcome
from bot.ladder import NeedsAnswer, Recommendation, next_step

# A team that passes every rule up to the data rules; tests change one thing at a time.
BASE: dict[str, Any] = {
    "use_case": "triage support tickets",
    "failure_modes": ["format"],
    "system_prompt": "detailed",
    "prompt_draft": "declined",
    "few_shot": "tried_failing",
    "task_stability": "stable",
    "eval_set": "baseline",
    "labeled_examples": 1000,
    "task_shape": "generation",
    "baseline_accuracy": 70,
    "target_accuracy": 90,
    "model_access": "hosted_api",
}

# Break-even of exactly 6,250,000 calls: 800 tokens saved at $2/1M = $0.0016 a call against
# $10,000 one-time; horizon of one month so ratio = requests_per_month / 6.25M.
COST: dict[str, Any] = {
    "base_model": "gpt-4o-mini",
    "prompt_tokens": 1000,
    "tuned_prompt_tokens": 200,
    "output_tokens": 0,
    "base_input_per_mtok": "2",
    "base_output_per_mtok": "0",
    "tuned_input_per_mtok": "2",
    "tuned_output_per_mtok": "0",
    "training_examples": 0,
    "tokens_per_example": 0,
    "train_per_mtok": "0",
    "one_time_costs": "10000",
    "horizon_months": 1,
}
BREAK_EVEN = 6_250_000


def step(**changes: Any) -> NeedsAnswer | Recommendation:
    data = {**BASE, **changes}
    return next_step(Answers.model_validate({k: v for k, v in data.items() if v is not None}))


def rec(**changes: Any) -> Recommendation:
    result = step(**changes)
    assert isinstance(result, Recommendation), f"expected a recommendation, got {result}"
    return result


def asks(**changes: Any) -> str:
    result = step(**changes)
    assert isinstance(result, NeedsAnswer), f"expected a question, got {result}"
    return result.question.key


def with_volume(rpm: int, **changes: Any) -> Recommendation:
    return rec(cost={**COST, "requests_per_month": rpm}, **changes)


# -- the walk asks, in order, only what a rule needs ----------------------------------------


def test_empty_answers_ask_the_use_case_then_failure_modes() -> None:
    assert next_step(Answers()).question.key == "use_case"  # type: ignore[union-attr]
    assert next_step(Answers(use_case="x")).question.key == "failure_modes"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "missing",
    ["system_prompt", "prompt_draft", "few_shot", "task_stability", "eval_set", "labeled_examples"],
)
def test_each_missing_answer_is_asked_not_guessed(missing: str) -> None:
    assert asks(**{missing: None}) == missing


# -- K1 ----------------------------------------------------------------------------------------


def test_k1_only_knowledge_is_rag() -> None:
    r = rec(failure_modes=["knowledge"], system_prompt=None)
    assert r.outcome is Outcome.R3_RAG
    assert r.rules == ["K1"]
    assert r.hits[0].answers == {"failure_modes": ["knowledge"]}


def test_k1_knowledge_with_behaviour_adds_a_track_and_goes_on() -> None:
    r = rec(failure_modes=["knowledge", "tone"], few_shot="not_tried")
    assert r.outcome is Outcome.R2_FEW_SHOT
    assert r.tracks == (Outcome.R3_RAG,)
    assert r.rules[0] == "K1"
    assert any("retrieval" in s for s in r.next_steps)


def test_k1_does_not_fire_without_knowledge() -> None:
    r = rec(few_shot="not_tried")
    assert "K1" not in r.rules and r.tracks == ()


# -- C1 ----------------------------------------------------------------------------------------


def test_c1_capability_gap_before_anything_else() -> None:
    r = rec(failure_modes=["capability", "format"], system_prompt="none")
    assert r.outcome is Outcome.CAPABILITY_GAP
    assert r.rules == ["C1"]


# -- P1 / P2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["none", "short"])
def test_p1_weak_prompt_is_rung_one(prompt: str) -> None:
    r = rec(system_prompt=prompt)
    assert r.outcome is Outcome.R1_PROMPT
    assert r.rules == ["P1"]
    assert "draft" in r.next_steps[0]


def test_p1_does_not_fire_on_a_detailed_prompt() -> None:
    assert "P1" not in rec(few_shot="not_tried").rules


def test_p2_offer_is_asked_before_any_later_rule() -> None:
    assert asks(prompt_draft=None) == "prompt_draft"
    # Even with every later answer present, nothing past P2 is given before the offer.
    for key in ("few_shot", "eval_set", "labeled_examples"):
        assert asks(prompt_draft=None, **{key: BASE[key]}) == "prompt_draft"


def test_p2_fires_once_answered() -> None:
    r = rec(prompt_draft="drafted", few_shot="not_tried")
    assert r.rules == ["P2", "F1"]


# -- F1 / S1 / F2 ------------------------------------------------------------------------------


def test_f1_untried_few_shot() -> None:
    assert rec(few_shot="not_tried").outcome is Outcome.R2_FEW_SHOT


def test_s1_changing_task_stays_prompting() -> None:
    r = rec(task_stability="changing")
    assert r.outcome is Outcome.STAY_PROMPTING and r.rules[-1] == "S1"


def test_s1_stable_does_not_fire() -> None:
    assert "S1" not in with_volume(10 * BREAK_EVEN).rules


def test_f2_working_few_shot_without_cost_pain_stays() -> None:
    r = rec(few_shot="tried_working")
    assert r.outcome is Outcome.STAY_PROMPTING and r.rules[-1] == "F2"


def test_f2_exception_asks_cost_inputs_only_then() -> None:
    # Without cost_latency no cost question is ever asked.
    assert rec(few_shot="tried_working").cost is None
    key = asks(few_shot="tried_working", failure_modes=["format", "cost_latency"])
    assert key == "cost.requests_per_month"


@pytest.mark.parametrize(
    ("labeled", "eval_set", "rpm", "outcome"),
    [
        (500, "baseline", 10 * BREAK_EVEN, Outcome.R4_LORA),
        (499, "baseline", 10 * BREAK_EVEN, Outcome.STAY_PROMPTING),
        (500, "no_baseline", 10 * BREAK_EVEN, Outcome.STAY_PROMPTING),
        (500, "baseline", 10 * BREAK_EVEN - 1, Outcome.STAY_PROMPTING),
    ],
)
def test_f2_shrink_prompts_at_scale_boundaries(
    labeled: int, eval_set: str, rpm: int, outcome: Outcome
) -> None:
    r = with_volume(
        rpm,
        few_shot="tried_working",
        failure_modes=["format", "cost_latency"],
        labeled_examples=labeled,
        eval_set=eval_set,
    )
    assert r.outcome is outcome
    assert r.rules[-1] == "F2"


# -- E1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("eval_set", ["none", "no_baseline"])
def test_e1_eval_first(eval_set: str) -> None:
    r = rec(eval_set=eval_set)
    assert r.outcome is Outcome.EVAL_FIRST and r.rules[-1] == "E1"
    assert any("eval set" in s for s in r.next_steps)


# -- D1 / D2 -----------------------------------------------------------------------------------


def test_d1_boundary_199_and_200() -> None:
    assert rec(labeled_examples=199).outcome is Outcome.R2_FEW_SHOT
    assert rec(labeled_examples=199).rules[-1] == "D1"
    r200 = with_volume(
        10 * BREAK_EVEN, labeled_examples=200, task_shape="classification_extraction"
    )
    assert "D1" not in r200.rules and r200.outcome is Outcome.R4_LORA


@pytest.mark.parametrize(
    ("labeled", "shape", "fires"),
    [
        (200, "generation", True),
        (499, "generation", True),
        (500, "generation", False),
        (499, "classification_extraction", False),
    ],
)
def test_d2_generation_needs_500(labeled: int, shape: str, fires: bool) -> None:
    r = rec(labeled_examples=labeled, task_shape=shape, cost={**COST, "requests_per_month": 10**9})
    assert ("D2" in r.rules) is fires
    if fires:
        assert r.outcome is Outcome.R2_FEW_SHOT


def test_d2_asks_task_shape_only_in_its_band() -> None:
    assert asks(labeled_examples=300, task_shape=None) == "task_shape"
    assert asks(labeled_examples=600, task_shape=None) != "task_shape"


# -- A1 ----------------------------------------------------------------------------------------


def test_a1_gap_of_5_stays_and_6_goes_on() -> None:
    r5 = rec(baseline_accuracy=85, target_accuracy=90)
    assert r5.outcome is Outcome.STAY_PROMPTING and r5.rules[-1] == "A1"
    assert any("output parsing" in s for s in r5.next_steps)
    assert asks(baseline_accuracy=84, target_accuracy=90) == "cost.requests_per_month"


def test_a1_large_gap_is_noted() -> None:
    r = with_volume(10 * BREAK_EVEN, baseline_accuracy=70, target_accuracy=85)
    assert "A1" in r.rules


# -- V2 / V1 -----------------------------------------------------------------------------------


def test_v2_low_volume_stays_without_asking_the_rest() -> None:
    r = rec(cost={"requests_per_month": 49_999})
    assert r.outcome is Outcome.STAY_PROMPTING and r.rules[-1] == "V2"
    assert r.cost is None


def test_v2_at_50000_asks_for_the_rest() -> None:
    assert asks(cost={"requests_per_month": 50_000}) == "cost.base_model"


def test_v2_does_not_fire_when_cost_inputs_were_given() -> None:
    r = with_volume(49_999)
    assert "V2" not in r.rules and r.rules[-1] == "V1"


@pytest.mark.parametrize(
    ("rpm", "outcome"),
    [
        (3 * BREAK_EVEN - 1, Outcome.STAY_PROMPTING),  # just under 3x
        (3 * BREAK_EVEN, Outcome.R4_LORA),  # at 3x, gap of 20 points tips it
        (10 * BREAK_EVEN - 1, Outcome.R4_LORA),
        (10 * BREAK_EVEN, Outcome.R4_LORA),
    ],
)
def test_v1_ratio_boundaries_with_large_gap(rpm: int, outcome: Outcome) -> None:
    assert with_volume(rpm).outcome is outcome


def test_v1_in_between_without_gap_asks_latency() -> None:
    changes = {"baseline_accuracy": 80, "target_accuracy": 90}
    data = {**changes, "cost": {**COST, "requests_per_month": 3 * BREAK_EVEN}}
    assert asks(**data) == "latency_critical"
    assert rec(**data, latency_critical=True).outcome is Outcome.R4_LORA
    stay = rec(**data, latency_critical=False)
    assert stay.outcome is Outcome.STAY_PROMPTING and stay.rules[-1] == "V1"
    # At 10x the latency question is not needed.
    assert with_volume(10 * BREAK_EVEN, **changes).outcome is Outcome.R4_LORA


def test_v1_never_breaks_even_when_tuned_call_is_not_cheaper() -> None:
    cost = {**COST, "tuned_prompt_tokens": 1000, "requests_per_month": 10**9}
    r = rec(cost=cost)
    assert r.outcome is Outcome.STAY_PROMPTING
    assert "never breaks even" in r.reasons[-1]
    assert r.cost is not None and r.cost.ratio is None


def test_v1_self_hosted_asks_gpu_hours() -> None:
    cost = {k: v for k, v in COST.items() if k not in ("training_examples", "tokens_per_example")}
    cost.pop("train_per_mtok")
    assert (
        asks(model_access="open_weights", cost={**cost, "requests_per_month": 10**8})
        == "cost.gpu_hours"
    )


# -- L1 ----------------------------------------------------------------------------------------


def test_l1_lora_first() -> None:
    r = with_volume(10 * BREAK_EVEN, labeled_examples=1999)
    assert r.outcome is Outcome.R4_LORA and r.rules[-1] == "L1"
    assert any("LoRA" in s for s in r.next_steps)


def test_l1_full_only_after_plateau_with_2000() -> None:
    assert asks(labeled_examples=2000, cost={**COST, "requests_per_month": 10**9}) == "lora_tried"
    full = with_volume(10 * BREAK_EVEN, labeled_examples=2000, lora_tried="plateaued")
    assert full.outcome is Outcome.R4_FULL
    lora = with_volume(10 * BREAK_EVEN, labeled_examples=2000, lora_tried="not_tried")
    assert lora.outcome is Outcome.R4_LORA


def test_recommendation_json_shape() -> None:
    r = with_volume(10 * BREAK_EVEN)
    data = r.to_json_dict()
    assert data["status"] == "recommended"
    assert data["outcome"] == "R4_LORA"
    assert data["rules"] == ["P2", "A1", "V1", "L1"]
    assert all(reason.split(":")[0] in data["rules"] for reason in data["reasons"])
    assert data["cost"]["ratio"] is not None
    assert isinstance(data["next_steps"], list) and data["next_steps"]


# -- the answers model -------------------------------------------------------------------------


def test_unknown_keys_and_bad_values_are_rejected_naming_the_key() -> None:
    from bot.answers import describe_validation_error

    cases = {
        "colour": "blue",
        "labeled_examples": -1,
        "baseline_accuracy": 101,
        "few_shot": "maybe",
    }
    for key, value in cases.items():
        with pytest.raises(ValidationError) as err:
            Answers.model_validate({key: value})
        assert describe_validation_error(err.value).startswith(f"{key}:")
    with pytest.raises(ValidationError) as err:
        Answers.model_validate({"cost": {"epochs": 0}})
    assert describe_validation_error(err.value).startswith("cost.epochs:")


def test_answers_flat_round_trip_keeps_given_distinct_from_default() -> None:
    a = Answers.model_validate({**BASE, "cost": {"requests_per_month": 5, "epochs": 3}})
    flat = a.to_flat()
    assert flat["cost.epochs"] == 3 and "cost.horizon_months" not in flat
    assert Answers.from_flat(flat) == a
    changed = a.with_answer("cost.requests_per_month", 7)
    assert changed.get("cost.requests_per_month") == 7
    assert a.with_answer("few_shot", None).few_shot is None


def test_next_steps_warn_when_one_time_costs_were_not_given() -> None:
    without = {k: v for k, v in COST.items() if k != "one_time_costs"}
    r = rec(cost={**without, "requests_per_month": 10**9})
    assert any("one-time cost above counts training only" in s for s in r.next_steps)
    given = with_volume(10 * BREAK_EVEN)
    assert not any("counts training only" in s for s in given.next_steps)
