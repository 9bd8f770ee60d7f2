"""Fields imaged in several focal planes: one 2-D image per channel.

Harmony (Operetta / Opera Phenix), CellVoyager and MetaXpress (``ZStep_<k>``
folders) exports may hold a z-stack per field and channel, one file per plane;
their index tables carry a ``plane`` column (1-based, as the instrument numbers
the planes). The plate's ``plates[].planes`` rule (:class:`screening.config.run.PlateConfig`,
default ``"max"``) turns the stack into the one image the measurements use:

- ``"max"``: maximum-intensity projection (pixelwise maximum over the planes, in the
  files' intensity units and dtype), which keeps thin neurites that are in focus in any plane;
- ``"mean"``: mean projection (pixelwise mean, float64; less noise, dimmer out-of-focus neurites);
- an int ``k``: plane ``k`` only (its file as it is). A field without plane ``k`` fails.

A channel with a single file is read as it is under ``"max"`` and ``"mean"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from screening.io.tiff import read_image

PlaneRule = str | int
#: Plane number (1-based) -> image file of one field's channel.
PlaneFiles = Mapping[int, str]


def is_plane_number(rule) -> bool:
    """True when ``rule`` chooses one plane (an int, not a bool) rather than a projection."""
    return isinstance(rule, int | np.integer) and not isinstance(rule, bool)


def as_plane_files(files: PlaneFiles | Sequence[str] | str) -> dict[int, str]:
    """Plane number -> file; a single path is plane 1, a sequence holds planes 1, 2, ... in order."""
    if isinstance(files, str):
        return {1: files}
    if isinstance(files, Mapping):
        return {int(k): v for k, v in files.items()}
    return {n: path for n, path in enumerate(files, start=1)}


def missing_plane_message(rule: int, planes: Iterable[int], example: str) -> str:
    """Why a chosen plane cannot be read: the rule, the planes there are and a file of the field."""
    return (
        f"plates[].planes asks for plane {rule} but this field has plane(s) {sorted(planes)} "
        f"(e.g. {example}); choose an existing plane or use 'max' / 'mean'"
    )


def _read_same_shape(path: str, shape: tuple | None, first: str) -> np.ndarray:
    image = read_image(path)
    if shape is not None and image.shape != shape:
        raise ValueError(
            f"{path}: plane shape {image.shape} differs from {shape} of {first}; planes of a field must match"
        )
    return image


def read_planes(files: PlaneFiles | Sequence[str], rule: PlaneRule) -> np.ndarray:
    """Read the plane files of one field and channel and reduce them by ``rule``.

    Parameters
    ----------
    files : mapping of int to str, or sequence of str
        Plane number (1-based) -> file, or files of planes 1, 2, ... in order.
    rule : {"max", "mean"} or int
        The plate's ``plates[].planes`` rule. With a plane number only that file is
        read; with a projection, a single file is returned as it is.

    Returns
    -------
    ndarray, shape (rows, cols)
        ``"max"``: the files' dtype; ``"mean"``: float64 (single file: its dtype).

    Raises
    ------
    ValueError
        A chosen plane the field does not have (the message names the plane and a
        file), planes of different shapes, or an unknown rule.
    """
    files = as_plane_files(files)
    if not files:
        raise ValueError("no plane files given")
    order = sorted(files)
    first = files[order[0]]
    if is_plane_number(rule):
        if rule not in files:
            raise ValueError(missing_plane_message(int(rule), order, first))
        return read_image(files[rule])
    if rule not in ("max", "mean"):
        raise ValueError(f"unknown plane rule {rule!r}; use 'max', 'mean' or a plane number")
    if len(order) == 1:
        return read_image(first)
    # One plane in memory at a time besides the result: a 2048² stack of 20 planes would be 160 MB.
    out = read_image(first)
    out = out.copy() if rule == "max" else out.astype(np.float64)
    for plane in order[1:]:
        image = _read_same_shape(files[plane], out.shape, first)
        if rule == "max":
            np.maximum(out, image, out=out)
        else:
            out += image
    return out if rule == "max" else out / len(order)


def plane_files(index: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, dict[int, str]]:
    """Group an image index into ``key -> {plane: path}`` (planes in ascending order).

    Parameters
    ----------
    index : DataFrame
        ``keys`` columns plus ``plane`` and ``path`` (one row per file). Without a
        ``plane`` column every file is plane 1.
    keys : sequence of str
        Columns naming one image, e.g. ``plate, well, site, timepoint, channel``.

    Returns
    -------
    dict
        Tuple of the ``keys`` values -> ordered dict plane -> path. A repeated
        key and plane keeps its first path.
    """
    if "plane" not in index:
        index = index.assign(plane=1)
    ordered = index.sort_values("plane", kind="stable")
    grouped: dict[tuple, dict[int, str]] = {}
    for *key, plane, path in ordered[[*keys, "plane", "path"]].itertuples(index=False, name=None):
        grouped.setdefault(tuple(key), {}).setdefault(int(plane), path)
    return grouped
