"""Known answers for robust Z', SSMD, median polish and the plate QC table."""

import numpy as np
import pandas as pd
import pytest

from screening.plate import plate_shape, well_position
from screening.score.plate_qc import (
    median_polish,
    plate_qc,
    robust_z_prime,
    ssmd,
)


def test_robust_z_prime_and_ssmd_by_hand():
    pos, neg = [0.8, 0.9, 1.0], [0.4, 0.5, 0.6]
    s = 1.4826 * 0.1
    assert robust_z_prime(pos, neg) == pytest.approx(1 - 3 * 2 * s / 0.4)
    assert ssmd(pos, neg) == pytest.approx(0.4 / np.hypot(s, s))
    assert np.isnan(robust_z_prime([0.9], neg))


def test_median_polish_recovers_additive_effects():
    rows, cols = np.array([0.0, 1.0, 5.0]), np.array([0.0, 2.0, 3.0])
    overall, r, c, resid = median_polish(10 + np.add.outer(rows, cols))
    assert overall + np.median(r) + np.median(c) == pytest.approx(13)
    assert r - r[1] == pytest.approx(rows - rows[1])
    assert c - c[1] == pytest.approx(cols - cols[1])
    assert np.abs(resid).max() == pytest.approx(0)


def test_well_position():
    assert well_position("A01") == (0, 0)
    assert well_position("h12") == (7, 11)
    assert well_position("B3") == (1, 2)
    assert well_position("junk") == (-1, -1)
    assert well_position("AA01") == (26, 0)


def test_plate_shape_is_the_smallest_standard_plate():
    assert plate_shape(["A01", "B03"]) == (2, 3)
    assert plate_shape(["A01", "H12"]) == (8, 12)
    assert plate_shape(["P24"]) == (16, 24)
    assert plate_shape(["I01"]) == (16, 24)  # row 9 does not fit a 96-well plate
    assert plate_shape(["junk"]) == (1, 1)


def plate_fields(survival_by_well, roles, *, n0=100):
    rows = []
    for (well, surv), role in zip(survival_by_well.items(), roles):
        for t, day, n in ((1, 0.0, n0), (2, 7.0, round(n0 * surv))):
            rows.append(dict(plate="P", well=well, site=1, timepoint=t, day=day, n_neurons=n, qc_pass=True,
                             status="ok", flagged=False, patient="X", compound="c", concentration_um=1.0, role=role))
    return pd.DataFrame(rows)


def test_plate_qc_edge_effect_and_missing_positive_control():
    # 96-well plate: vehicle on the edge survive 0.3, inside 0.6; no positive control.
    wells = {"A01": 0.3, "A05": 0.3, "H12": 0.3, "D01": 0.3, "C04": 0.6, "D05": 0.6, "E06": 0.6, "F07": 0.6}
    qc = plate_qc(plate_fields(wells, ["vehicle"] * 8), max_position_effect=0.3)
    row = qc.iloc[0]
    assert list(qc.columns[:6]) == ["plate", "patient", "z_prime", "ssmd", "vehicle_survival_end", "pass"]
    assert np.isnan(row["z_prime"]) and "no positive control" in row["note"]
    assert row["edge_effect"] == pytest.approx((0.3 - 0.6) / 0.45)
    assert not row["pass"] and "edge effect" in row["note"]


def test_defocused_end_field_does_not_lower_survival():
    wells = {"B02": 0.5, "B03": 0.5, "C02": 0.9, "C03": 0.9}
    f = plate_fields(wells, ["vehicle", "vehicle", "positive_control", "positive_control"])
    extra = f[f["well"] == "B02"].assign(site=2)
    extra.loc[extra["timepoint"] == 2, ["n_neurons", "qc_pass"]] = [0, False]  # defocused: reads 0
    qc = plate_qc(pd.concat([f, extra], ignore_index=True), min_ssmd=None)
    assert qc["vehicle_survival_end"].iloc[0] == pytest.approx(0.5)
    assert qc["pass"].iloc[0]
