"""``ladder review`` in a terminal: the same questions and rules as the Slack thread, saved to
the same database."""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import Answers, Outcome, SystemPrompt
from bot.errors import InvalidInput, LadderError
from bot.ladder import NeedsAnswer, Recommendation
from bot.parse import parse_answer
from bot.settings import load_settings
from store import repository as repo
from store.db import (
    ensure_sqlite_schema,
    head_revision,
    is_sqlite,
    make_engine,
    make_session_factory,
    schema_revision,
    session_scope,
)
from store.models import DecisionKind, ReviewSource
from store.workflow import Progress, decide, start_review, submit_answer


class _Quit(Exception):
    pass


def _ask(console: Console, prompt: str) -> str:
    try:
        return console.input(prompt)
    except EOFError:
        raise _Quit from None


def run_terminal_review(answers: Answers, *, team_id: str, owner_id: str, console: Console) -> int:
    """Walk the ladder interactively; every answer is committed as it is given. Returns the
    review id."""
    from bot.cli import render_recommendation

    settings = load_settings()
    url = settings.database_url
    if is_sqlite(url):
        ensure_sqlite_schema(url)
    engine = make_engine(url)
    if schema_revision(engine) != head_revision():
        raise InvalidInput("DATABASE_URL: the schema is not up to date; run `ladder db upgrade`")
    factory = make_session_factory(engine)

    title = answers.use_case
    while not title:
        try:
            title = _ask(console, "[bold]What is the model for?[/bold] (one line) > ").strip()
        except _Quit:
            console.print("No review started.")
            return 0
    with session_scope(factory) as session:
        progress = start_review(
            session, team_id=team_id, owner_id=owner_id, title=title, source=ReviewSource.CLI
        )
        review_id = progress.review.id
        for key, value in answers.to_flat().items():
            if key != "use_case":
                progress = submit_answer(
                    session, review=progress.review, key=key, value=value, by=owner_id
                )
    console.print(f"Review #{review_id} started: [bold]{title}[/bold] (saved as you go)\n")

    step = progress.step
    try:
        while True:
            step = _walk(console, factory, team_id, review_id, owner_id, step)
            render_recommendation(step, console)
            if step.outcome is not Outcome.R1_PROMPT:
                break
            # Rung 1 is the one teams skip: offer the draft right here.
            if not _ask(console, "Draft a stronger prompt now? [y/N] > ").lower().startswith("y"):
                break
            adopted = _offer_draft(console, factory, team_id, review_id, owner_id)
            if adopted is None:
                break
            step = adopted.step
    except _Quit:
        console.print(f"\nStopped. Review #{review_id} is saved with the answers so far.")
        return review_id
    _decide(console, factory, team_id, review_id, owner_id)
    return review_id


def _walk(
    console: Console,
    factory: sessionmaker[Session],
    team_id: str,
    review_id: int,
    owner_id: str,
    step: NeedsAnswer | Recommendation,
) -> Recommendation:
    """Ask questions until a rule decides; every answer is committed as it is given."""
    from bot.cli import describe_question

    while isinstance(step, NeedsAnswer):
        q = step.question
        console.print(describe_question(q))
        if q.key == "prompt_draft":
            console.print("[dim]Type 'draft' to draft a stronger prompt now.[/dim]")
        raw = _ask(console, "> ")
        if q.key == "prompt_draft" and raw.strip().lower() in ("draft", "d"):
            adopted = _offer_draft(console, factory, team_id, review_id, owner_id)
            step = adopted.step if adopted is not None else step
            console.print()
            continue
        try:
            value = parse_answer(q, raw)
            with session_scope(factory) as session:
                step = _answer(session, team_id, review_id, q.key, value, owner_id).step
        except LadderError as exc:
            console.print(f"[red]{exc.user_message}[/red] (earlier answers are kept)")
        console.print()
    return step


def _answer(
    session: Session, team_id: str, review_id: int, key: str, value: Any, by: str
) -> Progress:
    review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
    assert review is not None
    return submit_answer(session, review=review, key=key, value=value, by=by)


