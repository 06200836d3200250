"""Console output shared by all commands: rich tables that stay readable when piped to a file."""

from __future__ import annotations

import sys
from typing import Iterable, Sequence


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI logs, `| tee`) would otherwise be squeezed to 80 columns.
    return Console(file=stream, width=None if stream.isatty() else 160)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], stderr: bool = False) -> None:
    from rich.table import Table

    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(x) for x in row))
    console(stderr).print(table)
