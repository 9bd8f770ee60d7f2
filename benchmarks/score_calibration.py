"""Calibration of the scoring stage on simulated screens with known hazard ratios.

Command (default run, about 4-6 minutes on one core)::

    python benchmarks/score_calibration.py --screens 20 --nulls 50

On the pipeline's own measured counts (every field-timepoint rendered by the simulator and
measured by :func:`screening.measure.measure_field` in ``--jobs`` processes; a 4-site `screen`
or `null` screen is 5184 field-timepoints of 512²)::

    python benchmarks/score_calibration.py --screens 0 --nulls 0 --measured 4 --measured-nulls 2 --jobs 2 --cache /tmp/calib_cache

Prints markdown tables: per-patient accuracy and CI coverage (CR2 + Bell-McCaffrey t,
against CR1 with normal and with t quantiles), pooled ranking accuracy, null-screen
family-wise call rate and p-value uniformity, power, the minimum detectable HR of the
design and a Cox cross-check (one row per neuron interval, lifelines ``CoxPHFitter``).

:func:`calibrate_fields` scores any fields table (true counts, or the measured ones
from :func:`measured_fields`) against the simulator's ``effects`` table.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from screening.run.aggregate import aggregate_wells
from screening.config import ScoringConfig
from screening.score import score_screen
from screening.score.intervals import site_intervals
from screening.score.plate_qc import edge_wells
from screening.score.survival import fit_survival
from screening.simulate import build_screen, get_preset, render_field, simulate_truth
from screening.simulate.truth import screen_field_truth, truth_tables

KEYS = ["patient", "compound", "concentration_um"]


def fields_from_truth(truth: dict) -> pd.DataFrame:
    """The simulator's true counts as a scoring ``fields`` table (defocused fields fail QC)."""
    fields = truth["fields"].merge(truth["layout"], on=["plate", "well"], how="left")
    fields["qc_pass"] = ~fields["defocused"].astype(bool)
    fields["status"] = "ok"
    fields["flagged"] = False
    return fields


def calibrate_fields(fields: pd.DataFrame, effects: pd.DataFrame, config: ScoringConfig | None = None):
    """Score a fields table and join per-patient and pooled estimates with the truth.

    Parameters
    ----------
    fields : DataFrame
        Scoring input (true or measured counts, joined with the plate map).
    effects : DataFrame
        ``simulate_truth(...)["effects"]``: ``patient, compound, concentration_um, true_hr``.

    Returns
    -------
    per_patient, pooled : DataFrame
        Scores / ranking with ``true_log_hr`` (pooled: mean over patients of the true log HR).
    """
    config = config or ScoringConfig()
    result = score_screen(fields, aggregate_wells(fields), config)
    truth = effects.assign(true_log_hr=np.log(effects["true_hr"]))
    per_patient = result.scores.merge(truth[KEYS + ["true_log_hr"]], on=KEYS, how="left")
    pooled_truth = truth.groupby(KEYS[1:], as_index=False)["true_log_hr"].mean()
    pooled = result.ranking.merge(pooled_truth, on=KEYS[1:], how="left")
    return per_patient, pooled


def _calibration_run_config():
    from screening.config import RunConfig

    return RunConfig(
        name="calibration", channels={"reporter": "w1", "nuclei": "w2"},
        plates=[{"id": "P", "path": ".", "layout": "layout.csv"}],
    )


