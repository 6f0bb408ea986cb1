"""``ladder draft``: draft a stronger system prompt in the terminal (rung 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from bot.cli_common import fail
from bot.cost import format_dollars
from bot.drafter import DraftFailed, DraftRequest, DraftResult, draft_prompt
from bot.errors import InvalidInput, LadderError
from bot.settings import load_settings


def draft_command(
    task: Annotated[str, typer.Option("--task", help="What the model is for, in a sentence.")],
    prompt_file: Annotated[
        Path | None,
        typer.Option("--prompt-file", help="The system prompt you run today (text file)."),
    ] = None,
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples",
            help='JSONL file, one {"input": ..., "output": ...} per line (at most 5).',
        ),
    ] = None,
    failure_mode: Annotated[
        list[str] | None,
        typer.Option(
            "--failure-mode",
            help="What goes wrong (format, tone, jargon, knowledge, capability, cost_latency, "
            "or your own words); repeatable.",
        ),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--output-format", help="The output format you need.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Draft a stronger system prompt: with LADDER_DRAFT_MODEL when OPENAI_API_KEY is set,
    from a template otherwise."""
    try:
        settings = load_settings()
        req = DraftRequest(
            task=task,
            current_prompt=_read_prompt(prompt_file) if prompt_file else None,
            failure_modes=failure_mode or [],
            examples=_read_examples(examples) if examples else [],
            output_format=output_format,
        )
    except InvalidInput as exc:
        fail(exc.user_message, code=2)
    try:
        result = draft_prompt(req, settings)
    except DraftFailed as exc:
        fail(exc.user_message, code=1, prefix="")
    except LadderError as exc:
        fail(exc.user_message, code=2)
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        show_draft(result, Console())


def _read_prompt(path: Path) -> str:
    return read_text(path, "--prompt-file")


def _read_examples(path: Path) -> list[dict[str, Any]]:
    """Examples from JSONL: one ``{"input": ..., "output": ...}`` object a line, blanks skipped."""
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(read_text(path, "--examples").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"--examples: {path} line {n}: not valid JSON ({exc.msg})", field="examples"
            ) from None
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("input"), str)
            or not isinstance(obj.get("output"), str)
        ):
            raise InvalidInput(
                f'--examples: {path} line {n}: expected {{"input": "...", "output": "..."}}',
                field="examples",
            )
        rows.append({"input": obj["input"], "ideal_output": obj["output"]})
    return rows


def read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{option}: {path}: no such file", field=option) from None
    except IsADirectoryError:
        raise InvalidInput(f"{option}: {path}: is a directory", field=option) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{option}: {path}: not UTF-8 text", field=option) from None
    except OSError as exc:
        raise InvalidInput(f"{option}: {path}: {exc.strerror}", field=option) from None


def show_draft(result: DraftResult, console: Console) -> None:
    """A draft in the terminal: the prompt (copyable), changes, open questions, tokens."""
    console.print(Rule(Text(result.label)))
    # soft_wrap: the prompt is meant to be copied, so rich must not insert line breaks.
    console.print(result.prompt, markup=False, highlight=False, soft_wrap=True, end="")
    console.print(Rule())
    console.print("[bold]Changes[/bold]")
    for change in result.draft.changes:
        console.print(f"- {change.what}", markup=False, highlight=False)
        console.print(Text(f"  why: {change.why}", style="dim"))
    if result.draft.open_questions:
        console.print("[bold]Open questions[/bold]")
        for question in result.draft.open_questions:
            console.print(f"- {question}", markup=False, highlight=False)
    console.print(
        Text("Tokens ", style="bold"),
        Text(
            f"{result.tokens_before:,} before -> {result.tokens_after:,} after "
            f"(counted with {result.token_method})"
        ),
        sep="",
    )
    if result.source == "llm":
        cost = format_dollars(result.cost_usd) if result.cost_usd is not None else "cost unknown"
        usage = (
            f"{result.usage.prompt_tokens:,} in, {result.usage.completion_tokens:,} out"
            if result.usage
            else "usage not reported"
        )
        console.print(
            Text("Drafting call ", style="bold"),
            Text(f"{result.model}: {result.latency_ms:,} ms, {usage}, {cost}"),
            sep="",
        )
