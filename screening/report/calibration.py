"""The report's calibration section: what each plate's own images decided (``calibration.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from screening.report.markup import Cell, Table, integer, num, render, text

CALIBRATION_FILE = "calibration.csv"
# Column -> header; shown in this order when present.
COLUMNS = {
    "plate": "Plate",
    "nucleus_diameter_um": "Nucleus Ø (µm)",
    "nucleus_area_um2": "Median nucleus area (µm²)",
    "soma_diameter_um": "Soma Ø (µm)",
    "background_radius_um": "Background radius (µm)",
    "min_soma_area_um2": "Min. soma area (µm²)",
    "reporter_cutoff": "Reporter cut-off (ADU)",
    "reporter_negative_level": "Negative level (ADU)",
    "reporter_hole_share": "Nuclei darker than their cell",
    "n_fields": "Fields",
    "n_nuclei": "Nuclei sized",
    "source": "Decided from",
}
_TEXT = {"plate", "source"}


def calibration_section(run_dir: str | Path) -> str:
    """The "Calibration" section: one row per plate of ``calibration.csv``, or a note without it."""
    path = Path(run_dir) / CALIBRATION_FILE
    values = {"file": CALIBRATION_FILE, "absent": not path.is_file(), "unreadable": None}
    if values["absent"]:
        return render("calibration.html", **values)
    try:
        cal = pd.read_csv(path, dtype={"plate": str})
    except (OSError, ValueError) as exc:
        return render("calibration.html", **{**values, "unreadable": str(exc)})
    columns = [c for c in COLUMNS if c in cal]
    rows = [[_cell(c, r[c]) for c in columns] for r in cal.to_dict("records")]
    return render("calibration.html", **values, table=Table([COLUMNS[c] for c in columns], rows,
                                                             id="calibration-table",
                                                             numeric=[c not in _TEXT for c in columns]))


def _cell(column: str, value) -> Cell:
    if column in _TEXT:
        return Cell(text(value))
    if column in ("n_fields", "n_nuclei"):
        return Cell(integer(value))
    if column in ("reporter_cutoff", "reporter_hole_share") and not np.isfinite(float(value)):
        return Cell("per field")
    return Cell(num(value, 2 if column == "reporter_hole_share" else 1))
