"""Well names: ``A1`` and ``A01`` are the same well."""

from __future__ import annotations

import re

from screening.plate import well_position

_WELL = re.compile(r"^\s*([A-Za-z]{1,2})0*(\d{1,2})\s*$")


def normalize_well(name: str) -> str:
    """Return the zero-padded well name (``a1`` -> ``A01``, ``P24`` -> ``P24``).

    Raises
    ------
    ValueError
        When ``name`` is not a row letter (or two) followed by a column number.
    """
    match = _WELL.match(str(name))
    if not match or int(match.group(2)) == 0:
        raise ValueError(f"{name!r} is not a well name like A01 or B7")
    return f"{match.group(1).upper()}{int(match.group(2)):02d}"


def well_row_col(well: str) -> tuple[int, int]:
    """Zero-based (row, column) of a normalized well (``B03`` -> ``(1, 2)``)."""
    return well_position(well)
