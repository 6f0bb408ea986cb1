"""What every ``ladder`` command shares: how a bad value is reported."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail(message: str, code: int = 2, *, prefix: str = "error: ") -> NoReturn:
    """One line on stderr saying which value is wrong and why, then exit (2: bad input or
    configuration; 1: trouble elsewhere). Plain ``print``: never wrapped to the terminal."""
    print(f"{prefix}{message}", file=sys.stderr)
    raise typer.Exit(code)
