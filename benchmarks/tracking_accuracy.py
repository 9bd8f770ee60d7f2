"""Tracking accuracy on simulated screens, through ``screening run``, against every neuron's truth.

Command (hard preset, seeds 0-3, 2 workers; ~4 min per screen on the 2-core machine)::

    nice -n 10 python benchmarks/tracking_accuracy.py --preset hard --seeds 0 1 2 3 --workers 2 --cache /tmp/track_bench

Each screen is written by the simulator (``screening simulate``), run by
:func:`screening.run.pipeline.run_screen` (measurement, registration, tracking, scoring: the
product's entry point) and compared with ``truth/neurons.csv`` and ``truth/fields.csv``:

- **day-0 neurons**: the simulator's motor neurons alive, reporter-positive and with their
  soma centre inside the image at the first timepoint, matched one-to-one to the tracks seen
  at the first timepoint within ``--match-um`` (recall, precision), on sites whose first
  field is usable;
- **exact outcome**: a matched neuron's last timepoint seen alive and died-vs-censored equal
  the truth (the last timepoint it was alive and in the image; died when its death falls
  before the last day with its position still inside the next image);
- **identity switches**: along each track, the truth neuron matched at each timepoint
  changes (per 100 day-0 tracks);
- **hazard ratios**: per patient × arm, from tracked survival (the run's scores), from the
  same tracking rules on the simulator's own somata (a perfect detector: what is left is the
  design's), from net counts per site (the same fields and model, ``scoring.survival:
  counts``) and from the simulator's true counts: median |log HR error|, bias, 95 % CI coverage and width, slope of
  estimated on true log HR, positive-control error;
- **Cox cross-check**: statsmodels ``PHReg`` on one row per tracked neuron (entry at first
  sighting, event time at the end of the interval of death, strata plate, well-clustered
  errors) against the grouped-time GLM;
- **cost**: registration and tracking time per field (single thread, as the run does them)
  beside single-threaded measurement of a sample of the same fields.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from screening.run.aggregate import aggregate_wells
from screening.config import load_config
from screening.io.screen import field_planes
from screening.run.pipeline import apply_flags, run_screen, score_run
from screening.score import score_screen
from screening.score.km import neuron_times
from screening.simulate import simulate_screen
from screening.simulate.presets import PRESETS, Preset
from screening.simulate.write import read_truth
from screening.run.tasks import measure_field_tracked
from screening.track.sites import choose_survival, register_fields, track_fields, track_run
from screening.track.store import read_objects

sys.path.insert(0, str(Path(__file__).parent))
from score_calibration import covered, fields_from_truth, md_table  # noqa: E402

SITE = ["plate", "well", "site"]
KEYS = ["patient", "compound", "concentration_um"]


# The `hard` culture and microscope (clumps, dim reporter, 35 % late reporter onset) in the
# `screen` design (3 patients, 16 arms of 4 wells, 8 vehicle wells, 4 sites): the size of screen
# the interval-width bar is about; `hard` itself has 3 wells per arm and 2 sites.
BENCH_PRESETS = {
    "hard-screen": replace(
        PRESETS["hard"], name="hard-screen", design=PRESETS["screen"].design,
        imaging=replace(PRESETS["hard"].imaging, sites=PRESETS["screen"].imaging.sites),
    ),
}


# --- one screen -----------------------------------------------------------------------
def run_simulated(preset: str, seed: int, cache: Path, workers: int) -> tuple[Path, Path]:
    """Simulate (once) and run (once) a screen; returns (screen folder, run folder)."""
    screen = cache / f"{preset}-{seed}"
    if not (screen / "config.yaml").is_file():
        chosen: str | Preset = BENCH_PRESETS.get(preset, preset)
        simulate_screen(screen, preset=chosen, seed=seed, overwrite=True)
    run = screen / "run"
    config = load_config(screen / "config.yaml")
    if (run / "neurons.parquet").is_file():
        score_run(run, config=config)  # `screening score`: re-link the stored somata with today's code
    else:
        run_screen(config.with_compute(workers=workers), out_dir=run)
    return screen, run


def truth_positions(truth: dict, px: float, shape: tuple[int, int]) -> pd.DataFrame:
    """Every simulated motor neuron at every timepoint: pixel position and whether it is seen."""
    neurons = truth["neurons"].reset_index(names="truth_id")
    fields = truth["fields"][SITE + ["timepoint", "day", "shift_x_um", "shift_y_um"]]
    rows = neurons.merge(fields, on=SITE)
    rows["y_px"] = (rows["y_um"] - rows["shift_y_um"]) / px - 0.5
    rows["x_px"] = (rows["x_um"] - rows["shift_x_um"]) / px - 0.5
    h, w = shape
    inside = (rows["y_px"] >= -0.5) & (rows["y_px"] < h - 0.5) & (rows["x_px"] >= -0.5) & (rows["x_px"] < w - 0.5)
    rows["inside"] = inside
    rows["alive"] = rows["day"] < rows["death_day"]
    rows["visible"] = inside & rows["alive"] & (rows["onset_day"] <= rows["day"])
    return rows


def match_points(a: np.ndarray, b: np.ndarray, max_px: float) -> list[tuple[int, int]]:
    """One-to-one matches between two point sets within ``max_px`` (linear assignment)."""
    if len(a) == 0 or len(b) == 0:
        return []
    d = cdist(a, b)
    r, c = linear_sum_assignment(np.where(d <= max_px, d, 1e6))
    return [(i, j) for i, j in zip(r, c) if d[i, j] <= max_px]


def truth_outcome(series: pd.DataFrame) -> tuple[int, bool]:
    """(last timepoint alive and in the image, death seen) of one neuron's truth rows."""
    series = series.sort_values("timepoint")
    seen = series["alive"] & series["inside"]
    # Followed from the first timepoint while alive and in the image.
    stop = np.flatnonzero(~seen.to_numpy())
    last_i = (stop[0] - 1) if stop.size else len(series) - 1
    last = int(series["timepoint"].iloc[last_i])
    if last_i + 1 < len(series):
        nxt = series.iloc[last_i + 1]
        return last, bool(not nxt["alive"] and nxt["inside"])
    return last, False


