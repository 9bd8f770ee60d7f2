"""Assemble ``report.html`` from a run folder's tables.

The page opens with the verdict (hits at the configured FDR, plates that failed
QC, fields lost) and then gives the detail: run summary, plate QC, survival
curves, effects (forest plots, ranking, neurite endpoint, dose response) and
problems. Every section is present even when its tables are absent, and then
says which file is missing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from screening.io.atomic import write_text_atomic
from screening.plate import plate_shape
from screening.report import figures as fg
from screening.report import summaries as sm
from screening.report.calibration import calibration_section
from screening.report.load import OPTIONAL, TABLE_FILES, RunTables, load_run
from screening.report.tracking import SECTION as TRACKING_SECTION
from screening.report.tracking import tracking_section
from screening.report.markup import (
    Cell,
    ci,
    conc,
    esc,
    figure,
    integer,
    note,
    num,
    page,
    pct,
    pval,
    section,
    table,
)

MAX_SURVIVAL_COMPOUNDS = 10  # rows of survival panels (best-ranked compounds first)
MAX_FOREST = 24
MAX_PLATES = 24
MAX_LISTED = 100  # rows of the long problem tables
MAX_NAMED = 5  # failed fields named in the verdict
FIGURES_DIR = "figures"
SECTIONS = [
    ("verdict", "Verdict"), ("summary", "Run summary"), ("calibration", "Calibration"), ("plate-qc", "Plate QC"),
    ("survival", "Survival"),
    ("effects", "Effects"), ("problems", "Problems"),
]
SECTIONS.insert(SECTIONS.index(("survival", "Survival")) + 1, TRACKING_SECTION)


def _missing(tables: RunTables, *names: str) -> str:
    """A note naming absent tables and what the reader loses."""
    gone = [n for n in names if n in tables.missing]
    if not gone:
        return note("This part could not be drawn: its table was unreadable (see Problems).", "warn")
    return note("Not available: " + "; ".join(f"<code>{esc(n)}</code> is absent" for n in gone) + ".", "warn")


def _fdr_q(tables: RunTables) -> float:
    value = tables.scoring.get("fdr_q", 0.1)
    return float(value) if value is not None else 0.1


def _baseline(tables: RunTables) -> str:
    return tables.scoring.get("baseline_role") or "vehicle"


def _hr_text(r) -> str:
    return f"HR {num(r.hazard_ratio)} [{ci(r.hr_ci_low, r.hr_ci_high)}]"


def _label(compound, concentration) -> str:
    return f"{esc(compound)} {conc(concentration)} µM"


# ---------------------------------------------------------------- verdict ---------


def verdict(tables: RunTables) -> str:
    q = _fdr_q(tables)
    cards = []
    if tables.ranking is not None:
        found = sm.hits(tables.ranking, q)
        good = found[found["hazard_ratio"] < 1]
        bad = found[~(found["hazard_ratio"] < 1)]
        n_ranked = int(tables.ranking["rank"].notna().sum())
        items = "".join(
            f"<li><b>{_label(r.compound, r.concentration_um)}</b>: {_hr_text(r)}, q = {pval(r.q_value)}</li>"
            for r in good.head(8).itertuples()
        )
        more = f"<li>… and {len(good) - 8} more (see the ranking)</li>" if len(good) > 8 else ""
        harm = (
            f"<p class=bad>{len(bad)} harmful at q &lt; {q:g}: "
            + ", ".join(_label(r.compound, r.concentration_um) for r in bad.itertuples()) + "</p>"
            if len(bad) else ""
        )
        cards.append(
            f'<div class="card {"good" if len(good) else "warn"}" id="verdict-hits"><h3>Hits (q &lt; {q:g})</h3>'
            f'<div class="big">{len(good)}</div><div>protective of {n_ranked} ranked compound × concentration'
            f"{'s' if n_ranked != 1 else ''}</div><ul>{items}{more}</ul>{harm}</div>"
        )
    else:
        cards.append('<div class="card warn" id="verdict-hits"><h3>Hits</h3>'
                     "<div>No ranking: <code>ranking.csv</code> is absent or unreadable.</div></div>")
    if tables.plate_qc is not None:
        failed = sm.failed_plates(tables.plate_qc)
        items = "".join(
            f"<li><b>{esc(r['plate'])}</b>"
            + (f" · {esc(r['patient'])}" if "patient" in failed and pd.notna(r.get("patient")) else "")
            + (f": {esc(r['note'])}" if "note" in failed and isinstance(r.get("note"), str) and r["note"] else "")
            + "</li>"
            for _, r in failed.head(10).iterrows()
        )
        n_total = len(tables.plate_qc)
        pooled = note(_STILL_POOLED, "warn") if len(failed) and _failed_plates_pooled(tables) else ""
        cards.append(
            f'<div class="card {"bad" if len(failed) else "good"}" id="verdict-plates"><h3>Plates failing QC</h3>'
            f'<div class="big">{len(failed)}</div><div>of {n_total} plate × patient</div><ul>{items}</ul>'
            f"{pooled}</div>"
        )
    else:
        cards.append('<div class="card warn" id="verdict-plates"><h3>Plates failing QC</h3>'
                     "<div>Unknown: <code>plate_qc.csv</code> is absent or unreadable.</div></div>")
    counts = _field_counts(tables)
    if counts:
        bad = counts["failed"] > 0 or counts["flagged"] > 0
        named = _named_fields(tables.fields)
        cards.append(
            f'<div class="card {"warn" if bad else "good"}" id="verdict-fields"><h3>Fields</h3>'
            f'<div class="big">{counts["ok"]} ok</div><div>{counts["failed"]} failed, '
            f'{counts["qc_fail"]} failed QC, {counts["flagged"]} flagged, of {counts["total"]}</div>{named}</div>'
        )
    absent = [n for n in tables.missing if n not in OPTIONAL]
    if absent or tables.problems:
        cards.append(
            '<div class="card warn"><h3>Incomplete run folder</h3><ul>'
            + "".join(f"<li><code>{esc(n)}</code> absent: no {esc(TABLE_FILES[n])}</li>" for n in absent)
            + "".join(f"<li>{esc(p)}</li>" for p in tables.problems[:5])
            + "</ul></div>"
        )
    return f'<section id="verdict"><div class="verdict">{"".join(cards)}</div></section>'


_STILL_POOLED = ("Still pooled: this run sets <code>scoring.exclude_failed_plates: false</code>, so the "
                 "failed plates' hazard ratios are in the ranking.")


def _failed_plates_pooled(tables: RunTables) -> bool:
    return tables.scoring.get("exclude_failed_plates") is False


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


def _named_fields(fields: pd.DataFrame | None) -> str:
    """The first failed and QC-failed fields by well, site, day and reason (verdict card)."""
    if fields is None:
        return ""
    bad = fields[fields["status"].ne("ok") | ~fields["qc_pass"].astype(bool)]
    if bad.empty:
        return ""
    items = "".join(f"<li>{esc(_field_name(r))}: {esc(_field_reason(r))}</li>"
                    for r in bad.head(MAX_NAMED).itertuples())
    more = f'<li>… {len(bad) - MAX_NAMED} more under <a href="#failed-fields">Problems</a></li>' \
        if len(bad) > MAX_NAMED else ""
    return f"<ul>{items}{more}</ul>"


# ---------------------------------------------------------------- summary ---------


def summary(tables: RunTables) -> str:
    m = tables.manifest
    if not m:
        return section("summary", "Run summary", _missing(tables, "manifest.json"))
    config = tables.config
    rows = [("Screen", esc(m.get("name", config.get("name")))), ("Created", esc(m.get("created"))),
            ("Config hash", f"<code>{esc(m.get('config_hash'))}</code>"),
            ("Input files", integer(m.get("input_files")))]
    plates = config.get("plates") or []
    rows.append(("Plates", esc(", ".join(str(p.get("id")) for p in plates)) if plates else "–"))
    fields = m.get("fields") or {}
    if fields:
        rows.append(("Fields", ", ".join(f"{esc(k)} {integer(v)}" for k, v in fields.items())))
    counts = _field_counts(tables)
    if counts:
        rows.append(("QC-failed / flagged", f"{counts['qc_fail']} / {counts['flagged']}"))
    wells = tables.wells
    if wells is not None:
        for col, title in (("patient", "Patients"), ("compound", "Compounds")):
            if col in wells:
                names = sorted(map(str, wells[col].dropna().unique()))
                rows.append((title, f"{len(names)}: {esc(', '.join(names))}"))
        rows.append(("Wells", integer(wells[["plate", "well"]].drop_duplicates().shape[0])))
    tp = config.get("timepoints")
    if isinstance(tp, dict) and tp:
        rows.append(("Timepoints → day", esc(", ".join(f"{k}→{v:g}" if isinstance(v, int | float) else f"{k}→{v}"
                                                       for k, v in tp.items()))))
    timings = m.get("timings_s") or {}
    if timings:
        rows.append(("Timings", esc(", ".join(f"{k} {v:.1f} s" if isinstance(v, int | float) else f"{k} {v}"
                                             for k, v in timings.items()))))
    if tables.scoring:
        rows.append(("Scoring", esc(scoring_text(tables.scoring))))
    facts = "".join(f'<div><span class="k">{esc(k)}</span><span class="v">{v}</span></div>' for k, v in rows)
    body = f'<div class="facts" id="summary-facts">{facts}</div>'
    versions = m.get("versions") or {}
    if versions:
        body += ("<details><summary>Package versions</summary>"
                 + table(["Package", "Version"], [(Cell(esc(k)), Cell(esc(v))) for k, v in versions.items()],
                         table_id="versions-table") + "</details>")
    body += ("<details><summary>Full run config (JSON)</summary><pre>"
             + esc(json.dumps(config, indent=2, default=str)) + "</pre></details>")
    return section("summary", "Run summary", body)


POOLING_NAMES = {
    "dl_t_inflated": "DerSimonian–Laird random effects, each patient's variance widened to its t interval",
    "dl": "DerSimonian–Laird random effects",
    "hksj": "random effects with the Hartung–Knapp–Sidik–Jonkman interval",
}


def scoring_text(s: dict) -> str:
    """The scoring settings of a run in words (no Python values)."""
    def given(key):
        value = s.get(key)
        return value if value is not None and value == value else None

    window = given("window_days")
    parts = [
        f"against each patient's {given('baseline_role') or 'vehicle'} wells",
        f"positive control: {given('positive_control') or 'the wells whose role is positive_control'}",
        f"days {window[0]:g}–{window[1]:g}" if window else "all days",
        f"hits at q < {given('fdr_q') or 0.1:g} (Benjamini–Hochberg)",
    ]
    if given("pooling"):
        parts.append("pooled by " + POOLING_NAMES.get(s["pooling"], str(s["pooling"])))
    if given("se_correction"):
        parts.append(f"well-clustered errors ({str(s['se_correction']).upper()})")
    parts.append(f"plates fail below Z′ {s['min_z_prime']:g}" if given("min_z_prime") is not None
                 else "Z′ reported, not gated")
    if given("min_vehicle_survival") is not None:
        parts.append(f"or below {s['min_vehicle_survival']:.0%} vehicle survival")
    if s.get("exclude_failed_plates") is False:
        parts.append("failed plates are still pooled")
    return "; ".join(parts)


# ---------------------------------------------------------------- plate QC --------


def plate_qc_section(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    parts = []
    qc = tables.plate_qc
    if qc is None:
        parts.append(_missing(tables, "plate_qc.csv"))
    else:
        cols = [c for c in ("plate", "patient", "z_prime", "ssmd", "vehicle_survival_end",
                            "positive_survival_end", "position_effect", "edge_effect") if c in qc]
        heads = {"plate": "Plate", "patient": "Patient", "z_prime": "Z′ (robust)", "ssmd": "SSMD",
                 "vehicle_survival_end": "Vehicle survival", "positive_survival_end": "+ctrl survival",
                 "position_effect": "Position effect", "edge_effect": "Edge effect"}
        rows, classes = [], []
        for _, r in qc.iterrows():
            row = [Cell(esc(r[c])) if c in ("plate", "patient") else Cell(num(r[c])) for c in cols]
            passed = r["pass"]
            row.append(Cell("pass" if passed is True else "FAIL" if passed is False else "–",
                            cls="pass" if passed is True else "fail"))
            text = esc(r["note"]) if "note" in qc and isinstance(r["note"], str) else ""
            if passed is False and _failed_plates_pooled(tables):
                text = "; ".join(t for t in (text, "still pooled (exclude_failed_plates: false)") if t)
            row.append(Cell(text))
            rows.append(row)
            classes.append("fail" if passed is False else "")
        parts.append(table([heads[c] for c in cols] + ["QC", "Reason / notes"], rows, table_id="plate-qc-table",
                           row_classes=classes, numeric=[c not in ("plate", "patient") for c in cols] + [False, False]))
    parts.append(_heatmaps(tables, sink))
    return section("plate-qc", "Plate QC", "".join(parts))


def _heatmaps(tables: RunTables, sink: fg.FigureSink | None) -> str:
    wells, fields = tables.wells, tables.fields
    if wells is None and fields is None:
        return _missing(tables, "wells.parquet", "fields.parquet")
    plates = sorted(set(wells["plate"]) if wells is not None else set(fields["plate"]))
    figs, extra = [], ""
    if len(plates) > MAX_PLATES:
        extra = note(f"Heatmaps of the first {MAX_PLATES} of {len(plates)} plates.")
        plates = plates[:MAX_PLATES]
    first = sm.count_at(wells, "first") if wells is not None else None
    last = sm.count_at(wells, "last") if wells is not None else None
    bad = sm.qc_by_well(fields) if fields is not None else None
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
            figs.append(fg.figure_svg(fig, f"heatmap-{plate}", sink))
    caption = ("Motor neurons per well (sum over usable fields) at each plate's first and last day, on one "
               "colour scale; fields per well that failed, failed QC or were flagged, over all timepoints. "
               "Grey: no data.")
    if wells is None:
        caption += " Counts not shown: wells.parquet is absent."
    if fields is None:
        caption += " QC failures not shown: fields.parquet is absent."
    return "<h3>Plate heatmaps</h3>" + extra + "".join(figure(s, "") for s in figs[:-1]) + (
        figure(figs[-1], caption) if figs else "")


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


def _positive_names(tables: RunTables, source: pd.DataFrame) -> set[str]:
    names = set(source.loc[source["role"].eq("positive_control"), "compound"].dropna().astype(str)) \
        if "role" in source else set()
    if tables.scoring.get("positive_control"):
        names.add(str(tables.scoring["positive_control"]))
    return names


def _fields_for_curves(tables: RunTables) -> pd.DataFrame | None:
    if tables.fields is not None:
        return sm.with_plate_map(tables.fields, tables.wells)
    if tables.wells is not None:
        # Without fields, each well total is one "site": good enough for a picture.
        w = tables.wells
        return w.assign(site=1, status="ok", qc_pass=w.get("qc_pass", True), flagged=False)
    return None


def survival_section(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    data = _fields_for_curves(tables)
    if data is None:
        return section("survival", "Survival", _missing(tables, "fields.parquet", "wells.parquet"))
    if not set(sm.MAP_COLUMNS) <= set(data.columns):
        return section("survival", "Survival", note("No plate-map columns (patient, compound, role) in the "
                                                   "fields or wells tables: curves cannot be grouped.", "warn"))
    window = tables.scoring.get("window_days")
    curves = sm.arm_curves(
        sm.well_survival_curves(data, window_days=tuple(window) if window else None),
        confidence=float(tables.scoring.get("confidence", 0.95) or 0.95),
    )
    if curves.empty:
        return section("survival", "Survival", note("No well has usable fields at the first day and later.", "warn"))
    positive = _positive_names(tables, data)
    compounds = [c for c in _compound_order(tables) if c not in positive]
    curves["compound"] = curves["compound"].astype(str)
    extra = ""
    if not compounds:
        compounds = sorted(positive) or ["(none)"]
    if len(compounds) > MAX_SURVIVAL_COMPOUNDS:
        extra = note(f"The {MAX_SURVIVAL_COMPOUNDS} best-ranked of {len(compounds)} compounds; "
                     "all are in the ranking table.")
        compounds = compounds[:MAX_SURVIVAL_COMPOUNDS]
    patients = sorted(curves["patient"].dropna().astype(str).unique())
    curves["patient"] = curves["patient"].astype(str)
    with fg.style("survival"):
        fig = fg.survival_figure(curves, compounds, patients, baseline_role=_baseline(tables), positive=positive)
        svg = fg.figure_svg(fig, "survival", sink)
    level = float(tables.scoring.get("confidence", 0.95) or 0.95)
    caption = (
        "Fraction of each well's first-day motor neurons alive at each day, counting only sites usable at both "
        f"days; line: mean over replicate wells, band: {level:.0%} t interval of that mean. Grey: vehicle; "
        "blue dashed: positive control; orange: the compound (darker = higher concentration). "
        "Values above 1 mean counts rose (neurons maturing into the reporter)."
    )
    return section("survival", "Survival", extra + figure(svg, caption))


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


def ranking_table(tables: RunTables) -> str:
    r = _neurite(tables)
    if r is None:
        return _missing(tables, "ranking.csv")
    q = _fdr_q(tables)
    rows, classes = [], []
    for x in sm.ranked(r).itertuples():
        hit = pd.notna(x.q_value) and x.q_value < q
        classes.append(("hit" if x.hazard_ratio < 1 else "harm") if hit else "")
        rows.append([
            Cell(integer(x.rank), x.rank), Cell(esc(x.compound), str(x.compound)),
            Cell(conc(x.concentration_um), _sort(x.concentration_um)),
            Cell(num(x.hazard_ratio), _sort(x.hazard_ratio)),
            Cell(ci(x.hr_ci_low, x.hr_ci_high), _sort(x.hr_ci_high)),
            Cell(pval(getattr(x, "p_value", math.nan)), _sort(getattr(x, "p_value", math.nan))),
            Cell(pval(x.q_value), _sort(x.q_value)),
            Cell(integer(getattr(x, "n_patients", math.nan)), _sort(getattr(x, "n_patients", math.nan))),
            Cell(pct(getattr(x, "responder_fraction", math.nan)), _sort(getattr(x, "responder_fraction", math.nan))),
            Cell(num(x.neurite_ratio), _sort(x.neurite_ratio)),
        ])
    heads = ["Rank", "Compound", "µM", "HR", "95% CI", "p", "q", "Patients", "Responders", "Neurite ratio"]
    html = table(heads, rows, table_id="ranking-table", sortable=True, row_classes=classes,
                 numeric=[True, False] + [True] * 8,
                 caption=(f"Pooled over patients (random effects). Green rows: q &lt; {q:g} and HR &lt; 1; red: "
                          f"q &lt; {q:g} and HR ≥ 1. Responders: fraction of patients whose own upper CI bound is "
                          "below 1. Neurite ratio: neurite length per neuron against vehicle, geometric mean over "
                          "patients. Click a header to sort."))
    if not rows:
        html += note("No compound could be ranked.", "warn")
    unranked = r[r["rank"].isna()]
    if len(unranked):
        urows = [[Cell(esc(x.compound)), Cell(conc(x.concentration_um)), Cell(num(x.hazard_ratio)),
                  Cell(ci(x.hr_ci_low, x.hr_ci_high)), Cell(esc(getattr(x, "role", ""))),
                  Cell(esc(getattr(x, "note", "")))] for x in unranked.itertuples()]
        html += "<h3>Not ranked</h3>" + table(
            ["Compound", "µM", "HR", "95% CI", "Role", "Note"], urows, table_id="unranked-table",
            numeric=[False, True, True, True, False, False],
            caption="Controls and compounds without a pooled estimate.")
    return html


def _sort(value):
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return repr(x) if math.isfinite(x) else None


def forest_plots(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    if tables.scores is None or tables.ranking is None:
        return _missing(tables, "scores.csv", "ranking.csv")
    scores, ranking = tables.scores, tables.ranking
    order = list(dict.fromkeys(sm.ranked(ranking)["compound"]))
    others = [c for c in dict.fromkeys(ranking["compound"]) if c not in order]
    compounds = others[:1] + order + others[1:]  # the positive control first, as the reference
    positive = set(ranking.loc[ranking.get("role", pd.Series(dtype=str)).eq("positive_control"), "compound"]) \
        if "role" in ranking else set()
    compounds = [c for c in compounds if c in positive] + [c for c in compounds if c not in positive]
    extra = ""
    if len(compounds) > MAX_FOREST:
        extra = note(f"Forest plots of the {MAX_FOREST} first of {len(compounds)} compounds (controls, then rank).")
        compounds = compounds[:MAX_FOREST]
    svgs = []
    for c in compounds:
        with fg.style(f"forest-{c}"):
            title = f"{c} (positive control)" if c in positive else str(c)
            fig = fg.forest_figure(title, scores[scores["compound"] == c], ranking[ranking["compound"] == c])
            svgs.append(f'<div class="panel">{fg.figure_svg(fig, f"forest-{c}", sink)}</div>')
    caption = ("Hazard ratio against the same patient's vehicle wells (squares, with CI) and pooled over patients "
               "(dark diamond). Log scale; left of 1 means fewer motor neurons die.")
    return extra + ('<figure><div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(svgs)
                    + f"</div><figcaption>{caption}</figcaption></figure>")


def neurite_section(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    r = _neurite(tables)
    if r is None or tables.scores is None:
        return _missing(tables, "scores.csv", "ranking.csv")
    if r["neurite_ratio"].notna().sum() == 0:
        return note("No neurite ratio in scores.csv.", "warn")
    table_ = sm.ranked(r)
    if table_.empty:
        table_ = r
    with fg.style("neurite"):
        svg = fg.figure_svg(fg.neurite_figure(table_, fdr_q=_fdr_q(tables)), "neurite-vs-survival", sink)
    return figure(svg, "Survival effect (x) beside the neurite endpoint (y): a compound that keeps neurons alive "
                       "and their neurites long sits left (HR &lt; 1) and high (ratio &gt; 1). Each point is a "
                       f"compound × concentration; green: hit (q &lt; {_fdr_q(tables):g}, HR &lt; 1), red: "
                       f"q &lt; {_fdr_q(tables):g} with HR &gt; 1, grey: neither. The best-ranked are labelled.")


def dose_section(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    if tables.ranking is None or tables.scores is None:
        return _missing(tables, "scores.csv", "ranking.csv")
    r, s = tables.ranking, tables.scores
    pos = r[r["concentration_um"] > 0]
    multi = pos.groupby("compound")["concentration_um"].nunique()
    compounds = [c for c in dict.fromkeys(sm.ranked(r)["compound"]) if multi.get(c, 0) >= 2]
    compounds += [c for c in multi.index if multi[c] >= 2 and c not in compounds]
    if not compounds:
        return note("No compound was tested at more than one concentration.")
    svgs = []
    dose = tables.dose
    for c in compounds[:MAX_FOREST]:
        title = ""
        if dose is not None and {"compound", "patient", "slope", "p_value"} <= set(dose.columns):
            row = dose[(dose["compound"] == c) & (dose["patient"].astype(str) == "pooled")]
            if len(row):
                title = f"slope {num(row['slope'].iloc[0])} log HR per 10× (p = {pval(row['p_value'].iloc[0])})"
        with fg.style(f"dose-{c}"):
            fig = fg.dose_figure(str(c), s[s["compound"] == c], r[r["compound"] == c], title)
            svgs.append(f'<div class="panel">{fg.figure_svg(fig, f"dose-{c}", sink)}</div>')
    caption = ("Hazard ratio against concentration: pooled with its CI (dark) and each patient (grey). "
               "Slope: GLS trend of log HR on log10 concentration from dose_response.csv.")
    if dose is None:
        caption += " dose_response.csv is absent: no trend test shown."
    return ('<figure><div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(svgs)
            + f"</div><figcaption>{caption}</figcaption></figure>")


def effects_section(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    body = (
        '<h3 id="ranking">Ranking</h3>' + ranking_table(tables)
        + '<h3 id="forest">Forest plots</h3>' + forest_plots(tables, sink)
        + '<h3 id="neurite">Neurite endpoint beside survival</h3>' + neurite_section(tables, sink)
        + '<h3 id="dose-response">Dose response</h3>' + dose_section(tables, sink)
    )
    return section("effects", "Effects", body)


# ---------------------------------------------------------------- problems --------


def problems_section(tables: RunTables) -> str:
    parts = []
    absent = [n for n in tables.missing]
    if absent or tables.problems:
        parts.append("<h3>Run folder</h3><ul class=problems>"
                     + "".join(f"<li><code>{esc(n)}</code> absent{' (optional)' if n in OPTIONAL else ''}: "
                               f"no {esc(TABLE_FILES.get(n, ''))}</li>" for n in absent)
                     + "".join(f"<li>{esc(p)}</li>" for p in tables.problems) + "</ul>")
    parts.append('<h3 id="warnings">Scoring warnings</h3>')
    if tables.warnings:
        parts.append("<ul class=problems>" + "".join(f"<li>{esc(w)}</li>" for w in tables.warnings) + "</ul>")
    else:
        parts.append(note("None recorded."))
    if tables.scores is not None and "note" in tables.scores:
        s = tables.scores[tables.scores["note"].fillna("").astype(str).str.len() > 0]
        if len(s):
            rows = [[Cell(esc(x.patient)), Cell(esc(x.compound)), Cell(conc(x.concentration_um)), Cell(esc(x.note))]
                    for x in s.head(MAX_LISTED).itertuples()]
            parts.append(f"<details><summary>{len(s)} per-patient note(s) from scoring</summary>"
                         + table(["Patient", "Compound", "µM", "Note"], rows, table_id="score-notes-table")
                         + "</details>")
    parts.append('<h3 id="failed-fields">Failed fields</h3>')
    f = tables.fields
    if f is None:
        parts.append(_missing(tables, "fields.parquet"))
    else:
        failed = f[f["status"].ne("ok")]
        if failed.empty:
            parts.append(note("No field failed.", "good"))
        else:
            errs = sm.error_summary(f)
            parts.append(table(["Error", "Fields", "Example"],
                               [[Cell(esc(x.error)), Cell(integer(x.n_fields)), Cell(esc(x.example))]
                                for x in errs.itertuples()], table_id="errors-table", numeric=[False, True, False]))
            rows = [[Cell(esc(_field_name(r))), Cell(esc(_field_reason(r)))]
                    for r in failed.head(MAX_LISTED).itertuples()]
            more = f" (first {MAX_LISTED})" if len(failed) > MAX_LISTED else ""
            parts.append(f"<details open><summary>All {len(failed)} failed fields{more}</summary>"
                         + table(["Field", "Reason"], rows, table_id="failed-fields-table") + "</details>")
        qc_fail = f[f["status"].eq("ok") & ~f["qc_pass"].astype(bool)]
        if len(qc_fail):
            rows = [[Cell(esc(_field_name(r))), Cell(esc(_field_reason(r)))]
                    for r in qc_fail.head(MAX_LISTED).itertuples()]
            more = f" (first {MAX_LISTED})" if len(qc_fail) > MAX_LISTED else ""
            parts.append(f"<p>{len(qc_fail)} measured field(s) failed field QC and were left out{more}:</p>"
                         + table(["Field", "Reason"], rows, table_id="qc-failed-fields-table"))
    parts.append('<h3 id="flagged">Flagged wells</h3>')
    if tables.flags is None or tables.flags.empty:
        parts.append(note("No <code>qc_flags.csv</code>: nothing flagged by hand." if tables.flags is None
                          else "qc_flags.csv holds no flag."))
    else:
        rows = [[Cell(esc(r.plate)), Cell(esc(r.well)), Cell("all sites" if pd.isna(r.site) else integer(r.site)),
                 Cell(esc(r.reason))] for r in tables.flags.head(MAX_LISTED).itertuples()]
        parts.append(table(["Plate", "Well", "Site", "Reason"], rows, table_id="flags-table"))
    return section("problems", "Problems", "".join(parts))


# ---------------------------------------------------------------- page ------------


def render_report(tables: RunTables, sink: fg.FigureSink | None = None) -> str:
    """The report of a loaded run folder as one self-contained HTML document.

    ``sink``, when given, keeps every figure drawn (for :func:`write_report`'s ``figures/``).
    """
    name = tables.manifest.get("name") or tables.config.get("name") or tables.run_dir.name
    created = tables.manifest.get("created", "")
    q = _fdr_q(tables)
    header = (f"<h1>Screen report: {esc(name)}</h1><div class=meta>run folder <code>{esc(tables.run_dir.name)}"
              f"</code>{' · ' + esc(created) if created else ''} · a hit is a compound × concentration with "
              f"pooled q &lt; {q:g} and hazard ratio &lt; 1</div>")
    body = "".join([
        verdict(tables), summary(tables), calibration_section(tables.run_dir), plate_qc_section(tables, sink),
        survival_section(tables, sink), tracking_section(tables, sink), effects_section(tables, sink),
        problems_section(tables),
    ])
    version = (tables.manifest.get("versions") or {}).get("screening", "")
    footer = (f"Made by screening {esc(version)} from the tables in this run folder; opens offline. "
              f"Every figure is also in <code>{FIGURES_DIR}/</code> as SVG and PNG.")
    return page(f"{name}: screen report", header, SECTIONS, body, footer)


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
