"""The work of one Dask task: read one field's files and measure it.

Runs on a worker; the client only sends file paths and the config, never pixels.
"""

from __future__ import annotations

import math
import traceback

from screening.config import RunConfig
from screening.io.tiff import read_image
from screening.measure.field import measure_field


def failed_row(error: str) -> dict:
    """Row of a field that could not be read or measured."""
    return {
        "n_neurons": math.nan,
        "neurite_length_um": math.nan,
        "n_nuclei": math.nan,
        "qc_pass": False,
        "status": "failed",
        "error": error,
    }


def read_field(paths: dict[str, str | None], tokens: dict[str, str]) -> dict:
    """Read each role's image once (roles sharing a file share the array)."""
    images, by_path = {}, {}
    for role, path in paths.items():
        if not path:
            raise FileNotFoundError(f"no file for channel {tokens[role]} ({role}) of this field")
        if path not in by_path:
            by_path[path] = read_image(path)
        images[role] = by_path[path]
    return images


def measure_field_files(paths: dict[str, str | None], config: RunConfig, pixel_size_um: float) -> dict:
    """Measure one field from its files; never raises (a failure becomes a ``failed`` row)."""
    try:
        images = read_field(paths, config.channels.tokens())
        row = dict(measure_field(images, config, pixel_size_um=pixel_size_um).row)
    except Exception as exc:  # noqa: BLE001 - one bad field must not stop a plate
        detail = str(exc) or traceback.format_exception_only(exc)[-1].strip()
        return failed_row(f"{type(exc).__name__}: {detail}")
    row.update(status="ok", error="")
    return row
