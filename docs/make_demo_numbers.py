"""Fill README.md's demo block with the numbers of a demo run (part of ``make docs``).

Usage (from the repository root)::

    python docs/make_demo_numbers.py --run runs/example     # a fresh run of configs/example.yaml

Every figure the README quotes about the demo lives between the markers
``<!-- demo-numbers:start -->`` and ``<!-- demo-numbers:end -->`` and is written
here from the run folder's tables (and, for plate QC, from the same scoring applied
to the simulator's true counts in ``example_plates/truth/``), so the README cannot
show a result the code no longer gives. ``tests/test_docs.py`` checks the block
against a fresh demo run.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- demo-numbers:start -->", "<!-- demo-numbers:end -->"


def truth_plate_qc(config_path: Path) -> pd.DataFrame:
    """``plate_qc`` of the demo scored from the simulator's true counts (every field usable)."""
    from screening.run.aggregate import aggregate_wells
    from screening.config import load_config
    from screening.io.platemap import read_plate_map
    from screening.score import score_screen

    config = load_config(config_path)
    truth = pd.read_csv(config.plates[0].path.parent / "truth" / "fields.csv")
    maps = pd.concat([read_plate_map(p.layout).assign(plate=p.id) for p in config.plates])
    fields = truth.merge(maps, on=["plate", "well"]).assign(qc_pass=True, status="ok", flagged=False)
    return score_screen(fields, aggregate_wells(fields), config.scoring).plate_qc


def true_pooled_hr(config_path: Path) -> dict[tuple[str, float], float]:
    """The simulator's hazard ratio of each compound × concentration, pooled over patients as the
    ranking pools them (geometric mean), from ``example_plates/truth/effects.csv``."""
    from screening.config import load_config

    config = load_config(config_path)
    effects = pd.read_csv(config.plates[0].path.parent / "truth" / "effects.csv")
    logs = effects.assign(log_hr=np.log(effects["true_hr"])).groupby(["compound", "concentration_um"])["log_hr"]
    return {key: float(np.exp(v)) for key, v in logs.mean().items()}


def _true_hr(row, truth: dict) -> str:
    return f"true HR {truth.get((row.compound, row.concentration_um), np.nan):.2f}"


def _hr(row, truth: dict) -> str:
    return (f"HR {row.hazard_ratio:.2f} (95 % CI {row.hr_ci_low:.2f}-{row.hr_ci_high:.2f}), q {row.q_value:.2f}; "
            f"{_true_hr(row, truth)}")


def render(run_dir: Path, config_path: Path) -> str:
    """The README's demo block (markers included) for the run in ``run_dir``."""
    from screening.config import load_config

    config = load_config(config_path)
    fields = pd.read_parquet(run_dir / "fields.parquet")
    ranking = pd.read_csv(run_dir / "ranking.csv")
    qc = pd.read_csv(run_dir / "plate_qc.csv").rename(columns={"pass": "passed"})  # "pass" is a keyword
    truth_qc = truth_plate_qc(config_path).set_index(["plate", "patient"])
    true_hr = true_pooled_hr(config_path)
    fdr = config.scoring.fdr_q
    treated = ranking[ranking["role"] == "treatment"].sort_values("rank")
    hits = treated[treated["q_value"] < fdr]
    days = ", ".join(f"{d:g}" for d in sorted(fields["day"].unique()))
    usable = fields[(fields["status"] == "ok") & fields["qc_pass"]]
    first = usable[usable["timepoint"] == usable["timepoint"].min()]
    best = treated.iloc[0]
    lines = [
        START,
        "<!-- Written by `make docs` (docs/make_demo_numbers.py) from a fresh run of configs/example.yaml. -->",
        "",
        "| the demo run (`make demo`) | |",
        "|---|---|",
        f"| design | {fields['plate'].nunique()} plate, {fields['well'].nunique()} wells × "
        f"{fields['site'].nunique()} site, days {days}; {fields['patient'].nunique()} patients, "
        f"{treated['compound'].nunique()} compounds and a positive control |",
        f"| fields | {len(fields)} measured, {int((fields['status'] != 'ok').sum())} failed, "
        f"{int((~fields['qc_pass']).sum())} failed field QC |",
        f"| motor neurons per field at day {first['day'].min():g} | median {first['n_neurons'].median():g} |",
        f"| hits (pooled q < {fdr:g}) | {len(hits)}"
        + (": " + ", ".join(f"{r.compound} {r.concentration_um:g} µM ({_true_hr(r, true_hr)})"
                            for r in hits.itertuples()) if len(hits) else "")
        + " |",
        f"| best-ranked arm | {best.compound} {best.concentration_um:g} µM: {_hr(best, true_hr)} |",
    ]
    for r in qc.itertuples():
        true = truth_qc.loc[(r.plate, r.patient), "ssmd"]
        verdict = "passes" if r.passed else f"fails ({r.note})".replace("|", "\\|")
        lines.append(f"| plate QC, {r.plate} {r.patient} | SSMD {r.ssmd:.2f} measured ({true:.2f} from the "
                     f"true counts), Z' {r.z_prime:.2f}: {verdict} |")
    return "\n".join(lines + [END])


def replace_block(text: str, block: str) -> str:
    """``text`` with its demo block replaced by ``block`` (error when the markers are missing)."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"error: README.md has no {START} ... {END} block")
    return pattern.sub(lambda _: block, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "example", help="run folder of the demo")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "example.yaml")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = parser.parse_args(argv)
    block = render(args.run, args.config)
    args.readme.write_text(replace_block(args.readme.read_text(encoding="utf-8"), block), encoding="utf-8")
    print(f"wrote the demo numbers into {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
