"""Tables for a terminal of any width, with no number ever cut.

A table is laid out for the width it is given, in the first of these that fits, leaving out as
few columns as it can (in the order the caller names them, the least needed first):

- flat: one line per row, every cell whole (as in a CI log, where a line can be grepped);
- grouped: the first column (a task id, a domain, a tag) as a heading over its rows, which then
  drop that column and gain its width;
- stacked: when not even the columns that must stay fit, one block per row: its text cells on
  one line, then `name value` pairs wrapped to the width.

A row may carry a note (a failure's reason), printed whole under it, wrapped to the width. The
caller says which columns were left out (`Layout.dropped`) and where to find them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len
from rich.text import Text

__all__ = ["GAP", "INDENT", "Column", "Layout", "Row", "choose_layout", "render"]

GAP = 2
"""Spaces between two columns."""
INDENT = 2
"""Spaces before the rows under a heading, and before a row's note."""


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = True
    """Right-aligned, and in a stacked layout shown as `name value`."""


@dataclass
class Row:
    cells: list[str]
    style: str | None = None
    """A rich style for the whole row (say "red" for a failed run)."""
    note: str = ""
    """A line under the row, never cut: wrapped to the width."""


@dataclass
class Layout:
    kind: Literal["flat", "grouped", "stacked"]
    keep: list[int]
    """The indices of the columns shown, in order."""
    dropped: list[str] = field(default_factory=lambda: [])
    """The names of the columns left out to fit the width."""


def _widths(columns: Sequence[Column], rows: Sequence[Row]) -> list[int]:
    return [max([cell_len(c.name), *(cell_len(r.cells[i]) for r in rows)]) for i, c in enumerate(columns)]


def _line_width(widths: list[int], keep: Sequence[int]) -> int:
    return sum(widths[i] for i in keep) + GAP * max(len(keep) - 1, 0)


def choose_layout(
    columns: Sequence[Column],
    rows: Sequence[Row],
    width: int,
    droppable: Sequence[str] = (),
    *,
    group: bool = False,
) -> Layout:
    """The layout for `width` that leaves out the fewest of `droppable` (in its order), flat before
    grouped (with `group`: the first column may become a heading); stacked when nothing fits."""
    widths = _widths(columns, rows)
    names = [c.name for c in columns]
    steps: list[list[str]] = [[], *(list(droppable[: k + 1]) for k in range(len(droppable)))]
    for step in steps:
        dropped = [d for d in step if d in names]
        keep = [i for i, name in enumerate(names) if name not in dropped]
        if _line_width(widths, keep) <= width:
            return Layout("flat", keep, dropped)
        if group and len(keep) > 1:
            heading = max((cell_len(r.cells[0]) for r in rows), default=0)
            if heading <= width and INDENT + _line_width(widths, keep[1:]) <= width:
                return Layout("grouped", keep, dropped)
    return Layout("stacked", list(range(len(columns))))


def _cells(columns: Sequence[Column], widths: list[int], cells: Sequence[str], keep: Sequence[int]) -> str:
    out: list[str] = []
    for i in keep:
        pad = " " * (widths[i] - cell_len(cells[i]))
        out.append(pad + cells[i] if columns[i].numeric else cells[i] + pad)
    return (" " * GAP).join(out).rstrip()


def _wrapped(text: str, width: int, indent: int) -> list[str]:
    """`text` wrapped to `width` after `indent` spaces; long words are split, never dropped."""
    room = max(width - indent, 1)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, room, break_long_words=True, break_on_hyphens=False) or [""]
    return [" " * indent + line for line in lines]


def render(
    columns: Sequence[Column], rows: Sequence[Row], width: int, layout: Layout, *, note_prefix: str = "↳ "
) -> list[Text]:
    """The lines of the table in `layout`: a header, a rule, then the rows (each with its note)."""
    widths = _widths(columns, rows)
    lines: list[Text] = []
    if layout.kind == "stacked":
        for row in rows:
            # the first text cell (a task id) on a line of its own, then the other text cells and
            # `name value` pairs as many to a line as fit
            text_cells = [row.cells[i] for i, c in enumerate(columns) if not c.numeric and row.cells[i]]
            first, others = (text_cells[0], text_cells[1:]) if text_cells else ("", [])
            lines += [Text(line, style=row.style or "bold") for line in _wrapped(first, width, 0)]
            pairs = [f"{c.name} {row.cells[i]}" for i, c in enumerate(columns) if c.numeric]
            items = ["  ".join(others), *pairs] if others else pairs
            lines += [Text(line, style=row.style or "") for line in _pairs(items, width, INDENT)]
            if row.note:
                lines += [
                    Text(line, style=row.style or "")
                    for line in _wrapped(note_prefix + row.note, width, INDENT)
                ]
        return lines

    grouped = layout.kind == "grouped"
    keep = layout.keep[1:] if grouped else layout.keep
    indent = INDENT if grouped else 0
    if grouped:
        lines.append(Text(columns[0].name, style="bold"))  # the headings' column, over the others
    header = " " * indent + _cells(columns, widths, [c.name for c in columns], keep)
    lines.append(Text(header, style="bold"))
    lines.append(Text(" " * indent + "─" * _line_width(widths, keep)))
    heading: str | None = None
    for row in rows:
        if grouped and row.cells[0] != heading:
            heading = row.cells[0]
            lines.append(Text(heading, style="bold"))
        lines.append(Text(" " * indent + _cells(columns, widths, row.cells, keep), style=row.style or ""))
        if row.note:
            note_lines = _wrapped(note_prefix + row.note, width, indent + INDENT)
            lines += [Text(line, style=row.style or "") for line in note_lines]
    return lines


def _pairs(pairs: list[str], width: int, indent: int) -> list[str]:
    """`name value` pairs, as many on a line as fit `width` after `indent`, three spaces apart."""
    lines: list[str] = []
    current = ""
    for pair in pairs:
        candidate = f"{current}   {pair}" if current else pair
        if current and indent + cell_len(candidate) > width:
            lines.append(" " * indent + current)
            current = pair
        else:
            current = candidate
    if current:
        lines.append(" " * indent + current)
    return lines
