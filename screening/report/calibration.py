"""The report's calibration section: what each plate's own images decided (``calibration.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from screening.report.markup import Cell, esc, integer, note, num, section, table

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
    "n_fields": "Fields",
    "n_nuclei": "Nuclei sized",
    "source": "Decided from",
}
_TEXT = {"plate", "source"}


def calibration_section(run_dir: str | Path) -> str:
    """The "Calibration" section: one row per plate of ``calibration.csv``, or a note without it."""
    path = Path(run_dir) / CALIBRATION_FILE
    intro = (
        "Sizes and the reporter cut-off each plate's own first-timepoint images decided (the config's "
        "values are the priors; see docs/measurements.md). The reporter cut-off lies halfway (in log) "
        "between the plate's reporter-negative and -positive nuclei; “per field” means the sample showed "
        "one population and each field decides alone."
    )
    if not path.is_file():
        return section("calibration", "Calibration", note(
            f"<code>{CALIBRATION_FILE}</code> is absent (a run made before plates were calibrated).", "warn"))
    try:
        cal = pd.read_csv(path, dtype={"plate": str})
    except (OSError, ValueError) as exc:
        return section("calibration", "Calibration", note(f"<code>{CALIBRATION_FILE}</code> unreadable: {esc(exc)}",
                                                          "warn"))
    columns = [c for c in COLUMNS if c in cal]
    rows = [[_cell(c, r[c]) for c in columns] for r in cal.to_dict("records")]
    body = f"<p>{intro}</p>" + table([COLUMNS[c] for c in columns], rows, table_id="calibration-table",
                                     numeric=[c not in _TEXT for c in columns])
    return section("calibration", "Calibration", body)


def _cell(column: str, value) -> Cell:
    if column in _TEXT:
        return Cell(esc(value))
    if column in ("n_fields", "n_nuclei"):
        return Cell(integer(value))
    if column == "reporter_cutoff" and not np.isfinite(float(value)):
        return Cell("per field")
    return Cell(num(value, 1))
