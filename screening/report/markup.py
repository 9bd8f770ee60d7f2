"""Number formats, table data and the templates that turn them into HTML.

Python chooses and formats what the report says (plain text: these formatters
and :class:`Table`); the Jinja2 templates in ``templates/`` hold every tag.
Autoescape is on, so plain text is always escaped. Tables are plain HTML,
already sorted, so they read without JavaScript; a ``sortable`` table carries a
``data-sort`` value in every cell, which the tiny inline script (``sort.js``)
uses when a header is clicked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jinja2
from markupsafe import Markup

DASH = "–"


def text(value) -> str:
    """Plain text of any value (None and NaN become an en dash)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return str(value)


def _finite(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(value, digits: int = 2) -> str:
    """A number with ``digits`` significant-looking decimals; NaN/None/inf as a dash."""
    x = _finite(value)
    if x is None:
        return DASH
    if x != 0 and abs(x) < 10 ** -digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def pval(value) -> str:
    """p or q value: 3 decimals, scientific below 0.001."""
    x = _finite(value)
    if x is None:
        return DASH
    return f"{x:.1e}" if x < 0.001 else f"{x:.3f}"


def integer(value) -> str:
    x = _finite(value)
    return DASH if x is None else f"{int(round(x)):d}"


def conc(value) -> str:
    """Concentration in µM without trailing zeros."""
    x = _finite(value)
    return DASH if x is None else f"{x:g}"


def pct(value) -> str:
    x = _finite(value)
    return DASH if x is None else f"{100 * x:.0f}%"


def ci(low, high, digits: int = 2) -> str:
    if _finite(low) is None and _finite(high) is None:
        return DASH
    return f"{num(low, digits)}–{num(high, digits)}"


def sort_key(value) -> str | None:
    """The ``data-sort`` value of a number (None for NaN and text: sorted last)."""
    x = _finite(value)
    return repr(x) if x is not None else None


@dataclass
class Cell:
    """One table cell: shown text, a sort key, and an optional class."""

    text: str
    sort: str | None = None
    cls: str = ""


@dataclass
class Table:
    """A table as data: header texts, rows of cells (plain text) and how it is shown.

    ``numeric`` right-aligns columns; ``row_classes`` colours rows (``hit``,
    ``harm``, ``fail``); ``caption`` is plain text.
    """

    headers: Sequence[str]
    rows: list[list[Cell | str]]
    id: str | None = None
    sortable: bool = False
    caption: str = ""
    row_classes: Sequence[str] | None = None
    numeric: Sequence[bool] | None = None
    cells: list[tuple[str, list[Cell]]] = field(init=False)

    def __post_init__(self):
        self.numeric = list(self.numeric) if self.numeric is not None else [False] * len(self.headers)
        classes = self.row_classes or [""] * len(self.rows)
        self.cells = [(cls, [c if isinstance(c, Cell) else Cell(c) for c in row])
                      for cls, row in zip(classes, self.rows, strict=True)]


@dataclass
class Missing:
    """Tables a part of the report needs and lacks (empty: present but unreadable)."""

    files: list[str]


def _escape(value):
    # The standard library's escaping (what the report always wrote): ' becomes &#x27;.
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("screening.report", "templates"),
    autoescape=True,
    finalize=_escape,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **values) -> Markup:
    """``templates/<template>`` filled with ``values`` (plain data; text is escaped)."""
    return Markup(ENV.get_template(template).render(**values))


def svg(markup: str) -> Markup:
    """An SVG drawn by :mod:`.figures`, marked as HTML to insert as it is."""
    return Markup(markup)