def tracking_scores(run: Path, truth: dict, match_um: float) -> dict:
    """Recall, precision, exact outcome and identity switches of one run against the truth."""
    fields = pd.read_parquet(run / "fields.parquet")
    tracks = pd.read_parquet(run / "tracks.parquet")
    neurons = pd.read_parquet(run / "neurons.parquet")
    px = float(fields["pixel_size_um"].iloc[0])
    shape = (int(fields["height_px"].max()), int(fields["width_px"].max()))
    pos = truth_positions(truth, px, shape)
    usable = fields["qc_pass"].astype(bool) & fields["shift_ok"].astype(bool) & fields["status"].eq("ok")
    first_ok = fields[(fields["timepoint"] == fields["timepoint"].min()) & usable][SITE]
    match_px = match_um / px

    matched_truth: dict[tuple, int] = {}  # (plate, well, site, track_id) -> truth_id at the first timepoint
    switches = n_day0 = n_tracks0 = n_found = 0
    exact = 0
    alive = tracks[tracks["status"] == "alive"]
    by_site_t = {k: g for k, g in alive.groupby(SITE + ["timepoint"])}
    truth_by_site_t = {k: g for k, g in pos[pos["visible"]].groupby(SITE + ["timepoint"])}
    t1 = int(fields["timepoint"].min())
    outcome = {tid: truth_outcome(g) for tid, g in pos.groupby("truth_id")}
    fate = neurons.set_index(SITE + ["track_id"])
    for site in first_ok.itertuples(index=False):
        site = tuple(site)
        truth0 = truth_by_site_t.get((*site, t1), pos.iloc[:0])
        seen0 = by_site_t.get((*site, t1), alive.iloc[:0])
        n_day0 += len(truth0)
        n_tracks0 += len(seen0)
        pairs = match_points(seen0[["y_px", "x_px"]].to_numpy(), truth0[["y_px", "x_px"]].to_numpy(), match_px)
        n_found += len(pairs)
        for i, j in pairs:
            track = int(seen0["track_id"].iloc[i])
            tid = int(truth0["truth_id"].iloc[j])
            matched_truth[(*site, track)] = tid
            f = fate.loc[(*site, track)]
            last, died = outcome[tid]
            exact += int(int(f["last_timepoint"]) == last and bool(f["died"]) == died)
    # Identity along tracks: the truth neuron matched at each timepoint.
    ids: dict[tuple, list[int]] = {}
    for key, seen in by_site_t.items():
        truth_t = truth_by_site_t.get(key, pos.iloc[:0])
        for i, j in match_points(seen[["y_px", "x_px"]].to_numpy(), truth_t[["y_px", "x_px"]].to_numpy(), match_px):
            ids.setdefault((*key[:3], int(seen["track_id"].iloc[i])), []).append(
                (key[3], int(truth_t["truth_id"].iloc[j])))
    for key in matched_truth:
        seq = [tid for _, tid in sorted(ids.get(key, []))]
        switches += sum(a != b for a, b in zip(seq, seq[1:]))
    reversals = int((tracks["status"] == "missed").sum())
    return {
        "day-0 neurons (truth)": n_day0,
        "recall": n_found / max(n_day0, 1),
        "precision": n_found / max(n_tracks0, 1),
        "exact outcome": exact / max(n_found, 1),
        "identity switches per 100 tracks": 100 * switches / max(len(matched_truth), 1),
        "reversals (zombies) per 100 neurons": 100 * reversals / max(len(neurons), 1),
        "left the field": float((neurons["censor_reason"] == "left_field").mean()),
    }


