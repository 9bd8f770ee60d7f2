"""A run folder as the plugin sees it: its tables, its config and its plate maps.

Everything here is plain pandas on the library's tables (no Qt), so the widgets
stay thin and the logic is testable without a display. Metrics are read from the
tables the pipeline wrote or computed by the library's own functions
(:func:`screening.score.plate_qc.well_survival`, :func:`screening.plate.usable_fields`);
the plugin computes no statistics of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from screening.plate import usable_fields
from screening.config import RunConfig
from screening.io.flags import FLAG_COLUMNS, read_flags, write_flags
from screening.io.platemap import PlateMapError, read_plate_map
from screening.io.wells import normalize_well, well_row_col
from screening.run.pipeline import apply_flags, load_calibrations, read_manifest
from screening.report.summaries import well_survival_curves
from screening.plate import plate_shape
from screening.score.plate_qc import well_survival

#: Metric name shown in the plate view -> short description (its colour-bar label).
METRICS = {
    "motor neurons": "motor neurons at the chosen day (sum of usable fields)",
    "survival fraction": "motor neurons at the last day / first day, sites usable at both ends",
    "neurite length per neuron": "neurite length per motor neuron at the chosen day (µm)",
    "hazard ratio": "hazard ratio of the well's compound vs its patient's vehicle (scores.csv)",
    "QC pass": "fraction of the well's fields that passed QC and are not flagged",
}
#: Metrics that depend on the chosen day.
DAY_METRICS = ("motor neurons", "neurite length per neuron")


class RunFolderError(ValueError):
    """A folder that is not a usable run folder; the message says what is missing."""


def is_run_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``manifest.json`` and ``fields.parquet``."""
    path = Path(path)
    return path.is_dir() and (path / "manifest.json").is_file() and (path / "fields.parquet").is_file()


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


