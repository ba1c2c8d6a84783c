"""Batches in chat: a script file holding several scripts, read into one script per video.

A ``.txt`` with a line that is exactly ``---`` (spaces around it allowed) holds a script
between each such line; a ``.csv`` holds one script per row, ``script[,title]``, under an
optional header row that names its columns (``script``, and ``title`` if it has one). A
``.txt`` without such a line is one script, as it always was.

Pure: no I/O, no limits of the service's. The service checks each script as chat checks one
(:func:`bot.conversation.flow.measure_script`, the blocklist) and names the one it refuses by
its number, counted as the person counts them: blank stretches between separators are not
scripts and are not counted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from bot.contract import texts

__all__ = ["Piece", "BatchError", "SEPARATOR", "MAX_TITLE_CHARS", "is_csv", "read_scripts"]

#: the line between two scripts of a .txt batch
SEPARATOR = "---"
#: characters of one script's title (a .csv's title column)
MAX_TITLE_CHARS = 100
_CSV_MIME = ("text/csv", "text/comma-separated-values")
_COLUMNS = ("script", "title")


@dataclass(frozen=True)
class Piece:
    """One script of a file, as written (the service collapses its whitespace), and its
    title ("" for none)."""

    script: str
    title: str = ""


class BatchError(ValueError):
    """A script file that cannot be read as scripts; ``reason`` is the one line to say."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_csv(filename: str, mime: str) -> bool:
    """Whether a script file is a .csv, as its sender declared it (type, else name)."""
    return mime.lower().startswith(_CSV_MIME) or filename.lower().endswith(".csv")


def read_scripts(text: str, *, csv_file: bool, most: int) -> list[Piece]:
    """The scripts of a script file, in order: one for a .txt without a separator line (its
    whole text, unchanged), else one per script. Raises :class:`BatchError` for a file with
    no script, more than ``most`` (counted before any is checked: a long file costs
    nothing more), or a .csv that cannot be read."""
    rows = _csv_rows(text) if csv_file else None
    if rows is not None:
        header = _header(rows[0]) if rows else None
        data = rows[1:] if header is not None else rows
    else:
        data = [[chunk] for chunk in _chunks(text)]
        header = None
    if not data:
        raise BatchError(texts.BATCH_NO_SCRIPTS)
    if len(data) > max(1, most):
        raise BatchError(texts.BATCH_TOO_MANY.format(count=len(data), limit=max(1, most)))
    if rows is None:
        return [Piece(cells[0]) for cells in data]
    return [_piece(cells, number, header) for number, cells in enumerate(data, start=1)]


def _chunks(text: str) -> list[str]:
    """A .txt's scripts: the stretches between separator lines that are not blank; the
    whole text when it has no separator line."""
    lines = text.splitlines()
    if not any(line.strip() == SEPARATOR for line in lines):
        return [text]
    chunks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == SEPARATOR:
            chunks.append([])
        else:
            chunks[-1].append(line)
    return ["\n".join(c) for c in chunks if "".join(c).strip()]


def _csv_rows(text: str) -> list[list[str]]:
    """A .csv's rows that are not blank, each cell stripped, empty cells at the end dropped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote: said
    rows: list[list[str]] = []
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                rows.append(cells)
    except csv.Error as e:
        raise BatchError(texts.BATCH_CSV_UNREADABLE.format(line=reader.line_num)) from e
    return rows


def _header(first: list[str]) -> tuple[str, ...] | None:
    """The columns a header row names (None: the first row is a script); a header naming
    anything but one script and one title column is refused."""
    names = tuple(c.lower() for c in first)
    if "script" not in names:
        return None
    if any(n not in _COLUMNS for n in names) or len(set(names)) != len(names):
        raise BatchError(texts.BATCH_CSV_HEADER.format(columns=", ".join(first)))
    return names


def _piece(cells: list[str], number: int, header: tuple[str, ...] | None) -> Piece:
    columns = header or _COLUMNS
    if len(cells) > len(columns):
        reason = texts.BATCH_CSV_COLUMNS.format(count=len(cells))
        raise BatchError(texts.BATCH_SCRIPT.format(number=number, reason=reason))
    row = dict(zip(columns, cells, strict=False))
    title = " ".join(row.get("title", "").split())
    if len(title) > MAX_TITLE_CHARS:
        reason = texts.BATCH_TITLE_TOO_LONG.format(chars=len(title), limit=MAX_TITLE_CHARS)
        raise BatchError(texts.BATCH_SCRIPT.format(number=number, reason=reason))
    return Piece(row.get("script", ""), title)