def _measure_rows(screen, records, run_config) -> list[dict]:
    """Render and measure field-timepoints (``screen_field_truth(screen)`` records)."""
    from screening.measure.field import measure_field

    px = screen.preset.imaging.pixel_size_um
    index = {k: i for i, k in enumerate(screen.fields[["plate", "well", "site"]].itertuples(index=False, name=None))}
    rows = []
    for rec in records:
        field = render_field(screen, index[(rec["plate"], rec["well"], int(rec["site"]))], int(rec["timepoint"]))
        channels = {"reporter": field.images["w1"], "nuclei": field.images["w2"]}
        row = measure_field(channels, run_config, pixel_size_um=px).row
        rows.append({
            "plate": rec["plate"], "well": rec["well"], "site": int(rec["site"]), "timepoint": int(rec["timepoint"]),
            "day": float(rec["day"]), "n_neurons": int(row["n_neurons"]),
            "neurite_length_um": float(row["neurite_length_um"]), "n_nuclei": float(row["n_nuclei"]),
            "qc_pass": bool(row["qc_pass"]), "qc_reason": row["qc_reason"], "status": "ok", "error": "",
            "true_n_neurons": int(rec["n_neurons"]), "defocused": bool(rec["defocused"]),
        })
    return rows


_WORKER_SCREEN = {}  # the screen each calibration worker process rebuilt from (preset, seed)


def _init_worker(design, seed) -> None:
    _WORKER_SCREEN["screen"] = build_screen(design, seed)


def _measure_chunk(records) -> list[dict]:
    import cv2

    cv2.setNumThreads(1)
    return _measure_rows(_WORKER_SCREEN["screen"], records, _calibration_run_config())


def measured_fields(screen, seed: int, *, jobs: int = 1, log=print) -> pd.DataFrame:
    """Render every field-timepoint of a simulated screen and measure it as the pipeline does.

    Parameters
    ----------
    screen : screening.simulate.SimulatedScreen
        From :func:`screening.simulate.build_screen` with ``seed``.
    seed : int
        The screen's seed (worker processes rebuild the same screen from its preset and seed).
    jobs : int
        Worker processes (one core each).

    Returns
    -------
    DataFrame
        One row per plate x well x site x timepoint with the ``fields.parquet`` columns
        (``n_neurons``, ``neurite_length_um``, ``n_nuclei``, ``qc_pass`` from
        :func:`~screening.measure.measure_field` with the pipeline defaults, reporter ``w1``
        and nuclei ``w2`` as ``screening simulate`` writes them), the plate map columns,
        ``flagged`` (False) and ``true_n_neurons`` / ``defocused`` from the simulator's truth.
    """
    from concurrent.futures import ProcessPoolExecutor

    records = screen_field_truth(screen).to_dict("records")
    chunks = [records[i:i + 100] for i in range(0, len(records), 100)]
    rows = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(screen.preset, seed)) as pool:
        for chunk_rows in pool.map(_measure_chunk, chunks):
            rows.extend(chunk_rows)
            if log and len(rows) % 1000 < 100:
                log(f"  measured {len(rows)}/{len(records)} field-timepoints ({time.perf_counter() - t0:.0f} s)")
    fields = pd.DataFrame(rows).merge(screen.layout[["plate", "well", "patient", "compound", "concentration_um", "role"]],
                                      on=["plate", "well"], how="left")
    fields["flagged"] = False
    return fields


def measured_preset(preset: str, sites: int | None):
    """``preset`` with ``sites`` imaged sites per well (None: unchanged)."""
    base = get_preset(preset)
    if sites is None or sites == base.imaging.sites:
        return base
    return dataclasses.replace(base, name=f"{base.name}-{sites}site",
                               imaging=dataclasses.replace(base.imaging, sites=sites))


def accuracy_rows(per: pd.DataFrame, pooled: pd.DataFrame) -> dict:
    """Per-patient and pooled accuracy figures of stacked :func:`calibrate_fields` results."""
    est = per.dropna(subset=["log_hr", "se"])
    err = est["log_hr"] - est["true_log_hr"]
    crit = stats.t.ppf(0.975, est["df"])
    ranked = pooled[pooled["role"].eq("treatment")].dropna(subset=["log_hr"])
    spear = [stats.spearmanr(g["log_hr"], g["true_log_hr"]).statistic for _, g in ranked.groupby("seed")]
    half = np.log(ranked["hr_ci_high"]) - ranked["log_hr"]
    return {
        "estimates": len(est),
        "median abs log HR error": float(err.abs().median()),
        "mean log HR error (bias)": float(err.mean()),
        "95% CI coverage (CR2 + t)": float(covered(est["log_hr"], est["se"], crit, est["true_log_hr"]).mean()),
        "median 95% CI width": float(np.median(2 * crit * est["se"])),
        "pooled Spearman (median)": float(np.median(spear)),
        "pooled CI coverage": float(covered(ranked["log_hr"], 1, half, ranked["true_log_hr"]).mean()),
        "median pooled CI width": float(np.median(np.log(ranked["hr_ci_high"] / ranked["hr_ci_low"]))),
    }


