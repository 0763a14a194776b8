"""What every ``sleeplm`` command shares: the consoles, a clear error exit, a table."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def fail(exc: Exception, code: int = 2) -> None:
    """Print ``exc`` as an error (no traceback) and exit with ``code``."""
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes its text
    err_console.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def table(columns: list[str], rows: list[Any], title: str | None = None) -> None:
    t = Table(*columns, title=title)
    for r in rows:
        t.add_row(*["" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r])
    console.print(t)
