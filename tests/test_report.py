"""report.html: tables behind the figures, the page's content, and a real browser render.

The run folder is hand-made (no pipeline): one 96-well plate, two patients,
vehicle, a positive control and two compounds, two sites, days 0, 7 and 14,
with counts chosen so every figure has a known answer.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps

from screening.run.aggregate import aggregate_wells
from screening.report import figures as fg
from screening.report import load_run, write_report
from screening.report import summaries as sm

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
DAYS = (0.0, 7.0, 14.0)
# arm -> (role, concentration µM, per-site counts at DAYS, wells per patient)
ARMS = {
    ("DMSO", 0.0): ("vehicle", (40, 30, 20), 3),
    ("kenp", 5.0): ("positive_control", (40, 38, 36), 2),
    ("cpdA", 1.0): ("treatment", (40, 34, 28), 2),
    ("cpdA", 10.0): ("treatment", (40, 36, 32), 2),
    ("cpdB", 10.0): ("treatment", (40, 30, 20), 2),
}
PATIENTS = ("pt1", "pt2")

RANKING = pd.DataFrame({
    "compound": ["cpdA", "cpdA", "cpdB", "kenp"],
    "concentration_um": [10.0, 1.0, 10.0, 5.0],
    "hazard_ratio": [0.412345, 0.731, 1.02, 0.2],
    "hr_ci_low": [0.3, 0.55, np.nan, 0.1],
    "hr_ci_high": [0.566, 0.97, np.nan, 0.4],
    "p_value": [0.0004, 0.03, np.nan, 1e-6],
    "q_value": [0.0012, 0.07, np.nan, np.nan],
    "n_patients": [2, 2, 1, 2],
    "responder_fraction": [1.0, 0.5, np.nan, 1.0],
    "rank": [1.0, 2.0, 3.0, np.nan],
    "role": ["treatment", "treatment", "treatment", "positive_control"],
    "note": ["", "", "one patient only: no between-patient variance", ""],
})


def _fields() -> pd.DataFrame:
    rows = []
    col = {"pt1": 1, "pt2": 7}
    for patient in PATIENTS:
        n = 0
        for (compound, conc), (role, counts, n_wells) in ARMS.items():
            for _ in range(n_wells):
                well = f"{'ABCDEFGH'[n % 8]}{col[patient] + n // 8:02d}"
                n += 1
                for site in (1, 2):
                    for t, (day, count) in enumerate(zip(DAYS, counts, strict=True), start=1):
                        rows.append(dict(
                            plate="P1", well=well, site=site, timepoint=t, day=day, n_neurons=float(count),
                            neurite_length_um=100.0 * count, n_nuclei=np.nan, qc_pass=True, status="ok",
                            error="", patient=patient, compound=compound, concentration_um=conc, role=role,
                        ))
    fields = pd.DataFrame(rows)
    # pt1 vehicle well A01 site 2 is defocused at day 7 (count 5, failed QC): not deaths.
    bad = (fields["well"] == "A01") & (fields["site"] == 2) & (fields["day"] == 7)
    fields.loc[bad, ["n_neurons", "qc_pass"]] = [5.0, False]
    # pt2 well A07 site 1 at day 14 could not be read.
    lost = (fields["well"] == "A07") & (fields["site"] == 1) & (fields["day"] == 14)
    fields.loc[lost, ["n_neurons", "neurite_length_um", "qc_pass", "status", "error"]] = [
        np.nan, np.nan, False, "failed", "OSError: truncated TIFF file"]
    return fields


def _scores() -> pd.DataFrame:
    rows = []
    for patient, shift in zip(PATIENTS, (0.9, 1.1), strict=True):
        for (compound, conc), hr, neurite in (
            (("cpdA", 1.0), 0.73, 1.1), (("cpdA", 10.0), 0.41, 2.0),
            (("cpdB", 10.0), 1.02, 0.5), (("kenp", 5.0), 0.2, 1.0),
        ):
            rows.append(dict(patient=patient, compound=compound, concentration_um=conc, hazard_ratio=hr * shift,
                             hr_ci_low=hr * shift / 1.5, hr_ci_high=hr * shift * 1.5, p_value=0.01, q_value=0.02,
                             neurite_ratio=neurite * (shift if compound != "cpdB" else 1), rank=1.0,
                             role="positive_control" if compound == "kenp" else "treatment",
                             note="one well only" if (patient, compound) == ("pt2", "cpdB") else ""))
    scores = pd.DataFrame(rows)
    scores.loc[(scores["patient"] == "pt2") & (scores["compound"] == "cpdB"),
               ["hazard_ratio", "hr_ci_low", "hr_ci_high", "p_value"]] = np.nan
    return scores


def make_run(root: Path) -> Path:
    """Write the hand-made run folder; returns it."""
    run = root / "run"
    run.mkdir(parents=True)
    fields = _fields()
    fields.to_parquet(run / "fields.parquet", index=False)
    aggregate_wells(fields).to_parquet(run / "wells.parquet", index=False)
    _scores().to_csv(run / "scores.csv", index=False)
    RANKING.to_csv(run / "ranking.csv", index=False)
    pd.DataFrame({
        "plate": ["P1", "P1"], "patient": ["pt1", "pt2"], "z_prime": [0.41, -0.3], "ssmd": [3.2, np.nan],
        "vehicle_survival_end": [0.5, 0.5], "pass": [True, False], "note": ["", "Z' -0.30 < 0.0"],
    }).to_csv(run / "plate_qc.csv", index=False)
    pd.DataFrame({
        "compound": ["cpdA"], "patient": ["pooled"], "n_concentrations": [2], "slope": [-0.57],
        "slope_se": [0.2], "slope_ci_low": [-0.96], "slope_ci_high": [-0.18], "p_value": [0.004],
    }).to_csv(run / "dose_response.csv", index=False)
    (run / "qc_flags.csv").write_text("plate,well,site,reason\nP1,B07,,bubble in the well\n")
    (run / "warnings.txt").write_text("patient pt2: counts rose by > 10% of those at risk in 1 well(s)\n")
    manifest = {
        "name": "hand-made", "config": {"name": "hand-made", "plates": [{"id": "P1"}],
                                        "timepoints": {"1": 0, "2": 7, "3": 14},
                                        "scoring": {"fdr_q": 0.05, "baseline_role": "vehicle"}},
        "config_hash": "0123456789abcdef", "versions": {"python": "3.11", "screening": "0.1.0"},
        "input_files": 720, "fields": {"total": len(fields), "ok": len(fields) - 1, "failed": 1, "reused": 0,
                                        "computed": len(fields)},
        "timings_s": {"measure": 1.5, "total": 2.0}, "created": "2025-01-01T00:00:00+0000",
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = make_run(tmp_path_factory.mktemp("report"))
    write_report(run)
    return run


class _Page(HTMLParser):
    """Ids of elements, and the rows (cell texts and data-sort values) of every table with an id."""

    def __init__(self):
        super().__init__()
        self.ids, self.tables, self.refs = set(), {}, []
        self._table, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href", "xlink:href"):
            if a.get(key):
                self.refs.append(a[key])
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ["", a.get("data-sort")]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def parse(path: Path) -> tuple[_Page, str]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return page, text


# ------------------------------------------------------------------ tables behind the figures


def test_survival_curves_use_only_sites_usable_at_both_days():
    fields = _fields()
    curves = sm.well_survival_curves(fields)
    a01 = curves[(curves["well"] == "A01")].set_index("day")["survival"]
    # Day 7: site 2 failed QC, so only site 1 counts (30 / 40), not (30 + 5) / 80.
    assert a01[7.0] == pytest.approx(0.75)
    assert a01[14.0] == pytest.approx(40 / 80)
    # A07 site 1 failed at day 14: site 2 alone (20 / 40 for a vehicle well of pt2).
    a07 = curves[(curves["well"] == "A07")].set_index("day")["survival"]
    assert a07[14.0] == pytest.approx(0.5)
    # A flagged well drops out entirely.
    flagged = fields.assign(flagged=fields["well"].eq("B07"))
    b07 = sm.well_survival_curves(flagged).query("well == 'B07'")
    assert b07["survival"].isna().all()


def test_arm_curves_mean_and_t_band():
    curves = pd.DataFrame({
        "patient": "p", "compound": "c", "concentration_um": 1.0, "role": "treatment", "day": 7.0,
        "survival": [0.5, 0.6, 0.7], "plate": "P", "well": ["A01", "A02", "A03"],
    })
    out = sm.arm_curves(curves).iloc[0]
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert out["mean"] == pytest.approx(0.6)
    assert out["ci_low"] == pytest.approx(0.6 - half)
    assert out["ci_high"] == pytest.approx(0.6 + half)
    assert out["n_wells"] == 3
    single = sm.arm_curves(curves.head(1)).iloc[0]
    assert single["mean"] == 0.5 and np.isnan(single["ci_low"])


def test_hits_failed_plates_neurite_and_qc_per_well():
    found = sm.hits(RANKING, 0.05)
    assert list(found["compound"]) == ["cpdA"] and list(found["concentration_um"]) == [10.0]
    assert len(sm.hits(RANKING, 0.1)) == 2  # q 0.07 is a hit at 0.1
    qc = pd.DataFrame({"plate": ["P1", "P2", "P3"], "pass": [True, False, np.nan]})
    assert list(sm.failed_plates(qc)["plate"]) == ["P2"]
    neur = sm.neurite_by_arm(pd.DataFrame({
        "compound": ["a", "a", "b"], "concentration_um": [1.0, 1.0, 1.0], "neurite_ratio": [2.0, 0.5, np.nan]}))
    assert neur.set_index("compound").loc["a", "neurite_ratio"] == pytest.approx(1.0)  # geometric mean
    assert np.isnan(neur.set_index("compound").loc["b", "neurite_ratio"])
    per_well = sm.qc_by_well(_fields().assign(flagged=lambda f: f["well"].eq("B07"))).set_index("well")
    assert per_well.loc["A01", ["n_qc_fail", "n_bad"]].tolist() == [1, 1]
    assert per_well.loc["A07", ["n_failed", "n_bad"]].tolist() == [1, 1]
    assert per_well.loc["B07", ["n_flagged", "n_bad"]].tolist() == [6, 6]  # 2 sites x 3 days
    assert per_well.loc["A02", "n_bad"] == 0


def test_figures_are_not_blank():
    curves = sm.arm_curves(sm.well_survival_curves(_fields()))
    with fg.style("t"):
        fig = fg.survival_figure(curves, ["cpdA", "cpdB"], ["pt1", "pt2"])
        pixels = fg.to_png_array(fig)[..., :3].reshape(-1, 3).astype(int)
    blue = np.array([int(fg.CONTROL_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - blue).sum(axis=1) < 12).sum() > 50  # the positive-control curve is drawn
    assert len(np.unique((pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2])) > 20


# ------------------------------------------------------------------ the page


def test_every_section_and_the_verdict(run_dir):
    page, text = parse(run_dir / "report.html")
    for sid in ("verdict", "summary", "plate-qc", "survival", "effects", "ranking", "forest", "neurite",
                "dose-response", "problems", "failed-fields", "flagged", "warnings"):
        assert sid in page.ids, sid
    verdict = text[text.index('id="verdict"'):text.index('id="summary"')]
    # fdr_q comes from the config (0.05): cpdA 10 µM (q 0.0012) is a hit, cpdA 1 µM (q 0.07) is not.
    assert "cpdA 10 µM" in verdict and "cpdA 1 µM" not in verdict
    assert "q &lt; 0.05" in verdict
    assert "pt2" in verdict and "Z&#x27; -0.30 &lt; 0.0" in verdict  # the failing plate with its reason
    assert text.index('id="verdict"') < text.index('id="summary"') < text.index('id="problems"')


def test_ranking_table_matches_ranking_csv(run_dir):
    page, _ = parse(run_dir / "report.html")
    rows = page.tables["ranking-table"]
    ranking = pd.read_csv(run_dir / "ranking.csv")
    ranked = ranking[ranking["rank"].notna()].sort_values("rank")
    assert len(rows) == len(ranked) == 3
    for row, (_, want) in zip(rows, ranked.iterrows(), strict=True):
        texts = [c[0] for c in row]
        sort = [c[1] for c in row]
        assert texts[1] == want["compound"]
        assert float(sort[2]) == want["concentration_um"]
        assert float(sort[3]) == pytest.approx(want["hazard_ratio"], rel=1e-12)
        assert texts[3] == f"{want['hazard_ratio']:.2f}"
        if np.isnan(want["q_value"]):
            assert texts[6] == "–" and sort[6] is None  # NaN shown as a dash, sorted last
        else:
            assert float(sort[6]) == pytest.approx(want["q_value"], rel=1e-12)
    # Neurite endpoint beside survival: geometric mean over patients of scores.csv (2.0 * 0.9, 2.0 * 1.1).
    assert rows[0][9][0] == f"{np.sqrt(1.8 * 2.2):.2f}"
    assert [r[0] for r in page.tables["unranked-table"]][0][0] == "kenp"


def test_problems_list_failures_flags_and_warnings(run_dir):
    page, text = parse(run_dir / "report.html")
    assert page.tables["errors-table"][0][:2] == [("OSError: truncated TIFF file", None), ("1", None)]
    assert ["P1 A07, site 1, day 14", "OSError: truncated TIFF file"] == [
        c[0] for c in page.tables["failed-fields-table"][0]]
    assert [c[0] for c in page.tables["flags-table"][0]] == ["P1", "B07", "all sites", "bubble in the well"]
    assert "counts rose by &gt; 10%" in text
    plate_rows = page.tables["plate-qc-table"]
    assert [r[-2][0] for r in plate_rows] == ["pass", "FAIL"]


def test_self_contained_and_small(run_dir):
    page, text = parse(run_dir / "report.html")
    assert all(not re.match(r"\s*(https?:)?//", ref) for ref in page.refs), page.refs
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert "<link" not in text and "@import" not in text
    assert text.count("<svg") == 7  # heatmap, survival, 3 forest plots (kenp, cpdA, cpdB), neurite, dose
    assert (run_dir / "report.html").stat().st_size < 3_000_000


def test_absent_tables_are_named_not_fatal(tmp_path):
    run = make_run(tmp_path)
    for name in ("scores.csv", "dose_response.csv", "qc_flags.csv", "wells.parquet", "warnings.txt"):
        (run / name).unlink()
    (run / "plate_qc.csv").write_text("not,a\nplate qc table,\n")  # unreadable: missing columns
    write_report(run)
    page, text = parse(run / "report.html")
    for sid in ("verdict", "summary", "plate-qc", "survival", "effects", "problems"):
        assert sid in page.ids
    assert "<code>scores.csv</code> is absent" in text
    assert "plate_qc.csv: missing column(s) plate, pass" in text
    assert len(page.tables["ranking-table"]) == 3  # ranking still shown
    assert "<svg" in text[text.index('id="survival"'):text.index('id="effects"')]  # curves from fields alone


def test_load_run_of_an_empty_folder(tmp_path):
    tables = load_run(tmp_path)
    assert tables.fields is None and tables.manifest == {}
    assert "manifest.json" in tables.missing and "ranking.csv" in tables.missing
    write_report(tmp_path)
    assert "Not available" in (tmp_path / "report.html").read_text()


# ------------------------------------------------------------------ a real browser


def chromium(url: str, tmp: Path, *, screenshot: Path | None = None, size=(1280, 4000)) -> tuple[list[str], list[str]]:
    """Open ``url`` in headless Chromium; returns (console lines, URLs the page requested)."""
    profile = tmp / "profile"
    profile.mkdir()
    netlog = tmp / "netlog.json"
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
        f"--window-size={size[0]},{size[1]}",
    ]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=60)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(netlog.read_text())
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    # Requests made by the page carry its file:// network-isolation key; the browser's own
    # (update checks) do not, and those are not the page's doing.
    requested = [
        e["params"]["url"] for e in log["events"]
        if types.get(e["type"]) == "URL_REQUEST_START_JOB"
        and "file://" in str(e["params"].get("network_isolation_key", ""))
        and not e["params"]["url"].startswith(("file:", "data:"))
    ]
    return console, requested


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")


@needs_chromium
def test_browser_harness_catches_errors_and_requests(tmp_path):
    """The checks below can fail: a page with a script error and a remote image trips both."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><img src="http://example.invalid/x.png"><script>nope();</script>')
    console, requested = chromium(bad.as_uri(), tmp_path)
    assert any("nope is not defined" in line for line in console)
    assert requested == ["http://example.invalid/x.png"]


