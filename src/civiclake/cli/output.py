"""Console output shared by the commands: errors, sizes, durations, tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console


def console(stderr: bool = False, *, wide_when_piped: bool = False) -> Console:
    """A Rich console; piped output of tables can be as wide as the table needs."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if wide_when_piped and not con.is_terminal:
        con = Console(stderr=stderr, highlight=False, soft_wrap=False, width=10_000)
    return con


def print_error(exc: BaseException) -> None:
    from rich.markup import escape

    from civiclake.config.secrets import REDACTOR

    console(stderr=True).print(f"[bold red]error:[/] {escape(REDACTOR(str(exc)))}")


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def arrow_table(table: pa.Table, *, title: str | None = None, max_rows: int = 50) -> Any:
    """A Rich table of the first ``max_rows`` rows of an Arrow table."""
    from rich.table import Table

    out = Table(title=title, show_lines=False)
    for field in table.schema:
        out.add_column(f"{field.name}\n[dim]{short_type(field.type)}[/]", overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*("[dim]NULL[/]" if v is None else str(v) for v in row.values()))
    if table.num_rows > max_rows:
        out.caption = f"{max_rows} of {table.num_rows:,} rows shown"
    else:
        out.caption = plural(table.num_rows, "row")
    return out


def short_type(arrow_type: object) -> str:
    """``decimal128(12, 2)`` → ``decimal(12,2)``, ``timestamp[us, tz=UTC]`` → ``timestamp``."""
    text = str(arrow_type)
    if text.startswith("decimal"):
        return "decimal" + text[text.index("(") :].replace(" ", "")
    if text.startswith("timestamp"):
        return "timestamptz" if "tz=" in text else "timestamp"
    return {"large_string": "string", "date32[day]": "date"}.get(text, text)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")
