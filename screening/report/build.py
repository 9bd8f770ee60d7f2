"""Assemble ``report.html`` from a run folder's tables.

The page opens with the verdict (hits at the configured FDR, plates that failed
QC, fields lost) and then gives the detail: run summary, plate QC, survival
curves, effects (forest plots, ranking, neurite endpoint, dose response) and
problems. Every section is present even when its tables are absent, and then
says which file is missing.

Each section is a function that chooses and formats what to say (plain text,
:class:`~.markup.Table` and SVG figures) and fills its template in
``templates/``, where all the markup lives. Settings come from the run's config
read as a typed :class:`~.settings.ReportConfig`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from screening.config import ScoringConfig
from screening.io.atomic import write_text_atomic
from screening.plate import plate_shape, positive_control_compounds
from screening.report import figures as fg
from screening.report import summaries as sm
from screening.report.calibration import calibration_section
from screening.report.load import OPTIONAL, TABLE_FILES, RunTables, load_run
from screening.report.markup import Cell, Missing, Table, ci, conc, integer, num, pct, pval, render, sort_key, svg, text
from screening.report.settings import ReportConfig, report_config
from screening.report.tracking import SECTION as TRACKING_SECTION
from screening.report.tracking import tracking_section

MAX_SURVIVAL_COMPOUNDS = 10  # rows of survival panels (best-ranked compounds first)
MAX_FOREST = 24
MAX_PLATES = 24
MAX_LISTED = 100  # rows of the long problem tables
MAX_NAMED = 5  # failed fields named in the verdict
MAX_HITS = 8  # hits named in the verdict
FIGURES_DIR = "figures"
SECTIONS = [
    ("verdict", "Verdict"), ("summary", "Run summary"), ("calibration", "Calibration"), ("plate-qc", "Plate QC"),
    ("survival", "Survival"), TRACKING_SECTION, ("effects", "Effects"), ("problems", "Problems"),
]


def _missing(tables: RunTables, *names: str) -> Missing:
    """Which of the tables a part needs are absent (none: one was unreadable)."""
    return Missing([n for n in names if n in tables.missing])


def _q_text(scoring: ScoringConfig) -> str:
    return f"{scoring.fdr_q:g}"


def _label(compound, concentration) -> str:
    return f"{text(compound)} {conc(concentration)} µM"


# ---------------------------------------------------------------- verdict ---------


def verdict(tables: RunTables, config: ReportConfig) -> str:
    q = config.scoring.fdr_q
    hits = None
    if tables.ranking is not None:
        found = sm.hits(tables.ranking, q)
        good = found[found["hazard_ratio"] < 1]
        hits = {
            "n": len(good), "n_ranked": int(tables.ranking["rank"].notna().sum()),
            "listed": [{"label": _label(r.compound, r.concentration_um),
                        "hr": f"HR {num(r.hazard_ratio)} [{ci(r.hr_ci_low, r.hr_ci_high)}]", "q": pval(r.q_value)}
                       for r in good.head(MAX_HITS).itertuples()],
            "more": max(len(good) - MAX_HITS, 0),
            "harmful": [_label(r.compound, r.concentration_um)
                        for r in found[~(found["hazard_ratio"] < 1)].itertuples()],
        }
    plates = None
    if tables.plate_qc is not None:
        failed = sm.failed_plates(tables.plate_qc)
        plates = {
            "total": len(tables.plate_qc),
            "failed": [{"plate": text(r["plate"]),
                        "patient": text(r["patient"]) if "patient" in failed and pd.notna(r.get("patient")) else "",
                        "note": r["note"] if "note" in failed and isinstance(r.get("note"), str) else ""}
                       for _, r in failed.head(10).iterrows()],
            "still_pooled": len(failed) > 0 and not config.scoring.exclude_failed_plates,
        }
    counts = _field_counts(tables)
    fields = None
    if counts:
        named, more = _named_fields(tables.fields)
        fields = {"counts": counts, "named": named, "more": more}
    return render(
        "verdict.html", q=_q_text(config.scoring), hits=hits, plates=plates, fields=fields,
        absent=[(n, TABLE_FILES[n]) for n in tables.missing if n not in OPTIONAL], problems=tables.problems[:5],
    )


def _field_counts(tables: RunTables) -> dict | None:
    f = tables.fields
    if f is not None:
        failed = f["status"].ne("ok")
        return {
            "total": len(f), "ok": int((~failed).sum()), "failed": int(failed.sum()),
            "qc_fail": int((~failed & ~f["qc_pass"]).sum()), "flagged": int(f["flagged"].sum()),
        }
    m = tables.manifest.get("fields")
    if isinstance(m, dict) and "total" in m:
        return {"total": m.get("total", 0), "ok": m.get("ok", 0), "failed": m.get("failed", 0),
                "qc_fail": 0, "flagged": 0}
    return None


def _field_name(r) -> str:
    """``PLATE well A01, site 2, day 7``: a field as a biologist finds it."""
    day = getattr(r, "day", math.nan)
    when = f"day {day:g}" if isinstance(day, int | float) and math.isfinite(day) else f"timepoint {r.timepoint}"
    return f"{r.plate} {r.well}, site {r.site}, {when}"


def _field_reason(r) -> str:
    if r.status != "ok":
        return str(r.error) if isinstance(r.error, str) and r.error else "failed"
    reason = getattr(r, "qc_reason", "")
    return reason if isinstance(reason, str) and reason else "failed field QC"


def _named_fields(fields: pd.DataFrame | None) -> tuple[list[tuple[str, str]], int]:
    """The first failed and QC-failed fields (name, reason), and how many more there are."""
    if fields is None:
        return [], 0
    bad = fields[fields["status"].ne("ok") | ~fields["qc_pass"].astype(bool)]
    named = [(_field_name(r), _field_reason(r)) for r in bad.head(MAX_NAMED).itertuples()]
    return named, max(len(bad) - MAX_NAMED, 0)


# ---------------------------------------------------------------- summary ---------


def summary(tables: RunTables, config: ReportConfig) -> str:
    m = tables.manifest
    if not m:
        return render("summary.html", missing=_missing(tables, "manifest.json"))
    facts = [("Screen", text(m.get("name", config.name)), False), ("Created", text(m.get("created")), False),
             ("Config hash", text(m.get("config_hash")), True), ("Input files", integer(m.get("input_files")), False),
             ("Plates", ", ".join(p.id for p in config.plates) or "–", False)]
    fields = m.get("fields") or {}
    if fields:
        facts.append(("Fields", ", ".join(f"{k} {integer(v)}" for k, v in fields.items()), False))
    counts = _field_counts(tables)
    if counts:
        facts.append(("QC-failed / flagged", f"{counts['qc_fail']} / {counts['flagged']}", False))
    wells = tables.wells
    if wells is not None:
        for col, title in (("patient", "Patients"), ("compound", "Compounds")):
            if col in wells:
                names = sorted(map(str, wells[col].dropna().unique()))
                facts.append((title, f"{len(names)}: {', '.join(names)}", False))
        facts.append(("Wells", integer(wells[["plate", "well"]].drop_duplicates().shape[0]), False))
    if config.timepoints:
        facts.append(("Timepoints → day", ", ".join(f"{k}→{v:g}" for k, v in config.timepoints.items()), False))
    timings = m.get("timings_s") or {}
    if timings:
        facts.append(("Timings", ", ".join(f"{k} {v:.1f} s" if isinstance(v, int | float) else f"{k} {v}"
                                           for k, v in timings.items()), False))
    facts.append(("Scoring", scoring_text(config.scoring), False))
    versions = m.get("versions") or {}
    return render(
        "summary.html", missing=None, facts=facts,
        versions=Table(["Package", "Version"], [[text(k), text(v)] for k, v in versions.items()],
                       id="versions-table") if versions else None,
        config_json=json.dumps(tables.config, indent=2, default=str),
    )


POOLING_NAMES = {
    "dl_satterthwaite": "DerSimonian–Laird random effects, t on the patients' own degrees of freedom (Satterthwaite)",
    "dl_t_inflated": "DerSimonian–Laird random effects, each patient's variance widened to its t interval",
    "dl": "DerSimonian–Laird random effects",
    "hksj": "random effects with the Hartung–Knapp–Sidik–Jonkman interval",
}


def scoring_text(s: ScoringConfig) -> str:
    """The scoring settings of a run in words (no Python values)."""
    window = s.window_days
    parts = [
        f"against each patient's {s.baseline_role} wells",
        f"positive control: {s.positive_control or 'the wells whose role is positive_control'}",
        f"days {window[0]:g}–{window[1]:g}" if window else "all days",
        f"hits at q < {s.fdr_q:g} (Benjamini–Hochberg)",
        "pooled by " + POOLING_NAMES[s.pooling],
        f"well-clustered errors ({s.se_correction.upper()})",
        f"plates fail below Z′ {s.min_z_prime:g}" if s.min_z_prime is not None else "Z′ reported, not gated",
        f"or below {s.min_vehicle_survival:.0%} vehicle survival",
    ]
    if not s.exclude_failed_plates:
        parts.append("failed plates are still pooled")
    return "; ".join(parts)


# ---------------------------------------------------------------- plate QC --------

_QC_HEADS = {"plate": "Plate", "patient": "Patient", "z_prime": "Z′ (robust)", "ssmd": "SSMD",
             "vehicle_survival_end": "Vehicle survival", "positive_survival_end": "+ctrl survival",
             "position_effect": "Position effect", "edge_effect": "Edge effect"}
_QC_TEXT = ("plate", "patient")


def plate_qc_section(tables: RunTables, config: ReportConfig, sink: fg.FigureSink | None = None) -> str:
    qc = tables.plate_qc
    qc_table = None
    if qc is not None:
        pooled = not config.scoring.exclude_failed_plates
        cols = [c for c in _QC_HEADS if c in qc]
        rows, classes = [], []
        for _, r in qc.iterrows():
            row = [Cell(text(r[c])) if c in _QC_TEXT else Cell(num(r[c])) for c in cols]
            passed = r["pass"]
            row.append(Cell("pass" if passed is True else "FAIL" if passed is False else "–",
                            cls="pass" if passed is True else "fail"))
            reason = text(r["note"]) if "note" in qc and isinstance(r["note"], str) else ""
            if passed is False and pooled:
                reason = "; ".join(t for t in (reason, "still pooled (exclude_failed_plates: false)") if t)
            row.append(Cell(reason))
            rows.append(row)
            classes.append("fail" if passed is False else "")
        qc_table = Table([_QC_HEADS[c] for c in cols] + ["QC", "Reason / notes"], rows, id="plate-qc-table",
                         row_classes=classes, numeric=[c not in _QC_TEXT for c in cols] + [False, False])
    return render("plate_qc.html", qc_missing=_missing(tables, "plate_qc.csv") if qc is None else None,
                  qc_table=qc_table, **_heatmaps(tables, sink))


def _heatmaps(tables: RunTables, sink: fg.FigureSink | None) -> dict:
    wells, fields = tables.wells, tables.fields
    if wells is None and fields is None:
        return {"heatmaps_missing": _missing(tables, "wells.parquet", "fields.parquet")}
    plates = sorted(set(wells["plate"]) if wells is not None else set(fields["plate"]))
    cut = ""
    if len(plates) > MAX_PLATES:
        cut = f"Heatmaps of the first {MAX_PLATES} of {len(plates)} plates."
        plates = plates[:MAX_PLATES]
    first = sm.count_at(wells, "first") if wells is not None else None
    last = sm.count_at(wells, "last") if wells is not None else None
    bad = sm.qc_by_well(fields) if fields is not None else None
    figs = []
    for plate in plates:
        panels = []
        if first is not None:
            f = first[first["plate"] == plate]
            l_ = last[last["plate"] == plate]
            d0 = f["day"].iloc[0] if len(f) else math.nan
            d1 = l_["day"].iloc[0] if len(l_) else math.nan
            panels.append((f"motor neurons, day {d0:g}", f.rename(columns={"n_neurons": "value"}), "count"))
            panels.append((f"motor neurons, day {d1:g}", l_.rename(columns={"n_neurons": "value"}), "count"))
        if bad is not None:
            b = bad[bad["plate"] == plate].rename(columns={"n_bad": "value"})
            panels.append(("fields failed / QC-failed / flagged", b, "bad"))
        names = pd.concat([p[1]["well"] for p in panels]) if panels else pd.Series([], dtype=str)
        with fg.style(f"heat-{plate}"):
            fig = fg.plate_heatmaps(panels, str(plate), plate_shape(names))
            figs.append(svg(fg.figure_svg(fig, f"heatmap-{plate}", sink)))
    return {"heatmaps_missing": None, "plates_cut": cut, "heatmaps": figs,
            "have_wells": wells is not None, "have_fields": fields is not None}


# ---------------------------------------------------------------- survival --------


def _compound_order(tables: RunTables) -> list[str]:
    """Compounds by best rank, then the unranked treatments (controls are drawn in every panel)."""
    order: list[str] = []
    if tables.ranking is not None:
        order = list(dict.fromkeys(sm.ranked(tables.ranking)["compound"].astype(str)))
    source = tables.wells if tables.wells is not None else tables.fields
    if source is not None and "role" in source:
        treated = source.loc[source["role"].eq("treatment"), "compound"].dropna().astype(str)
        order += [c for c in sorted(treated.unique()) if c not in order]
    return order


def _fields_for_curves(tables: RunTables) -> pd.DataFrame | None:
    if tables.fields is not None:
        return sm.with_plate_map(tables.fields, tables.wells)
    if tables.wells is not None:
        # Without fields, each well total is one "site": good enough for a picture.
        w = tables.wells
        return w.assign(site=1, status="ok", qc_pass=w.get("qc_pass", True), flagged=False)
    return None


def survival_section(tables: RunTables, config: ReportConfig, sink: fg.FigureSink | None = None) -> str:
    data = _fields_for_curves(tables)
    if data is None:
        return render("survival.html", missing=_missing(tables, "fields.parquet", "wells.parquet"))
    if not set(sm.MAP_COLUMNS) <= set(data.columns):
        return render("survival.html", missing=None, warning="No plate-map columns (patient, compound, role) in "
                      "the fields or wells tables: curves cannot be grouped.")
    scoring = config.scoring
    curves = sm.arm_curves(sm.well_survival_curves(data, window_days=scoring.window_days),
                           confidence=scoring.confidence)
    if curves.empty:
        return render("survival.html", missing=None, warning="No well has usable fields at the first day and later.")
    positive = positive_control_compounds(data, scoring.positive_control)
    compounds = [c for c in _compound_order(tables) if c not in positive]
    curves["compound"] = curves["compound"].astype(str)
    cut = ""
    if not compounds:
        compounds = sorted(positive) or ["(none)"]
    if len(compounds) > MAX_SURVIVAL_COMPOUNDS:
        cut = (f"The {MAX_SURVIVAL_COMPOUNDS} best-ranked of {len(compounds)} compounds; "
               "all are in the ranking table.")
        compounds = compounds[:MAX_SURVIVAL_COMPOUNDS]
    patients = sorted(curves["patient"].dropna().astype(str).unique())
    curves["patient"] = curves["patient"].astype(str)
    with fg.style("survival"):
        fig = fg.survival_figure(curves, compounds, patients, baseline_role=scoring.baseline_role,
                                 positive=positive)
        drawn = svg(fg.figure_svg(fig, "survival", sink))
    return render("survival.html", missing=None, warning="", compounds_cut=cut, svg=drawn,
                  level=f"{scoring.confidence:.0%}")


# ---------------------------------------------------------------- effects ---------


def _neurite(tables: RunTables) -> pd.DataFrame | None:
    r = tables.ranking
    if r is None:
        return None
    if "neurite_ratio" in r:
        return r
    if tables.scores is None:
        return r.assign(neurite_ratio=np.nan)
    n = sm.neurite_by_arm(tables.scores)
    return r.merge(n, on=["compound", "concentration_um"], how="left") if len(n) else r.assign(neurite_ratio=np.nan)


def _ranking(tables: RunTables, scoring: ScoringConfig) -> dict:
    r = _neurite(tables)
    if r is None:
        return {"missing": _missing(tables, "ranking.csv")}
    q = scoring.fdr_q
    rows, classes = [], []
    for x in sm.ranked(r).itertuples():
        hit = pd.notna(x.q_value) and x.q_value < q
        classes.append(("hit" if x.hazard_ratio < 1 else "harm") if hit else "")
        p = getattr(x, "p_value", math.nan)
        n_patients = getattr(x, "n_patients", math.nan)
        responders = getattr(x, "responder_fraction", math.nan)
        rows.append([
            Cell(integer(x.rank), sort_key(x.rank)), Cell(text(x.compound), str(x.compound)),
            Cell(conc(x.concentration_um), sort_key(x.concentration_um)),
            Cell(num(x.hazard_ratio), sort_key(x.hazard_ratio)),
            Cell(ci(x.hr_ci_low, x.hr_ci_high), sort_key(x.hr_ci_high)),
            Cell(pval(p), sort_key(p)), Cell(pval(x.q_value), sort_key(x.q_value)),
            Cell(integer(n_patients), sort_key(n_patients)), Cell(pct(responders), sort_key(responders)),
            Cell(num(x.neurite_ratio), sort_key(x.neurite_ratio)),
        ])
    qt = _q_text(scoring)
    ranked = Table(
        ["Rank", "Compound", "µM", "HR", "95% CI", "p", "q", "Patients", "Responders", "Neurite ratio"], rows,
        id="ranking-table", sortable=True, row_classes=classes, numeric=[True, False] + [True] * 8,
        caption=(f"Pooled over patients (random effects). Green rows: q < {qt} and HR < 1; red: q < {qt} and "
                 "HR ≥ 1. Responders: fraction of patients whose own upper CI bound is below 1. Neurite ratio: "
                 "neurite length per neuron against vehicle, geometric mean over patients. Click a header to sort."))
    unranked = r[r["rank"].isna()]
    return {"missing": None, "table": ranked, "unranked": Table(
        ["Compound", "µM", "HR", "95% CI", "Role", "Note"],
        [[text(x.compound), conc(x.concentration_um), num(x.hazard_ratio), ci(x.hr_ci_low, x.hr_ci_high),
          text(getattr(x, "role", "")), text(getattr(x, "note", ""))] for x in unranked.itertuples()],
        id="unranked-table", numeric=[False, True, True, True, False, False],
        caption="Controls and compounds without a pooled estimate.") if len(unranked) else None}


def _forest(tables: RunTables, sink: fg.FigureSink | None) -> dict:
    if tables.scores is None or tables.ranking is None:
        return {"missing": _missing(tables, "scores.csv", "ranking.csv")}
    scores, ranking = tables.scores, tables.ranking
    order = list(dict.fromkeys(sm.ranked(ranking)["compound"]))
    others = [c for c in dict.fromkeys(ranking["compound"]) if c not in order]
    compounds = others[:1] + order + others[1:]  # the positive control first, as the reference
    positive = positive_control_compounds(ranking)
    compounds = [c for c in compounds if str(c) in positive] + [c for c in compounds if str(c) not in positive]
    cut = ""
    if len(compounds) > MAX_FOREST:
        cut = f"Forest plots of the {MAX_FOREST} first of {len(compounds)} compounds (controls, then rank)."
        compounds = compounds[:MAX_FOREST]
    svgs = []
    for c in compounds:
        with fg.style(f"forest-{c}"):
            title = f"{c} (positive control)" if c in positive else str(c)
            fig = fg.forest_figure(title, scores[scores["compound"] == c], ranking[ranking["compound"] == c])
            svgs.append(svg(fg.figure_svg(fig, f"forest-{c}", sink)))
    return {"missing": None, "cut": cut, "svgs": svgs}


def _neurite_figure(tables: RunTables, scoring: ScoringConfig, sink: fg.FigureSink | None) -> dict:
    r = _neurite(tables)
    if r is None or tables.scores is None:
        return {"missing": _missing(tables, "scores.csv", "ranking.csv")}
    if r["neurite_ratio"].notna().sum() == 0:
        return {"missing": None, "svg": None}
    table_ = sm.ranked(r)
    if table_.empty:
        table_ = r
    with fg.style("neurite"):
        return {"missing": None, "svg": svg(fg.figure_svg(fg.neurite_figure(table_, fdr_q=scoring.fdr_q),
                                                          "neurite-vs-survival", sink))}


def _dose(tables: RunTables, sink: fg.FigureSink | None) -> dict:
    if tables.ranking is None or tables.scores is None:
        return {"missing": _missing(tables, "scores.csv", "ranking.csv")}
    r, s, dose = tables.ranking, tables.scores, tables.dose
    pos = r[r["concentration_um"] > 0]
    multi = pos.groupby("compound")["concentration_um"].nunique()
    compounds = [c for c in dict.fromkeys(sm.ranked(r)["compound"]) if multi.get(c, 0) >= 2]
    compounds += [c for c in multi.index if multi[c] >= 2 and c not in compounds]
    svgs = []
    for c in compounds[:MAX_FOREST]:
        title = ""
        if dose is not None and {"compound", "patient", "slope", "p_value"} <= set(dose.columns):
            row = dose[(dose["compound"] == c) & (dose["patient"].astype(str) == "pooled")]
            if len(row):
                title = f"slope {num(row['slope'].iloc[0])} log HR per 10× (p = {pval(row['p_value'].iloc[0])})"
        with fg.style(f"dose-{c}"):
            fig = fg.dose_figure(str(c), s[s["compound"] == c], r[r["compound"] == c], title)
            svgs.append(svg(fg.figure_svg(fig, f"dose-{c}", sink)))
    return {"missing": None, "svgs": svgs, "have_trend": dose is not None}


def effects_section(tables: RunTables, config: ReportConfig, sink: fg.FigureSink | None = None) -> str:
    return render(
        "effects.html", q=_q_text(config.scoring), ranking=_ranking(tables, config.scoring),
        forest=_forest(tables, sink), neurite=_neurite_figure(tables, config.scoring, sink), dose=_dose(tables, sink),
    )


# ---------------------------------------------------------------- problems --------


def _listed(rows: pd.DataFrame, table_id: str) -> dict:
    """Fields as a table of name and reason (the first MAX_LISTED), with how many there are."""
    return {"n": len(rows), "first": MAX_LISTED if len(rows) > MAX_LISTED else None,
            "table": Table(["Field", "Reason"], [[_field_name(r), _field_reason(r)]
                                                 for r in rows.head(MAX_LISTED).itertuples()], id=table_id)}


def problems_section(tables: RunTables) -> str:
    values = {
        "absent": [(n, n in OPTIONAL, TABLE_FILES.get(n, "")) for n in tables.missing],
        "problems": tables.problems, "warnings": tables.warnings, "score_notes": None,
        "fields_missing": None, "failed": None, "qc_failed": None,
    }
    if tables.scores is not None and "note" in tables.scores:
        notes = tables.scores["note"]
        s = tables.scores[notes.notna() & (notes.astype(str).str.len() > 0)]
        if len(s):
            values["score_notes"] = {"n": len(s), "table": Table(
                ["Patient", "Compound", "µM", "Note"],
                [[text(x.patient), text(x.compound), conc(x.concentration_um), text(x.note)]
                 for x in s.head(MAX_LISTED).itertuples()], id="score-notes-table")}
    f = tables.fields
    if f is None:
        values["fields_missing"] = _missing(tables, "fields.parquet")
    else:
        failed = f[f["status"].ne("ok")]
        if len(failed):
            values["errors"] = Table(["Error", "Fields", "Example"],
                                     [[text(x.error), integer(x.n_fields), text(x.example)]
                                      for x in sm.error_summary(f).itertuples()],
                                     id="errors-table", numeric=[False, True, False])
            values["failed"] = _listed(failed, "failed-fields-table")
        qc_fail = f[f["status"].eq("ok") & ~f["qc_pass"].astype(bool)]
        if len(qc_fail):
            values["qc_failed"] = _listed(qc_fail, "qc-failed-fields-table")
    flags = tables.flags
    values["no_flags_file"] = flags is None
    values["flags"] = Table(
        ["Plate", "Well", "Site", "Reason"],
        [[text(r.plate), text(r.well), "all sites" if pd.isna(r.site) else integer(r.site), text(r.reason)]
         for r in flags.head(MAX_LISTED).itertuples()], id="flags-table") if flags is not None and len(flags) else None
    return render("problems.html", **values)


# ---------------------------------------------------------------- page ------------


def render_report(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    """The report of a loaded run folder as one self-contained HTML document.

    ``sink``, when given, keeps every figure drawn (for :func:`write_report`'s ``figures/``).
    """
    config, problem = report_config(tables.config)
    if problem:
        tables.problems.append(problem)
    sections = [
        verdict(tables, config), summary(tables, config), calibration_section(tables.run_dir),
        plate_qc_section(tables, config, sink), survival_section(tables, config, sink),
        tracking_section(tables, config.scoring.baseline_role, sink), effects_section(tables, config, sink),
        problems_section(tables),
    ]
    return render(
        "page.html", name=tables.manifest.get("name") or config.name or tables.run_dir.name,
        run_folder=tables.run_dir.name, created=tables.manifest.get("created", ""), q=_q_text(config.scoring),
        nav=SECTIONS, sections=sections, version=(tables.manifest.get("versions") or {}).get("screening", ""),
        figures_dir=FIGURES_DIR,
    )


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into a run folder from its tables, and each figure as
    ``figures/<name>.svg`` and ``.png`` (all atomically).

    Parameters
    ----------
    run_dir : path
        The run folder.

    Returns
    -------
    Path
        The report written.
    """
    run_dir = Path(run_dir)
    sink = fg.FigureSink()
    html = render_report(load_run(run_dir), sink)
    sink.write(run_dir / FIGURES_DIR)
    return write_text_atomic(run_dir / "report.html", html)
