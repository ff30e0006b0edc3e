"""What commands print: tables with a header that fit the terminal, or `--json` documents and JSON lines."""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import click

DEFAULT_WIDTH = 80


@dataclass(frozen=True)
class Column:
    """One table column: the header, and how to read its cell from an API object."""

    header: str
    key: str | Callable[[dict[str, Any]], Any]
    time: bool = False  # an ISO 8601 time from the API: shown in the agency's zone
    whole: bool = False  # never cut to fit (ids a person copies into the next command)


def display_width(text: str) -> int:
    """Return how many terminal cells text takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, width: int) -> str:
    """Cut text to at most width cells, marking the cut with an ellipsis."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        cell = display_width(ch)
        if used + cell > width - 1:
            break
        out.append(ch)
        used += cell
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    """Pad text with spaces to width cells."""
    return text + " " * max(0, width - display_width(text))


def local_time(value: Any, zone: ZoneInfo) -> str:
    """Show an API time (ISO 8601 with a zone) in the agency's zone, to the second; other values as they are."""
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


class Output:
    """Prints for people, or for scripts with `--json`: never both, and data always on stdout."""

    def __init__(self, *, json_mode: bool, zone: ZoneInfo, width: int | None = None,
                 stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.zone = zone
        self.width = width or shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        self.stream = stream

    def document(self, value: Any, human: str | Callable[[], None] | None = None) -> None:
        """Print one result: the API's object as one JSON document, or the human line(s)."""
        if self.json_mode:
            self._echo(json.dumps(value, ensure_ascii=False, sort_keys=True))
        elif callable(human):
            human()
        elif human is not None:
            self._echo(human)

    def lines(self, values: Iterable[Any]) -> None:
        """Print a list as JSON lines, one API object a line."""
        for value in values:
            self._echo(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def rows(self, items: Sequence[dict[str, Any]], columns: Sequence[Column], *, empty: str = "") -> None:
        """Print items as JSON lines, or as a table with a header row that fits the terminal's width."""
        if self.json_mode:
            self.lines(items)
            return
        if not items:
            if empty:
                self._echo(empty)
            return
        cells = [[self._cell(item, column) for column in columns] for item in items]
        keep = [column.whole for column in columns]
        for line in self.table([column.header for column in columns], cells, keep=keep):
            self._echo(line)

    def table(self, headers: Sequence[str], cells: Sequence[Sequence[str]],
              keep: Sequence[bool] = ()) -> list[str]:
        """Lay out a table: columns two spaces apart, the widest cut until the table fits (never a kept one)."""
        widths = [max(display_width(value) for value in column) for column in zip(headers, *cells, strict=False)]
        budget = self.width - 2 * (len(widths) - 1)
        cuttable = [i for i in range(len(widths)) if i >= len(keep) or not keep[i]]
        while cuttable and sum(widths) > budget and max(widths[i] for i in cuttable) > 8:
            widest = max(cuttable, key=lambda i: widths[i])
            widths[widest] -= 1
        def line(values: Sequence[str]) -> str:
            parts = [pad(clip(value, width), width) for value, width in zip(values, widths, strict=True)]
            return "  ".join(parts).rstrip()
        return [line(headers), *(line(row) for row in cells)]

    def message(self, text: str) -> None:
        """Print a line for people only (progress, hints); with `--json` it goes to stderr."""
        click.echo(text, err=self.json_mode, file=None if self.json_mode else self.stream)

    def _cell(self, item: dict[str, Any], column: Column) -> str:
        value = column.key(item) if callable(column.key) else item.get(column.key)
        if column.time:
            return local_time(value, self.zone)
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | tuple):
            return ",".join(str(part) for part in value)
        return " ".join(str(value).split())

    def _echo(self, text: str) -> None:
        click.echo(text, file=self.stream)
