"""The ``ladder`` command line: the review in a terminal, the cost model, drafting, the bot."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bot.answers import Answers, describe_validation_error
from bot.cli_common import fail
from bot.errors import LadderError
from bot.ladder import Recommendation, next_step
from bot.questions import Kind, Question

app = typer.Typer(
    help=(
        "ladder-bot: before you fine-tune an LLM, climb the ladder: a real system prompt, "
        "few-shot examples, retrieval, and only then LoRA, with the break-even numbers.\n\n"
        "Start with `ladder review` for a guided review in this terminal, or `ladder cost "
        "--help` for the break-even model alone."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)


def _load_answers(path: Path) -> Answers:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"--answers: {path}: no such file")
    except json.JSONDecodeError as exc:
        fail(f"--answers: {path}: not valid JSON ({exc.msg} at line {exc.lineno})")
    if not isinstance(raw, dict):
        fail(f"--answers: {path}: expected a JSON object of answers")
    try:
        return Answers.model_validate(raw)
    except ValidationError as exc:
        fail(f"--answers: {describe_validation_error(exc)}")


@app.command()
def review(
    answers_file: Annotated[
        Path | None,
        typer.Option("--answers", help="JSON file of answers (the keys of LADDER.md)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the next question or the result as JSON.")
    ] = False,
    team: Annotated[str, typer.Option(help="Team id the review is saved under.")] = "local",
    owner: Annotated[str | None, typer.Option(help="Who owns the review (default: you).")] = None,
) -> None:
    """Walk the ladder in this terminal, one question at a time, and save the review.

    With --answers FILE --json: evaluate the answers without asking anything and print the
    next question or the recommendation as JSON (nothing is saved).
    """
    answers = _load_answers(answers_file) if answers_file else Answers()
    if json_out:
        if answers_file is None:
            fail("--json: needs --answers FILE (the interactive review cannot print JSON)")
        try:
            result = next_step(answers)
        except LadderError as exc:
            fail(exc.user_message)
        print(json.dumps(result.to_json_dict(), indent=2))
        return
    from bot.terminal import run_terminal_review

    try:
        run_terminal_review(answers, team_id=team, owner_id=owner or getpass.getuser(), console=out)
    except LadderError as exc:
        fail(exc.user_message)


def _register_commands() -> None:
    from bot.cli_cost import cost_command
    from bot.cli_digest import digest_app
    from bot.cli_draft import draft_command
    from bot.cli_serve import serve_command

    app.command("serve", help=serve_command.__doc__)(serve_command)
    app.command("cost", help=cost_command.__doc__)(cost_command)
    app.command("draft", help=draft_command.__doc__)(draft_command)
    app.add_typer(digest_app, name="digest")


_register_commands()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the database migrations to DATABASE_URL."""
    from bot.settings import load_settings
    from store.db import upgrade

    try:
        settings = load_settings()
    except LadderError as exc:
        fail(exc.user_message)
    upgrade(settings.database_url, revision)
    out.print(f"database at revision {revision}: {_redact(settings.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<database>"


def render_recommendation(rec: Recommendation, console: Console) -> None:
    """The recommendation as a table: outcome, reasons with rule ids, cost, next steps."""
    table = Table(
        title=f"Recommendation: {rec.title}",
        show_lines=True,
        show_header=False,
        title_justify="left",
    )
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("")
    table.add_row("Outcome", f"{rec.outcome.value}: {rec.title}")
    table.add_row("Why", "\n".join(rec.reasons))
    if rec.tracks:
        table.add_row("Parallel", ", ".join(t.value for t in rec.tracks))
    table.add_row("Next", "\n".join(f"- {s}" for s in rec.next_steps))
    console.print(table)
    if rec.cost is not None:
        from bot.cli_cost import render_cost_report

        render_cost_report(rec.cost, console)


def describe_question(q: Question) -> str:
    lines = [f"[bold]{q.text}[/bold]", f"[dim]{q.help}[/dim]"]
    if q.kind in (Kind.CHOICE, Kind.MULTI):
        lines += [f"  {i}. {o.label} [dim]({o.value})[/dim]" for i, o in enumerate(q.options, 1)]
        if q.kind is Kind.MULTI:
            lines.append("[dim]  several: separate with commas, e.g. 1, 4[/dim]")
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Typer's (vendored click) usage errors: a missing or unknown option, a value of the
        # wrong type. One line, like every other bad input, instead of a framed box.
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(exit_code, int):
            raise
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        if text := str(message()).strip():  # empty after `ladder digest` printed its help
            print(f"error: {text}{where}", file=sys.stderr)
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)
