"""Reading TIFFs, and a cheap header check that finds unreadable or truncated files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile


class ImageReadError(OSError):
    """An image file that cannot be read; the message names the file and what to do."""


@dataclass(frozen=True)
class TiffHeader:
    """Shape and dtype from a TIFF header, or the problem that stopped reading it."""

    path: str
    shape: tuple[int, ...] | None
    dtype: str | None
    problem: str | None = None


def check_tiff(path: str | Path) -> TiffHeader:
    """Read the first page's header and check its pixel data lies inside the file.

    Costs one small read per file (no pixel decoding), so a whole plate can be
    checked before a run. A file cut short by an interrupted copy is reported
    because its strips or tiles point past the end of the file.
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            end = max(
                (o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)), default=0
            )
            shape, dtype = tuple(page.shape), str(page.dtype)
    except Exception as exc:  # noqa: BLE001 - any parser error means "unreadable"
        return TiffHeader(path, None, None, f"{path}: unreadable TIFF ({exc}); re-export or remove it")
    if end > size:
        return TiffHeader(
            path, shape, dtype, f"{path}: truncated TIFF ({size} of {end} bytes); copy the file again"
        )
    return TiffHeader(path, shape, dtype)


def read_image(path: str | Path) -> np.ndarray:
    """Read a 2-D image (the first page; a channel axis of one is squeezed).

    Raises
    ------
    ImageReadError
        Naming the file, when it is missing, corrupt or truncated.
    """
    try:
        image = tifffile.imread(path, key=0)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"{path}: cannot read TIFF ({type(exc).__name__}: {exc})") from None
    return np.squeeze(image)
