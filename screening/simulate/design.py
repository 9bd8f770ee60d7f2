"""Plate maps of a simulated screen: which arm goes in which well."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from screening.simulate.presets import VEHICLE, Design

LAYOUT_COLUMNS = ["well", "patient", "compound", "concentration_um", "role"]


def well_name(row: int, col: int) -> str:
    """``A01``-style name of a 0-based (row, col)."""
    return f"{string.ascii_uppercase[row]}{col + 1:02d}"


def arms(design: Design, patient: str) -> list[dict]:
    """One dict per well of a patient: compound, concentration_um, role, true_hr, neurite_factor."""
    rows = [
        dict(compound=VEHICLE, concentration_um=0.0, role="vehicle", true_hr=1.0, neurite_factor=1.0)
    ] * design.vehicle_wells
    pc = design.positive_control
    for compound, role in [(pc, "positive_control")] + [(c, "treatment") for c in design.compounds]:
        for conc in compound.concentrations_um:
            arm = dict(
                compound=compound.name,
                concentration_um=float(conc),
                role=role,
                true_hr=compound.hazard_ratio(conc, patient),
                neurite_factor=compound.neurite_factor(conc, patient),
            )
            rows += [arm] * design.replicate_wells
    return rows


def plate_layouts(design: Design, rng: np.random.Generator) -> pd.DataFrame:
    """The plate maps of every plate, one row per well of each plate (unused wells ``empty``).

    Arms are placed at random over the usable wells of their plate (randomised layout, so
    edge and position effects act as noise rather than bias). Columns: ``plate``, the
    layout columns, ``true_hr``, ``neurite_factor``, ``edge`` (outer-ring well), ``row``, ``col``.
    """
    nr, nc = design.plate_rows, design.plate_cols
    all_wells = [(r, c) for r in range(nr) for c in range(nc)]
    is_edge = {(r, c): r in (0, nr - 1) or c in (0, nc - 1) for r, c in all_wells}
    usable = [rc for rc in all_wells if design.edge_wells or not is_edge[rc]]
    patients = [p.id for p in design.patients]
    per_plate = design.patients_per_plate
    frames = []
    for index, start in enumerate(range(0, len(patients), per_plate)):
        plate = f"PLATE{index + 1:02d}"
        wells = [dict(arm, patient=p) for p in patients[start : start + per_plate] for arm in arms(design, p)]
        if len(wells) > len(usable):
            raise ValueError(f"{plate}: {len(wells)} wells needed but the plate has {len(usable)} usable")
        order = rng.permutation(len(usable))[: len(wells)]
        placed = {usable[i]: w for i, w in zip(order, wells, strict=True)}
        empty = dict(patient="", compound="", concentration_um=0.0, role="empty", true_hr=np.nan,
                     neurite_factor=np.nan)
        for r, c in all_wells:
            row = dict(placed.get((r, c), empty), plate=plate, well=well_name(r, c), row=r, col=c,
                       edge=is_edge[(r, c)])
            frames.append(row)
    columns = ["plate", *LAYOUT_COLUMNS, "true_hr", "neurite_factor", "edge", "row", "col"]
    return pd.DataFrame(frames)[columns]
