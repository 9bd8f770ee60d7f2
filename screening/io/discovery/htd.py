"""MetaXpress ``.HTD`` plate description: which wells, sites, wavelengths and timepoints were set up.

The HTD is a line-oriented text file of a quoted key and comma-separated values,
``"HTSInfoFile", Version 1.0`` first and ``"EndFile"`` last::

    "XWells", 12
    "YWells", 8
    "WellsSelection1", FALSE, TRUE, TRUE, ...      one TRUE/FALSE per column of plate row 1
    "Sites", TRUE
    "XSites", 2
    "YSites", 2
    "SiteSelection1", TRUE, TRUE                   one TRUE/FALSE per site-grid column
    "NWavelengths", 2
    "WaveName1", "DAPI"
    "WaveCollect1", 1                              0: set up but not acquired
    "TimePoints", 1

Sites are numbered 1.. in reading order over the selected site-grid cells (files
``_s1`` .. ``_s4`` for four selected cells). Without ``"Sites", TRUE`` a well has one site.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from screening.io.wells import normalize_well


class HTDError(ValueError):
    """An HTD file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class PlateDescription:
    """What an HTD says was acquired.

    Attributes
    ----------
    wells : list of str
        Selected wells, ``A01`` style.
    sites : int
        Sites per well.
    wavelengths : list of int
        Wavelength numbers that were collected (the ``w`` number in file names).
    wave_names : dict
        Wavelength number -> name (``DAPI``, ``FITC`` ...).
    timepoints : int
        Number of timepoints set up.
    """

    wells: list[str]
    sites: int
    wavelengths: list[int]
    wave_names: dict[int, str]
    timepoints: int


def _row_name(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def _flag(value: str) -> bool:
    return value.strip().upper() == "TRUE"


def read_htd_text(text: str, source: str = "<HTD>") -> PlateDescription:
    """Parse the text of an HTD file; raises :class:`HTDError` naming ``source``."""
    entries: dict[str, list[str]] = {}
    for fields in csv.reader(text.splitlines(), skipinitialspace=True):
        if fields:
            entries[fields[0].strip()] = [f.strip() for f in fields[1:]]
    if "HTSInfoFile" not in entries:
        raise HTDError(f"{source}: not an HTD file (no \"HTSInfoFile\" line); re-export it from MetaXpress")
    try:
        n_rows, n_cols = int(entries["YWells"][0]), int(entries["XWells"][0])
        wells = [
            f"{_row_name(r)}{c + 1:02d}"
            for r in range(n_rows)
            for c, chosen in enumerate(entries.get(f"WellsSelection{r + 1}", ["TRUE"] * n_cols))
            if _flag(chosen)
        ]
        sites = 1
        if _flag(entries.get("Sites", ["FALSE"])[0]):
            y_sites = int(entries["YSites"][0])
            sites = sum(_flag(v) for r in range(y_sites) for v in entries.get(f"SiteSelection{r + 1}", []))
        n_waves = int(entries.get("NWavelengths", ["1"])[0])
        wavelengths = [w for w in range(1, n_waves + 1) if entries.get(f"WaveCollect{w}", ["1"])[0] != "0"]
        names = {w: entries.get(f"WaveName{w}", [""])[0] for w in range(1, n_waves + 1)}
        timepoints = int(entries.get("TimePoints", ["1"])[0])
    except (KeyError, IndexError, ValueError) as exc:
        raise HTDError(f"{source}: malformed HTD ({type(exc).__name__}: {exc}); re-export it from MetaXpress") from None
    return PlateDescription(wells, max(sites, 1), wavelengths, names, max(timepoints, 1))


def read_htd(path: str | Path) -> PlateDescription:
    """Read an HTD file (bytes that are not UTF-8, as in some descriptions, are replaced)."""
    path = Path(path)
    return read_htd_text(path.read_bytes().decode("utf-8", errors="replace"), str(path))


def find_htd(root: Path) -> Path | None:
    """The plate's ``.HTD`` file in the plate folder itself (any case), or None."""
    found = sorted(p for p in Path(root).iterdir() if p.suffix.lower() == ".htd" and p.is_file())
    return found[0] if found else None


def expected_images(desc: PlateDescription, timepoints=None) -> pd.DataFrame:
    """One row per image the HTD says exists: ``well, site, channel, timepoint``.

    Parameters
    ----------
    desc : PlateDescription
    timepoints : iterable of int, optional
        Timepoints to expect; default ``1 .. desc.timepoints``.
    """
    timepoints = sorted(set(timepoints or range(1, desc.timepoints + 1)))
    rows = [
        (well, site, f"w{w}", t)
        for t in timepoints
        for well in desc.wells
        for site in range(1, desc.sites + 1)
        for w in desc.wavelengths
    ]
    return pd.DataFrame(rows, columns=["well", "site", "channel", "timepoint"])


def htd_channel_names(root: Path) -> dict[str, str]:
    """Channel token (``w1``) -> ``WaveName`` of each collected wavelength in the plate's HTD ({} without one).

    An unreadable HTD gives {} here; :func:`htd_problems` reports it.
    """
    path = find_htd(root)
    try:
        desc = read_htd(path) if path else None
    except (HTDError, OSError):
        desc = None
    if desc is None:
        return {}
    return {f"w{w}": desc.wave_names[w] for w in desc.wavelengths if desc.wave_names.get(w)}


def htd_problems(root: Path, index: pd.DataFrame, *, limit: int = 10) -> list[str]:
    """Problems from comparing a plate folder's HTD (if any) with the files found.

    Each image the HTD sets up but no file provides is named (the first ``limit``,
    then a count). Timepoints found in ``TimePoint_<t>`` folders are checked too,
    since a time-lapse screen often keeps one HTD for several acquisitions.
    """
    path = find_htd(root)
    if path is None:
        return []
    try:
        desc = read_htd(path)
    except (HTDError, OSError) as exc:
        return [str(exc)]
    expected = expected_images(desc, set(range(1, desc.timepoints + 1)) | set(index["timepoint"]))
    keys = ["well", "site", "channel", "timepoint"]
    index = index.assign(well=index["well"].map(normalize_well))
    found = set(map(tuple, index[keys].astype({"site": int, "timepoint": int}).itertuples(index=False)))
    missing = [row for row in expected.itertuples(index=False) if tuple(row) not in found]
    problems = [
        f"{root}: {path.name} lists well {w} site {s} channel {c} timepoint {t} but no file was found"
        for w, s, c, t in missing[:limit]
    ]
    if len(missing) > limit:
        problems.append(f"{root}: {len(missing) - limit} more image(s) listed in {path.name} have no file")
    return problems