@needs_chromium
def test_report_renders_in_chromium_offline(run_dir, tmp_path):
    from PIL import Image  # matplotlib depends on pillow

    shot = tmp_path / "shot.png"
    console, requested = chromium((run_dir / "report.html").as_uri(), tmp_path, screenshot=shot)
    assert console == []
    assert requested == []
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    assert pixels.std() > 20 and len(np.unique(packed)) > 200

    def n_near(rgb) -> int:
        return int((np.abs(pixels - np.asarray(rgb)).sum(axis=1) <= 9).sum())

    # Heatmap cells at day 0 hold 80 neurons (2 sites x 40), the colour-scale maximum.
    top = (np.array(colormaps["viridis"](1.0)[:3]) * 255).round()
    assert n_near(top) > 500
    # The positive-control survival curves.
    assert n_near([int(fg.CONTROL_COLOR[i:i + 2], 16) for i in (1, 3, 5)]) > 200


def test_demo_run_report(demo_run, tmp_path):
    run = tmp_path / "demo"
    shutil.copytree(demo_run, run, ignore=shutil.ignore_patterns("report.html", "shards", "*.tmp"))
    write_report(run)
    page, text = parse(run / "report.html")
    ranking = pd.read_csv(run / "ranking.csv")
    assert len(page.tables["ranking-table"]) == int(ranking["rank"].notna().sum())
    for sid in ("verdict", "summary", "plate-qc", "survival", "effects", "problems"):
        assert sid in page.ids
    assert (run / "report.html").stat().st_size < 3_000_000


