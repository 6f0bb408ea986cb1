"""The ``ladder`` command through a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

LADDER = shutil.which("ladder") or str(Path(sys.executable).with_name("ladder"))


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    full_env.update(env or {})
    return subprocess.run(
        [LADDER, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=cwd,
    )


def answers_file(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_help_explains_the_tool() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("review", "cost", "draft", "db", "serve", "digest"):
        assert command in result.stdout
    assert "fine-tune" in result.stdout


def test_review_json_needs_answer(tmp_path: Path) -> None:
    result = run("review", "--answers", answers_file(tmp_path, {"use_case": "x"}), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "needs_answer"
    assert out["question"]["key"] == "failure_modes" and out["question"]["text"]


def test_review_json_recommends(tmp_path: Path) -> None:
    data = {
        "use_case": "support replies in our brand voice",
        "failure_modes": ["tone"],
        "system_prompt": "detailed",
        "prompt_draft": "drafted",
        "few_shot": "not_tried",
    }
    result = run("review", "--answers", answers_file(tmp_path, data), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "recommended"
    assert out["outcome"] == "R2_FEW_SHOT"
    assert out["rules"] == ["P2", "F1"]
    assert out["cost"] is None and out["next_steps"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"colour": "blue"}, "colour: unknown key"),
        ({"labeled_examples": -3}, "labeled_examples:"),
        ({"few_shot": "maybe"}, "few_shot:"),
        ({"cost": {"epochs": 0}}, "cost.epochs:"),
    ],
)
def test_review_bad_answers_exit_2_with_one_line(
    tmp_path: Path, data: dict[str, Any], says: str
) -> None:
    result = run("review", "--answers", answers_file(tmp_path, data), "--json")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_review_missing_file_and_bad_json(tmp_path: Path) -> None:
    missing = run("review", "--answers", str(tmp_path / "nope.json"), "--json")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("review", "--answers", str(bad), "--json")
    assert result.returncode == 2 and "not valid JSON" in result.stderr


def test_cost_reproduces_the_worked_example_from_flags() -> None:
    result = run(
        "cost",
        "--json",
        "--requests-per-month",
        "1000000",
        "--base-model",
        "any-model",
        "--prompt-tokens",
        "800",
        "--tuned-prompt-tokens",
        "0",
        "--output-tokens",
        "0",
        "--base-input-per-mtok",
        "2",
        "--base-output-per-mtok",
        "0",
        "--tuned-input-per-mtok",
        "2",
        "--tuned-output-per-mtok",
        "0",
        "--training-examples",
        "0",
        "--tokens-per-example",
        "0",
        "--train-per-mtok",
        "0",
        "--one-time-costs",
        "10000",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["monthly_savings"] == "1600"
    assert report["payback_months"] == "6.25"


def test_cost_bad_input_exit_2() -> None:
    result = run("cost", "--json", "--requests-per-month", "-5")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_terminal_review_end_to_end_is_saved(tmp_path: Path) -> None:
    db = tmp_path / "ladder.db"
    typed = "\n".join(
        [
            "classify support tickets",  # use case
            "1, 2",  # format, tone
            "3",  # detailed prompt
            "declined",
            "tried_failing",
            "lots",  # a wrong answer: the question is asked again
            "1",  # settled
            "3",  # baseline measured
            "150",  # labeled examples -> D1: R2_FEW_SHOT
            "a",  # accept
        ]
    )
    result = run(
        "review",
        "--owner",
        "alice",
        stdin=typed + "\n",
        env={"DATABASE_URL": f"sqlite:///{db}"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "R2_FEW_SHOT" in result.stdout
    assert "is not one of" in result.stdout  # the wrong answer was explained
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        review = conn.execute(text("SELECT title, status, owner_id, outcome FROM reviews")).one()
        answers = conn.execute(text("SELECT count(*) FROM answers")).scalar()
        decision = conn.execute(text("SELECT kind, chosen_outcome FROM decisions")).one()
    assert review == ("classify support tickets", "accepted", "alice", "R2_FEW_SHOT")
    assert answers == 8
    assert decision == ("accepted", "R2_FEW_SHOT")


def test_db_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = run("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{db}"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert {"reviews", "answers", "recommendations", "decisions", "audit_log"} <= tables


def test_terminal_review_drafts_a_prompt_and_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "ladder.db"
    (tmp_path / "current.txt").write_text("You answer support tickets. Be nice.\n")
    typed = "\n".join(
        [
            "answer support tickets",  # use case
            "1",  # format
            "2",  # a short prompt -> R1_PROMPT
            "y",  # draft a stronger prompt now
            str(tmp_path / "current.txt"),
            "y",  # use it as the baseline: the review goes on from P2
            "1",  # few-shot not tried -> R2_FEW_SHOT
            "",  # decide later
        ]
    )
    result = run(
        "review",
        "--owner",
        "bob",
        stdin=typed + "\n",
        env={"DATABASE_URL": f"sqlite:///{db}"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Template draft" in result.stdout  # no OPENAI_API_KEY: labelled as such
    assert "You answer support tickets. Be nice." in (tmp_path / "system-prompt.md").read_text()
    assert "R2_FEW_SHOT" in result.stdout
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        draft = conn.execute(
            text("SELECT source, status, tokens_before, tokens_after, version FROM drafts")
        ).one()
        answers = dict(
            conn.execute(
                text(
                    "SELECT key, value FROM answers WHERE key IN ('prompt_draft', 'system_prompt') "
                    "ORDER BY id"
                )
            ).all()
        )
        outcome = conn.execute(text("SELECT outcome, status FROM reviews")).one()
    assert draft[:2] == ("template", "ok") and draft[2] < draft[3] and draft[4] == 1
    assert answers == {"system_prompt": '"detailed"', "prompt_draft": '"drafted"'}
    assert outcome == ("R2_FEW_SHOT", "recommended")