def measured_screen(design, seed: int, cache: Path | None, jobs: int):
    """Truth tables and measured fields of one simulated screen (measured fields cached as parquet)."""
    screen = build_screen(design, seed)
    path = cache / f"{design.name}-seed{seed}.parquet" if cache else None
    if path is not None and path.is_file():
        return truth_tables(screen), pd.read_parquet(path)
    print(f"screen {design.name} seed {seed}: measuring {len(screen_field_truth(screen))} field-timepoints", flush=True)
    measured = measured_fields(screen, seed, jobs=jobs, log=lambda m: print(m, flush=True))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        measured.to_parquet(path)
    return truth_tables(screen), measured


def with_pipeline_qc(truth_fields: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """True counts with the pipeline's field-QC decisions: separates count error from QC."""
    keys = ["plate", "well", "site", "timepoint"]
    qc = measured.set_index(keys)["qc_pass"]
    return truth_fields.assign(qc_pass=qc.reindex(pd.MultiIndex.from_frame(truth_fields[keys])).to_numpy())


def measured_calibration(n_screens: int, preset: str, sites: int | None, config: ScoringConfig,
                         cache: Path | None = None, seed0: int = 0, jobs: int = 1) -> None:
    """Print true-count vs measured-count calibration on the same simulated screens."""
    design = measured_preset(preset, sites)
    runs = {"truth counts, truth QC": ([], []), "truth counts, pipeline QC": ([], []),
            "measured counts, pipeline QC": ([], [])}
    count_err = []
    t0 = time.perf_counter()
    for seed in range(seed0, seed0 + n_screens):
        truth, measured = measured_screen(design, seed, cache, jobs)
        truth_f = fields_from_truth(truth)
        truth_pqc = with_pipeline_qc(truth_f, measured)
        for label, fields in zip(runs, (truth_f, truth_pqc, measured)):
            p, q = calibrate_fields(fields, truth["effects"], config)
            runs[label][0].append(p.assign(seed=seed))
            runs[label][1].append(q.assign(seed=seed))
        ok = measured[measured["qc_pass"]].sort_values(["plate", "well", "site", "timepoint"])
        nxt = ok.groupby(["plate", "well", "site"])[["n_neurons", "true_n_neurons"]].shift(-1)
        count_err.append(ok[["n_neurons", "true_n_neurons"]].assign(
            next_n=nxt["n_neurons"].to_numpy(), next_true=nxt["true_n_neurons"].to_numpy(),
            qc_fail=(~measured["qc_pass"]).mean(),
            defocus_caught=(~measured.loc[measured["defocused"], "qc_pass"]).mean()))
    elapsed = time.perf_counter() - t0
    rows = []
    for label, (per, pooled) in runs.items():
        rows.append({"counts": label, **accuracy_rows(pd.concat(per, ignore_index=True), pd.concat(pooled, ignore_index=True))})
    print(f"## Measured vs true counts ({n_screens} `{preset}` screens, {design.imaging.sites} site(s) per well, "
          f"{design.imaging.field_shape[0]}x{design.imaging.field_shape[1]} px, seeds {seed0}-{seed0 + n_screens - 1})\n")
    print(md_table(rows))
    # Same screens, same arms: how far measurement moves each estimate and its SE.
    keys = KEYS + ["seed"]
    both = pd.concat(runs["truth counts, truth QC"][0]).merge(
        pd.concat(runs["measured counts, pipeline QC"][0]), on=keys, suffixes=("_true", "_meas"),
    ).dropna(subset=["log_hr_true", "log_hr_meas"])
    shift = both["log_hr_meas"] - both["log_hr_true"]
    print("\n### Per-patient estimate, measured minus true counts (same screens and arms)\n")
    print(md_table([
        {"figure": "median abs shift of log HR", "value": float(shift.abs().median())},
        {"figure": "sd of the shift", "value": float(shift.std())},
        {"figure": "sd of the shift / median true-count SE", "value": float(shift.std() / both["se_true"].median())},
        {"figure": "median SE ratio measured / true counts", "value": float((both["se_meas"] / both["se_true"]).median())},
        {"figure": "Pearson r of the two log HRs", "value": float(np.corrcoef(both["log_hr_true"], both["log_hr_meas"])[0, 1])},
    ]))
    ce = pd.concat(count_err, ignore_index=True)
    diff = ce["n_neurons"] - ce["true_n_neurons"]
    pairs = ce.dropna(subset=["next_n"])
    next_diff = pairs["next_n"] - pairs["next_true"]
    drop_err = (pairs["n_neurons"] - pairs["next_n"]) - (pairs["true_n_neurons"] - pairs["next_true"])
    print("\n### Field counts (QC-passed field-timepoints)\n")
    print(md_table([
        {"figure": "field-timepoints", "value": len(ce)},
        {"figure": "mean true neurons per field", "value": float(ce["true_n_neurons"].mean())},
        {"figure": "count bias (measured - true), mean", "value": float(diff.mean())},
        {"figure": "count error sd", "value": float(diff.std())},
        {"figure": "share of fields with abs error >= 2", "value": float((diff.abs() >= 2).mean())},
        {"figure": "lag-1 correlation of a site's count errors", "value": float(np.corrcoef(diff[pairs.index], next_diff)[0, 1])},
        {"figure": "sd of the error in a site-interval's drop (deaths)", "value": float(drop_err.std())},
        {"figure": "sd of a site-interval's true drop", "value": float((pairs["true_n_neurons"] - pairs["next_true"]).std())},
        {"figure": "field-timepoints failing pipeline QC", "value": float(ce["qc_fail"].mean())},
        {"figure": "defocused field-timepoints failed by pipeline QC", "value": float(ce["defocus_caught"].mean())},
    ]))
    print(f"\n_{elapsed:.0f} s (measurement of uncached screens included)_")


def null_rows(per: pd.DataFrame, pooled: pd.DataFrame, q_cut: float) -> dict:
    """Null-screen figures of stacked :func:`calibrate_fields` results (no true effect)."""
    treat = per[per["role"].eq("treatment")].dropna(subset=["p_value", "se"])
    calls = pooled[pooled["role"].eq("treatment")].groupby("seed")["q_value"].min() < q_cut
    crit = stats.t.ppf(0.975, treat["df"])
    return {
        "screens": int(calls.size),
        f"screens with any pooled call at q < {q_cut}": int(calls.sum()),
        "per-patient estimates": len(treat),
        "share of per-patient p < 0.05": float((treat["p_value"] < 0.05).mean()),
        "95% CI coverage of HR 1": float(covered(treat["log_hr"], treat["se"], crit, 0.0).mean()),
    }


def measured_null_calibration(n_screens: int, sites: int | None, config: ScoringConfig,
                              cache: Path | None = None, jobs: int = 1) -> None:
    """Print null-screen figures from true and measured counts of the same `null` screens."""
    design = measured_preset("null", sites)
    runs = {"truth counts, truth QC": ([], []), "measured counts, pipeline QC": ([], [])}
    for seed in range(1000, 1000 + n_screens):
        truth, measured = measured_screen(design, seed, cache, jobs)
        for label, fields in zip(runs, (fields_from_truth(truth), measured)):
            p, q = calibrate_fields(fields, truth["effects"], config)
            runs[label][0].append(p.assign(seed=seed))
            runs[label][1].append(q.assign(seed=seed))
    rows = [{"counts": label, **null_rows(pd.concat(per), pd.concat(pooled), config.fdr_q)}
            for label, (per, pooled) in runs.items()]
    print(f"\n## Null screens, measured vs true counts ({n_screens} `null` screens, {design.imaging.sites} site(s) "
          f"per well, seeds 1000-{999 + n_screens})\n")
    print(md_table(rows))


def cr1_variants(fields: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Per-patient estimates with statsmodels' CR1 cluster SEs (for the coverage comparison)."""
    intervals = site_intervals(fields)
    intervals["edge"] = edge_wells(intervals[["plate", "well"]]).to_numpy()
    table, _ = fit_survival(intervals, se_correction="cr1")
    truth = effects.assign(true_log_hr=np.log(effects["true_hr"]))
    return table.merge(truth[KEYS + ["true_log_hr"]], on=KEYS, how="left")


def covered(est, se, crit, truth) -> np.ndarray:
    return np.abs(np.asarray(est) - np.asarray(truth)) <= crit * np.asarray(se)


def cox_check(fields: pd.DataFrame, config: ScoringConfig | None = None) -> pd.DataFrame:
    """GLM log HRs against a weighted Cox model on one row per neuron interval.

    Each site interval becomes two weighted rows in counting-process form: its deaths
    (event at the interval's end) and its survivors (censored there), entering at the
    interval's start; Efron ties, strata by plate, the edge covariate as in the GLM.
    """
    from lifelines import CoxPHFitter

    config = config or ScoringConfig()
    intervals = site_intervals(fields, window_days=config.window_days)
    intervals["edge"] = edge_wells(intervals[["plate", "well"]]).to_numpy()
    glm, _ = fit_survival(intervals, se_correction=config.se_correction)
    rows = []
    for patient, iv in intervals.groupby("patient"):
        iv = iv[iv["role"] != "empty"]
        arm = np.where(iv["role"].eq("vehicle"), "vehicle", iv["compound"] + "@" + iv["concentration_um"].astype(str))
        base = pd.DataFrame({"start": iv["day_start"].to_numpy(), "stop": iv["day_end"].to_numpy(),
                             "arm": arm, "edge": iv["edge"].astype(float).to_numpy(), "plate": iv["plate"].to_numpy()})
        data = pd.concat([
            base.assign(event=1, w=iv["deaths"].to_numpy()),
            base.assign(event=0, w=(iv["at_risk"] - iv["deaths"]).to_numpy()),
        ], ignore_index=True)
        data = data[data["w"] > 0]
        design = pd.get_dummies(data["arm"], dtype=float).drop(columns="vehicle")
        design.columns = [f"arm_{c}" for c in design.columns]
        frame = pd.concat([data[["start", "stop", "event", "w", "edge", "plate"]], design], axis=1)
        cph = CoxPHFitter()
        multi = frame["plate"].nunique() > 1
        cph.fit(frame if multi else frame.drop(columns="plate"), duration_col="stop", event_col="event",
                entry_col="start", weights_col="w", strata=["plate"] if multi else None)
        for name, value in cph.params_.items():
            if name.startswith("arm_"):
                compound, conc = name[4:].rsplit("@", 1)
                rows.append({"patient": patient, "compound": compound, "concentration_um": float(conc),
                             "cox_log_hr": value})
    cox = pd.DataFrame(rows)
    return glm.merge(cox, on=KEYS, how="inner")


def md_table(rows: list[dict]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=20, help="simulated `screen` presets")
    parser.add_argument("--nulls", type=int, default=50, help="simulated `null` presets")
    parser.add_argument("--preset", default="screen")
    parser.add_argument("--measured", type=int, default=0,
                        help="also score N screens from the pipeline's measured counts (rendered + measure_field)")
    parser.add_argument("--measured-nulls", type=int, default=0,
                        help="also score N `null` screens from measured and true counts")
    parser.add_argument("--sites", type=int, default=None,
                        help="sites per well of the measured screens (default: the preset's)")
    parser.add_argument("--jobs", type=int, default=1, help="processes measuring fields (one core each)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for measured fields tables (reused when present)")
    args = parser.parse_args(argv)
    config = ScoringConfig()
    t0 = time.perf_counter()
    if args.measured:
        measured_calibration(args.measured, args.preset, args.sites, config, cache=args.cache, jobs=args.jobs)
    if args.measured_nulls:
        measured_null_calibration(args.measured_nulls, args.sites, config, cache=args.cache, jobs=args.jobs)
    if not args.screens:
        return

    per, pooled, cr1 = [], [], []
    for seed in range(args.screens):
        truth = simulate_truth(args.preset, seed)
        fields = fields_from_truth(truth)
        p, q = calibrate_fields(fields, truth["effects"], config)
        per.append(p.assign(seed=seed))
        pooled.append(q.assign(seed=seed))
        cr1.append(cr1_variants(fields, truth["effects"]).assign(seed=seed))
    per, pooled, cr1 = (pd.concat(x, ignore_index=True) for x in (per, pooled, cr1))
    est = per.dropna(subset=["log_hr", "se"])
    err = est["log_hr"] - est["true_log_hr"]
    crit = stats.t.ppf(0.975, est["df"])
    z = stats.norm.ppf(0.975)
    c1 = cr1.dropna(subset=["log_hr", "se"])
    print(f"## Per-patient survival ({args.screens} `{args.preset}` screens, {len(est)} patient x arm estimates)\n")
    print(md_table([
        {"figure": "median abs log HR error", "value": float(err.abs().median()), "bar": "<= 0.15"},
        {"figure": "mean log HR error (bias)", "value": float(err.mean()), "bar": "~0"},
        {"figure": "95% CI coverage, CR2 + Bell-McCaffrey t (used)", "value": float(covered(est["log_hr"], est["se"], crit, est["true_log_hr"]).mean()), "bar": "0.90-0.98"},
        {"figure": "95% CI coverage, CR1 + normal", "value": float(covered(c1["log_hr"], c1["se"], z, c1["true_log_hr"]).mean()), "bar": "(for comparison)"},
        {"figure": "95% CI coverage, CR1 + t(n_wells - 1)", "value": float(covered(c1["log_hr"], c1["se"], stats.t.ppf(0.975, c1["df"]), c1["true_log_hr"]).mean()), "bar": "(for comparison)"},
        {"figure": "median 95% CI width (log HR), CR2", "value": float(np.median(2 * crit * est["se"])), "bar": "report"},
        {"figure": "median Bell-McCaffrey df", "value": float(est["df"].median()), "bar": "report"},
        {"figure": "median per-patient SE (log HR)", "value": float(est["se"].median()), "bar": "report"},
    ]))

    ranked = pooled[pooled["role"].eq("treatment")].dropna(subset=["log_hr"])
    spear = [stats.spearmanr(g["log_hr"], g["true_log_hr"]).statistic for _, g in ranked.groupby("seed")]
    pcov = covered(ranked["log_hr"], 1, (ranked["hr_ci_high"].pipe(np.log) - ranked["log_hr"]), ranked["true_log_hr"])
    strong = ranked[ranked["true_log_hr"] <= np.log(0.7)]
    print(f"\n## Pooled ranking ({config.pooling})\n")
    print(md_table([
        {"figure": "Spearman pooled HR vs true (median over screens)", "value": float(np.median(spear)), "bar": ">= 0.9"},
        {"figure": "pooled 95% CI coverage of mean true log HR", "value": float(pcov.mean()), "bar": "0.90-0.98"},
        {"figure": "median pooled 95% CI width (log HR)", "value": float(np.median(np.log(ranked["hr_ci_high"] / ranked["hr_ci_low"]))), "bar": "report"},
        {"figure": f"power: true HR <= 0.7 called at q < {config.fdr_q} ({len(strong)} arms)", "value": float((strong["q_value"] < config.fdr_q).mean()), "bar": "report"},
        {"figure": "median pooled SE (log HR)", "value": float(ranked["se"].median()), "bar": "report"},
    ]))

    null_p, null_rows, any_call = [], [], []
    for seed in range(1000, 1000 + args.nulls):
        truth = simulate_truth("null", seed)
        p, q = calibrate_fields(fields_from_truth(truth), truth["effects"], config)
        treat = p[p["role"].eq("treatment")]
        null_p.extend(treat["p_value"].dropna())
        null_rows.append(treat[KEYS + ["p_value"]])
        any_call.append(bool((q.loc[q["role"].eq("treatment"), "q_value"] < config.fdr_q).any()))
    rate = float(np.mean(any_call))
    # Arms of one patient share its vehicle wells, so their p-values are dependent and
    # a KS test on all of them together rejects even when each is uniform; across
    # screens one patient x arm is independent.
    null_rows = pd.concat(null_rows, ignore_index=True).dropna()
    arm_ks = [stats.kstest(g["p_value"], "uniform").pvalue for _, g in null_rows.groupby(KEYS) if len(g) >= 10]
    mc = float(np.sqrt(0.1 * 0.9 / max(len(any_call), 1)))
    print(f"\n## Null screens ({args.nulls} `null` presets, truth counts)\n")
    print(md_table([
        {"figure": f"share of screens with any pooled call at q < {config.fdr_q}", "value": rate, "bar": f"<= 0.10 (MC se {mc:.3f})"},
        {"figure": "KS p, all per-patient p-values vs uniform (dependent: arms share vehicle wells)", "value": float(stats.kstest(null_p, "uniform").pvalue), "bar": "report"},
        {"figure": "KS p per patient x arm across screens (independent), median", "value": float(np.median(arm_ks)), "bar": "~0.5"},
        {"figure": "... share of patient x arm KS p < 0.05", "value": float(np.mean(np.array(arm_ks) < 0.05)), "bar": "~0.05"},
        {"figure": "share of per-patient p < 0.05", "value": float(np.mean(np.array(null_p) < 0.05)), "bar": "0.05"},
    ]))

    # Minimum detectable HR: two-sided alpha, 80 % power, at the median SE.
    se_p, se_pool = float(est["se"].median()), float(ranked["se"].median())
    m = int(ranked.groupby("seed").size().median())
    rows = []
    for label, alpha in (("alpha 0.05", 0.05), (f"alpha 0.1/{m} (BH, one hit)", 0.1 / m)):
        k = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
        rows.append({"test": label, "per-patient MDHR": float(np.exp(-k * se_p)), "pooled MDHR": float(np.exp(-k * se_pool))})
    print("\n## Minimum detectable protective HR (80 % power, median SE)\n")
    print(md_table(rows))

    truth = simulate_truth(args.preset, 0)
    both = cox_check(fields_from_truth(truth), config).dropna(subset=["log_hr", "cox_log_hr"])
    diff = (both["log_hr"] - both["cox_log_hr"]).abs()
    print(f"\n## Cox cross-check (`{args.preset}` seed 0, lifelines CoxPHFitter, Efron ties, weights = counts)\n")
    print(md_table([
        {"figure": "largest abs log HR difference GLM vs Cox", "value": float(diff.max()), "bar": "report"},
        {"figure": "median abs difference", "value": float(diff.median()), "bar": "report"},
        {"figure": "largest difference / median SE", "value": float(diff.max() / both["se"].median()), "bar": "<< 1"},
    ]))
    print(f"\n_{time.perf_counter() - t0:.0f} s_")


if __name__ == "__main__":
    main()
