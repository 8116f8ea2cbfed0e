"""The cells and tables every report view is made of, and how values become their text.

Plain text only (each renderer escapes for its own format); every view module builds on these, so
none of them imports another in a circle.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MISSING = "—"
TEXT_LIMIT = 200  # texts longer than this are shortened (with an ellipsis) in tables
FULL_TEXT_LIMIT = 1000  # the most of one text a report holds (the HTML title of a shortened cell)
ANNOTATED_CLASSES = 30  # up to this many classes the confusion-matrix figure writes each cell's value
ROW_LIMIT = 100  # rows of a list from the document (examples, suspects, bins, duplicates) in a table
LISTED_CLASSES = 50  # past this many classes, tables show CLASS_SAMPLE most and least frequent classes
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # line breaks and other control characters


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    best: bool = False
    full: str | None = None  # the longer text (up to FULL_TEXT_LIMIT), when ``text`` was shortened
    link: str | None = None  # an anchor of this report (``pair-1``, ``performance``) the cell links to


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    kind: str = ""  # what the table holds, e.g. "leaderboard" (an HTML class)
    note: str | None = None  # shown under the table: what was left out, what a dash means


def fmt(value, spec: str) -> str:
    """``value`` formatted by ``spec``; a whole float takes an integer spec (JSON numbers may be either)."""
    if value is None:
        return MISSING
    if spec.endswith("d") and isinstance(value, float) and value.is_integer():
        value = int(value)
    return format(value, spec)


def one_line(text) -> str:
    """The text on one line (line breaks and control characters become a space), at most
    :data:`FULL_TEXT_LIMIT` characters: a longer one ends with an ellipsis."""
    text = str(text)
    line = _BREAKS.sub(" ", text[:FULL_TEXT_LIMIT])
    if len(text) > FULL_TEXT_LIMIT:
        return line[: FULL_TEXT_LIMIT - 1].rstrip() + "…"
    return line


def title(checkpoint: str, approach: str) -> str:
    """How a pair is named in every table: ``checkpoint · approach id``."""
    return one_line(f"{checkpoint} · {approach}")


def shortened(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def text_cell(text) -> Cell:
    """A text, on one line, shortened with an ellipsis past :data:`TEXT_LIMIT` characters."""
    line = one_line(text)
    if len(line) <= TEXT_LIMIT:
        return Cell(line)
    return Cell(shortened(line, TEXT_LIMIT), full=line)


def plain(value) -> Cell:
    return Cell(MISSING) if value is None else text_cell(value)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def interval(bounds, spec: str = ".3f") -> str:
    """``[low, high]`` of a confidence interval; a dash without one."""
    return MISSING if not bounds else f"[{format(bounds[0], spec)}, {format(bounds[1], spec)}]"


def num(value, spec: str, best: bool = False) -> Cell:
    """A number right-aligned; a value that is no number (a free-form field) is shown as text."""
    if value is None:
        return Cell(MISSING, numeric=True)
    if not is_number(value) or spec.endswith("d") and isinstance(value, float) and not value.is_integer():
        return plain(value)
    return Cell(fmt(value, spec), numeric=True, best=best)
