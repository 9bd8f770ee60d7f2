"""``screening init``: a starting run config and plate-map templates from plate folders.

For each plate folder the layout is found by trying every registered layout
(:mod:`screening.io.discovery`) and keeping the one that indexes the most images.
From the index and the layout's metadata come

- the channels and their roles: a channel named (by the metadata, or by its own
  token, like Incucyte's ``green``) as a nuclear stain (Hoechst, DAPI, 405 nm ...) is
  ``nuclei``, as the motor-neuron reporter (GFP, HB9, 488 nm ...) ``reporter``, as a
  neurite marker (TUJ1, MAP2) ``neurites``; roles still open are filled by channel
  order (reporter first, then nuclei), and the config says which were guessed;
- timepoints, and their days where the files carry acquisition times;
- the pixel size (layout metadata, else the TIFF tags: :mod:`screening.io.pixelsize`);
- every imaged well, for the plate-map template.

:func:`write_init` writes a commented ``config.yaml`` and one ``layouts/<PLATE>.csv``
per plate (``well`` filled, ``patient, compound, concentration_uM, role`` empty);
``screening validate`` then lists what is left to fill in.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from screening.io.atomic import write_text_atomic
from screening.io.discovery import available_formats, discover_plate
from screening.io.pixelsize import files_pixel_size
from screening.io.platemap import TEMPLATE_COLUMNS
from screening.io.wells import well_row_col

#: Words in a channel's name that say its role; the first role that matches wins, so a
#: nuclear-localised reporter (H2B-GFP) is a nuclear channel.
ROLE_WORDS = {
    "nuclei": ("hoechst", "dapi", "draq5", "draq7", "nucblue", "nuclight", "sirdna", "h2b", "nuclear",
               "nuclei", "nucleus", "dna", "405", "blue"),
    "neurites": ("tuj1", "tubb3", "map2", "neurofilament", "nefh", "smi32", "tubulin"),
    "reporter": ("hb9", "mnx1", "isl1", "islet", "chat", "gfp", "fitc", "488", "green", "venus", "yfp",
                 "reporter"),
    "unused": ("phase", "brightfield", "bf", "dic", "transmitted", "tl"),
}
#: Roles filled by channel order when no name says them.
ORDERED_ROLES = ("reporter", "nuclei")
#: Where the plate-map templates go, beside the config.
LAYOUT_DIR = "layouts"


class InitError(ValueError):
    """Plate folders ``screening init`` cannot describe; the message says which and why."""


@dataclass
class PlateSurvey:
    """What one plate folder holds.

    Attributes
    ----------
    id : str
        Plate id (the folder's name).
    path : Path
    format : str
        The layout that indexed the most images.
    index : DataFrame
        :func:`~screening.io.discovery.discover_plate`'s index.
    pixel_size_um : float or None
        µm per pixel from the layout's metadata or the first TIFF; None when neither says.
    pixel_source : str
        Where ``pixel_size_um`` came from.
    channel_names : dict
        Channel token -> name in the metadata.
    problems : list of str
        What the layout's parser reported (missing files ...).
    """

    id: str
    path: Path
    format: str
    index: pd.DataFrame
    pixel_size_um: float | None
    pixel_source: str
    channel_names: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def survey_plate(path: str | Path, plate_id: str | None = None) -> PlateSurvey:
    """Find the layout of one plate folder and index it.

    Raises
    ------
    InitError
        When the folder is missing or no registered layout finds an image in it.
    """
    path = Path(path)
    plate_id = plate_id or path.resolve().name
    if not path.is_dir():
        raise InitError(f"{path}: not a folder; give the folder that holds one plate's images")
    best, tried = None, []
    for fmt in available_formats():
        if fmt == "pattern":  # needs a regular expression; see docs/layouts.md
            continue
        try:
            found = discover_plate(plate_id, path, fmt)
        except (FileNotFoundError, ValueError) as exc:
            tried.append(f"{fmt}: {str(exc).split(';')[0]}")
            continue
        tried.append(f"{fmt}: {len(found.index)} image(s)")
        if len(found.index) and (best is None or len(found.index) > len(best[1].index)):
            best = (fmt, found)
    if best is None:
        raise InitError(
            f"{path}: no supported layout found ({'; '.join(tried)}). If the files follow another naming, "
            "write the config by hand with format: {pattern: REGEX} (docs/layouts.md)"
        )
    fmt, found = best
    pixel_um, source = files_pixel_size(found.pixel_size_um, found.index["path"].iloc[0], layout=fmt)
    return PlateSurvey(plate_id, path, fmt, found.index, pixel_um, source, found.channel_names, found.problems)


def _words(name: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", name.lower().replace("β", "beta"))


def role_of(name: str) -> str | None:
    """The channel role a name says (``nuclei``, ``reporter``, ``neurites``, ``unused``), or None."""
    words = _words(name)
    for role, keys in ROLE_WORDS.items():
        for key in keys:
            # Short keys (bf, tl, 405) must be a whole word; longer ones may sit inside one (EGFP).
            if any(w == key or (len(key) >= 3 and key.isalpha() and key in w) for w in words):
                return role
    return None


def _natural(token: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", token)]


@dataclass
class ChannelChoice:
    """Roles of the channels and why: ``roles`` role -> token, ``reasons`` token -> one line."""

    roles: dict[str, str]
    reasons: dict[str, str]
    guessed: list[str]


def assign_channels(tokens: list[str], names: dict[str, str]) -> ChannelChoice:
    """Give each channel token a role from its name, else by order.

    Parameters
    ----------
    tokens : list of str
        Channel tokens found in the files (``w1``, ``ch2``, ``C01``, ``green``).
    names : dict
        Token -> name in the metadata; a token without one is judged by the token itself.

    Returns
    -------
    ChannelChoice
        ``guessed`` lists the roles filled by order, which the user must check.
    """
    roles, reasons, unnamed = {}, {}, []
    for token in sorted(tokens, key=_natural):
        name = names.get(token, "")
        role = role_of(name) or role_of(token)
        said = f'"{name}" in the metadata' if name else f'its token "{token}" (no name in the metadata)'
        if role == "unused":
            reasons[token] = f"{said}: not fluorescence, not used"
        elif role and role not in roles:
            roles[role] = token
            reasons[token] = said
        elif role:
            reasons[token] = f"{said} also looks like {role} ({roles[role]} was taken first); not used"
        else:
            unnamed.append(token)
    guessed = []
    for role in ORDERED_ROLES:
        if role not in roles and unnamed:
            token = unnamed.pop(0)
            roles[role], guessed = token, guessed + [role]
            named = f'"{names[token]}" says no role' if names.get(token) else "no name in the metadata"
            reasons[token] = f"{named}: {role} by channel order; CHECK"
    for token in unnamed:
        reasons[token] = f'"{names[token]}": role unknown, not used' if names.get(token) else "not used"
    return ChannelChoice(roles, reasons, guessed)


def timepoint_days(surveys: list[PlateSurvey]) -> dict[int, dict[str, float]]:
    """Timepoint -> {plate: day} from the files' acquisition times (a plate without a day is absent)."""
    out: dict[int, dict[str, float]] = {}
    for s in surveys:
        days = s.index.groupby("timepoint")["day"].min()
        for t, d in days.items():
            out.setdefault(int(t), {})
            if pd.notna(d):
                out[int(t)][s.id] = float(d)
    return dict(sorted(out.items()))


def layout_template(index: pd.DataFrame) -> pd.DataFrame:
    """A plate-map template: every imaged well in plate order (row by row), the other columns empty."""
    wells = sorted(set(index["well"]), key=well_row_col)
    return pd.DataFrame({c: wells if c == "well" else [""] * len(wells) for c in TEMPLATE_COLUMNS})


# --- the config text --------------------------------------------------------------------------------


def _value(value) -> str:
    """A YAML scalar as yaml would write it (quoted only when needed)."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("\n...")


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def _commented(setting: str, comment: str, width: int = 32) -> str:
    """``setting`` padded so the comments of a block line up."""
    return f"{setting:<{width}} # {comment}"


def _day(d: float) -> str:
    return f"{d:.3f}".rstrip("0").rstrip(".")


def _channel_lines(choice: ChannelChoice, tokens: list[str]) -> list[str]:
    lines = [_commented("channels:", "role -> channel token in the files (docs/config.md, channels)")]
    for role in ("reporter", "nuclei", "neurites"):
        token = choice.roles.get(role)
        if token:
            lines.append(_commented(f"  {role}: {_value(token)}", choice.reasons[token]))
    if "neurites" not in choice.roles:
        lines.append(_commented("  # neurites: <token>", "a neurite marker (TUJ1, MAP2), if imaged; default: the reporter"))
    if "nuclei" not in choice.roles:
        lines.append(_commented("  # nuclei: <token>", "a nuclear stain, if imaged (counts are better with one)"))
    for token in sorted(set(tokens) - set(choice.roles.values()), key=_natural):
        lines.append(f"  # {token}: {choice.reasons[token]}")
    return lines


def _timepoint_lines(days: dict[int, dict[str, float]], plates: list[str]) -> list[str]:
    if len(days) <= 1:
        return ["# One timepoint (day 0). Survival needs a time series: is every scan in the plate folder?"]
    known = all(len(per_plate) == len(plates) for per_plate in days.values())
    if known:
        lines = ["# Days from the files' acquisition times (days since each plate's first scan), used as they",
                 "# are. To number the days yourself (e.g. days since plating), uncomment and edit:"]
        lines += ["# timepoints:"] + [
            f"#   {t}: {_day(min(per_plate.values()))}"
            + (f"   # plates differ: {', '.join(f'{p} {_day(d)}' for p, d in per_plate.items())}"
               if max(per_plate.values()) - min(per_plate.values()) > 0.01 else "")
            for t, per_plate in days.items()
        ]
        return lines
    return ["# FILL IN: the files carry no acquisition times, so the day of each timepoint is unknown.",
            "# Give each timepoint its day (days since the start of the assay) and remove the '#':",
            "# timepoints:"] + [f"#   {t}:" + (" 0" if i == 0 else "") for i, t in enumerate(days)]


def _pixel_lines(surveys: list[PlateSurvey]) -> list[str]:
    sizes = {s.id: s.pixel_size_um for s in surveys}
    if all(v is not None for v in sizes.values()):
        found = "; ".join(f"{s.id} {s.pixel_size_um:.4g} µm from {Path(s.pixel_source).name}" for s in surveys)
        return [f"# pixel_size_um: read from the files ({found}); set it only to override them."]
    missing = ", ".join(p for p, v in sizes.items() if v is None)
    return [_commented("pixel_size_um: null", f"FILL IN: µm per pixel; the files of {missing} carry none "
                       "(e.g. 0.65 for a 20x objective on a 6.5 µm camera pixel)")]


def _plate_lines(s: PlateSurvey, base: Path, layout: Path) -> list[str]:
    per_image = s.index.groupby(["well", "site", "timepoint", "channel"]).size()
    lines = [
        f"  - id: {_value(s.id)}",
        f"    path: {_value(_relative(s.path, base))}",
        _commented(f"    format: {s.format}", f"detected: {len(s.index)} images, {s.index['well'].nunique()} "
                   f"wells, {s.index['site'].nunique()} site(s) per well"),
        _commented(f"    layout: {_value(_relative(layout, base))}", "FILL IN this plate map (docs/plate-map.md)"),
    ]
    if len(per_image) and per_image.max() > 1:
        lines.append(_commented("    planes: max", f"up to {per_image.max()} focal planes per image: maximum "
                                "projection (or mean, or a plane number)"))
    return lines


def render_config(surveys: list[PlateSurvey], choice: ChannelChoice, base: Path, layouts: dict[str, Path],
                  name: str) -> str:
    """The commented YAML of a run config for ``surveys`` (paths relative to ``base``, the config's folder)."""
    tokens = sorted({t for s in surveys for t in s.index["channel"]}, key=_natural)
    lines = [
        f"# Run config written by `screening init` from {len(surveys)} plate folder(s).",
        "# Every key, its default and unit: docs/config.md. Lines marked FILL IN or CHECK need you;",
        "# then `screening validate` on this file lists anything still missing.",
        "",
        f"name: {_value(name)}",
        _commented(f"output: {_value('runs/' + name)}", "the run folder (relative to this file)"),
        "",
        *_pixel_lines(surveys),
        "",
        *_channel_lines(choice, tokens),
        "",
        *_timepoint_lines(timepoint_days(surveys), [s.id for s in surveys]),
        "",
        "plates:",
    ]
    for s in surveys:
        lines += _plate_lines(s, base, layouts[s.id])
    lines += [
        "",
        "# Optional sections, all with defaults (docs/config.md): segmentation (sizes in µm), qc,",
        "# scoring (e.g. positive_control, window_days) and compute (scheduler: threads | processes |",
        "# distributed | slurm; workers).",
        "",
    ]
    return "\n".join(lines)


# --- writing ------------------------------------------------------------------------------------------


@dataclass
class InitResult:
    """What :func:`write_init` wrote and found."""

    config: Path
    layouts: dict[str, Path]
    surveys: list[PlateSurvey]
    channels: ChannelChoice
    days: dict[int, dict[str, float]]


def _plate_ids(folders: list[Path]) -> list[str]:
    ids = []
    for folder in folders:
        resolved = folder.resolve()
        # A Harmony export's Images/ folder is named for what it holds, not for the plate.
        base = resolved.parent.name if resolved.name.lower() == "images" else resolved.name
        plate_id, n = base, 2
        while plate_id in ids:
            plate_id, n = f"{base}_{n}", n + 1
        ids.append(plate_id)
    return ids


def write_init(folders: list[str | Path], config_path: str | Path, *, name: str | None = None,
               force: bool = False) -> InitResult:
    """Survey plate folders; write a commented run config and a plate-map template per plate.

    Parameters
    ----------
    folders : list of path-like
        One folder per plate.
    config_path : path-like
        The config to write; templates go to ``layouts/<PLATE>.csv`` beside it.
    name : str, optional
        Run name (default: the plate id of a single plate, else the config's folder name).
    force : bool
        Replace a config or template that exists (a filled-in plate map is lost).

    Raises
    ------
    InitError
        Naming each folder that cannot be described, or files that exist without ``force``.
    """
    folders = [Path(f) for f in folders]
    config_path = Path(config_path)
    base = config_path.resolve().parent  # paths in the config are relative to it
    surveys, problems = [], []
    for folder, plate_id in zip(folders, _plate_ids(folders), strict=True):
        try:
            surveys.append(survey_plate(folder, plate_id))
        except InitError as exc:
            problems.append(str(exc))
    if problems:
        raise InitError("\n".join(problems))
    layouts = {s.id: config_path.parent / LAYOUT_DIR / f"{s.id}.csv" for s in surveys}
    existing = [p for p in [config_path, *layouts.values()] if p.exists()]
    if existing and not force:
        raise InitError(
            f"{', '.join(map(str, existing))} already exist(s); pass --force to replace (a filled-in plate map is lost) "
            "or write elsewhere with -o"
        )
    token_sets = {s.id: sorted(set(s.index["channel"]), key=_natural) for s in surveys}
    if len({tuple(t) for t in token_sets.values()}) > 1:
        listed = "; ".join(f"{p}: {', '.join(t)}" for p, t in token_sets.items())
        raise InitError(f"the plates name their channels differently ({listed}); a config names one token per "
                        "channel role, so init these plates into separate configs")
    tokens = {t for s in surveys for t in s.index["channel"]}
    names = {}
    for s in surveys:
        for token, label in s.channel_names.items():
            names.setdefault(token, label)
    choice = assign_channels(sorted(tokens), names)
    if "reporter" not in choice.roles:
        raise InitError(f"no channel can be the reporter (found {sorted(tokens, key=_natural)}); "
                        "write channels: by hand (docs/config.md)")
    name = name or (surveys[0].id if len(surveys) == 1 else base.name)
    text = render_config(surveys, choice, base, layouts, name)
    for s in surveys:
        write_text_atomic(layouts[s.id], layout_template(s.index).to_csv(index=False))
    write_text_atomic(config_path, text)
    return InitResult(config_path, layouts, surveys, choice, timepoint_days(surveys))


__all__ = [
    "ChannelChoice", "InitError", "InitResult", "PlateSurvey", "assign_channels", "layout_template",
    "render_config", "role_of", "survey_plate", "timepoint_days", "write_init",
]