# ---------------------------------------------------------------- wording ---------


def test_header_says_what_a_hit_is(run_dir):
    _, text = parse(run_dir / "report.html")
    header = text[text.index("<h1>"):text.index("</div>", text.index("class=meta"))]
    assert "a hit is a compound × concentration with pooled q &lt; 0.05 and hazard ratio &lt; 1" in header
    assert not header.rstrip().endswith("hits at q &lt; 0.05")


def test_scoring_row_is_words_not_python(tmp_path):
    run = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["scoring"] = {"fdr_q": 0.1, "baseline_role": "vehicle", "positive_control": None,
                                     "window_days": None, "pooling": "dl_t_inflated", "se_correction": "cr2",
                                     "min_z_prime": None, "min_vehicle_survival": 0.2,
                                     "exclude_failed_plates": False}
    (run / "manifest.json").write_text(json.dumps(manifest))
    write_report(run)
    _, text = parse(run / "report.html")
    facts = text[text.index('id="summary-facts"'):text.index("</div></div>", text.index('id="summary-facts"'))]
    row = facts[facts.index("Scoring"):]
    for python in ("None", "= ", "dl_t_inflated", "cr2", "True", "False"):
        assert python not in row, python
    for words in ("positive control: the wells whose role is positive_control", "all days",
                  "hits at q &lt; 0.1", "DerSimonian–Laird", "(CR2)", "Z′ reported, not gated",
                  "20% vehicle survival", "failed plates are still pooled"):
        assert words in row, words