def ideal_tracks(truth: dict, fields: pd.DataFrame, config):
    """The tracking stage run on the simulator's own somata and stage shifts (a perfect detector).

    Separates what detection costs from what the rules and the design cost: the same
    linking, death and censoring rules, on every visible neuron at its true position.
    """
    px = float(fields["pixel_size_um"].iloc[0])
    shape = (int(fields["height_px"].max()), int(fields["width_px"].max()))
    pos = truth_positions(truth, px, shape)
    shifts = truth["fields"][SITE + ["timepoint", "shift_x_um", "shift_y_um"]].copy()
    first = shifts.sort_values("timepoint").groupby(SITE)[["shift_x_um", "shift_y_um"]].transform("first")
    shifts["true_shift_y"] = (shifts["shift_y_um"] - first["shift_y_um"]) / px
    shifts["true_shift_x"] = (shifts["shift_x_um"] - first["shift_x_um"]) / px
    ideal = fields.drop(columns=["shift_y_px", "shift_x_px"]).merge(
        shifts[SITE + ["timepoint", "true_shift_y", "true_shift_x"]], on=SITE + ["timepoint"])
    ideal = ideal.rename(columns={"true_shift_y": "shift_y_px", "true_shift_x": "shift_x_px"})
    ideal["shift_ok"] = True
    objects = pos[pos["visible"]].merge(ideal[SITE + ["timepoint", "field_key"]], on=SITE + ["timepoint"])
    return track_fields(ideal, objects, config.tracking)


def method_scores(run: Path, truth: dict) -> dict[str, pd.DataFrame]:
    """Per-patient scores of the same run from tracked survival, net counts and the true counts."""
    config = load_config(run.parent / "config.yaml")
    fields = apply_flags(pd.read_parquet(run / "fields.parquet"), run)
    wells = aggregate_wells(fields)
    tracked, _ = choose_survival(track_run(fields, run, config.tracking), config.scoring)
    true_fields = fields_from_truth(truth)
    ideal, _ = choose_survival(ideal_tracks(truth, fields, config), config.scoring)
    out = {
        "tracked neurons": score_screen(fields, wells, config.scoring, tracked_intervals=tracked).scores,
        "tracked, true somata": score_screen(fields, wells, config.scoring, tracked_intervals=ideal).scores,
        "net counts (measured)": score_screen(fields, wells, config.scoring).scores,
        "net counts (true)": score_screen(true_fields, aggregate_wells(true_fields), config.scoring).scores,
    }
    effects = truth["effects"].assign(true_log_hr=lambda e: np.log(e["true_hr"]))
    return {k: v.merge(effects[KEYS + ["true_log_hr"]], on=KEYS, how="left") for k, v in out.items()}


def hr_rows(per: pd.DataFrame) -> dict:
    est = per.dropna(subset=["log_hr", "se", "true_log_hr"])
    err = est["log_hr"] - est["true_log_hr"]
    crit = stats.t.ppf(0.975, est["df"])
    slope = np.polyfit(est["true_log_hr"], est["log_hr"], 1)[0] if est["true_log_hr"].nunique() > 1 else np.nan
    pc = est[est["role"] == "positive_control"]
    return {
        "estimates": len(est),
        "median abs log HR error": float(err.abs().median()),
        "bias": float(err.mean()),
        "95% CI coverage": float(covered(est["log_hr"], est["se"], crit, est["true_log_hr"]).mean()),
        "median CI width": float(np.median(2 * crit * est["se"])),
        "slope est. on true": float(slope),
        "positive control error": float((pc["log_hr"] - pc["true_log_hr"]).mean()),
    }


