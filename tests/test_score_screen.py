"""The scoring stage end to end on small hand-made screens, including bad input."""

import numpy as np
import pandas as pd
import pytest

from screening.run.aggregate import aggregate_wells
from screening.config import ScoringConfig
from screening.score import score_screen, write_scores
from screening.score.plate_qc import PLATE_QC_COLUMNS
from screening.score.pooling import RANKING_COLUMNS
from screening.score.screen import SCORES_COLUMNS

DAYS = (0.0, 2.0, 4.0, 7.0)


def screen(arms, *, patients=("P1", "P2"), n0=400, seed=0):
    """Fields of a screen; ``arms`` = [(compound, conc, role, hazard_ratio, n_wells)], vehicle hazard 0.1/day.

    Counts follow the expected exponential decline with a little binomial noise.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for p_index, patient in enumerate(patients):
        k = 0
        for compound, conc, role, hr, n_wells in arms:
            for _ in range(n_wells):
                well = f"{'BCDEFG'[k // 10]}{k % 10 + 2:02d}"
                k += 1
                for site in (1, 2):
                    n = n0
                    for t, day in enumerate(DAYS):
                        if t:
                            p_die = 1 - np.exp(-0.1 * hr * (day - DAYS[t - 1]))
                            n -= rng.binomial(n, p_die)
                        rows.append(dict(plate=f"PL{p_index}", well=well, site=site, timepoint=t + 1, day=day,
                                         n_neurons=n, neurite_length_um=50.0 * n * (1.5 if compound == "grow" else 1),
                                         n_nuclei=np.nan, qc_pass=True, status="ok", flagged=False,
                                         patient=patient, compound=compound, concentration_um=conc, role=role))
    return pd.DataFrame(rows)


BASE = [("DMSO", 0.0, "vehicle", 1.0, 6), ("kp", 5.0, "positive_control", 0.3, 4),
        ("half", 1.0, "treatment", 0.5, 4), ("half", 10.0, "treatment", 0.25, 4),
        ("grow", 1.0, "treatment", 1.0, 4)]


def run(fields, **config):
    return score_screen(fields, aggregate_wells(fields), ScoringConfig(**config))


def test_tables_have_design_columns_and_known_effects(tmp_path):
    result = run(screen(BASE))
    assert list(result.scores.columns[: len(SCORES_COLUMNS)]) == SCORES_COLUMNS
    assert list(result.ranking.columns[: len(RANKING_COLUMNS)]) == RANKING_COLUMNS
    assert list(result.plate_qc.columns[: len(PLATE_QC_COLUMNS)]) == PLATE_QC_COLUMNS
    ranking = result.ranking.set_index(["compound", "concentration_um"])
    assert ranking.loc[("half", 1.0), "hr_ci_low"] < 0.5 < ranking.loc[("half", 1.0), "hr_ci_high"]
    assert ranking.loc[("half", 10.0), "rank"] == 1
    assert np.isnan(ranking.loc[("kp", 5.0), "rank"])
    assert ranking.loc[("half", 10.0), "n_patients"] == 2
    scores = result.scores.set_index(["patient", "compound", "concentration_um"])
    assert scores.loc[("P1", "grow", 1.0), "neurite_ratio"] == pytest.approx(1.5, rel=1e-6)
    assert scores.loc[("P1", "half", 1.0), "neurite_ratio"] == pytest.approx(1.0, rel=1e-6)
    dose = result.dose_response.set_index(["compound", "patient"])
    assert dose.loc[("half", "pooled"), "slope"] == pytest.approx(np.log(0.5), abs=0.15)
    paths = write_scores(result, tmp_path)
    for name, columns in (("scores", SCORES_COLUMNS), ("ranking", RANKING_COLUMNS), ("plate_qc", PLATE_QC_COLUMNS)):
        written = pd.read_csv(paths[name])
        assert list(written.columns[: len(columns)]) == columns
    assert not list(tmp_path.glob(".*tmp"))


def no_infinities(result):
    for table in (result.scores, result.ranking, result.plate_qc):
        numbers = table.select_dtypes("number").to_numpy(float)
        assert not np.isinf(numbers).any()


def test_patient_without_vehicle_and_no_positive_control():
    fields = screen(BASE)
    fields = fields[~((fields["patient"] == "P2") & (fields["role"] == "vehicle"))]
    fields = fields[fields["role"] != "positive_control"]
    result = run(fields)
    p2 = result.scores[result.scores["patient"] == "P2"]
    assert p2["hazard_ratio"].isna().all()
    assert p2["note"].str.contains("no vehicle wells").all()
    assert result.plate_qc["z_prime"].isna().all()
    assert any(w.kind == "no_positive_control" for w in result.warnings)
    not_estimated = {(w.patient, w.compound) for w in result.warnings if w.kind == "not_estimated"}
    assert not_estimated and {p for p, _ in not_estimated} == {"P2"}
    assert (result.ranking.loc[result.ranking["compound"] == "half", "n_patients"] == 1).all()
    no_infinities(result)


def test_one_well_compound_all_dead_and_zero_counts_at_day0():
    arms = BASE + [("solo", 1.0, "treatment", 1.0, 1), ("poison", 1.0, "treatment", 1000.0, 3)]
    fields = screen(arms)
    empty = (fields["compound"] == "grow") & (fields["patient"] == "P1")
    fields.loc[empty, "n_neurons"] = 0
    result = run(fields)
    scores = result.scores.set_index(["patient", "compound", "concentration_um"])
    solo = scores.loc[("P1", "solo", 1.0)]
    assert np.isfinite(solo["hazard_ratio"]) and np.isnan(solo["hr_ci_low"]) and "one well" in solo["note"]
    poison = scores.loc[("P1", "poison", 1.0)]
    assert np.isnan(poison["hazard_ratio"]) and "died" in poison["note"]
    grow = scores.loc[("P1", "grow", 1.0)]
    assert np.isnan(grow["hazard_ratio"]) and "no usable intervals" in grow["note"]
    no_infinities(result)


def test_failed_qc_fields_do_not_move_the_estimate():
    fields = screen(BASE)
    clean = run(fields).scores
    broken = fields.copy()
    hit = (broken["compound"] == "half") & (broken["site"] == 2) & (broken["timepoint"] == 3)
    broken.loc[hit, "n_neurons"] = 0  # defocused: nothing detected
    broken.loc[hit, "qc_pass"] = False
    flagged = (broken["compound"] == "grow") & (broken["site"] == 1) & (broken["timepoint"] == 4)
    broken.loc[flagged, "n_neurons"] = 0
    broken.loc[flagged, "flagged"] = True
    dirty = run(broken).scores
    merged = clean.merge(dirty, on=["patient", "compound", "concentration_um"])
    # Dropping a few intervals moves estimates a little; reading them as deaths would double the HR.
    assert np.abs(np.log(merged["hazard_ratio_x"] / merged["hazard_ratio_y"])).max() < 0.15


def test_zero_counts_at_day0_then_neurons_is_noted_not_hidden():
    fields = screen(BASE)
    arm = (fields["patient"] == "P1") & (fields["compound"] == "half") & (fields["concentration_um"] == 1.0)
    fields.loc[arm & (fields["day"] == 0), "n_neurons"] = 0
    result = run(fields)
    scores = result.scores.set_index(["patient", "compound", "concentration_um"])
    row = scores.loc[("P1", "half", 1.0)]
    # 4 wells x 2 sites start at zero; scored from day 2 on, the true HR 0.5 is still recovered.
    assert row["zero_start_sites"] == 8
    assert "no motor neurons at their first timepoint" in row["note"]
    assert row["hr_ci_low"] < 0.5 < row["hr_ci_high"]
    assert scores.loc[("P2", "half", 1.0), "zero_start_sites"] == 0
    zero = [w for w in result.warnings if w.kind == "zero_start_sites"]
    assert [w.patient for w in zero] == ["P1"]
    assert zero[0].line.startswith("patient P1: 8 site(s) had zero motor neurons")
    no_infinities(result)


def test_all_neurons_dead_at_day2_gives_nan_and_fails_the_plate():
    fields = screen(BASE)
    fields.loc[(fields["patient"] == "P2") & (fields["day"] >= 2), "n_neurons"] = 0
    result = run(fields)
    p2 = result.scores[result.scores["patient"] == "P2"]
    assert p2["hazard_ratio"].isna().all() and p2["hr_ci_low"].isna().all()
    assert p2["note"].str.contains("all neurons died").all()
    qc = result.plate_qc.set_index("patient")
    assert not qc.loc["P2", "pass"] and qc.loc["P2", "vehicle_survival_end"] == 0
    assert qc.loc["P1", "pass"]
    # P1 alone still pools; P2 contributes nothing.
    assert (result.ranking.loc[result.ranking["compound"] == "half", "n_patients"] == 1).all()
    failed = [w for w in result.warnings if w.kind == "plate_qc_failed"]
    assert [(w.plate, w.patient) for w in failed] == [("PL1", "P2")]
    assert failed[0].line.startswith("plate PL1 patient P2 failed QC: ")
    no_infinities(result)


def test_one_plate_without_positive_control_is_named():
    fields = screen(BASE)
    fields = fields[~((fields["patient"] == "P2") & (fields["role"] == "positive_control"))]
    result = run(fields)
    qc = result.plate_qc.set_index("plate")
    assert np.isfinite(qc.loc["PL0", "ssmd"]) and np.isnan(qc.loc["PL1", "ssmd"]) and np.isnan(qc.loc["PL1", "z_prime"])
    assert "no positive control on this plate" in qc.loc["PL1", "note"]
    assert qc.loc["PL1", "pass"]  # not gated without a positive control, only reported
    assert any(w.line.startswith("plate PL1 patient P2: no positive control") for w in result.warnings)
    no_infinities(result)


def test_warnings_file_names_patient_without_vehicle_and_report_shows_it(tmp_path):
    from screening.report import write_report

    fields = screen(BASE)
    fields = fields[~((fields["patient"] == "P2") & (fields["role"] == "vehicle"))]
    result = run(fields)
    paths = write_scores(result, tmp_path)
    lines = paths["warnings"].read_text(encoding="utf-8").splitlines()
    assert paths["warnings"] == tmp_path / "warnings.txt"
    assert lines == [w.line for w in result.warnings]
    no_vehicle = [line for line in lines if "P2" in line and "no vehicle wells" in line]
    assert no_vehicle and not any("P1" in line for line in lines)
    assert not list(tmp_path.glob(".*tmp"))
    html = write_report(tmp_path).read_text(encoding="utf-8")
    section = html[html.index('id="warnings"'):]
    import html as html_lib

    assert html_lib.escape(no_vehicle[0]) in section

    # A clean re-score replaces the old warnings instead of leaving them behind.
    paths = write_scores(run(screen(BASE)), tmp_path)
    assert paths["warnings"].read_text(encoding="utf-8") == ""


def test_demo_run_persists_its_scoring_warnings(demo_run):
    """The pipeline's score stage writes warnings.txt and the report lists every line of it."""
    import html as html_lib

    lines = (demo_run / "warnings.txt").read_text(encoding="utf-8").splitlines()
    qc = pd.read_csv(demo_run / "plate_qc.csv")
    failed = qc[~qc["pass"].astype(bool)]
    for row in failed.itertuples():
        assert any(line.startswith(f"plate {row.plate} patient {row.patient} failed QC") for line in lines)
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    section = report[report.index('id="warnings"'):]
    assert all(html_lib.escape(line) in section for line in lines)


