"""The screen contract: plate-map columns, roles, well positions and plate shapes.

Every module that reads a plate map, a field table or a well name takes these from here, so
the rules cannot drift apart (docs/plate-map.md is the user's side of the same contract).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Plate-map columns carried by every field, well and score table.
MAP_COLUMNS = ["patient", "compound", "concentration_um", "role"]
#: What identifies one imaged field, one site over time and one well at one timepoint.
FIELD_KEYS = ["plate", "well", "site", "timepoint"]
SITE_KEYS = ["plate", "well", "site"]
WELL_KEYS = ["plate", "well", "timepoint"]
#: The leading columns of ``fields.parquet``, in order (docs/outputs.md); per-field
#: measurements, QC figures and the plate-map columns follow.
FIELD_COLUMNS = [*FIELD_KEYS, "day", "n_neurons", "neurite_length_um", "n_nuclei", "qc_pass", "status", "error"]
#: Roles a plate map may give a well, and the words read as one of them.
ROLES = ("vehicle", "positive_control", "treatment", "empty")
ROLE_SYNONYMS = {"negative_control": "vehicle"}
#: Vendor layouts a plate folder may have (the config's ``plates[].format``; besides them a
#: ``{pattern: REGEX}``). Each has a parser in :data:`screening.io.discovery.PARSERS`.
VENDOR_FORMATS = ("imagexpress", "operetta", "cellvoyager", "incucyte")
#: Standard plate formats, (rows, columns), 6 to 1536 wells.
PLATE_SHAPES = ((2, 3), (3, 4), (4, 6), (6, 8), (8, 12), (16, 24), (32, 48))
#: Median absolute deviation -> standard deviation of normal data.
MAD_TO_SD = 1.4826

_WELL_POSITION = re.compile(r"\s*([A-Za-z]{1,2})0*(\d+)\s*")


def is_vehicle(role: pd.Series, baseline_role: str = "vehicle") -> pd.Series:
    """Rows whose plate-map role is the baseline (a synonym of vehicle counts as vehicle)."""
    roles = {baseline_role}
    if baseline_role == "vehicle":
        roles.update(k for k, v in ROLE_SYNONYMS.items() if v == "vehicle")
    return role.isin(roles)


def usable_fields(fields: pd.DataFrame) -> pd.Series:
    """Fields whose figures may be used: measured, passed field QC, not flagged, counted.

    Parameters
    ----------
    fields : DataFrame
        With ``qc_pass``; ``status``, ``flagged`` and ``n_neurons`` when present (a missing
        ``flagged`` or ``qc_pass`` value counts as not flagged and not passed).

    Returns
    -------
    Series of bool, aligned with ``fields``.
    """
    ok = fields["qc_pass"].fillna(False).astype(bool)
    if "status" in fields:
        ok &= fields["status"].eq("ok")
    if "flagged" in fields:
        ok &= ~fields["flagged"].fillna(False).astype(bool)
    if "n_neurons" in fields:
        ok &= fields["n_neurons"].notna()
    return ok


def positive_control_compounds(table: pd.DataFrame, configured: str | None = None) -> set[str]:
    """Compounds that are a positive control: any with that role in ``table``, and ``configured``
    (``scoring.positive_control``, which makes a compound one wherever it is not vehicle)."""
    names = set(table.loc[table["role"].eq("positive_control"), "compound"].dropna().astype(str)) \
        if "role" in table else set()
    return names | ({configured} if configured else set())


def well_position(well: str) -> tuple[int, int]:
    """Zero-based (row, column) of an ``A01``/``A1``/``AA01`` well name; (-1, -1) if it is none."""
    m = _WELL_POSITION.fullmatch(str(well))
    if not m:
        return -1, -1
    row = 0
    for ch in m.group(1).upper():
        row = row * 26 + (ord(ch) - 64)
    return row - 1, int(m.group(2)) - 1


def plate_shape(wells) -> tuple[int, int]:
    """(rows, columns) of the smallest standard plate holding ``wells`` (well names)."""
    pos = np.array([well_position(w) for w in wells]).reshape(-1, 2)
    pos = pos[pos[:, 0] >= 0]
    if len(pos) == 0:
        return 1, 1
    need_r, need_c = int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1
    for shape in PLATE_SHAPES:
        if need_r <= shape[0] and need_c <= shape[1]:
            return shape
    return need_r, need_c