def cox_check(run: Path, per_tracked: pd.DataFrame) -> pd.DataFrame:
    """statsmodels PHReg on one row per tracked neuron (delayed entry, strata plate, clusters well)."""
    from statsmodels.duration.hazard_regression import PHReg

    from screening.score.plate_qc import edge_wells

    fields = pd.read_parquet(run / "fields.parquet")
    plate_map = fields[["plate", "well", "patient", "compound", "concentration_um", "role"]].drop_duplicates(
        ["plate", "well"])
    plate_map["edge"] = edge_wells(plate_map[["plate", "well"]]).to_numpy().astype(float)
    times = neuron_times(pd.read_parquet(run / "neurons.parquet").merge(plate_map, on=["plate", "well"]))
    rows = []
    for patient, g in times.groupby("patient"):
        g = g[g["role"] != "empty"]
        vehicle = g["role"].isin(["vehicle", "negative_control"])
        arm = np.where(vehicle, "vehicle", g["compound"].astype(str) + "@" + g["concentration_um"].astype(str))
        design = pd.get_dummies(pd.Series(arm, index=g.index), dtype=float).drop(columns="vehicle")
        exog = design.assign(edge=g["edge"]) if g["edge"].nunique() > 1 else design
        model = PHReg(g["time"].to_numpy(), exog.to_numpy(), status=g["event"].to_numpy(),
                      entry=g["entry"].to_numpy(), strata=g["plate"].to_numpy(), ties="efron")
        fit = model.fit(groups=g["well"].to_numpy())
        for name, value in zip(exog.columns, fit.params):
            if "@" in name:
                compound, conc = name.rsplit("@", 1)
                rows.append({"patient": patient, "compound": compound, "concentration_um": float(conc),
                             "cox_log_hr": value})
    cox = pd.DataFrame(rows)
    return per_tracked.merge(cox, on=KEYS, how="inner").dropna(subset=["log_hr"])


def cost_rows(run: Path, sample: int, rounds: int = 2) -> dict:
    """Registration and tracking seconds per field beside single-threaded measurement.

    Measurement of a sample of fields and registration + tracking of all fields alternate
    ``rounds`` times, so a change in the shared machine's speed falls on both.
    """
    config = load_config(run.parent / "config.yaml")
    fields = apply_flags(pd.read_parquet(run / "fields.parquet"), run)
    objects = read_objects(run)
    picks = fields.sample(min(sample, len(fields)), random_state=0).to_dict("records")
    rules = config.plane_rules()
    spent = {"measure": 0.0, "register": 0.0, "track": 0.0}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for rec in picks:
            measure_field_tracked(field_planes(rec), config, rec["pixel_size_um"], rules[rec["plate"]])
        t1 = time.perf_counter()
        register_fields(fields, run, config.tracking)
        t2 = time.perf_counter()
        track_fields(fields, objects, config.tracking)
        t3 = time.perf_counter()
        spent["measure"] += (t1 - t0) / len(picks)
        spent["register"] += (t2 - t1) / len(fields)
        spent["track"] += (t3 - t2) / len(fields)
    per = {k: v / rounds for k, v in spent.items()}
    return {
        "fields": len(fields),
        "measure s/field": per["measure"],
        "register s/field": per["register"],
        "track s/field": per["track"],
        "registration + tracking / measurement": (per["register"] + per["track"]) / per["measure"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="hard", help="a simulator preset or one of " + ", ".join(BENCH_PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/track_bench"))
    parser.add_argument("--match-um", type=float, default=5.0, help="truth-to-soma match radius (µm)")
    parser.add_argument("--cost-sample", type=int, default=24, help="fields measured for the cost comparison")
    parser.add_argument("--fresh", action="store_true", help="re-simulate and re-run")
    args = parser.parse_args(argv)
    if args.fresh and args.cache.exists():
        shutil.rmtree(args.cache)
    args.cache.mkdir(parents=True, exist_ok=True)
    track_rows, per_method, cox, cost = [], {}, [], []
    for seed in args.seeds:
        t0 = time.monotonic()
        screen, run = run_simulated(args.preset, seed, args.cache, args.workers)
        truth = read_truth(screen)
        track_rows.append({"seed": seed, **tracking_scores(run, truth, args.match_um)})
        for name, per in method_scores(run, truth).items():
            per_method.setdefault(name, []).append(per.assign(seed=seed))
        cox.append(cox_check(run, per_method["tracked neurons"][-1]))
        cost.append({"seed": seed, **cost_rows(run, args.cost_sample)})
        print(f"seed {seed}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"## Tracking, preset `{args.preset}`, seeds {args.seeds}\n")
    table = pd.DataFrame(track_rows)
    mean = table.drop(columns="seed").mean().to_dict()
    mean["day-0 neurons (truth)"] = int(table["day-0 neurons (truth)"].sum())
    print(md_table(track_rows + [{"seed": "all (mean)", **mean}]))
    print("\n## Hazard ratios (per patient × arm, all seeds)\n")
    print(md_table([{"survival from": k, **hr_rows(pd.concat(v))} for k, v in per_method.items()]))
    both = pd.concat(cox)
    diff = (both["cox_log_hr"] - both["log_hr"]).abs()
    print(f"\nCox cross-check (statsmodels PHReg, one row per tracked neuron, {len(both)} estimates): "
          f"largest |log HR difference| {diff.max():.3f}, median {diff.median():.3f}\n")
    print("## Cost (single thread)\n")
    print(md_table(cost))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
