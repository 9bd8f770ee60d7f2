"""``screening validate``: every problem with a config, its files and plate maps, in one pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from screening.config import ConfigError, RunConfig, load_config
from screening.io.screen import Screen, load_screen
from screening.io.tiff import check_tiff


@dataclass
class ValidationReport:
    """Problems (empty when the screen is ready to run) and a summary of what was found."""

    problems: list[str]
    summary: dict = field(default_factory=dict)
    config: RunConfig | None = None
    screen: Screen | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_images(screen: Screen, *, workers: int = 8) -> list[str]:
    """Header-check every image and report unreadable files and mixed shapes within a plate."""
    paths = screen.index["path"].tolist()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        headers = list(pool.map(check_tiff, paths))
    problems = [h.problem for h in headers if h.problem]
    shapes: dict[str, dict[tuple, str]] = {}
    for plate, header in zip(screen.index["plate"], headers, strict=True):
        if header.shape is not None:
            shapes.setdefault(plate, {}).setdefault(header.shape, header.path)
    for plate, found in shapes.items():
        if len(found) > 1:
            listed = "; ".join(f"{shape} e.g. {path}" for shape, path in found.items())
            problems.append(f"plate {plate}: images of different shapes ({listed}); one plate needs one shape")
    return problems


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
    screen = load_screen(config)
    problems = screen.problems + check_images(screen)
    return ValidationReport(problems, summarize(screen), config, screen)
