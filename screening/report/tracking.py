"""Report section of a tracked run: Kaplan-Meier curves per patient and arm, numbers at risk,
and what tracking saw (deaths, censoring, reversals). Reads ``neurons.parquet`` and
``tracks.parquet`` beside the other tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from screening.plate import is_vehicle
from screening.report import figures as fg
from screening.report import summaries as sm
from screening.report.load import RunTables
from screening.report.markup import Table, conc, integer, render, svg, text
from screening.score.km import km_by_arm
from screening.track.sites import n_followed_dim

SECTION = ("tracking", "Tracked neurons")
_CENSOR_TEXT = {"end": "followed to the end", "left_field": "left the field", "field_unusable": "field unusable",
                "unconfirmed": "seen once after the first day (not followed)"}


def _read(path):
    try:
        return pd.read_parquet(path) if path.is_file() else None
    except Exception:  # noqa: BLE001 -- an unreadable table is reported, not fatal
        return None


def survival_source(tables: RunTables) -> str:
    """Which table the hazard ratios came from, as ``scores.csv`` records it."""
    scores = tables.scores
    if scores is None or "survival" not in scores or scores["survival"].dropna().empty:
        return "counts"
    return str(scores["survival"].dropna().iloc[0])


def km_figure(km: pd.DataFrame, patients: list[str], *, baseline_role: str = "vehicle") -> Figure:
    """One panel per patient: Kaplan-Meier survival of its tracked neurons per arm.

    Vehicle grey, positive control blue dashed, treatments in the palette's other colours.
    """
    fig = Figure(figsize=(3.4 * max(len(patients), 1) + 0.6, 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(patients), 1), sharey=True, squeeze=False)[0])
    vehicle = is_vehicle(km["role"].astype(str), baseline_role)
    others = km.loc[~vehicle & km["role"].ne("positive_control"), ["compound", "concentration_um"]]
    arms = list(dict.fromkeys(map(tuple, others.to_numpy())))
    palette = dict(zip(arms, [f"C{1 + i % 9}" for i in range(len(arms))]))  # C0 is the control blue
    for ax, patient in zip(axes, patients):
        mine = km[km["patient"].astype(str) == patient]
        for (compound, c, role), g in mine.groupby(["compound", "concentration_um", "role"], dropna=False):
            is_veh = bool(is_vehicle(pd.Series([str(role)]), baseline_role).iloc[0])
            color = fg.VEHICLE_COLOR if is_veh else fg.CONTROL_COLOR if role == "positive_control" else palette.get(
                (compound, c), fg.OTHER_COLOR)
            label = "vehicle" if is_veh else f"{compound} {c:g} µM"
            ax.step(g["day"], g["survival"], where="post", color=color, lw=1.6,
                    ls="--" if role == "positive_control" else "-", label=label)
        ax.set_title(str(patient), loc="left")
        ax.set_xlabel("day")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("surviving fraction (KM)")
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(loc="lower left", fontsize=7, handlelength=1.6)
    return fig


def _at_risk_table(km: pd.DataFrame) -> Table:
    days = sorted(km["day"].unique())
    rows = []
    for (patient, compound, c), g in km.groupby(["patient", "compound", "concentration_um"], dropna=False):
        by_day = g.set_index("day")["at_risk"]
        rows.append([text(patient), text(compound), conc(c), *[integer(by_day.get(d)) for d in days]])
    headers = ["patient", "compound", "µM", *[f"day {d:g}" for d in days]]
    return Table(headers, rows, caption="Neurons at risk (entered and still followed) at each day",
                 numeric=[False, False, True, *[True] * len(days)])


def tracking_section(tables: RunTables, baseline_role: str, sink: fg.FigureSink | None = None) -> str:
    """The "Tracked neurons" section (a note when the run has no tracks).

    ``baseline_role`` is ``scoring.baseline_role``: the arm drawn as vehicle.
    """
    values = {"id": SECTION[0], "title": SECTION[1], "tracked": survival_source(tables) == "tracked", "svg": None}
    neurons = _read(tables.run_dir / "neurons.parquet")
    if neurons is None or neurons.empty or tables.fields is None:
        return render("tracking.html", **values)
    fields = sm.with_plate_map(tables.fields, tables.wells)
    plate_map = fields[["plate", "well", *sm.MAP_COLUMNS]].drop_duplicates(["plate", "well"])
    neurons = neurons.merge(plate_map, on=["plate", "well"], how="inner")
    tracks = _read(tables.run_dir / "tracks.parquet")
    km = km_by_arm(neurons, sorted(fields["day"].dropna().unique()))
    patients = sorted(km["patient"].dropna().astype(str).unique())
    with fg.style("tracking"):
        values["svg"] = svg(fg.figure_svg(km_figure(km, patients, baseline_role=baseline_role), "kaplan-meier", sink))
    reasons = neurons.loc[~neurons["died"].astype(bool), "censor_reason"].value_counts()
    return render(
        "tracking.html", **values, n_neurons=integer(len(neurons)), n_deaths=integer(int(neurons["died"].sum())),
        censored=[(integer(n), _CENSOR_TEXT.get(r, text(r))) for r, n in reasons.items()],
        reversals=integer(int((tracks["status"] == "missed").sum()) if tracks is not None else 0),
        n_dim=integer(n_followed_dim(tracks)),
        at_risk=_at_risk_table(km),
    )