@dataclass
class QCRun:
    """The tables of one run folder, reloaded after re-scoring.

    Attributes
    ----------
    run_dir : Path
    config : RunConfig
        The run's config, rebuilt from ``manifest.json``.
    fields, wells, scores, ranking : DataFrame
        ``fields.parquet``, ``wells.parquet``, ``scores.csv``, ``ranking.csv``
        (empty tables when absent).
    plate_map : DataFrame
        ``plate, well, patient, compound, concentration_um, role`` from every
        plate's ``layout.csv`` (including ``empty`` wells, which have no fields);
        falls back to the fields table's map columns when a layout is unreadable.
    calibrations : dict
        Plate -> its :class:`~screening.segment.calibration.Calibration` from
        ``calibration.csv`` (empty for runs made before plates were calibrated).
    """

    run_dir: Path
    config: RunConfig
    fields: pd.DataFrame
    wells: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranking: pd.DataFrame = field(default_factory=pd.DataFrame)
    plate_map: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibrations: dict = field(default_factory=dict)

    # -- loading -------------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: str | Path) -> QCRun:
        """Read a run folder's tables (fast: no images are read).

        Raises
        ------
        RunFolderError
            When the folder lacks ``manifest.json`` or ``fields.parquet`` or its
            config cannot be rebuilt.
        """
        run_dir = Path(run_dir)
        if not is_run_folder(run_dir):
            raise RunFolderError(
                f"{run_dir}: not a run folder (needs manifest.json and fields.parquet, made by `screening run`)"
            )
        try:
            config = RunConfig.model_validate(read_manifest(run_dir)["config"])
        except Exception as exc:  # noqa: BLE001 - any manifest problem is reported the same way
            raise RunFolderError(f"{run_dir}/manifest.json: cannot rebuild the run config ({exc})") from None
        fields = pd.read_parquet(run_dir / "fields.parquet")
        run = cls(run_dir, config, fields)
        run.plate_map = run._read_plate_maps()
        run.calibrations = load_calibrations(run_dir)
        run.reload_scores()
        return run

    def _read_plate_maps(self) -> pd.DataFrame:
        cols = ["plate", "well", "patient", "compound", "concentration_um", "role"]
        maps = []
        for plate in self.config.plates:
            try:
                maps.append(read_plate_map(plate.layout).assign(plate=plate.id))
            except (PlateMapError, OSError):
                # The layout moved since the run: the fields table carries the map of imaged wells.
                have = [c for c in cols if c in self.fields]
                maps.append(self.fields.loc[self.fields["plate"] == plate.id, have].drop_duplicates(["plate", "well"]))
        return pd.concat(maps, ignore_index=True).reindex(columns=cols) if maps else pd.DataFrame(columns=cols)

    def reload_scores(self) -> None:
        """Re-read ``wells.parquet``, ``scores.csv`` and ``ranking.csv`` (after :func:`score_run`)."""
        wells = self.run_dir / "wells.parquet"
        self.wells = pd.read_parquet(wells) if wells.is_file() else pd.DataFrame()
        self.scores = _read_csv(self.run_dir / "scores.csv")
        self.ranking = _read_csv(self.run_dir / "ranking.csv")

    # -- the plate -----------------------------------------------------------------
    @property
    def plates(self) -> list[str]:
        return [p.id for p in self.config.plates]

    @property
    def days(self) -> list[float]:
        """Days imaged in this run, ascending."""
        return sorted(float(d) for d in self.fields["day"].dropna().unique())

    def plate_wells(self, plate: str) -> list[str]:
        """Every well of a plate (plate map and imaged wells), in row-major order."""
        wells = set(self.plate_map.loc[self.plate_map["plate"] == plate, "well"])
        wells |= set(self.fields.loc[self.fields["plate"] == plate, "well"])
        return sorted(wells, key=well_row_col)

    def imaged_wells(self, plate: str) -> list[str]:
        return sorted(set(self.fields.loc[self.fields["plate"] == plate, "well"]), key=well_row_col)

    def plate_shape(self, plate: str) -> tuple[int, int]:
        """(rows, columns) of the standard plate that holds the plate's wells."""
        return plate_shape(self.plate_wells(plate))

    def roles(self, plate: str) -> dict[str, str]:
        """Well -> role for one plate."""
        pm = self.plate_map[self.plate_map["plate"] == plate]
        return dict(zip(pm["well"], pm["role"].fillna(""), strict=True))

    def flagged_wells(self, plate: str) -> set[str]:
        """Wells of the plate with at least one flag (whole well or one site)."""
        flags = self.flags
        return set(flags.loc[flags["plate"] == plate, "well"])

    # -- metrics -------------------------------------------------------------------
    def well_values(self, plate: str, metric: str, day: float | None = None) -> pd.Series:
        """One value per well of ``plate`` for a plate-view metric (index: well).

        Parameters
        ----------
        plate : str
        metric : str
            A key of :data:`METRICS`.
        day : float, optional
            Day for the day-dependent metrics (:data:`DAY_METRICS`); default the last day.
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {list(METRICS)}")
        if metric in DAY_METRICS:
            days = self.days
            day = days[-1] if day is None and days else day
            if self.wells.empty:
                return pd.Series(dtype=float)
            rows = self.wells[(self.wells["plate"] == plate) & (self.wells["day"] == day)]
            column = "n_neurons" if metric == "motor neurons" else "neurite_length_per_neuron_um"
            return rows.set_index("well")[column].astype(float)
        fields = apply_flags(self.fields[self.fields["plate"] == plate], self.run_dir)
        if metric == "survival fraction":
            surv = well_survival(fields, window_days=self.config.scoring.window_days)
            return surv.set_index("well")["survival"].astype(float)
        if metric == "QC pass":
            return fields.assign(_ok=usable_fields(fields).to_numpy(float)).groupby("well")["_ok"].mean()
        # hazard ratio: the per-patient row of scores.csv for the well's compound and dose
        keys = ["patient", "compound", "concentration_um"]
        if self.scores.empty or not set(keys + ["hazard_ratio"]) <= set(self.scores):
            return pd.Series(dtype=float)
        pm = self.plate_map[self.plate_map["plate"] == plate]
        scores = self.scores[keys + ["hazard_ratio"]].copy()
        scores["concentration_um"] = scores["concentration_um"].astype(float)
        joined = pm.assign(concentration_um=pm["concentration_um"].astype(float)).merge(scores, on=keys, how="left")
        return joined.set_index("well")["hazard_ratio"].astype(float)

    def plate_grid(self, plate: str, metric: str, day: float | None = None) -> np.ndarray:
        """The metric as a (rows, columns) float array; NaN where a well has no value."""
        n_rows, n_cols = self.plate_shape(plate)
        grid = np.full((n_rows, n_cols), np.nan)
        for well, value in self.well_values(plate, metric, day).items():
            r, c = well_row_col(well)
            if r < n_rows and c < n_cols and pd.notna(value):
                grid[r, c] = value
        return grid

    # -- one well ------------------------------------------------------------------
    def pixel_size_um(self, plate: str) -> float | None:
        """The plate's pixel size (µm) as the run measured it; None when the run did not record one."""
        if "pixel_size_um" not in self.fields:
            return None
        sizes = pd.to_numeric(self.fields.loc[self.fields["plate"] == plate, "pixel_size_um"], errors="coerce").dropna()
        return float(sizes.iloc[0]) if len(sizes) and sizes.iloc[0] > 0 else None

    def well_fields(self, plate: str, well: str) -> pd.DataFrame:
        """The fields of one well, sorted by site then timepoint."""
        rows = self.fields[(self.fields["plate"] == plate) & (self.fields["well"] == normalize_well(well))]
        return rows.sort_values(["site", "timepoint"], kind="stable").reset_index(drop=True)

    def well_counts(self, plate: str, well: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The well's motor-neuron counts over time: (per well from wells.parquet, per site from fields).

        Returns
        -------
        totals : DataFrame
            ``day, n_neurons, n_fields`` (usable fields summed; NaN when none).
        sites : DataFrame
            ``site, day, n_neurons, usable`` (every measured field).
        """
        well = normalize_well(well)
        if self.wells.empty:
            totals = pd.DataFrame(columns=["day", "n_neurons", "n_fields"])
        else:
            rows = self.wells[(self.wells["plate"] == plate) & (self.wells["well"] == well)]
            totals = rows.sort_values("day")[["day", "n_neurons", "n_fields"]].reset_index(drop=True)
        fields = apply_flags(self.well_fields(plate, well), self.run_dir)
        sites = fields.assign(usable=usable_fields(fields).to_numpy(bool))[["site", "day", "n_neurons", "usable"]]
        return totals, sites

    def well_survival(self, plate: str, well: str) -> pd.DataFrame:
        """The well's surviving fraction of its first-day motor neurons at each day (``day, survival``).

        Only sites usable at the first day and at that day count (the library's
        :func:`screening.report.summaries.well_survival_curves`, honouring flags).
        """
        fields = apply_flags(self.well_fields(plate, well), self.run_dir)
        curves = well_survival_curves(fields)
        return curves[["day", "survival"]].sort_values("day").reset_index(drop=True)

    def well_info(self, plate: str, well: str) -> dict:
        """Plate-map entry of one well (patient, compound, concentration_um, role); {} if unmapped."""
        pm = self.plate_map[(self.plate_map["plate"] == plate) & (self.plate_map["well"] == normalize_well(well))]
        return pm.iloc[0].to_dict() if len(pm) else {}

    # -- flags ---------------------------------------------------------------------
    @property
    def flags(self) -> pd.DataFrame:
        """``qc_flags.csv`` as a table (empty when there is none)."""
        return read_flags(self.run_dir)

    def set_flag(self, plate: str, well: str, site: int | None = None, reason: str = "") -> Path:
        """Flag a well (``site=None``) or one site of it; replaces an existing flag on the same target.

        Writes ``qc_flags.csv`` atomically (:func:`screening.io.flags.write_flags`).
        """
        row = pd.DataFrame(
            [{"plate": plate, "well": normalize_well(well), "site": site, "reason": reason.strip()}],
            columns=FLAG_COLUMNS,
        )
        row["site"] = row["site"].astype("Int64")
        flags = self.flags
        return write_flags(self.run_dir, pd.concat([flags, row], ignore_index=True) if len(flags) else row)

    def remove_flag(self, plate: str, well: str, site: int | None = None) -> Path:
        """Remove the flag on a well (``site=None``: the whole-well flag) or on one site."""
        flags = self.flags
        same_site = flags["site"].isna() if site is None else flags["site"].eq(site).fillna(False)
        keep = ~((flags["plate"] == plate) & (flags["well"] == normalize_well(well)) & same_site)
        return write_flags(self.run_dir, flags[keep.to_numpy(bool)])


__all__ = ["DAY_METRICS", "METRICS", "QCRun", "RunFolderError", "is_run_folder"]
