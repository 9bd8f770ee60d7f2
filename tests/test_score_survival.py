"""Known answers for the survival intervals, the grouped-time PH fit and CR2."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from screening.score.clustered import cr2_covariance
from screening.score.intervals import rise_flags, site_intervals
from screening.score.survival import fit_patient

DAYS = (0.0, 2.0, 4.0, 7.0)


def series(counts, *, plate="P1", well="A01", site=1, patient="X", compound="DMSO", conc=0.0,
           role="vehicle", qc=None, flagged=None):
    """Rows of one site's series with counts per timepoint."""
    n = len(counts)
    qc = [True] * n if qc is None else qc
    flagged = [False] * n if flagged is None else flagged
    return pd.DataFrame({
        "plate": plate, "well": well, "site": site, "timepoint": np.arange(1, n + 1),
        "day": DAYS[:n], "n_neurons": counts, "qc_pass": qc, "status": "ok", "flagged": flagged,
        "patient": patient, "compound": compound, "concentration_um": conc, "role": role,
    })


def exponential_counts(n0, hazard_per_day):
    return [round(n0 * np.exp(-hazard_per_day * d)) for d in DAYS]


def test_intervals_are_drops_from_each_site_series():
    out = site_intervals(series([100, 90, 70, 70]))
    assert out["at_risk"].tolist() == [100, 90, 70]
    assert out["deaths"].tolist() == [10, 20, 0]
    assert out["day_start"].tolist() == [0, 2, 4]
    assert out["day_end"].tolist() == [2, 4, 7]


def test_qc_failed_or_flagged_field_never_counts_as_deaths():
    # A defocused field at day 2 reads 3 neurons; a flagged one at day 7 reads 0.
    rows = series([100, 3, 80, 0], qc=[True, False, True, True], flagged=[False, False, False, True])
    out = site_intervals(rows)
    assert out.empty  # every interval touches an unusable end
    rows = series([100, 95, 90, 0], flagged=[False, False, False, True])
    out = site_intervals(rows)
    assert out["deaths"].tolist() == [5, 5]
    assert out["deaths"].sum() == 10


def test_rise_is_zero_deaths_then_larger_risk_set_and_flagged():
    out = site_intervals(series([50, 60, 55, 55]))
    assert out["deaths"].tolist() == [0, 5, 0]
    assert out["rise"].tolist() == [10, 0, 0]
    assert out["at_risk"].tolist() == [50, 60, 55]
    flags = rise_flags(out, max_rise_fraction=0.1)  # 10 / 50 = 0.2 > 0.1
    assert flags["well"].tolist() == ["A01"]
    assert flags["rise_fraction"].iloc[0] == pytest.approx(0.2)
    assert rise_flags(out, max_rise_fraction=0.25).empty


def arms_table(hazards, *, n_wells=4, n0=(2000, 2400, 2200, 2600), jitter=None):
    """Intervals of one patient: vehicle (hazard 0.1/day) and arms with given hazards."""
    frames = []
    spec = [("DMSO", 0.0, "vehicle", 0.1)] + [(c, 1.0, "treatment", h) for c, h in hazards.items()]
    k = 0
    for compound, conc, role, hazard in spec:
        for w in range(n_wells):
            k += 1
            h = hazard * (jitter[w] if jitter is not None else 1.0)
            frames.append(series(exponential_counts(n0[w % len(n0)], h), well=f"W{k}", compound=compound,
                                 conc=conc, role=role))
    return site_intervals(pd.concat(frames, ignore_index=True))


def test_identical_arms_give_hazard_ratio_one():
    table, _ = fit_patient(arms_table({"same": 0.1}, jitter=[0.9, 1.1, 1.0, 1.05]))
    row = table.set_index("compound").loc["same"]
    assert row["hazard_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert row["hr_ci_low"] < 1 < row["hr_ci_high"]


def test_twofold_hazard_recovers_log2_within_ci():
    table, _ = fit_patient(arms_table({"toxic": 0.2}, jitter=[0.9, 1.1, 1.0, 1.05]))
    row = table.set_index("compound").loc["toxic"]
    assert row["log_hr"] == pytest.approx(np.log(2), abs=0.03)
    assert row["hr_ci_low"] < 2 < row["hr_ci_high"]
    assert row["p_value"] < 0.001
    assert 1 <= row["df"] < 20  # few wells: small-sample t, not normal quantiles


def test_cr1_option_gives_same_estimate():
    intervals = arms_table({"toxic": 0.2}, jitter=[0.9, 1.1, 1.0, 1.05])
    a, _ = fit_patient(intervals, se_correction="cr2")
    b, _ = fit_patient(intervals, se_correction="cr1")
    assert a["log_hr"].iloc[0] == pytest.approx(b["log_hr"].iloc[0], abs=1e-8)
    assert b["df"].iloc[0] == 7  # 8 wells in the model - 1


def test_cr2_equals_welch_variance_for_single_observation_clusters():
    # OLS of y on a two-group indicator with one observation per cluster: CR2's
    # variance of the difference is s1²/n1 + s2²/n2 exactly, and for equal
    # groups the Bell-McCaffrey df is the pooled 2n - 2.
    y = np.array([1.0, 2.0, 4.0, 3.0, 7.0, 5.0, 6.0, 9.0])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    x = np.column_stack([np.ones(8), g])
    fit = sm.OLS(y, x).fit()
    cov, df = cr2_covariance(x, fit.resid, np.arange(8), columns=np.array([1]))
    welch = y[g == 0].var(ddof=1) / 4 + y[g == 1].var(ddof=1) / 4
    assert cov[1, 1] == pytest.approx(welch)
    assert df[0] == pytest.approx(6.0)


def test_all_dead_arm_and_no_death_arm_are_nan_with_note():
    intervals = arms_table({"ok": 0.2})
    dead = []
    for w in range(3):
        dead.append(series([100, 0, 0, 0], well=f"D{w}", compound="poison", conc=1.0, role="treatment"))
        dead.append(series([100, 100, 100, 100], well=f"S{w}", compound="stasis", conc=1.0, role="treatment"))
    intervals = pd.concat([intervals, site_intervals(pd.concat(dead))], ignore_index=True)
    table, _ = fit_patient(intervals)
    table = table.set_index("compound")
    assert np.isnan(table.loc["poison", "hazard_ratio"]) and "died" in table.loc["poison", "note"]
    assert np.isnan(table.loc["stasis", "hazard_ratio"]) and "no deaths" in table.loc["stasis", "note"]
    assert table.loc["ok", "log_hr"] == pytest.approx(np.log(2), abs=0.03)


def test_no_vehicle_wells_gives_nan_and_note():
    intervals = arms_table({"a": 0.2})
    table, _ = fit_patient(intervals[intervals["role"] != "vehicle"])
    assert table["hazard_ratio"].isna().all()
    assert "no vehicle wells" in table["note"].iloc[0]


def test_single_well_arm_has_estimate_but_no_ci():
    intervals = arms_table({"a": 0.2})
    intervals = intervals[~((intervals["compound"] == "a") & (intervals["well"] != intervals.loc[intervals["compound"] == "a", "well"].iloc[0]))]
    table, _ = fit_patient(intervals)
    row = table.iloc[0]
    assert np.isfinite(row["hazard_ratio"]) and np.isnan(row["hr_ci_low"]) and np.isnan(row["p_value"])
    assert "one well" in row["note"]
