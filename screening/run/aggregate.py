"""Per-well figures from per-field measurements (``wells.parquet``).

Well totals are for display and the endpoint tables: they sum the fields that
passed QC and were not flagged at that timepoint. Survival is *not* computed from
these totals (see :mod:`screening.score`): two timepoints of one well may sum
different sets of fields.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screening.plate import MAP_COLUMNS, WELL_KEYS, usable_fields


def aggregate_wells(fields: pd.DataFrame) -> pd.DataFrame:
    """Sum usable fields per plate × well × timepoint.

    Parameters
    ----------
    fields : DataFrame
        One row per field with ``plate, well, site, timepoint, day, n_neurons,
        neurite_length_um, qc_pass, status`` and the plate-map columns
        ``patient, compound, concentration_um, role``; ``flagged`` optional.

    Returns
    -------
    DataFrame
        One row per plate × well × timepoint with ``day``, the plate-map columns,
        ``n_neurons``, ``neurite_length_um`` (µm: all neurite in the fields),
        ``neurite_assigned_um`` (µm: the part reached from counted somata),
        ``neurite_length_per_neuron_um`` (assigned µm per neuron; NaN without neurons),
        ``n_fields`` (usable fields summed) and ``qc_pass`` (at least one usable field).

    Notes
    -----
    Fields tables made before ``neurite_assigned_um`` existed (``neurite_length_um`` was
    then the somata's part and the unassigned pieces inside the field) divide that instead.
    """
    assigned = fields["neurite_assigned_um"] if "neurite_assigned_um" in fields else fields["neurite_length_um"]
    data = fields.assign(_usable=usable_fields(fields), _assigned=assigned)
    usable = data[data["_usable"]]
    base = data.groupby(WELL_KEYS, sort=True, observed=True).agg(
        day=("day", "first"), **{c: (c, "first") for c in MAP_COLUMNS}
    )
    sums = usable.groupby(WELL_KEYS, sort=True, observed=True).agg(
        n_neurons=("n_neurons", "sum"),
        neurite_length_um=("neurite_length_um", "sum"),
        neurite_assigned_um=("_assigned", "sum"),
        n_fields=("site", "count"),
    )
    wells = base.join(sums, how="left").reset_index()
    wells["n_fields"] = wells["n_fields"].fillna(0).astype(int)
    empty = wells["n_fields"] == 0
    wells.loc[empty, ["n_neurons", "neurite_length_um", "neurite_assigned_um"]] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        per_neuron = wells["neurite_assigned_um"] / wells["n_neurons"]
    wells["neurite_length_per_neuron_um"] = per_neuron.where(wells["n_neurons"] > 0)
    wells["qc_pass"] = ~empty
    wells["n_neurons"] = wells["n_neurons"].astype("Int64")  # NA: no usable field
    return wells[
        WELL_KEYS[:2] + ["timepoint", "day"] + MAP_COLUMNS
        + ["n_neurons", "neurite_length_um", "neurite_assigned_um", "neurite_length_per_neuron_um", "n_fields",
           "qc_pass"]
    ]
