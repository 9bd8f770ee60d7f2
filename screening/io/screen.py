"""A whole screen's inputs: every plate's image index joined with its plate map.

This is where the config meets the files. :func:`load_screen` discovers every
plate, reads every plate map and checks that they agree; it collects every problem
instead of stopping at the first, so ``screening validate`` can list them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from screening.config import RunConfig
from screening.io.discovery import TABLE_COLUMNS, discover_plate
from screening.io.pixelsize import files_pixel_size, plate_pixel_size
from screening.io.planes import is_plane_number, plane_files
from screening.io.platemap import PlateMapError, read_plate_map
from screening.plate import FIELD_KEYS

#: Index columns of :class:`Screen` (``day`` resolved from the config or the files).
SCREEN_COLUMNS = ["plate", "well", "site", "channel", "timepoint", "plane", "day", "path"]


@dataclass
class Screen:
    """Inputs of a run.

    Attributes
    ----------
    index : DataFrame
        One row per image file: ``plate, well, site, channel, timepoint, plane, day, path``
        (``plane``: 1-based z plane, 1 for single-plane layouts; ``day``: see :func:`resolve_days`).
    plate_map : DataFrame
        ``plate, well, patient, compound, concentration_um, role``.
    errors : list of str
        Problems that stop a run (missing folders, plate-map errors, unmapped wells...).
    warnings : list of str
        Problems a run survives: the affected fields fail and are reported.
    pixel_size_um : dict
        Plate id -> µm per pixel it is measured at (:func:`screening.io.pixelsize.plate_pixel_size`:
        the config's, else the files'); a plate whose size is unknown or contradicted has an error.
    plane_rules : dict
        Plate id -> its ``plates[].planes`` rule (``"max"``, ``"mean"`` or a plane number).
    """

    index: pd.DataFrame
    plate_map: pd.DataFrame
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pixel_size_um: dict[str, float] = field(default_factory=dict)
    plane_rules: dict[str, str | int] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return self.errors + self.warnings


def _well_list(wells, limit: int = 8) -> str:
    wells = sorted(wells)
    shown = ", ".join(wells[:limit])
    return shown + (f" and {len(wells) - limit} more" if len(wells) > limit else "")


def _check_map_vs_images(plate_id: str, layout: Path, pmap: pd.DataFrame, index: pd.DataFrame) -> list[str]:
    imaged = set(index["well"])
    mapped = set(pmap["well"])
    needed = set(pmap.loc[pmap["role"] != "empty", "well"])
    problems = []
    if imaged - mapped:
        problems.append(
            f"plate {plate_id}: imaged well(s) {_well_list(imaged - mapped)} not in plate map {layout}; add them"
        )
    if needed - imaged:
        problems.append(
            f"plate {plate_id}: mapped well(s) {_well_list(needed - imaged)} have no images; "
            f"check the plate folder or mark them role=empty in {layout}"
        )
    return problems


_MAX_LISTED = 20  # missing-field lines per plate; the rest are counted


def expected_fields(index: pd.DataFrame, timepoints=()) -> pd.DataFrame:
    """Every field a plate should have: its imaged wells × its sites × its timepoints.

    ``timepoints`` adds timepoints the config names that the files may lack (a
    missing ``TimePoint_<t>`` folder). Columns ``well, site, timepoint``.
    """
    wells, sites = sorted(set(index["well"])), sorted(set(index["site"]))
    tps = sorted(set(index["timepoint"]) | set(timepoints))
    return pd.MultiIndex.from_product([wells, sites, tps], names=FIELD_KEYS[1:]).to_frame(index=False)


def _missing_fields(plate_id: str, present: pd.DataFrame, timepoints: dict) -> list[str]:
    """Fields of the plate's grid without any image, named by timepoint (a whole one) or by well.

    ``timepoints`` is the config's ``timepoints:`` (timepoint -> day; empty without one).
    """
    grid = expected_fields(present, timepoints)
    have = set(present[FIELD_KEYS[1:]].itertuples(index=False, name=None))
    missing = grid[[k not in have for k in grid.itertuples(index=False, name=None)]]
    problems = []
    for tp, group in missing.groupby("timepoint"):
        if len(group) == len(grid[grid["timepoint"] == tp]):
            day = timepoints.get(tp)
            problems.append(
                f"plate {plate_id}: no images at timepoint {tp}{f' (day {day:g})' if day is not None else ''} "
                f"in any well: is its folder missing? Its {len(group)} fields fail; restore the images or remove "
                f"timepoint {tp} from timepoints: in the config"
            )
            missing = missing[missing["timepoint"] != tp]
    lines = [
        f"plate {plate_id}: well {well} site {site}: no images at timepoint(s) {sorted(g['timepoint'].tolist())}; "
        "those fields fail"
        for (well, site), g in missing.groupby(["well", "site"])
    ]
    extra = len(lines) - _MAX_LISTED
    lines = lines[:_MAX_LISTED] + ([f"plate {plate_id}: and {extra} more well-site(s) with missing images"]
                                   if extra > 0 else [])
    return problems + lines


def _check_completeness(plate_id: str, index: pd.DataFrame, channels: list[str], config: RunConfig) -> list[str]:
    """Fields missing a channel, and fields (or whole timepoints) missing that the plate should have."""
    problems = []
    present = index[index["channel"].isin(channels)]
    found = set(present["channel"])  # a channel in no file at all is an error of its own (_check_channels)
    fields = present.groupby(FIELD_KEYS[1:])["channel"].agg(set)
    for key, chans in fields.items():
        for channel in sorted(found - chans):
            well, site, tp = key
            problems.append(
                f"plate {plate_id}: well {well} site {site} timepoint {tp}: no file for channel {channel}"
            )
    if len(present):
        problems.extend(_missing_fields(plate_id, present, config.timepoints or {}))
    if index.empty:
        problems.append(f"plate {plate_id}: no images found; check plates[].path and plates[].format")
    return problems


def _check_channels(plate_id: str, index: pd.DataFrame, config: RunConfig) -> list[str]:
    """Configured channel tokens that no file of the plate carries (a typo in channels:)."""
    found = sorted(set(index["channel"]))
    if not found:
        return []
    roles: dict[str, list[str]] = {}
    for role, token in config.channels.tokens().items():
        roles.setdefault(token, []).append(f"channels.{role}")
    return [
        f"plate {plate_id}: {' and '.join(names)} = {token!r} is in no file name (the plate has "
        f"{', '.join(found)}); fix channels: in the config"
        for token, names in roles.items() if token not in found
    ]


def _check_shared_files(index: pd.DataFrame) -> list[str]:
    """Plates that read the same image files (one folder under two plate ids counts it twice)."""
    if index.empty:
        return []
    files = index.assign(real=[os.path.realpath(p) for p in index["path"]])
    shared = files.groupby("real")["plate"].agg(lambda s: tuple(sorted(set(s))))
    shared = shared[shared.map(len) > 1]
    problems = []
    for plates, group in shared.groupby(shared):
        example = group.index[0]
        problems.append(
            f"plates {' and '.join(plates)} read the same {len(group)} image file(s) (e.g. {example}): one image "
            "folder must be one plate, or its wells are counted twice; remove the duplicate plates[] entry"
        )
    return problems


def load_screen(config: RunConfig) -> Screen:
    """Discover every plate, read every plate map and check they agree."""
    indexes, maps, errors, warnings, pixel_sizes = [], [], [], [], {}
    channels = sorted(set(config.channels.tokens().values()))
    for plate in config.plates:
        try:
            pmap = read_plate_map(plate.layout)
            maps.append(pmap.assign(plate=plate.id))
        except PlateMapError as exc:
            errors.extend(exc.problems)
            pmap = None
        try:
            found = discover_plate(plate.id, plate.path, plate.format)
        except (FileNotFoundError, ValueError) as exc:
            errors.append(str(exc))
            continue
        warnings.extend(found.problems)
        first_tiff = found.index["path"].iloc[0] if len(found.index) else None
        files_um, source = files_pixel_size(found.pixel_size_um, first_tiff, layout=plate.id)
        pixel_um, problem = plate_pixel_size(config.pixel_size_um, files_um, plate=plate.id, source=source)
        if pixel_um:
            pixel_sizes[plate.id] = pixel_um
        errors.extend([problem] if problem else [])
        indexes.append(found.index)
        if pmap is not None:
            errors.extend(_check_map_vs_images(plate.id, plate.layout, pmap, found.index))
        errors.extend(_check_channels(plate.id, found.index, config))
        warnings.extend(_check_completeness(plate.id, found.index, channels, config))
        warnings.extend(check_chosen_plane(plate.id, found.index, channels, plate.planes))
    index = pd.concat(indexes, ignore_index=True) if indexes else pd.DataFrame(columns=TABLE_COLUMNS)
    index["day"] = resolve_days(index, config)
    errors.extend(_check_shared_files(index))
    no_day = sorted(set(index.loc[index["day"].isna(), "timepoint"]))
    if no_day:
        errors.append(f"timepoint(s) {no_day} found in the files have no day; add them to timepoints: in the config")
    plate_map = (
        pd.concat(maps, ignore_index=True)[["plate", "well", "patient", "compound", "concentration_um", "role"]]
        if maps
        else pd.DataFrame(columns=["plate", "well", "patient", "compound", "concentration_um", "role"])
    )
    errors.extend(_check_vehicles(plate_map, config.scoring.baseline_role))
    return Screen(index[SCREEN_COLUMNS], plate_map, errors, warnings, pixel_sizes, config.plane_rules())


def resolve_days(index: pd.DataFrame, config: RunConfig) -> pd.Series:
    """Day of every image: the config's ``timepoints:`` when given, else the files' own days.

    Parameters
    ----------
    index : DataFrame
        ``timepoint`` and ``day`` columns; ``day`` is what the layout read from the
        files (days since the plate's first scan, fractional; NaN when the layout
        carries no acquisition times).
    config : RunConfig
        ``timepoints:`` (timepoint -> day) wins when present. Without it, images
        without a files' day get :meth:`RunConfig.day_of` (timepoint 1 -> day 0).

    Returns
    -------
    Series of float
        Days; NaN where neither the config nor the files give one.
    """
    from_config = index["timepoint"].map(lambda t: config.day_of(int(t))).astype(float)
    if config.timepoints is not None or "day" not in index:
        return from_config
    return index["day"].astype(float).where(index["day"].notna(), from_config)


def check_chosen_plane(plate_id: str, index: pd.DataFrame, channels: list[str], rule) -> list[str]:
    """A warning when ``plates[].planes`` chooses a plane some of the plate's images lack.

    Those fields fail in the run (one error each); ``validate`` lists the problem up front.
    """
    if not is_plane_number(rule) or index.empty:
        return []
    images = index[index["channel"].isin(channels)]
    keys = ["well", "site", "timepoint", "channel"]
    has = images.assign(chosen=images["plane"] == rule).groupby(keys)["chosen"].any()
    lacking = has[~has]
    if lacking.empty:
        return []
    well, site, timepoint, channel = lacking.index[0]
    planes = sorted(set(images["plane"]))
    return [
        f"plate {plate_id}: plates[].planes = {rule}, but {len(lacking)} image(s) have no plane {rule} "
        f"(e.g. well {well} site {site} timepoint {timepoint} channel {channel}; the plate has planes {planes}); "
        "their fields will fail"
    ]


def _check_vehicles(plate_map: pd.DataFrame, baseline_role: str) -> list[str]:
    live = plate_map[plate_map["role"] != "empty"]
    with_vehicle = set(live.loc[live["role"] == baseline_role, "patient"])
    return [
        f"patient {p}: no {baseline_role} wells in any plate map; every patient needs its own {baseline_role} wells"
        for p in sorted(set(live["patient"]) - with_vehicle)
    ]


def _with_missing_fields(keys: pd.DataFrame, index: pd.DataFrame, config: RunConfig) -> pd.DataFrame:
    """``keys`` plus a row (no files; day from the config) for every field of a plate's grid
    (:func:`expected_fields`) that has no image, so it fails by name instead of vanishing."""
    tokens = set(config.channels.tokens().values())
    grids = [
        expected_fields(images[images["channel"].isin(tokens)], config.timepoints or {}).assign(plate=plate)
        for plate, images in index.groupby("plate", sort=True)
    ]
    if not grids:
        return keys
    grid = pd.concat(grids, ignore_index=True)
    out = grid[FIELD_KEYS].merge(keys, on=FIELD_KEYS, how="outer")
    absent = out["day"].isna()
    out.loc[absent, "day"] = [config.day_of(int(t)) for t in out.loc[absent, "timepoint"]]
    return out.sort_values(FIELD_KEYS, kind="stable").reset_index(drop=True)


def field_table(screen: Screen, config: RunConfig) -> pd.DataFrame:
    """One row per field (plate, well, site, timepoint) with its files per channel role.

    Fields of a plate's grid (its wells × sites × timepoints, with the config's
    ``timepoints:``) that have no image at all get a row without files: they fail
    in the run, naming what is missing, instead of silently dropping out.

    Columns, for each role (``reporter``, ``neurites`` and, with a nuclear channel, ``nuclei``):

    - ``path_<role>``: the role's file (its lowest plane for a z-stack), or None when
      it is missing: the field then fails with the missing file named, instead of
      stopping the run;
    - ``files_<role>``: tuple of the role's files aligned with ``plane_numbers``
      (None for a plane that role lacks), or None when the role has no file.

    ``plane_numbers`` is the tuple of the field's planes (``(1,)`` for single-plane
    layouts). The plate-map columns are joined on.
    """
    tokens = config.channels.tokens()
    keys = screen.index.groupby(FIELD_KEYS, sort=True).agg(day=("day", "first")).reset_index()
    keys = _with_missing_fields(keys, screen.index, config)
    images = screen.index[screen.index["channel"].isin(set(tokens.values()))]
    lookup = plane_files(images, FIELD_KEYS + ["channel"])
    field_ids = list(keys[FIELD_KEYS].itertuples(index=False, name=None))
    by_role = {role: [lookup.get((*f, token)) for f in field_ids] for role, token in tokens.items()}
    planes = [
        tuple(sorted({p for role in tokens for p in (by_role[role][i] or {})})) for i in range(len(field_ids))
    ]
    for role in tokens:
        found = by_role[role]
        keys[f"path_{role}"] = [next(iter(d.values())) if d else None for d in found]
        keys[f"files_{role}"] = [
            tuple(d.get(p) for p in pl) if d else None for d, pl in zip(found, planes, strict=True)
        ]
    keys["plane_numbers"] = planes
    fields = keys.merge(screen.plate_map, on=["plate", "well"], how="left")
    return fields.sort_values(FIELD_KEYS, kind="stable").reset_index(drop=True)


def field_paths(row) -> dict[str, str | None]:
    """Role -> one file path of a field row of :func:`field_table` (its lowest plane; None: no file).

    A missing file is None whatever the table stored (pandas 3 reads it back as NaN).
    """
    return {k[5:]: (v if isinstance(v, str) and v else None) for k, v in row.items() if k.startswith("path_")}


def field_planes(row) -> dict[str, dict[int, str] | None]:
    """Role -> ``{plane: file}`` of a field row of :func:`field_table` (None: no file for the role).

    Rows without ``plane_numbers`` / ``files_<role>`` (tables made before planes
    were kept) give each role's ``path_<role>`` as plane 1.
    """
    planes = row.get("plane_numbers")
    out = {}
    for role, path in field_paths(row).items():
        files = row.get(f"files_{role}")
        if planes is None or files is None:
            out[role] = {1: path} if path else None
            continue
        present = {int(p): f for p, f in zip(planes, files, strict=True) if f}
        out[role] = present or None
    return out


def key_inputs(row, rule) -> tuple[dict[str, str | None], str]:
    """What decides a field's images, for its resume key (:func:`screening.run.shards.field_key`).

    Parameters
    ----------
    row : mapping
        A field row of :func:`field_table`.
    rule : {"max", "mean"} or int
        The plate's ``plates[].planes`` rule.

    Returns
    -------
    files : dict
        Name -> file: every plane file of every role.
    rule_text : str
        Appended to the measurement hash: the rule, so changing it recomputes.
        A single-plane field under ``"max"`` / ``"mean"`` (same image either way)
        gives ``role -> file`` and ``""``, the key runs made before planes were
        kept used, so their shards stay valid.
    """
    planes = field_planes(row)
    single = all(d is None or len(d) == 1 for d in planes.values())
    if single and not is_plane_number(rule):
        return field_paths(row), ""
    files = {}
    for role, found in planes.items():
        for plane, path in (found or {0: None}).items():
            files[f"{role}@plane{plane}"] = path
    return files, f":planes={rule}"


__all__ = ["FIELD_KEYS", "Screen", "field_paths", "field_planes", "field_table", "key_inputs", "load_screen"]
