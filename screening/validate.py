"""``screening validate``: every problem with a config, its files and plate maps, in one pass."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from screening.config import ConfigError, RunConfig, load_config
from screening.io.screen import Screen, load_screen
from screening.io.tiff import check_tiff


@dataclass
class ValidationReport:
    """Problems (none when the screen is ready to run) and a summary of what was found."""

    errors: list[str]
    summary: dict = field(default_factory=dict)
    config: RunConfig | None = None
    screen: Screen | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Errors (``run`` refuses them) and warnings (``run`` fails only the fields concerned)."""
        return self.errors + self.warnings

    @property
    def ok(self) -> bool:
        return not self.problems


def check_images(screen: Screen, *, workers: int = 8) -> tuple[list[str], list[str]]:
    """Header-check every image: ``(errors, warnings)``.

    Errors stop a run: images of another shape than the rest of their plate (a
    cropped channel, one 8192² field among 256² ones), listed by file. Warnings
    are files that cannot be read (corrupt, truncated): only their fields fail.
    """
    paths = screen.index["path"].tolist()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        headers = list(pool.map(check_tiff, paths))
    warnings = [h.problem for h in headers if h.problem]
    shapes: dict[str, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    for plate, header in zip(screen.index["plate"], headers, strict=True):
        if header.shape is not None:
            shapes[plate][header.shape].append(header.path)
    errors = []
    for plate, by_shape in sorted(shapes.items()):
        if len(by_shape) < 2:
            continue
        common = max(by_shape, key=lambda shape: len(by_shape[shape]))
        odd = [(shape, path) for shape, files in by_shape.items() if shape != common for path in files]
        listed = "; ".join(f"{path} is {shape}" for shape, path in odd[:5])
        more = f" and {len(odd) - 5} more" if len(odd) > 5 else ""
        errors.append(
            f"plate {plate}: images of different shapes: {len(odd)} differ from the plate's {common} ({listed}{more}); "
            "one plate needs one shape: re-export or remove them"
        )
    return errors, warnings


def check_screen(config: RunConfig) -> Screen:
    """:func:`load_screen` plus the image header checks (:func:`check_images`) merged into its
    errors and warnings: what ``validate`` lists and what ``run`` refuses (errors) or names (warnings)."""
    screen = load_screen(config)
    errors, warnings = check_images(screen)
    screen.errors += errors
    screen.warnings += warnings
    return screen


def summarize(screen: Screen) -> dict:
    idx, pmap = screen.index, screen.plate_map
    live = pmap[pmap["role"] != "empty"]
    return {
        "plates": idx["plate"].nunique(),
        "wells": idx[["plate", "well"]].drop_duplicates().shape[0],
        "fields": idx[["plate", "well", "site", "timepoint"]].drop_duplicates().shape[0],
        "images": len(idx),
        "timepoints": sorted(set(zip(idx["timepoint"], idx["day"], strict=True))),
        "patients": sorted(live["patient"].unique()),
        "compounds": sorted(live.loc[live["role"] == "treatment", "compound"].unique()),
        "planes": plane_summary(screen),
    }


def plane_summary(screen: Screen) -> dict[str, dict]:
    """Plate -> ``{"planes": sorted plane numbers, "max_per_image": int, "rule": plane rule}``.

    ``max_per_image`` is the largest number of plane files of one field's channel
    (1: no z-stacks); ``rule`` is the plate's ``plates[].planes``.
    """
    out = {}
    for plate, images in screen.index.groupby("plate", sort=True):
        per_image = images.groupby(["well", "site", "timepoint", "channel"]).size()
        out[plate] = {
            "planes": sorted(int(p) for p in images["plane"].unique()),
            "max_per_image": int(per_image.max()) if len(per_image) else 0,
            "rule": screen.plane_rules.get(plate),
        }
    return out


def describe_planes(planes: dict[str, dict]) -> str:
    """One line per plate: its plane count and the rule that reduces them."""
    lines = []
    for plate, info in planes.items():
        rule = info["rule"]
        how = f"plane {rule} only" if isinstance(rule, int) else f"{rule} projection"
        if info["max_per_image"] <= 1:
            lines.append(f"{plate}: 1 plane per image (plates[].planes = {rule!r} has nothing to reduce)")
        else:
            lines.append(
                f"{plate}: up to {info['max_per_image']} planes per image (planes {info['planes']}); "
                f"measured: {how} (plates[].planes = {rule!r})"
            )
    return "\n".join(lines)


def validate_config_file(path: str | Path) -> ValidationReport:
    """Check a run config, its plate folders, plate maps and images; never raises on bad input."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return ValidationReport([f"{exc.source}: {p}" for p in exc.problems])
    screen = check_screen(config)
    return ValidationReport(screen.errors, summarize(screen), config, screen, warnings=screen.warnings)