def test_failed_and_qc_failed_fields_named_by_well_site_day_and_reason(run_dir):
    page, text = parse(run_dir / "report.html")
    card = text[text.index('id="verdict-fields"'):]
    card = card[:card.index("</div></div>") if "</div></div>" in card else None]
    assert "P1 A07, site 1, day 14: OSError: truncated TIFF file" in card
    assert "P1 A01, site 2, day 7: failed field QC" in card
    assert [c[0] for c in page.tables["qc-failed-fields-table"][0]] == ["P1 A01, site 2, day 7", "failed field QC"]


def test_failed_plate_still_pooled_says_so(tmp_path):
    run = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["scoring"]["exclude_failed_plates"] = False
    (run / "manifest.json").write_text(json.dumps(manifest))
    write_report(run)
    page, text = parse(run / "report.html")
    assert "Still pooled" in text[text.index('id="verdict-plates"'):]
    assert "still pooled" in page.tables["plate-qc-table"][1][-1][0]


def test_failed_plate_left_out_by_default_does_not_say_still_pooled(run_dir):
    page, text = parse(run_dir / "report.html")
    assert "Still pooled" not in text and "still pooled" not in page.tables["plate-qc-table"][1][-1][0]


def test_optional_said_once(tmp_path):
    run = make_run(tmp_path)
    (run / "qc_flags.csv").unlink()
    (run / "dose_response.csv").unlink()
    write_report(run)
    _, text = parse(run / "report.html")
    problems = text[text.index('id="problems"'):]
    lines = re.findall(r"<li><code>(qc_flags.csv|dose_response.csv)</code> absent([^<]*)</li>", problems)
    assert len(lines) == 2
    assert all(rest.count("optional") == 1 for _, rest in lines), lines