def _decide(
    console: Console, factory: sessionmaker[Session], team_id: str, review_id: int, owner_id: str
) -> None:
    while True:
        try:
            choice = (
                _ask(
                    console,
                    "Decide: \\[a]ccept, \\[o]verride, \\[p]ark, or Enter to decide later > ",
                )
                .strip()
                .lower()
            )
        except _Quit:
            choice = ""
        if not choice:
            console.print(f"Review #{review_id} saved; the decision is pending.")
            return
        details: dict[str, Any] = {}
        kind = {
            "a": DecisionKind.ACCEPTED,
            "o": DecisionKind.OVERRIDDEN,
            "p": DecisionKind.PARKED,
        }.get(choice[0])
        if kind is None:
            console.print("[red]Type a, o, p or press Enter.[/red]")
            continue
        try:
            if kind is DecisionKind.OVERRIDDEN:
                details["chosen_outcome"] = _ask(
                    console, "Outcome instead (e.g. R2_FEW_SHOT) > "
                ).strip()
                details["reason"] = _ask(console, "Why? > ").strip()
            if kind is DecisionKind.PARKED:
                raw = _ask(console, "Follow up on (YYYY-MM-DD) > ").strip()
                try:
                    details["follow_up_on"] = date.fromisoformat(raw)
                except ValueError:
                    raise InvalidInput(
                        f"follow_up_on: {raw!r} is not a date like 2026-12-31"
                    ) from None
            with session_scope(factory) as session:
                review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
                assert review is not None
                decide(
                    session, review=review, kind=kind, by=owner_id, approvers=frozenset(), **details
                )
        except _Quit:
            return
        except LadderError as exc:
            console.print(f"[red]{exc.user_message}[/red]")
            continue
        console.print(f"Review #{review_id}: {kind.value}. Saved.")
        return


def _offer_draft(
    console: Console,
    factory: sessionmaker[Session],
    team_id: str,
    review_id: int,
    owner_id: str,
) -> Progress | None:
    """Rung 1 in a terminal: draft a stronger system prompt (with LADDER_DRAFT_MODEL when
    OPENAI_API_KEY is set, from a template otherwise), store the attempt, and on "yes" adopt
    it as the baseline: P2 answered "drafted" and a weak system prompt becomes "detailed"."""
    from pathlib import Path

    from bot.cli_draft import read_text, show_draft
    from bot.drafter import DraftFailed, DraftRequest, draft_prompt
    from bot.tokens import short_method_name
    from store.models import DraftSource, DraftStatus

    settings = load_settings()
    with session_scope(factory) as session:
        answers = Answers.from_flat(
            repo.current_answers(session=session, team_id=team_id, review_id=review_id)
        )
    try:
        raw = _ask(console, "Your current system prompt file (Enter for none) > ").strip()
        current = read_text(Path(raw).expanduser(), "prompt file") if raw else None
        request = DraftRequest(
            task=answers.use_case or "",
            current_prompt=current,
            failure_modes=[m.value for m in answers.failure_modes or []],
        )
    except LadderError as exc:
        console.print(f"[red]{exc.user_message}[/red]")
        return None
    with console.status("Drafting…"):
        try:
            result = draft_prompt(request, settings)
        except DraftFailed as exc:
            failure: DraftFailed | None = exc
        else:
            failure = None
    with session_scope(factory) as session:
        review = repo.get_review(session=session, team_id=team_id, review_id=review_id)
        if failure is not None:
            repo.add_draft(
                session=session,
                team_id=team_id,
                review=review,
                source=DraftSource.LLM,
                inputs=request.model_dump(mode="json"),
                created_by=owner_id,
                status=DraftStatus.FAILED,
                model=failure.model,
                error=failure.user_message,
                latency_ms=failure.latency_ms,
            )
        else:
            repo.add_draft(
                session=session,
                team_id=team_id,
                review=review,
                source=DraftSource(result.source),
                inputs=request.model_dump(mode="json"),
                created_by=owner_id,
                model=result.model,
                result=result.model_dump(mode="json", exclude={"prompt"}),
                prompt_text=result.prompt,
                tokens_before=result.tokens_before,
                tokens_after=result.tokens_after,
                token_method=short_method_name(result.token_method),
                latency_ms=result.latency_ms,
                cost_usd=result.cost_usd,
            )
    if failure is not None:
        console.print(f"[red]{failure.user_message}[/red] Nothing in the review changed.")
        return None
    show_draft(result, console)
    out = Path("system-prompt.md")
    out.write_text(result.prompt, encoding="utf-8")
    console.print(f"Saved to {out.resolve()}")
    try:
        use = _ask(console, "Use it as your baseline? [y/N] > ").strip().lower()
    except _Quit:
        use = ""
    if not use.startswith("y"):
        return None
    with session_scope(factory) as session:
        progress = _answer(session, team_id, review_id, "prompt_draft", "drafted", owner_id)
        if progress.answers.system_prompt in (SystemPrompt.NONE, SystemPrompt.SHORT):
            progress = _answer(session, team_id, review_id, "system_prompt", "detailed", owner_id)
    return progress
