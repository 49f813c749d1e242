"""What every command shares: the consoles, one clear error line with exit code 2, progress bars."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gridflex.errors import GridflexError

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def clear_errors(fn: F) -> F:
    """Turn gridflex and file errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (GridflexError, OSError) as exc:
            msg = str(exc).replace("\n", " ")
            err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _progress(out: Console = console) -> Progress:
    """A progress display on ``out`` (stdout by default; ``err`` keeps stdout for the results)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),  # "3/10", or "3/?" while the total is unknown (never "None")
        TimeElapsedColumn(),
        console=out,
        transient=False,
    )