def test_every_figure_saved_as_svg_and_png(run_dir):
    svgs = sorted(p.stem for p in (run_dir / "figures").glob("*.svg"))
    pngs = sorted(p.stem for p in (run_dir / "figures").glob("*.png"))
    assert svgs == pngs
    assert {"survival", "heatmap-P1", "forest-cpdA", "forest-kenp", "neurite-vs-survival", "dose-cpdA"} <= set(svgs)
    _, text = parse(run_dir / "report.html")
    assert len(svgs) == text.count("<svg")  # one file per inline figure
    png = (run_dir / "figures" / "survival.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_clipped_forest_interval_ends_in_an_arrow():
    scores = pd.DataFrame({"patient": ["a", "b"], "concentration_um": [1.0, 1.0],
                           "hazard_ratio": [1.0, 1.2], "hr_ci_low": [0.001, 0.8], "hr_ci_high": [1.5, 1.6]})
    pooled = pd.DataFrame({"concentration_um": [1.0], "hazard_ratio": [1.1], "hr_ci_low": [0.9],
                           "hr_ci_high": [1.3]})
    fig = fg.forest_figure("x", scores, pooled)
    ax = fig.axes[0]
    markers = [ln.get_marker() for ln in ax.get_lines()]
    assert markers.count("<") == 1 and markers.count(">") == 0
    lo, _ = ax.get_xlim()
    arrow = next(ln for ln in ax.get_lines() if ln.get_marker() == "<")
    assert arrow.get_xdata()[0] == pytest.approx(lo)


def test_heatmap_no_data_reads_apart_from_zero_failures():
    table = pd.DataFrame({"well": ["A01", "A02"], "value": [0.0, 3.0]})
    fig = fg.plate_heatmaps([("failed", table, "bad")], "P", (8, 12))
    ax = fig.axes[0]
    cmap = ax.images[0].get_cmap()
    zero = cmap(ax.images[0].norm(0.0))
    no_data = cmap.get_bad()
    assert np.abs(np.asarray(zero[:3]) - np.asarray(no_data[:3])).max() > 0.2
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 96 - 2  # every well without data, and only those
    labels = [t.get_fontsize() for t in ax.get_xticklabels()]
    assert min(labels) >= 8 and len(labels) == 12  # every column of a 96-well plate labelled, legibly
