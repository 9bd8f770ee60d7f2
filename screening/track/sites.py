"""The tracking stage over a whole run: register each site, then follow its neurons.

Runs on the client after measurement (registration, from the stored thumbnails) and in
the scoring stage (linking and events, from the stored somata, so ``screening score``
honours ``qc_flags.csv``). Both are cheap next to measurement (benchmarks/README.md,
"Tracking"), so they need no Dask graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from screening.config.scoring import ScoringConfig
from screening.config.tracking import TrackingConfig
from screening.io.atomic import write_atomic
from screening.io.runfolder import TRACKED
from screening.plate import MAP_COLUMNS, SITE_KEYS, usable_fields
from screening.score.intervals import in_window
from screening.track.events import INTERVAL_COLUMNS, NEURON_COLUMNS, TRACK_COLUMNS, follow_site
from screening.track.objects import thumbnail_factor
from screening.track.register import SHIFT_COLUMNS, register_series
from screening.track.store import read_objects, read_well_thumbs

NEURONS_FILE, TRACKS_FILE = TRACKED


def register_fields(fields: pd.DataFrame, run_dir, config: TrackingConfig) -> pd.DataFrame:
    """``fields`` with the registration columns of every site's timepoints.

    Parameters
    ----------
    fields : DataFrame
        Field rows with ``plate, well, site, timepoint, field_key, pixel_size_um`` and the
        image size ``height_px, width_px``.
    run_dir : path
        Run folder holding ``thumbs/``.
    config : TrackingConfig

    Returns
    -------
    DataFrame
        ``fields`` plus ``shift_y_px, shift_x_px`` (add to a position in the field's image
        to place it in the site's first image, px), ``shift_ok`` and
        ``registration_correlation``.
    """
    out = fields.copy()
    parts = []
    # The upsampled DFT multiplies small matrices: BLAS threads cost more to start than they
    # save (8 -> 1.4 ms per pair of 170² images on 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        for (plate, well), rows in out.groupby(["plate", "well"], sort=False):
            parts += _register_well(rows, read_well_thumbs(run_dir, plate, well), config)
    shifts = pd.concat(parts) if parts else pd.DataFrame(columns=SHIFT_COLUMNS)
    for col in SHIFT_COLUMNS:
        out[col] = shifts[col].reindex(out.index)
    out["shift_ok"] = out["shift_ok"].fillna(False).astype(bool)
    return out


def _register_well(rows: pd.DataFrame, thumbs: dict, config: TrackingConfig) -> list[pd.DataFrame]:
    """Registration columns of one well's sites (indexed like ``rows``).

    Only fields that passed measurement and field QC take part: a defocused or failed first
    image must not become the frame every later timepoint is registered to.
    """
    parts = []
    passed = usable_fields(rows.drop(columns="flagged", errors="ignore"))
    for _, site in rows.groupby("site", sort=False):
        site = site.sort_values("timepoint")
        images = [thumbs.get(k) if passed[i] else None for i, k in zip(site.index, site["field_key"])]
        px = float(site["pixel_size_um"].iloc[0])
        factor = thumbnail_factor(px, config.registration_pixel_um)
        shifts = register_series(
            images, scale=(factor, factor), upsample_factor=config.upsample_factor,
            max_shift_px=config.max_shift_um / px, min_correlation=config.min_registration_correlation,
        )
        parts.append(shifts.set_index(site.index))
    return parts


@dataclass
class TrackResult:
    """Tracking of a whole run (:func:`track_fields`)."""

    neurons: pd.DataFrame
    tracks: pd.DataFrame
    intervals: pd.DataFrame
    reversals: int

    @property
    def empty(self) -> bool:
        return self.neurons.empty


def tracking_usable(fields: pd.DataFrame) -> pd.Series:
    """Fields whose somata may be linked: usable for counts and with a trusted registration."""
    shift_ok = fields["shift_ok"].fillna(False).astype(bool) if "shift_ok" in fields else False
    return usable_fields(fields) & shift_ok


def track_fields(fields: pd.DataFrame, objects: pd.DataFrame, config: TrackingConfig) -> TrackResult:
    """Follow every site's neurons (:func:`screening.track.events.follow_site` per site).

    Parameters
    ----------
    fields : DataFrame
        Field rows with registration columns (:func:`register_fields`), ``qc_pass``,
        ``status``, ``flagged`` (optional), ``day``, ``pixel_size_um``, ``height_px,
        width_px`` and the plate-map columns.
    objects : DataFrame
        Stored somata (:func:`screening.track.store.read_objects`), matched to the field
        rows by ``field_key``.
    config : TrackingConfig

    Returns
    -------
    TrackResult
        ``neurons`` (``plate, well, site`` + :data:`NEURON_COLUMNS`), ``tracks`` (``plate,
        well, site`` + :data:`TRACK_COLUMNS`), ``intervals`` (``plate, well, site``, the
        plate-map columns and :data:`INTERVAL_COLUMNS`) and the run's reversal count.
    """
    data = fields.copy()
    data["usable"] = tracking_usable(data).to_numpy()
    order = data.groupby(["plate", "timepoint"])["day"].first().reset_index().sort_values(["plate", "timepoint"])
    order["tindex"] = order.groupby("plate").cumcount()
    data = data.merge(order[["plate", "timepoint", "tindex"]], on=["plate", "timepoint"])
    objects = objects[objects["field_key"].isin(set(data["field_key"]))]
    by_site = {k: g for k, g in objects.groupby(SITE_KEYS, sort=False)}
    neurons, tracks, intervals, reversals = [], [], [], 0
    for key, site in data.groupby(SITE_KEYS, sort=True):
        if not site["usable"].any():
            continue
        px = float(site["pixel_size_um"].iloc[0])
        series = site[["timepoint", "day", "tindex", "usable", "shift_y_px", "shift_x_px", "height_px", "width_px"]]
        found = follow_site(
            by_site.get(key, objects.iloc[:0]), series,
            max_distance_px=config.max_link_distance_um / px, max_gap=config.max_gap,
            edge_margin_px=config.edge_margin_um / px, follow_dim=config.follow_dim_nuclei,
        )
        keys = dict(zip(SITE_KEYS, key))
        neurons.append(found.neurons.assign(**keys))
        tracks.append(found.tracks.assign(**keys))
        mapped = {c: site[c].iloc[0] for c in MAP_COLUMNS if c in site}
        intervals.append(found.intervals.assign(**keys, **mapped))
        reversals += found.reversals

    def stack(parts, columns):
        columns = SITE_KEYS + columns
        parts = [p for p in parts if len(p)]
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        return table[columns + [c for c in table.columns if c not in columns]]

    return TrackResult(
        stack(neurons, NEURON_COLUMNS), stack(tracks, TRACK_COLUMNS),
        stack(intervals, [c for c in MAP_COLUMNS if c in data] + INTERVAL_COLUMNS), reversals,
    )


def tracked_intervals(result: TrackResult, *, window_days: tuple[float, float] | None = None) -> pd.DataFrame:
    """Site × interval rows from tracks, in the form :func:`screening.score.intervals.site_intervals` gives.

    ``at_risk`` and ``deaths`` count tracked neurons (neuron × interval rows summed per site:
    the binomial likelihood and the well-clustered scores are the same); ``rise`` is 0 (a
    newcomer enters the risk set as its own track, it hides no death); ``interval_end``
    marks intervals that bridge an unusable timepoint (their own stratum in the model).
    """
    iv = result.intervals
    keep = in_window(iv["day_start"], window_days) & in_window(iv["day_end"], window_days)
    iv = iv[keep.to_numpy(bool)]
    iv = iv[iv["at_risk"] > 0].copy()
    iv["rise"] = 0.0
    iv["at_risk"] = iv["at_risk"].astype(float)
    iv["deaths"] = iv["deaths"].astype(float)
    return iv.reset_index(drop=True)


def track_run(fields: pd.DataFrame, run_dir, config: TrackingConfig) -> TrackResult | None:
    """Track a run folder's stored somata; None for one timepoint or a run measured before tracking."""
    if "shift_ok" not in fields or fields["timepoint"].nunique() < 2:
        return None
    return track_fields(fields, read_objects(run_dir), config)


def n_followed_dim(tracks: pd.DataFrame | None) -> int:
    """Neurons followed through at least one timepoint as a dim nucleus (0 for runs without ``dim``)."""
    if tracks is None or "dim" not in tracks or tracks.empty:
        return 0
    return int(tracks.groupby(SITE_KEYS + ["track_id"])["dim"].any().sum())


def write_tracks(result: TrackResult | None, run_dir, *, log=None) -> list[Path]:
    """Write ``neurons.parquet`` and ``tracks.parquet`` atomically (without tracking: remove stale ones)."""
    run_dir = Path(run_dir)
    if result is None:
        for name in (NEURONS_FILE, TRACKS_FILE):
            (run_dir / name).unlink(missing_ok=True)
        return []
    paths = []
    for name, table in ((NEURONS_FILE, result.neurons), (TRACKS_FILE, result.tracks)):
        paths.append(write_atomic(run_dir / name, lambda tmp, t=table: t.to_parquet(tmp, index=False)))
    if log is not None:
        n, died = len(result.neurons), int(result.neurons["died"].sum()) if len(result.neurons) else 0
        log.print(
            f"tracking: {n} neurons followed, {died} deaths seen, {result.reversals} reversal(s) "
            "(neurons missed at one timepoint and found again in place: not counted as deaths), "
            f"{n_followed_dim(result.tracks)} followed through a dim timepoint (reporter just under the cut-off)"
        )
    return paths


def choose_survival(result: TrackResult | None, scoring: ScoringConfig) -> tuple[pd.DataFrame | None, str]:
    """Tracked interval rows for the survival model, or None for net counts, and why counts were used.

    ``scoring.survival = "tracked"`` (the default) uses tracks wherever the run has them: two
    or more timepoints and stored somata. Otherwise the model runs on net counts per site and
    the returned text says why (it becomes a scoring warning).
    """
    if scoring.survival == "counts":
        return None, ""
    if result is None or result.empty:
        return None, (
            "survival from net counts per site, not tracked neurons: this run has no tracks "
            "(one timepoint, or measured before tracking existed: rerun `screening run` to track)"
        )
    return tracked_intervals(result, window_days=scoring.window_days), ""