def test_warning_records_render_their_subject_once():
    from screening.score.warnings import ScoringWarning

    arm = ScoringWarning("not_estimated", "no deaths in this arm", patient="P1", compound="riluzole",
                         concentration_um=1.0)
    assert arm.line == "patient P1 riluzole 1.0 µM: no deaths in this arm"
    assert ScoringWarning("plate_qc_failed", "failed QC: Z' 0.1", plate="PL1", patient="P1").line == (
        "plate PL1 patient P1 failed QC: Z' 0.1")
    assert ScoringWarning("input", "a.tif unreadable").line == "a.tif unreadable"
    with pytest.raises(ValueError, match="unknown warning kind"):
        ScoringWarning("typo", "x")


def test_warning_builders_list_five_subjects_and_render_one_line():
    from screening.score.warnings import render, rising_counts_warning, scoring_failed_warning

    wells = [("PL1", f"A0{k}") for k in range(1, 7)]
    assert render(rising_counts_warning("P1", wells, 0.1)) == (
        "patient P1: counts rose by > 10% of those at risk in 6 well(s) "
        "(PL1:A01, PL1:A02, PL1:A03, PL1:A04, PL1:A05, ...); deaths there are undercounted")
    failed = render(scoring_failed_warning(ValueError("bad table\n  column x")))
    assert "\n" not in failed and failed.startswith("scoring failed (ValueError: bad table column x): no hazard ratios")
